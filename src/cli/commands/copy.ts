import path from 'node:path';
import { formatBytes, formatDuration, formatRate } from '../../core/cost';
import { AZURE_TARGET_PACE, ChainCopy, defaultJournalPath, defaultStateDirectory, describeNativeStatus, NativeCopy, targetBlobName, TARGET_METADATA, type CopyProgress, type NativeCopyStatus, type SnapshotCopySummary } from '../../core/copy';
import { resolveCopySource, resolveTargetAccount } from '../../core/copyTargets';
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
  verify?: 'changed' | 'full' | 'none';
  native?: boolean;
  targetRegion?: string;
}

export const DEFAULT_CONTAINER = 'disk-delta';

/** Progress on stderr: a rewritten line on a terminal, a line every few seconds otherwise. */
function progressPrinter(ctx: CliContext): (p: CopyProgress) => void {
  let last = 0;
  const tty = process.stderr.isTTY === true;
  return (p) => {
    const now = Date.now();
    if (now - last < (tty ? 200 : 5000) && p.phase !== 'done') return;
    last = now;
    const total = p.bytesTotal ? `${formatBytes(p.bytesDone)} of ${p.bytesTotalIsEstimate ? '~' : ''}${formatBytes(p.bytesTotal)}` : formatBytes(p.bytesDone);
    const eta = p.etaSeconds !== undefined ? ` · ${formatDuration(p.etaSeconds * 1000)} left` : '';
    const line = `[${p.snapshotIndex + 1}/${p.snapshotCount}] ${p.phase} ${total} · ${formatRate(p.bytesPerSecond)} · ${p.requests} requests, ${p.retries} retries${eta}`;
    if (tty) process.stderr.write(`\r${line.padEnd(100).slice(0, 120)}`);
    else ctx.note(line);
  };
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
  const first = source.snapshots[0];
  if (!first) throw new DiskDeltaError('The family has no snapshots to copy.', 'NoSnapshots');
  const account = await resolveTargetAccount(compute, o.targetAccount, first.location, { signal: ctx.signal });
  const store = await ctx.clients.copyDataPlane.targetStore(account, container);
  const familyId = first.familyId ?? source.family.id;
  const blobName = targetBlobName(familyId, first.sourceResourceId, first.name);
  const journalFile = o.journal ?? defaultJournalPath(defaultStateDirectory(), familyId, store.blob(blobName).displayUrl);
  ctx.note(`Copying ${source.family.sourceName} to ${account.name}/${container}/${blobName} (${account.location})`);
  const result = await new ChainCopy(compute, ctx.clients.copyDataPlane).run({
    snapshots: source.snapshots,
    ...(source.upTo ? { upTo: source.upTo.id } : {}),
    store,
    blobName,
    verify: o.verify ?? 'changed',
    import: { kind: o.import ?? 'none', ...(o.targetResourceGroup ? { resourceGroup: o.targetResourceGroup } : {}) },
    journalFile,
    // One lock directory per user, whatever --journal says, so two copies of a family always meet.
    lockDirectory: path.join(defaultStateDirectory(), 'copies'),
    createContainer: o.container === undefined,
    ...(o.concurrency ? { concurrency: o.concurrency } : {}),
    targetPace: AZURE_TARGET_PACE,
    signal: ctx.signal,
    onProgress: progressPrinter(ctx),
    onNotice: (n) => ctx.note(`${n.code}: ${n.message}`),
  });
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
  const upTo = source.upTo;
  const snapshots = upTo ? source.snapshots.filter((s) => Date.parse(s.timeCreated) <= Date.parse(upTo.timeCreated)) : source.snapshots;
  const first = snapshots[0]!;
  if (first.location.toLowerCase() === o.targetRegion.toLowerCase()) {
    throw new DiskDeltaError(`The snapshots are already in ${o.targetRegion}.`, 'TargetInSourceRegion', 'Choose another target region.');
  }
  const result = await new NativeCopy(ctx.clients.compute).run({
    snapshots,
    targetRegion: o.targetRegion,
    targetResourceGroup: o.targetResourceGroup ?? first.resourceGroup,
    name: (s) => `${s.name}-${o.targetRegion}`.slice(0, 80),
    // Azure's CopyStart takes minutes and is polled every 10 s; the emulator's finishes in seconds.
    ...(ctx.emulator ? { pollIntervalMs: 500 } : {}),
    signal: ctx.signal,
    onStatus: nativeStatusPrinter(ctx),
    onNotice: (n) => ctx.note(`${n.code}: ${n.message}`),
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  if (result.status === 'cancelled') {
    ctx.note('Stopped waiting. Azure goes on copying (the target snapshot stays); run the command again to follow it.');
    throw new DOMException('Cancelled by the user', 'AbortError');
  }
  if (ctx.json) process.stdout.write(JSON.stringify(result.steps) + '\n');
  else for (const s of result.steps) process.stdout.write(`${s.alreadyCopied ? 'Already copied' : 'Copied'}: ${s.targetSnapshotId} (${formatDuration(s.seconds * 1000)})\n`);
}
