/**
 * Whole copy scenarios shared by the integration tests and the soak: a differential copy killed with
 * SIGKILL at seeded points and resumed from its journal, and chained copies under injected faults.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import type { AzureClients } from '../../src/azure';
import type { PageRange, SnapshotInfo } from '../../src/core/model';
import { runCli, type CliResult } from './cli';
import {
  assertSameBytes,
  assertSummaryShape,
  blobKey,
  journalDoneIntervals,
  lastJsonLine,
  mergeIntervals,
  overlaps,
  readJournalRecords,
  targetSnapshotSource,
  withReadGrant,
  type CopySummaryJson,
  type JournalRecordLine,
} from './copyChecks';
import type { RunningEmulator } from './emulator';
import { writeDisk, type DiskWrite } from './disks';
import { seededRandom } from '../../emulator/faults';

/** The done records a resumed run appended after rewriting the state it loaded (`loaded`: that state's records). */
function appendedDone(loaded: readonly JournalRecordLine[], now: readonly JournalRecordLine[]): JournalRecordLine[] {
  const lastStep = (rs: readonly JournalRecordLine[]) => rs.map((r) => r.t).lastIndexOf('step');
  // The loaded state as the journal compacts it: the watermark, then the done intervals above it.
  const loadedStep = loaded.slice(lastStep(loaded) + 1);
  const watermark = Math.max(0, ...loadedStep.map((r) => (r.t === 'upto' ? r.w! : r.t === 'done' ? (r.w ?? 0) : 0)));
  const above = mergeIntervals(loadedStep.filter((r) => r.t === 'done' && r.l).map((r) => [r.o!, r.o! + r.l!] as [number, number])).filter(
    ([, b]) => b > watermark,
  );
  const records = now.slice(lastStep(now) + 1).filter((r) => r.t === 'done');
  const prefix = records.slice(0, above.length).map((r) => [r.o!, r.o! + r.l!]);
  assert.deepEqual(prefix, above, 'the resumed journal starts with exactly the state it loaded');
  return records.slice(above.length);
}

export interface CrashRunOptions {
  readonly em: RunningEmulator;
  readonly clients: AzureClients;
  readonly connectionFile: string;
  readonly snapshot: SnapshotInfo;
  readonly targetAccountId: string;
  readonly container?: string;
  readonly journal: string;
  readonly kills: number;
  readonly seed: number;
  readonly concurrency: number;
  /** Largest page request of the plan (at most 4 MiB). */
  readonly chunkBytes: number;
  /** Bytes the copy must write (the snapshot's allocated bytes for a base copy). */
  readonly expectedBytes: number;
  /** The ranges the copy writes: journal offsets (a watermark covers gaps) are turned into bytes through them. */
  readonly ranges: readonly PageRange[];
  /** How many Put Page From URL requests a whole run makes (kill points are drawn below it). */
  readonly expectedRequests: number;
  /** The stderr of each run, by the number of kills before it. */
  readonly onRun?: (killsBefore: number, stderr: string) => void;
  /** Between kills: e.g. damage the journal and check the copy refuses it. */
  readonly betweenKills?: (kill: number) => Promise<void>;
}

/**
 * Runs `copy --snapshot` and SIGKILLs it `kills` times at seeded points (a number of Put Page From URL
 * requests into the run), resuming with the same journal each time; then lets it finish. Asserts that
 * no resumed run copied again an operation its journal showed done, that the emulator saw at most the
 * expected bytes plus what was in flight at each kill, and that the target equals the source.
 */
export async function copyWithKills(o: CrashRunOptions): Promise<{ summary: CopySummaryJson; bytesWritten: number; kills: number }> {
  const random = seededRandom(o.seed);
  const args = [
    '--json',
    'copy',
    '--snapshot',
    o.snapshot.id,
    '--target-account',
    o.targetAccountId,
    '--journal',
    o.journal,
    '--concurrency',
    String(o.concurrency),
    ...(o.container ? ['--container', o.container] : []),
  ];
  await o.em.resetStats();
  let previous: JournalRecordLine[] | undefined;
  let killed = 0;
  for (let k = 0; k < o.kills; k++) {
    const before = (await o.em.getStats()).requests.PutPageFromURL ?? 0;
    const remaining = o.expectedRequests - before;
    const at = before + Math.max(1, Math.floor(remaining * (0.1 + 0.5 * random())));
    let poll: NodeJS.Timeout | undefined;
    let didKill = false;
    const run: CliResult = await runCli(o.connectionFile, args, {
      onSpawn: (kill) => {
        poll = setInterval(() => {
          void o.em.getStats().then(
            (s) => {
              if (!didKill && (s.requests.PutPageFromURL ?? 0) >= at) {
                didKill = true;
                kill('SIGKILL');
              }
            },
            () => undefined,
          );
        }, 25);
      },
    });
    clearInterval(poll);
    o.onRun?.(k, run.stderr);
    if (!didKill) {
      // The copy outran the poll: it finished, which ends the kill series early.
      assert.equal(run.code, 0, run.stderr);
      break;
    }
    killed++;
    // Requests the killed process had sent still land at the service after it died: wait for them.
    await settled(o.em);
    assert.equal(run.code, 128, `killed run ${k + 1} exits by signal: ${run.stderr}`);
    const text = readFileSync(o.journal, 'utf8');
    assert.doesNotMatch(text, /sig=/, 'no SAS in the journal');
    const records = readJournalRecords(o.journal);
    assert.equal(records[0]?.t, 'journal', 'a journal header');
    if (previous) {
      const loaded = mergeIntervals(journalDoneIntervals(previous));
      const appended = appendedDone(previous, records);
      const seen: Array<[number, number]> = [];
      for (const r of appended) {
        assert.ok(!overlaps(loaded, r.o!, r.o! + r.l!), `run ${k + 1} copied [${r.o}, +${r.l}) again although the journal it resumed from had it done`);
        assert.ok(!overlaps(seen, r.o!, r.o! + r.l!), `run ${k + 1} recorded [${r.o}, +${r.l}) twice`);
        seen.push([r.o!, r.o! + r.l!]);
      }
    }
    await o.betweenKills?.(k + 1);
    previous = readJournalRecords(o.journal);
    const doneBytes = coveredBytes(o.ranges, journalDoneIntervals(previous));
    assert.ok(
      doneBytes < o.expectedBytes,
      `kill ${k + 1} (after ${at} requests) landed before the last chunk was journalled: ${doneBytes} of ${o.expectedBytes} done`,
    );
  }
  const final = await runCli(o.connectionFile, args);
  o.onRun?.(killed, final.stderr);
  assert.equal(final.code, 0, final.stderr);
  if (previous) assert.match(final.stderr, /Resum/, 'the last run resumed from the journal');
  const summary = lastJsonLine<CopySummaryJson>(final.stdout);
  assertSummaryShape(summary);
  if (previous) {
    // The resumed run wrote only what its journal did not show done.
    const loaded = coveredBytes(o.ranges, journalDoneIntervals(previous));
    assert.equal(
      summary.bytesCopied,
      o.expectedBytes - loaded,
      `the last run copied ${summary.bytesCopied} bytes, its journal had ${loaded} of ${o.expectedBytes} done`,
    );
  }
  const targetKey = blobKey(summary.targetBlobSnapshotUrl);
  const stats = await o.em.getStats();
  const written = stats.bytesWrittenByBlob[targetKey] ?? 0;
  // In flight at a kill: what the limiter lets run plus what finished but was not yet journalled (at most 2x concurrency operations).
  const inFlight = killed * 2 * o.concurrency * o.chunkBytes;
  assert.ok(written >= o.expectedBytes, `wrote ${written}, needs ${o.expectedBytes}`);
  assert.ok(written <= o.expectedBytes + inFlight, `wrote ${written} bytes for ${o.expectedBytes} changed (+${inFlight} in flight at ${killed} kills)`);
  const target = await targetSnapshotSource(o.clients, o.em.connection.subscriptionId, summary.targetBlobSnapshotUrl);
  await withReadGrant(o.clients, o.snapshot.id, (source) => assertSameBytes(source, target, `${o.snapshot.name} after ${killed} kills`));
  return { summary, bytesWritten: written, kills: killed };
}

/** Bytes of `ranges` inside the intervals. */
function coveredBytes(ranges: readonly PageRange[], intervals: ReadonlyArray<[number, number]>): number {
  let n = 0;
  for (const r of ranges) for (const [a, b] of intervals) n += Math.max(0, Math.min(b, r.offset + r.length) - Math.max(a, r.offset));
  return n;
}

/** Waits until the emulator's write counters stop moving (requests of a killed client finishing). */
export async function settled(em: RunningEmulator): Promise<void> {
  let last = '';
  for (let i = 0; i < 100; i++) {
    const s = await em.getStats();
    const now = JSON.stringify([s.bytesWrittenByBlob, s.bytesClearedByBlob]);
    if (now === last) return;
    last = now;
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Copies a journal to `to` and changes one digit inside line `line` (1-based) without fixing its checksum. */
export function corruptJournalLine(from: string, to: string, line: number): void {
  copyFileSync(from, to);
  const lines = readFileSync(to, 'utf8').split('\n');
  const target = lines[line - 1]!;
  const at = target.search(/\d/);
  const digit = target[at]!;
  lines[line - 1] = target.slice(0, at) + (digit === '9' ? '8' : String(Number(digit) + 1)) + target.slice(at + 1);
  writeFileSync(to, lines.join('\n'));
}

/**
 * An incremental snapshot through the adapters. Past 7 in 5 minutes (docs/azure-behaviour.md#limits) the emulator's
 * clock is moved on and the create tried again; the CLI's own limit check reads the wall clock, so long
 * chains make their snapshots here.
 */
export async function snapshotWithinLimits(em: RunningEmulator, clients: AzureClients, diskId: string, name: string): Promise<SnapshotInfo> {
  const disk = await clients.compute.getDisk(diskId);
  assert.ok(disk, `disk ${diskId}`);
  const request = {
    subscriptionId: em.connection.subscriptionId,
    resourceGroup: disk.resourceGroup,
    name,
    location: disk.location,
    incremental: true,
    createOption: 'Copy' as const,
    sourceResourceId: diskId,
  };
  try {
    return await clients.compute.createSnapshot(request);
  } catch (error) {
    if ((error as { code?: string }).code !== 'OperationNotAllowed') throw error;
    const advanced = await em.arm('POST', '/emulator/clock', { advanceMs: 301_000 });
    assert.equal(advanced.status, 200);
    return clients.compute.createSnapshot(request);
  }
}

/** About 10% of data-plane requests meet a fault, every kind represented; stalls are short so tests stay quick. */
export function tenPercentFaults(seed: number): Record<string, number> {
  return { busy: 0.02, internal: 0.02, reset: 0.02, stall: 0.02, sasexpiry: 0.02, stallms: 1500, seed };
}

export interface ChainUnderFaultsOptions {
  readonly em: RunningEmulator;
  readonly clients: AzureClients;
  readonly connectionFile: string;
  readonly diskId: string;
  readonly targetAccountId: string;
  readonly journal: string;
  /** Phases to write, one snapshot and one `copy --family` run under faults after each. */
  readonly phases: readonly DiskWrite[][];
  readonly namePrefix: string;
  readonly faults: Record<string, number>;
}

/**
 * Chained copies under faults: for each phase, write it, snapshot, and bring the target up to date with
 * `copy --family` while the emulator injects faults; each new target blob snapshot must equal its source.
 */
export async function chainedCopiesUnderFaults(o: ChainUnderFaultsOptions): Promise<{ copies: number; retries: number }> {
  let retries = 0;
  for (const [i, phase] of o.phases.entries()) {
    await writeDisk(o.clients, o.diskId, phase);
    const snap = await snapshotWithinLimits(o.em, o.clients, o.diskId, `${o.namePrefix}-${i + 1}`);
    await o.em.setFaults(o.faults);
    let copy: CliResult;
    try {
      copy = await runCli(o.connectionFile, ['--json', 'copy', '--family', o.diskId, '--target-account', o.targetAccountId, '--journal', o.journal]);
    } finally {
      await o.em.setFaults({});
    }
    assert.equal(copy.code, 0, `copy ${i + 1} under faults: ${copy.stderr}`);
    const summaries = lastJsonLine<CopySummaryJson[]>(copy.stdout);
    assert.ok(summaries.length >= 1, `copy ${i + 1} copied the new snapshot`);
    const last = summaries[summaries.length - 1]!;
    assertSummaryShape(last);
    retries += summaries.reduce((n, s) => n + s.retries, 0);
    const target = await targetSnapshotSource(o.clients, o.em.connection.subscriptionId, last.targetBlobSnapshotUrl);
    await withReadGrant(o.clients, snap.id, (source) => assertSameBytes(source, target, `${snap.name} copied under faults`));
    assert.equal((await o.em.getStats()).activeSasGrants, 0, `no grant left after copy ${i + 1}`);
  }
  return { copies: o.phases.length, retries };
}
