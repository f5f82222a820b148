/**
 * The fleet scenario (`npm run bench -- --only fleet`): `protect run` over 200 disks with 1% of each changed,
 * first by one runner, then by four shards at once (`--shard i/4`, four processes), on an emulator of its own
 * with Azure's per-blob targets (500 requests/s, 60 MiB/s) and 20 ms per request. Measures wall time against
 * the bound - each disk's copy at its own blob's limit, all disks at once, so the slowest disk bounds the pass
 * unless the runner's own request rate (its requests in flight over the latency) does - ARM requests per disk,
 * peak RSS per runner (/proc VmHWM) and bytes moved, which must equal the bytes changed.
 * The disks are 1 GiB so 1% stays moderate (~2 GB per pass over 200 disks); they are made in one
 * `POST /emulator/bulk` and changed by synthetic writes, so setup sends no page data.
 * Standalone: node --import tsx bench/fleet.ts [--disks 200] [--disk-gib 1] [--range-kib 256]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DiskOutcome, RunSummary } from '../src/core/protect';
import { startEmulator, storageAccount, type RunningEmulator } from '../test/support/emulator';
import { FAULTS } from './copyScenarios';
import { BLOB_MIBPS, BLOB_RPS, MiB } from './fixtures';

const root = path.resolve(__dirname, '..');
const LATENCY_MS = FAULTS.latency;
/** `protect run`'s defaults: requests in flight across all disks, and disks at once (README.md). */
const RUNNER_BUDGET = 64;
const PARALLEL = 16;
export const FLEET_RSS_GOAL_BYTES = 300 * 1000 * 1000;

export interface FleetPass {
  readonly runners: number;
  readonly disks: number;
  readonly withinRpo: number;
  readonly failed: number;
  readonly seconds: number;
  /** the larger of the two bounds below */
  readonly boundSeconds: number;
  readonly bound: 'slowest disk' | 'runner request rate';
  /** one disk's changes at its blob's limit (500 requests/s, 60 MiB/s), every disk at once */
  readonly diskBoundSeconds: number;
  /** every request the runners made (ARM and data), at their requests in flight over the 20 ms latency */
  readonly runnerBoundSeconds: number;
  readonly armRequestsPerDisk: number;
  /** data-plane requests the runners made (not the service's own source reads for Put Page From URL) */
  readonly dataRequests: number;
  readonly peakRssBytesPerRunner: number;
  readonly bytesChanged: number;
  readonly bytesMoved: number;
}

export interface FleetResult {
  readonly name: 'fleet';
  /** when it ran (the scenario may be re-run on its own and merged into older results) */
  readonly date?: string;
  readonly description: string;
  readonly disks: number;
  readonly diskGiB: number;
  readonly rangeBytes: number;
  readonly rangesPerDisk: number;
  readonly parallelDisks: number;
  readonly setupSeconds: number;
  readonly passes: { readonly oneRunner: FleetPass; readonly fourShards: FleetPass };
  readonly failures: string[];
}

interface RunnerMeasure {
  readonly seconds: number;
  readonly peakRssBytes: number;
  readonly outcomes: DiskOutcome[];
  readonly summary: RunSummary;
}

function vmHwm(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function runner(connection: string, policy: string, state: string, extra: string[]): Promise<RunnerMeasure> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(
      process.execPath,
      [path.join(root, 'dist', 'cli.js'), '--emulator', connection, 'protect', 'run', '--policy', policy, '--json', ...extra],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, XDG_STATE_HOME: state } },
    );
    let peak = 0;
    const poll = setInterval(() => (peak = Math.max(peak, vmHwm(child.pid!))), 25);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('exit', () => {
      // The last reading before the process is gone.
      peak = Math.max(peak, vmHwm(child.pid!));
      clearInterval(poll);
    });
    child.on('close', (code) => {
      const lines = out
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as DiskOutcome | { summary: RunSummary });
      const last = lines.pop() as { summary: RunSummary } | undefined;
      if (!last?.summary) return reject(new Error(`protect run printed no summary (exit ${code}): ${err}`));
      resolve({ seconds: (performance.now() - t) / 1000, peakRssBytes: peak, outcomes: lines as DiskOutcome[], summary: last.summary });
    });
  });
}

function sum(values: Iterable<[string, number]>, pick: (key: string) => boolean): number {
  let n = 0;
  for (const [k, v] of values) if (pick(k)) n += v;
  return n;
}

export async function fleetScenario(o: { disks: number; diskGiB?: number; rangeKiB?: number; log: (line: string) => void }): Promise<FleetResult> {
  const { disks, log } = o;
  const diskGiB = o.diskGiB ?? 1;
  const rangeBytes = (o.rangeKiB ?? 256) * 1024;
  const diskBytes = diskGiB * 1024 * MiB;
  // 1% of the disk in ranges spread evenly over it (never touching, so none merge).
  const ranges = Math.round((diskBytes * 0.01) / rangeBytes);
  const stride = Math.floor(diskBytes / ranges / 512) * 512;
  const failures: string[] = [];
  const description = `protect run over ${disks} disks of ${diskGiB} GiB, 1% of each changed (${ranges} ranges of ${rangeBytes / 1024} KiB, ${((ranges * rangeBytes) / MiB).toFixed(1)} MiB a disk): one runner, then four shards at once`;
  log(`scenario: fleet, ${description}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dd-fleet-'));
  const setupStart = performance.now();
  let em: RunningEmulator | undefined;
  try {
    em = await startEmulator({ faults: FAULTS });
    const e = em;
    const sub = e.connection.subscriptionId;
    const connection = path.join(dir, 'connection.json');
    writeFileSync(connection, JSON.stringify(e.connection), { mode: 0o600 });
    const target = storageAccount(e, 'westus2');
    const policy = path.join(dir, 'fleet.policy.yaml');
    writeFileSync(
      policy,
      `policies:\n  - name: fleet\n    disks: { resourceGroups: [fleet] }\n    target: { storageAccount: ${target.resourceId} }\n    rpo: 1h\n    retention: { source: { keep: 2 }, target: { keep: 3 } }\n    verify: none\n`,
    );
    // One request makes every disk (emulator-only, emulator/README.md): no ARM round trips per disk.
    const bulk = await e.arm('POST', '/emulator/bulk', { resourceGroup: 'fleet', location: 'eastus', disks, diskSizeGB: diskGiB, prefix: 'fleet' });
    if (bulk.status !== 200) throw new Error(`bulk seeding: ${bulk.status} ${JSON.stringify(bulk.body)}`);
    const ids = Array.from(
      { length: disks },
      (_, i) => `/subscriptions/${sub}/resourceGroups/fleet/providers/Microsoft.Compute/disks/fleet-disk-${String(i).padStart(4, '0')}`,
    );
    const change = async (pass: number): Promise<number> => {
      let bytes = 0;
      for (const id of ids) {
        const r = await e.arm('POST', `/emulator/disks/${encodeURIComponent(id)}/synthetic-writes`, {
          seed: pass * 7919 + 1,
          pattern: { count: ranges, length: rangeBytes, stride, start: pass * rangeBytes },
        });
        if (r.status !== 200) throw new Error(`synthetic writes: ${r.status} ${JSON.stringify(r.body)}`);
        bytes += (r.body as { bytes: number }).bytes;
      }
      return bytes;
    };
    // The base pass copies empty disks (a footer each): it makes every disk's first point, not measured.
    const base = await runner(connection, policy, path.join(dir, 'state-base'), ['--parallel', String(PARALLEL)]);
    if (base.summary.failed > 0)
      throw new Error(`the fleet's base pass failed: ${JSON.stringify(base.summary)} ${base.outcomes.find((x) => x.error)?.error ?? ''}`);
    const setupSeconds = (performance.now() - setupStart) / 1000;
    log(`  setup and base pass: ${setupSeconds.toFixed(1)} s`);

    const passes: Record<string, FleetPass> = {};
    for (const [name, shards, pass] of [
      ['oneRunner', 1, 1],
      ['fourShards', 4, 2],
    ] as const) {
      await e.arm('POST', '/emulator/clock', { advanceMs: 3600_000 + 60_000 });
      const changed = await change(pass);
      await e.resetStats();
      const t = performance.now();
      const runs = await Promise.all(
        Array.from({ length: shards }, (_, i) =>
          runner(connection, policy, path.join(dir, `state-${name}-${i}`), [
            '--parallel',
            String(PARALLEL),
            ...(shards > 1 ? ['--shard', `${i}/${shards}`] : []),
          ]),
        ),
      );
      const seconds = (performance.now() - t) / 1000;
      const stats = await e.getStats();
      const moved = stats.bytesWrittenByAccount[target.name] ?? 0;
      const arm = sum(Object.entries(stats.requests), (k) => k.startsWith('arm:'));
      // Each Put Page From URL makes the emulator read its source over HTTPS (counted as a Get Blob): that read
      // is the service's, not the runner's.
      const data = sum(Object.entries(stats.requests), (k) => !k.startsWith('arm:')) - (stats.requests['PutPageFromURL'] ?? 0);
      const perDisk = changed / disks;
      const diskBound = Math.max(perDisk / (BLOB_MIBPS * MiB), ranges / BLOB_RPS);
      const runnerBound = ((arm + data) * (LATENCY_MS / 1000)) / (RUNNER_BUDGET * shards);
      const row: FleetPass = {
        runners: shards,
        disks: runs.reduce((n, r) => n + r.summary.disks, 0),
        withinRpo: runs.reduce((n, r) => n + r.summary.withinRpo, 0),
        failed: runs.reduce((n, r) => n + r.summary.failed, 0),
        seconds: Math.round(seconds * 10) / 10,
        boundSeconds: Math.round(Math.max(diskBound, runnerBound) * 100) / 100,
        bound: runnerBound > diskBound ? 'runner request rate' : 'slowest disk',
        diskBoundSeconds: Math.round(diskBound * 100) / 100,
        runnerBoundSeconds: Math.round(runnerBound * 100) / 100,
        armRequestsPerDisk: Math.round((arm / disks) * 10) / 10,
        dataRequests: data,
        peakRssBytesPerRunner: Math.max(...runs.map((r) => r.peakRssBytes)),
        bytesChanged: changed,
        bytesMoved: moved,
      };
      passes[name] = row;
      log(
        `  ${name}: ${row.seconds} s (bound ${row.boundSeconds} s, ${row.bound}), ${row.disks} disks, ${row.withinRpo} within RPO, ${row.armRequestsPerDisk} ARM requests a disk, ${row.dataRequests} data requests, peak RSS ${(row.peakRssBytesPerRunner / 1e6).toFixed(0)} MB a runner, ${moved} of ${changed} changed bytes moved`,
      );
      if (row.disks !== disks) failures.push(`fleet: ${name} worked on ${row.disks} disks, expected ${disks}`);
      if (row.failed > 0) failures.push(`fleet: ${name}: ${row.failed} disk(s) failed: ${runs.flatMap((r) => r.outcomes).find((x) => x.error)?.error ?? ''}`);
      if (row.withinRpo !== disks) failures.push(`fleet: ${name}: ${disks - row.withinRpo} disk(s) not within their RPO`);
      if (moved !== changed) failures.push(`fleet: ${name} moved ${moved} bytes, ${changed} changed`);
    }
    return {
      name: 'fleet',
      date: new Date().toISOString(),
      description,
      disks,
      diskGiB,
      rangeBytes,
      rangesPerDisk: ranges,
      parallelDisks: PARALLEL,
      setupSeconds: Math.round(setupSeconds * 10) / 10,
      passes: { oneRunner: passes['oneRunner']!, fourShards: passes['fourShards']! },
      failures,
    };
  } finally {
    await em?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(__filename)) {
  const args = process.argv.slice(2);
  const arg = (name: string, fallback: number) => {
    const i = args.indexOf(name);
    return i >= 0 ? Number(args[i + 1]) : fallback;
  };
  const started = Date.now();
  fleetScenario({
    disks: arg('--disks', 200),
    diskGiB: arg('--disk-gib', 1),
    rangeKiB: arg('--range-kib', 256),
    log: (line) => console.error(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`),
  }).then(
    (r) => {
      console.log(JSON.stringify(r, null, 2));
      if (r.failures.length) process.exitCode = 1;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
