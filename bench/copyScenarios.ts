/**
 * The copy scenarios: the same change set copied by Disk Delta's engine, the official sample's algorithm,
 * a full copy of every allocated range, and a plain loop at the emulator's saturating concurrency.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AzureClients } from '../src/azure';
import type { PageRange, SnapshotInfo, StorageAccountInfo } from '../src/core/model';
import { ensureResourceGroup, type RunningEmulator } from '../test/support/emulator';
import type { EngineCopyJob, EngineCopyResult } from './engineCopy';
import {
  BenchWorld,
  compareRanges,
  GiB,
  limitSeconds,
  median,
  MiB,
  minimalRequests,
  RESOURCE_GROUP,
  scatteredRanges,
  SOURCE_REGION,
  totalBytes,
} from './fixtures';
import { chunks, limitLoop, type LimitLoopResult } from './limitLoop';
import { officialSampleCopy } from './officialSample';

export const FAULTS = { latency: 20, rps: 500, mibps: 60 };
const root = path.resolve(__dirname, '..');

export interface Measured {
  readonly seconds: number;
  readonly bytesCopied: number;
  /** data-plane write requests the emulator received (Put Page From URL + Clear Pages), retries included */
  readonly requests: number;
  /** retries of write requests (503s and faults) */
  readonly retries: number;
  readonly maxRssBytes?: number;
  readonly runs: number;
  readonly note?: string;
}

export interface CopyScenarioResult {
  readonly name: string;
  readonly description: string;
  readonly changedBytes: number;
  readonly minimalRequests: number;
  readonly limitSeconds: number;
  readonly engine: Measured & {
    readonly successfulWrites: number;
    readonly copySeconds: number;
    readonly runSeconds: number[];
    readonly phaseSeconds: Record<string, number>;
  };
  readonly sample?: Measured;
  readonly full?: Measured;
  readonly loop?: Measured & { readonly concurrency: number; readonly tried: LimitLoopResult[] };
  /** bytes the engine read and wrote itself (Put Page From URL refused), when the scenario forces that */
  readonly bytesRelayed?: number;
  /** this scenario's peak-RSS goal, when it is not the bench's */
  readonly rssGoalBytes?: number;
  readonly failures: string[];
}

interface EmulatorCounters {
  writes: number;
  busy: number;
  /** Put Page From URL refused by the incrementalsource fault */
  refused?: number;
}

async function counters(em: RunningEmulator): Promise<EmulatorCounters> {
  const s = await em.getStats();
  return {
    writes: (s.requests['PutPageFromURL'] ?? 0) + (s.requests['ClearPages'] ?? 0) + (s.requests['PutPage'] ?? 0),
    busy: (s.faultsInjected['rps'] ?? 0) + (s.faultsInjected['mibps'] ?? 0) + (s.faultsInjected['busy'] ?? 0),
    refused: s.faultsInjected['incrementalsource'] ?? 0,
  };
}

/** Runs `work` with the emulator's counters zeroed before, and returns what it counted. */
async function counted<T>(em: RunningEmulator, work: () => Promise<T>): Promise<{ value: T; counters: EmulatorCounters }> {
  await em.resetStats();
  const value = await work();
  return { value, counters: await counters(em) };
}

let engineBundle: string | undefined;

/**
 * The engine child is bundled like the CLI (esbuild, CommonJS, no TypeScript loader at run time) so its
 * peak RSS is the product's, not a transpiler's.
 */
export async function bundleEngineChild(dir: string): Promise<void> {
  const esbuild = await import('esbuild');
  const outfile = path.join(dir, 'engineCopy.cjs');
  await esbuild.build({
    entryPoints: [path.join(root, 'bench', 'engineCopy.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile,
    logLevel: 'warning',
  });
  engineBundle = outfile;
}

export function runEngineChild(job: EngineCopyJob): Promise<EngineCopyResult> {
  return new Promise((resolve, reject) => {
    const entry = engineBundle ? [engineBundle] : ['--import', 'tsx', path.join(root, 'bench', 'engineCopy.ts')];
    const child = spawn(process.execPath, [...entry, JSON.stringify(job)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`engine copy exited with ${code}: ${err.trim().slice(-2000)}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as EngineCopyResult);
      } catch {
        reject(new Error(`engine copy printed no result: ${out.slice(0, 500)} ${err.slice(0, 500)}`));
      }
    });
  });
}

export class CopyBench {
  readonly world: BenchWorld;
  readonly work = mkdtempSync(path.join(os.tmpdir(), 'dd-bench-'));
  account!: StorageAccountInfo;
  readonly container = 'bench';
  private blobs = 0;

  constructor(
    readonly em: RunningEmulator,
    readonly clients: AzureClients,
    readonly connectionFile: string,
  ) {
    this.world = new BenchWorld(em, clients);
  }

  async init(): Promise<void> {
    // The bench's disks go into a group of their own, made first as in Azure (docs/azure-behaviour.md#resource-groups).
    await ensureResourceGroup(this.em, RESOURCE_GROUP, SOURCE_REGION);
    this.account = await this.world.targetAccount();
    const store = await this.clients.dataPlane.targetStore(this.account, this.container);
    if (!(await store.containerExists())) await store.createContainer();
  }

  blobName(prefix: string): string {
    return `${prefix}-${++this.blobs}.vhd`;
  }

  engineJob(snapshots: readonly SnapshotInfo[], blobName: string, extra: Partial<EngineCopyJob> = {}): EngineCopyJob {
    return {
      connectionFile: this.connectionFile,
      snapshots,
      account: this.account,
      container: this.container,
      blobName,
      journalFile: path.join(this.work, `${blobName}.journal`),
      ...extra,
    };
  }

  /** Faults off while the bench checks bytes (its reads are not what is measured). */
  async check(source: SnapshotInfo, blobName: string, all: readonly PageRange[], every = 1): Promise<PageRange[]> {
    // Reading back is most of a check's cost: after the first full check of a kind, every 5th range is enough
    // to catch a wrong offset or a skipped chunk (each checked range is compared whole).
    const ranges = all.filter((_r, i) => i % every === 0);
    await this.em.setFaults({});
    try {
      const sas = await this.clients.compute.grantAccess(source.id, 'Read', 3600);
      try {
        const store = await this.clients.dataPlane.targetStore(this.account, this.container);
        const blob = store.blob(blobName);
        return await compareRanges(this.clients.dataPlane.openSas(sas), blob, ranges, 16);
      } finally {
        await this.clients.compute.revokeAccess(source.id);
      }
    } finally {
      await this.em.setFaults(FAULTS);
    }
  }

  async emptyTarget(prefix: string, sizeBytes: number): Promise<string> {
    const name = this.blobName(prefix);
    const store = await this.clients.dataPlane.targetStore(this.account, this.container);
    await store.blob(name).create(sizeBytes + 512, {});
    return name;
  }

  /** One snapshot's delta: `runs` engine runs (each on the next snapshot of `snapshots`), sample, full, loop. */
  async deltaScenario(spec: {
    name: string;
    description: string;
    base: SnapshotInfo;
    /** snapshots each holding one more change set of the same shape; the engine copies one per run */
    snapshots: readonly SnapshotInfo[];
    changes: readonly PageRange[][];
    allocatedBytes: number;
    /** run the sequential sample over the first 1/sampleFraction of the disk and scale its time (it is linear) */
    sampleFraction: number;
    full: boolean;
    loopConcurrencies: readonly number[];
    log: (line: string) => void;
  }): Promise<CopyScenarioResult> {
    const { base, snapshots, changes, log } = spec;
    const failures: string[] = [];
    const changedBytes = totalBytes(changes[0]!);
    const minimal = minimalRequests(changes[0]!);
    for (const c of changes) if (totalBytes(c) !== changedBytes || minimalRequests(c) !== minimal) throw new Error('change sets differ in shape');
    const family = [base, ...snapshots];

    // Engine: the target first gets the base snapshot (not measured), then each run copies one more snapshot.
    const engineBlob = this.blobName(`${spec.name}-engine`);
    log(`  engine: base copy of ${base.name}`);
    await runEngineChild(this.engineJob(family, engineBlob, { only: base.id }));
    const runs: EngineCopyResult[] = [];
    const runCounters: EmulatorCounters[] = [];
    for (let i = 0; i < snapshots.length; i++) {
      const { value, counters: c } = await counted(this.em, () => runEngineChild(this.engineJob(family, engineBlob, { only: snapshots[i]!.id })));
      runs.push(value);
      runCounters.push(c);
      log(
        `  engine run ${i + 1}: ${value.seconds.toFixed(2)} s (copy ${value.copySeconds.toFixed(2)} s), ${value.bytesCopied} bytes, ${c.writes} write requests, ${value.retries} retries, ${(value.maxRssBytes / MiB).toFixed(0)} MiB RSS`,
      );
      if (value.bytesCopied !== changedBytes) failures.push(`${spec.name}: engine run ${i + 1} copied ${value.bytesCopied} bytes, expected ${changedBytes}`);
      if (value.copyRequests - value.copyRetries !== minimal)
        failures.push(`${spec.name}: engine run ${i + 1} made ${value.copyRequests - value.copyRetries} successful write requests, expected ${minimal}`);
      const bad = await this.check(snapshots[i]!, engineBlob, changes[i]!, i === 0 ? 1 : 5);
      if (bad.length) failures.push(`${spec.name}: engine run ${i + 1} target differs from ${snapshots[i]!.name} in ${bad.length} range(s)`);
    }
    const pick = <T>(f: (r: EngineCopyResult, c: EmulatorCounters) => T, i: number) => f(runs[i]!, runCounters[i]!);
    const mid = runs.map((r) => r.seconds).indexOf(median(runs.map((r) => r.seconds)));
    const midIndex = mid >= 0 ? mid : 0;
    const phaseSeconds: Record<string, number> = {};
    for (const [k, v] of Object.entries(runs[midIndex]!.phaseSeconds)) phaseSeconds[k] = Math.round(v * 100) / 100;
    const engine = {
      seconds: median(runs.map((r) => r.seconds)),
      copySeconds: median(runs.map((r) => r.copySeconds)),
      runSeconds: runs.map((r) => Math.round(r.seconds * 100) / 100),
      phaseSeconds,
      bytesCopied: pick((r) => r.bytesCopied, midIndex),
      requests: pick((_r, c) => c.writes, midIndex),
      retries: pick((r) => r.copyRetries, midIndex),
      successfulWrites: pick((r) => r.copyRequests - r.copyRetries, midIndex),
      maxRssBytes: Math.max(...runs.map((r) => r.maxRssBytes)),
      runs: runs.length,
    };

    const first = snapshots[0]!;
    let sample: Measured | undefined;
    {
      const f = spec.sampleFraction;
      const windowBytes = Math.ceil((first.sizeBytes + 512) / f / 512) * 512;
      const inWindow = changes[0]!.filter((r) => r.offset + r.length <= windowBytes);
      const blob = await this.emptyTarget(`${spec.name}-sample`, first.sizeBytes);
      const emAccount = this.em.connection.storageAccounts.find((a) => a.name === this.account.name)!;
      const { value, counters: c } = await counted(this.em, () =>
        officialSampleCopy(this.em, this.clients.compute, emAccount, this.container, blob, [first], base, windowBytes),
      );
      log(
        `  official sample${f > 1 ? ` (first 1/${f} of the disk)` : ''}: ${value.seconds.toFixed(2)} s, ${value.bytesCopied} bytes, ${c.writes} write requests`,
      );
      const scale = changedBytes / Math.max(1, totalBytes(inWindow));
      sample = {
        seconds: value.seconds * scale,
        bytesCopied: Math.round(value.bytesCopied * scale),
        requests: Math.round(c.writes * scale),
        retries: c.writes - value.requests,
        runs: 1,
        ...(f > 1
          ? {
              note: `measured on the first 1/${f} of the disk (${inWindow.length} of ${changes[0]!.length} ranges, ${value.seconds.toFixed(1)} s) and scaled by ${scale.toFixed(2)}: the algorithm is sequential, so its time is linear in the ranges`,
            }
          : {}),
      };
      if (value.bytesCopied !== totalBytes(inWindow)) failures.push(`${spec.name}: sample copied ${value.bytesCopied} bytes, expected ${totalBytes(inWindow)}`);
      const bad = await this.check(first, blob, inWindow, 5);
      if (bad.length) failures.push(`${spec.name}: sample target differs from ${first.name} in ${bad.length} range(s)`);
    }

    let full: Measured | undefined;
    if (spec.full) {
      const blob = this.blobName(`${spec.name}-full`);
      const { value, counters: c } = await counted(this.em, () => runEngineChild(this.engineJob(family, blob, { only: first.id, verify: 'none' })));
      log(`  full copy: ${value.seconds.toFixed(2)} s, ${value.bytesCopied} bytes, ${c.writes} write requests`);
      full = { seconds: value.seconds, bytesCopied: value.bytesCopied, requests: c.writes, retries: value.retries, maxRssBytes: value.maxRssBytes, runs: 1 };
      // A base copy also writes the 512-byte VHD footer after the disk.
      if (value.bytesCopied !== spec.allocatedBytes + 512)
        failures.push(`${spec.name}: full copy moved ${value.bytesCopied} bytes, expected the ${spec.allocatedBytes} allocated + 512 (footer)`);
      const bad = await this.check(first, blob, changes[0]!, 5);
      if (bad.length) failures.push(`${spec.name}: full-copy target differs from ${first.name} in ${bad.length} range(s)`);
    }

    let loop: CopyScenarioResult['loop'];
    if (spec.loopConcurrencies.length) {
      const ops = chunks(changes[0]!);
      const tried: LimitLoopResult[] = [];
      const sas = await this.clients.compute.grantAccess(first.id, 'Read', 3600);
      const store = await this.clients.copyDataPlane.targetStore(this.account, this.container);
      const blobs: string[] = [];
      let best!: LimitLoopResult;
      try {
        // Each concurrency is tried on the first quarter of the set (seconds), the best then runs the whole set.
        const probe = ops.slice(0, Math.max(1, Math.ceil(ops.length / 4)));
        for (const concurrency of spec.loopConcurrencies) {
          const blob = await this.emptyTarget(`${spec.name}-probe`, first.sizeBytes);
          const { value, counters: c } = await counted(this.em, () => limitLoop(sas, store.blob(blob), probe, concurrency));
          log(`  plain loop x${concurrency} on ${probe.length} requests: ${value.seconds.toFixed(2)} s, ${c.writes} write requests, ${value.retries} retries`);
          tried.push(value);
          // The emulator's caps count per second: let the window roll over before the next try.
          await new Promise((r) => setTimeout(r, 1000));
        }
        const fastest = tried.reduce((b, t) => (t.seconds < b.seconds ? t : b), tried[0]!);
        blobs.push(await this.emptyTarget(`${spec.name}-loop`, first.sizeBytes));
        best = await limitLoop(sas, store.blob(blobs[0]!), ops, fastest.concurrency);
        log(`  plain loop x${best.concurrency}: ${best.seconds.toFixed(2)} s, ${best.requests} requests, ${best.retries} retries`);
      } finally {
        await this.clients.compute.revokeAccess(first.id);
      }
      const bad = await this.check(first, blobs[0]!, changes[0]!, 5);
      if (bad.length) failures.push(`${spec.name}: plain-loop target differs from ${first.name} in ${bad.length} range(s)`);
      loop = {
        seconds: best.seconds,
        bytesCopied: changedBytes,
        requests: best.requests,
        retries: best.retries,
        runs: 1,
        concurrency: best.concurrency,
        tried,
      };
    }

    return {
      name: spec.name,
      description: spec.description,
      changedBytes,
      minimalRequests: minimal,
      limitSeconds: limitSeconds(changedBytes, minimal),
      engine,
      ...(sample ? { sample } : {}),
      ...(full ? { full } : {}),
      ...(loop ? { loop } : {}),
      failures,
    };
  }
}

/** Peak RSS a relayed copy must stay under at the default concurrency (its page data is bounded to 64 MiB). */
export const RELAY_RSS_GOAL_BYTES = 400 * 1000 * 1000;

/**
 * The log-append change set copied while the target refuses every Put Page From URL from the snapshot's SAS
 * (emulator fault `incrementalsource=1`): every page is read and written by the engine's process, at its
 * default concurrency.
 */
export async function relayScenario(bench: CopyBench, log: (line: string) => void): Promise<CopyScenarioResult> {
  const world = bench.world;
  const failures: string[] = [];
  const disk = await world.createDisk('relay', LAYOUT.diskGiB);
  await world.write(disk, { ranges: LAYOUT.baseRanges(3) });
  const base = await world.snapshot(disk, 'relay-0');
  const change = LAYOUT.logAppend(0);
  await world.write(disk, { ranges: change });
  const snap = await world.snapshot(disk, 'relay-1');
  const family = [base, snap];
  const changedBytes = totalBytes(change);
  const minimal = minimalRequests(change);
  const blob = bench.blobName('relay-engine');
  log(`  engine: base copy of ${base.name} (by URL)`);
  await runEngineChild(bench.engineJob(family, blob, { only: base.id }));
  await bench.em.setFaults({ ...FAULTS, incrementalsource: 1 });
  let value: EngineCopyResult;
  let c: EmulatorCounters;
  try {
    ({ value, counters: c } = await counted(bench.em, () => runEngineChild(bench.engineJob(family, blob, { only: snap.id }))));
  } finally {
    await bench.em.setFaults(FAULTS);
  }
  log(
    `  engine, relayed: ${value.seconds.toFixed(2)} s (copy ${value.copySeconds.toFixed(2)} s), ${value.bytesCopied} bytes, ${value.bytesRelayed} relayed, ${c.writes} write requests, ${value.retries} retries, ${(value.maxRssBytes / MiB).toFixed(0)} MiB RSS`,
  );
  if (value.bytesCopied !== changedBytes) failures.push(`relay: copied ${value.bytesCopied} bytes, expected ${changedBytes}`);
  if (value.bytesRelayed !== changedBytes) failures.push(`relay: relayed ${value.bytesRelayed} bytes, expected all ${changedBytes}`);
  if (value.maxRssBytes >= RELAY_RSS_GOAL_BYTES) failures.push(`relay: peak RSS ${value.maxRssBytes} bytes, goal under ${RELAY_RSS_GOAL_BYTES}`);
  const bad = await bench.check(snap, blob, change, 1);
  if (bad.length) failures.push(`relay: target differs from ${snap.name} in ${bad.length} range(s)`);
  const phaseSeconds: Record<string, number> = {};
  for (const [k, v] of Object.entries(value.phaseSeconds)) phaseSeconds[k] = Math.round(v * 100) / 100;
  return {
    name: 'relay',
    description:
      'Delta copy of one snapshot with Put Page From URL refused (incrementalsource=1): 640 MiB appended to 8 logs, every page read and written by this machine',
    changedBytes,
    minimalRequests: minimal,
    limitSeconds: limitSeconds(changedBytes, minimal),
    engine: {
      seconds: value.seconds,
      copySeconds: value.copySeconds,
      runSeconds: [Math.round(value.seconds * 100) / 100],
      phaseSeconds,
      bytesCopied: value.bytesCopied,
      requests: c.writes,
      retries: value.copyRetries,
      // Refused Put Page From URL attempts count as requests: the successful writes are the Put Pages.
      successfulWrites: value.copyRequests - value.copyRetries - (c.refused ?? 0),
      maxRssBytes: value.maxRssBytes,
      runs: 1,
    },
    bytesRelayed: value.bytesRelayed,
    rssGoalBytes: RELAY_RSS_GOAL_BYTES,
    failures,
  };
}

/** Layouts of the copy scenarios (sizes picked so the whole bench stays under 10 minutes on 2 cores). */
export const LAYOUT = {
  diskGiB: 64,
  baseRanges: (seed: number) => scatteredRanges(64, 4 * MiB, 64 * GiB, seed),
  scattered: (seed: number) => scatteredRanges(5000, 268 * 512, 64 * GiB, seed),
  /** eight log files, each growing by 80 MiB per snapshot */
  logAppend: (step: number) => Array.from({ length: 8 }, (_, f) => ({ offset: f * 8 * GiB + GiB + step * 80 * MiB, length: 80 * MiB })),
};
