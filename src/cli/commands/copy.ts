import { InvalidArgumentError, Option } from 'commander';
import { formatBytes, formatDuration } from '../../core/cost';
import {
  CopyProgressTracker,
  DEFAULT_CONTAINER,
  defaultStateDirectory,
  formatCopyProgress,
  parseVerifyMode,
  prepareDifferentialCopy,
  runNativeCopy,
  TARGET_METADATA,
  type CopyProgress,
  type SnapshotCopySummary,
  type VerifyMode,
} from '../../core/copy';
import { resolveCopySource } from '../../core/copyTargets';
import { DiskDeltaError } from '../../core/ports';
import { validateContainerName } from '../../core/names';
import type { CliContext } from '../context';

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
}

/** `--verify changed|full|none|sample:<percent>`. */
export function verifyOption(): Option {
  return new Option('--verify <mode>', 'verification after each snapshot: changed, full, none or sample:<percent> (a seeded random share of the changed ranges)')
    .argParser((value: string): VerifyMode => {
      try {
        return parseVerifyMode(value);
      } catch (error) {
        throw new InvalidArgumentError(error instanceof DiskDeltaError ? `${error.message} ${error.hint ?? ''}`.trim() : String(error));
      }
    })
    .default('changed');
}

/** Progress on stderr: a rewritten line on a terminal, a line every few seconds otherwise. */
function progressPrinter(ctx: CliContext): (p: CopyProgress) => void {
  let last = 0;
  const tty = process.stderr.isTTY === true;
  const tracker = new CopyProgressTracker();
  return (p) => {
    const overall = tracker.update(p);
    const now = Date.now();
    if (now - last < (tty ? 200 : 5000) && p.phase !== 'done') return;
    last = now;
    const line = formatCopyProgress(overall, { requests: true });
    if (tty) process.stderr.write(`\r${line.padEnd(100).slice(0, 120)}`);
    else ctx.note(line);
  };
}

function summaryLine(s: SnapshotCopySummary): string {
  return `copied ${formatBytes(s.bytesCopied)}, cleared ${formatBytes(s.bytesCleared)} in ${s.requests} requests (${s.retries} retries), ${formatDuration(s.seconds * 1000)}`;
}

export async function copyCommand(ctx: CliContext, o: CopyOptions): Promise<void> {
  if (o.family && o.snapshot) throw new DiskDeltaError('Pass either --family or --snapshot, not both.', 'InvalidArguments');
  if (o.native) {
    await nativeCopy(ctx, o);
    return;
  }
  if (!o.targetAccount) throw new DiskDeltaError('A differential copy needs a target storage account.', 'MissingTarget', 'Pass --target-account <storage account resource id>, or --native --target-region <region>.');
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
    },
    { signal: ctx.signal },
  );
  const { account, store, blobName, journalFile } = copy;
  ctx.note(`Copying ${source.family.sourceName} to ${account.name}/${container}/${blobName} (${account.location})`);
  const result = await copy.run({ signal: ctx.signal, onProgress: progressPrinter(ctx), onNotice: (n) => ctx.note(`${n.code}: ${n.message}`) });
  if (process.stderr.isTTY) process.stderr.write('\n');
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
        const metadata = await store.blob(blobName).getMetadata({ signal: ctx.signal }).catch(() => ({}) as Record<string, string>);
        const snap = metadata[TARGET_METADATA.lastBlobSnapshot];
        last = {
          bytesCopied: 0,
          bytesCleared: 0,
          requests: 0,
          retries: 0,
          seconds: 0,
          targetBlobSnapshotUrl: snap ? store.blob(blobName).snapshotUrl(snap) : result.targetBlobUrl,
          importedResourceId: undefined,
        };
      }
      process.stdout.write(JSON.stringify(normalise(last)) + '\n');
    } else {
      process.stdout.write(JSON.stringify(summaries.map(normalise)) + '\n');
    }
  } else {
    process.stdout.write(`${result.status === 'upToDate' ? 'Up to date' : 'Copied'}: ${result.targetBlobUrl}\n`);
    for (const s of result.summaries) process.stdout.write(`  ${s.targetBlobSnapshotUrl}  ${summaryLine(s)}${s.importedResourceId ? `\n    imported as ${s.importedResourceId}` : ''}\n`);
  }
}

function normalise(s: SnapshotCopySummary) {
  return {
    bytesCopied: s.bytesCopied,
    bytesMoved: s.bytesMoved ?? s.bytesCopied,
    changedBytes: s.changedBytes ?? s.bytesCopied,
    coalescedGaps: s.coalescedGaps ?? 0,
    bound: s.bound ?? null,
    verifiedBytes: s.verifiedBytes ?? 0,
    verifySeed: s.verifySeed ?? null,
    bytesCleared: s.bytesCleared,
    requests: s.requests,
    retries: s.retries,
    seconds: s.seconds,
    targetBlobSnapshotUrl: s.targetBlobSnapshotUrl,
    importedResourceId: s.importedResourceId ?? null,
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
    onProgress: progressPrinter(ctx),
    onNotice: (n) => ctx.note(`${n.code}: ${n.message}`),
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  if (result.status === 'cancelled') {
    ctx.note('Stopped waiting. Azure goes on copying; run the command again to follow it.');
    throw new DOMException('Cancelled by the user', 'AbortError');
  }
  if (ctx.json) process.stdout.write(JSON.stringify(result.steps) + '\n');
  else for (const s of result.steps) process.stdout.write(`${s.alreadyCopied ? 'Already copied' : 'Copied'}: ${s.targetSnapshotId} (${formatDuration(s.seconds * 1000)})\n`);
}
