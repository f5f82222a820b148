/**
 * One Disk Delta copy (ChainCopy at its defaults) in a process of its own, so its wall time and peak
 * RSS are the engine's alone. Argument: a JSON EngineCopyJob. Prints one JSON EngineCopyResult line.
 */
import { readFileSync } from 'node:fs';
import { connectToEmulator } from '../src/azure';
import { AZURE_TARGET_PACE, ChainCopy, type CopyPhase } from '../src/core/copy';
import type { EmulatorConnection } from '../src/core/emulatorConnection';
import type { SnapshotInfo, StorageAccountInfo } from '../src/core/model';
import { redact } from '../src/core/secret';

export interface EngineCopyJob {
  readonly connectionFile: string;
  readonly snapshots: readonly SnapshotInfo[];
  /** copy only this one snapshot (a delta onto what the target holds) */
  readonly only?: string;
  readonly account: StorageAccountInfo;
  readonly container: string;
  readonly blobName: string;
  readonly journalFile: string;
  readonly verify?: 'changed' | 'none';
  readonly concurrency?: number;
  /** false: the minimal-request plan (no coalescing) */
  readonly coalesce?: boolean;
}

export interface EngineCopyResult {
  readonly seconds: number;
  /** from the start until the first snapshot's verification begins (or the end, without verification) */
  readonly copySeconds: number;
  readonly phaseSeconds: Partial<Record<CopyPhase, number>>;
  readonly bytesCopied: number;
  readonly bytesCleared: number;
  /** bytes read and written by this process because the target refused Put Page From URL */
  readonly bytesRelayed: number;
  /** bytes the write requests carried (changed bytes plus coalesced gaps) */
  readonly bytesMoved: number;
  readonly coalescedGaps: number;
  readonly bound: string;
  readonly requests: number;
  readonly retries: number;
  /** write requests and their retries up to each snapshot's verification (the summary's also count verification reads' retries) */
  readonly copyRequests: number;
  readonly copyRetries: number;
  readonly steps: number;
  readonly maxRssBytes: number;
  readonly status: string;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as EngineCopyJob;
  const connection = JSON.parse(readFileSync(job.connectionFile, 'utf8')) as EmulatorConnection;
  const clients = connectToEmulator(connection, readFileSync(connection.caCertPath, 'utf8'));
  const store = await clients.copyDataPlane.targetStore(job.account, job.container);
  const phaseSeconds: Partial<Record<CopyPhase, number>> = {};
  let phase: CopyPhase | undefined;
  let phaseStart = 0;
  let copyEnd: number | undefined;
  const copyCounts = new Map<number, { requests: number; retries: number }>();
  const start = performance.now();
  phaseStart = start;
  const result = await new ChainCopy(clients.compute, clients.copyDataPlane).run({
    snapshots: job.snapshots,
    ...(job.only ? { only: job.only } : {}),
    store,
    blobName: job.blobName,
    journalFile: job.journalFile,
    createContainer: true,
    verify: job.verify ?? 'changed',
    ...(job.concurrency ? { concurrency: job.concurrency } : {}),
    ...(job.coalesce === false ? { coalesce: false } : {}),
    // As the CLI and the extension copy: paced just under the blob's targets.
    targetPace: AZURE_TARGET_PACE,
    onProgress: (p) => {
      if ((p.phase === 'verifying' || p.phase === 'snapshotting') && !copyCounts.has(p.snapshotIndex))
        copyCounts.set(p.snapshotIndex, { requests: p.requests, retries: p.retries });
      if (p.phase === phase) return;
      const now = performance.now();
      if (phase) phaseSeconds[phase] = (phaseSeconds[phase] ?? 0) + (now - phaseStart) / 1000;
      if (p.phase === 'verifying' && copyEnd === undefined) copyEnd = now;
      phase = p.phase;
      phaseStart = now;
    },
  });
  const end = performance.now();
  if (phase) phaseSeconds[phase] = (phaseSeconds[phase] ?? 0) + (end - phaseStart) / 1000;
  const sum = (key: 'bytesCopied' | 'bytesCleared' | 'bytesRelayed' | 'requests' | 'retries') => result.summaries.reduce((n, s) => n + s[key], 0);
  const out: EngineCopyResult = {
    seconds: (end - start) / 1000,
    copySeconds: ((copyEnd ?? end) - start) / 1000,
    phaseSeconds,
    bytesCopied: sum('bytesCopied'),
    bytesCleared: sum('bytesCleared'),
    bytesRelayed: sum('bytesRelayed'),
    bytesMoved: result.summaries.reduce((n, s) => n + (s.bytesMoved ?? s.bytesCopied), 0),
    coalescedGaps: result.summaries.reduce((n, s) => n + (s.coalescedGaps ?? 0), 0),
    bound: result.summaries.map((s) => s.bound ?? '-').join(','),
    requests: sum('requests'),
    retries: sum('retries'),
    copyRequests: [...copyCounts.values()].reduce((n, c) => n + c.requests, 0),
    copyRetries: [...copyCounts.values()].reduce((n, c) => n + c.retries, 0),
    steps: result.summaries.length,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    status: result.status,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(redact(error instanceof Error ? `${error.name}: ${error.message}` : String(error)) + '\n');
  process.exit(1);
});
