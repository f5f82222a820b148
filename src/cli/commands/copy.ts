import { InvalidArgumentError, Option } from 'commander';
import { formatBytes, formatDuration } from '../../core/format';
import {
  DEFAULT_CONTAINER,
  defaultStateDirectory,
  describeNativeStatus,
  parseVerifyMode,
  prepareDifferentialCopy,
  recordedPoint,
  runNativeCopy,
  type NativeCopyStatus,
  type SnapshotCopySummary,
  type VerifyMode,
} from '../../core/copy';
import { resolveCopySource } from '../../core/copyTargets';
import { DiskDeltaError } from '../../core/errors';
import { validateContainerName } from '../../core/names';
import type { CliContext } from '../context';
import { copyPace } from '../options';
import { copyProgressReporter } from '../progress';

export interface CopyOptions {
  family?: string;
  snapshot?: string;
  targetAccount?: string;
  container?: string;
  import?: 'snapshot' | 'disk' | 'none';
  targetResourceGroup?: string;
  concurrency?: number;
  journal?: string;
  verify?: VerifyMode;
  native?: boolean;
  targetRegion?: string;
  /** Most megabits per second the copy writes (--cap-mbps). */
  capMbps?: number;
}

/** `--verify changed|full|none|sample:<percent>`. */
export function verifyOption(): Option {
  return (
    new Option('--verify <mode>', 'verification after each snapshot: changed, full, none or sample:<percent> (a seeded random share of the changed ranges)')
      // The fixed choices are what help and shell completion offer; the parser also takes sample:<percent>.
      .choices(['changed', 'full', 'none'])
      .argParser((value: string): VerifyMode => {
        try {
          return parseVerifyMode(value);
        } catch (error) {
          throw new InvalidArgumentError(error instanceof DiskDeltaError ? `${error.message} ${error.hint ?? ''}`.trim() : String(error));
        }
      })
      .default('changed')
  );
}

/**
 * CopyStart progress on stderr: "queued, 0%" with the time waited (Azure reports 0 for minutes, then 100),
 * rewritten in place on a terminal, otherwise a line when the state changes and every 30 s.
 */
function nativeStatusPrinter(ctx: CliContext): (s: NativeCopyStatus) => void {
  let lastKey = '';
  let lastAt = 0;
  const tty = process.stderr.isTTY === true;
  return (s) => {
    const line = describeNativeStatus(s);
    if (tty) {
      process.stderr.write(`\r${line.padEnd(100).slice(0, 120)}`);
      return;
    }
    const key = `${s.snapshotIndex}:${s.state}:${Math.round(s.percent)}`;
    const now = Date.now();
    if (key === lastKey && now - lastAt < 30_000) return;
    lastKey = key;
    lastAt = now;
    ctx.note(line);
  };
}

function summaryLine(s: SnapshotCopySummary): string {
  // Data relayed through this machine costs its bandwidth (and egress from the source region): say so.
  const relayed =
    s.bytesRelayed > 0 ? ` (${formatBytes(s.bytesRelayed)} of it read and written through this machine: the target refused to copy from the source's URL)` : '';
  return `copied ${formatBytes(s.bytesCopied)}${relayed}, cleared ${formatBytes(s.bytesCleared)} in ${s.requests} requests (${s.retries} retries), ${formatDuration(s.seconds * 1000)}`;
}

export async function copyCommand(ctx: CliContext, o: CopyOptions): Promise<void> {
  if (o.family && o.snapshot) throw new DiskDeltaError('Pass either --family or --snapshot, not both.', 'InvalidArguments');
  if (o.native) {
    await nativeCopy(ctx, o);
    return;
  }
  if (!o.targetAccount)
    throw new DiskDeltaError(
      'A differential copy needs a target storage account.',
      'MissingTarget',
      'Pass --target-account <storage account resource id>, or --native --target-region <region>.',
    );
  if (o.concurrency !== undefined && (!Number.isInteger(o.concurrency) || o.concurrency < 1 || o.concurrency > 256)) {
    throw new DiskDeltaError(`--concurrency ${o.concurrency} is not a number from 1 to 256.`, 'InvalidArguments');
  }
  const container = o.container ?? DEFAULT_CONTAINER;
  const containerProblem = validateContainerName(container);
  if (containerProblem) throw new DiskDeltaError(containerProblem, 'InvalidName');
  const compute = ctx.clients.compute;
  const source = await resolveCopySource(compute, ctx.subscriptionId, { family: o.family, snapshot: o.snapshot }, { signal: ctx.signal });
  if (!source.snapshots[0]) throw new DiskDeltaError('The family has no snapshots to copy.', 'NoSnapshots');
  const copy = await prepareDifferentialCopy(
    { compute, dataPlane: ctx.clients.copyDataPlane },
    {
      snapshots: source.snapshots,
      ...(source.upTo ? { upTo: source.upTo.id } : {}),
      targetAccountId: o.targetAccount,
      ...(o.container !== undefined ? { container: o.container } : {}),
      stateDirectory: defaultStateDirectory(),
      ...(o.journal ? { journalFile: o.journal } : {}),
      verify: o.verify ?? 'changed',
      import: { kind: o.import ?? 'none', ...(o.targetResourceGroup ? { resourceGroup: o.targetResourceGroup } : {}) },
      ...(o.concurrency ? { concurrency: o.concurrency } : {}),
      targetPace: copyPace(o.capMbps),
    },
    { signal: ctx.signal },
  );
  const { account, store, blobName, journalFile } = copy;
  ctx.note(`Copying ${source.family.sourceName} to ${account.name}/${container}/${blobName} (${account.location})`);
  const progress = copyProgressReporter(ctx);
  const result = await copy.run({ signal: ctx.signal, onProgress: progress.onProgress, onNotice: (n) => ctx.note(`${n.code}: ${n.message}`) });
  progress.done();
  if (result.status === 'cancelled') {
    ctx.note(`Cancelled. Run the same command again to resume (journal ${journalFile}).`);
    const abort = new DOMException('Cancelled by the user', 'AbortError');
    throw abort;
  }
  if (result.status === 'upToDate') ctx.note(`The target is already up to date: ${result.targetBlobUrl}`);
  result.summaries.forEach((s, i) => ctx.note(`${result.steps[i]?.sourceSnapshotId.split('/').pop() ?? ''}: ${summaryLine(s)}`));
  if (ctx.json) {
    const summaries: SnapshotCopySummary[] = [...result.summaries];
    if (o.snapshot) {
      let last = summaries[summaries.length - 1];
      if (!last) {
        const metadata = await store
          .blob(blobName)
          .getMetadata({ signal: ctx.signal })
          .catch(() => ({}) as Record<string, string>);
        const snap = recordedPoint(metadata).lastBlobSnapshot;
        last = {
          bytesCopied: 0,
          bytesCleared: 0,
          bytesRelayed: 0,
          requests: 0,
          retries: 0,
          seconds: 0,
          targetBlobSnapshotUrl: snap ? store.blob(blobName).snapshotUrl(snap) : result.targetBlobUrl,
          importedResourceId: undefined,
        };
      }
      ctx.output.result(normalise(last), { compact: true });
    } else {
      ctx.output.result(summaries.map(normalise), { compact: true });
    }
  } else {
    let text = `${result.status === 'upToDate' ? 'Up to date' : 'Copied'}: ${result.targetBlobUrl}\n`;
    for (const s of result.summaries)
      text += `  ${s.targetBlobSnapshotUrl}  ${summaryLine(s)}${s.importedResourceId ? `\n    imported as ${s.importedResourceId}` : ''}\n`;
    ctx.output.write(text);
  }
}

function normalise(s: SnapshotCopySummary) {
  return {
    bytesCopied: s.bytesCopied,
    bytesCleared: s.bytesCleared,
    bytesRelayed: s.bytesRelayed,
    requests: s.requests,
    retries: s.retries,
    seconds: s.seconds,
    targetBlobSnapshotUrl: s.targetBlobSnapshotUrl,
    importedResourceId: s.importedResourceId ?? null,
    // What the write requests carried (changed bytes plus the gaps coalesced between them) and the bound planned for.
    bytesMoved: s.bytesMoved ?? s.bytesCopied,
    changedBytes: s.changedBytes ?? s.bytesCopied,
    coalescedGaps: s.coalescedGaps ?? 0,
    bound: s.bound ?? null,
    verifiedBytes: s.verifiedBytes ?? 0,
    verifySeed: s.verifySeed ?? null,
  };
}

async function nativeCopy(ctx: CliContext, o: CopyOptions): Promise<void> {
  if (!o.targetRegion) throw new DiskDeltaError('--native needs --target-region.', 'MissingTarget', 'Pass --target-region <region>, e.g. westus2.');
  const source = await resolveCopySource(ctx.clients.compute, ctx.subscriptionId, { family: o.family, snapshot: o.snapshot }, { signal: ctx.signal });
  const result = await runNativeCopy(ctx.clients.compute, {
    snapshots: source.snapshots,
    ...(source.upTo ? { upTo: source.upTo } : {}),
    targetRegion: o.targetRegion,
    ...(o.targetResourceGroup ? { targetResourceGroup: o.targetResourceGroup } : {}),
    ...(ctx.emulator ? { pollIntervalMs: 500 } : {}),
    signal: ctx.signal,
    ...(ctx.quiet ? {} : { onStatus: nativeStatusPrinter(ctx) }),
    onNotice: (n) => ctx.note(`${n.code}: ${n.message}`),
  });
  if (process.stderr.isTTY && !ctx.quiet) process.stderr.write('\n');
  if (result.status === 'cancelled') {
    ctx.note('Stopped waiting. Azure goes on copying (the target snapshot stays); run the command again to follow it.');
    throw new DOMException('Cancelled by the user', 'AbortError');
  }
  ctx.output.result(result.steps, {
    compact: true,
    text: (steps) =>
      steps.map((s) => `${s.alreadyCopied ? 'Already copied' : 'Copied'}: ${s.targetSnapshotId} (${formatDuration(s.seconds * 1000)})`).join('\n'),
  });
}
