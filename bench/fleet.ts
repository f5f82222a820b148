/**
 * The fleet row: `protect run` over many disks with 1% changed each, first by one runner, then by four
 * shards at once (`--shard i/4`), on the emulator with Azure's per-blob targets (500 requests/s, 60 MiB/s)
 * and 20 ms per request. Measures wall time against the bound (every disk's copy at its own blob's limit:
 * the slowest disk bounds the pass unless the runner's own request rate does), ARM requests per disk, peak
 * RSS per runner, and bytes moved against bytes changed.
 *   node --import tsx bench/fleet.ts [--disks 200] [--disk-gib 4] [--no-write]
 * Writes bench/fleet-results.json unless --no-write.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectToEmulator } from '../src/azure';
import type { DiskOutcome, RunSummary } from '../src/core/protect';
import { startEmulator, storageAccount, type RunningEmulator } from '../test/support/emulator';

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const arg = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const DISKS = arg('--disks', 200);
const DISK_GIB = arg('--disk-gib', 4);
const SHARDS = 4;
const MiB = 1024 * 1024;
const RANGE = 128 * 1024;
/** 1% of the disk in 128 KiB ranges spread over it. */
const RANGES = Math.round((DISK_GIB * 1024 * MiB * 0.01) / RANGE);
const STRIDE = Math.floor((DISK_GIB * 1024 * MiB) / RANGES / 512) * 512;
const started = Date.now();
const log = (line: string) => console.error(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);

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
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, XDG_STATE_HOME: state },
      },
    );
    let peak = 0;
    const poll = setInterval(() => (peak = Math.max(peak, vmHwm(child.pid!))), 25);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('exit', () => clearInterval(poll));
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

async function change(em: RunningEmulator, diskIds: readonly string[], pass: number): Promise<number> {
  let bytes = 0;
  for (const id of diskIds) {
    const r = await em.arm('POST', `/emulator/disks/${encodeURIComponent(id)}/synthetic-writes`, {
      seed: pass * 7919 + 1,
      pattern: { count: RANGES, length: RANGE, stride: STRIDE, start: pass * RANGE },
    });
    if (r.status !== 200) throw new Error(`synthetic writes: ${r.status} ${JSON.stringify(r.body)}`);
    bytes += (r.body as { bytes: number }).bytes;
  }
  return bytes;
}

function armRequests(stats: { requests: Record<string, number> }): number {
  return Object.entries(stats.requests)
    .filter(([k]) => k.startsWith('arm:'))
    .reduce((n, [, v]) => n + v, 0);
}

/** The bound of a pass: each disk's copy at its blob's limit (60 MiB/s, 500 requests/s), all disks at once. */
function boundSeconds(perDiskBytes: number): number {
  return Math.max(perDiskBytes / (60 * MiB), Math.ceil(perDiskBytes / (4 * MiB)) / 500);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dd-fleet-'));
  const em = await startEmulator({ faults: { latency: 20, rps: 500, mibps: 60 } });
  try {
    const clients = connectToEmulator(em.connection, em.ca);
    const sub = em.connection.subscriptionId;
    const connection = path.join(dir, 'connection.json');
    writeFileSync(connection, JSON.stringify(em.connection));
    const target = storageAccount(em, 'westus2');
    const policy = path.join(dir, 'fleet.policy.yaml');
    writeFileSync(
      policy,
      `policies:\n  - name: fleet\n    disks: { resourceGroups: [fleet] }\n    target: { storageAccount: ${target.resourceId} }\n    rpo: 1h\n    retention: { source: { keep: 2 }, target: { keep: 3 } }\n    verify: none\n`,
    );
    log(`creating ${DISKS} disks of ${DISK_GIB} GiB (1% = ${RANGES} ranges of 128 KiB)`);
    const ids: string[] = [];
    for (let i = 0; i < DISKS; i++)
      ids.push(
        (
          await clients.compute.createDisk({
            subscriptionId: sub,
            resourceGroup: 'fleet',
            name: `fleet-${String(i).padStart(3, '0')}`,
            location: 'eastus',
            createOption: 'Empty',
            diskSizeGB: DISK_GIB,
          })
        ).id,
      );
    await change(em, ids, 0);
    log('base copies (not measured)');
    const base = await runner(connection, policy, path.join(dir, 'state-base'), ['--parallel', '16']);
    if (base.summary.failed > 0) throw new Error(`base pass failed: ${JSON.stringify(base.summary)}`);

    const passes: Record<string, unknown> = {};
    for (const [name, shards] of [
      ['oneRunner', 1],
      ['fourShards', SHARDS],
    ] as const) {
      await em.arm('POST', '/emulator/clock', { advanceMs: 3600_000 + 60_000 });
      const changed = await change(em, ids, name === 'oneRunner' ? 1 : 2);
      await em.resetStats();
      log(`${name}: ${DISKS} disks, ${(changed / MiB).toFixed(0)} MiB changed`);
      const t = performance.now();
      const runs = await Promise.all(
        Array.from({ length: shards }, (_, i) =>
          runner(connection, policy, path.join(dir, `state-${name}-${i}`), ['--parallel', '16', ...(shards > 1 ? ['--shard', `${i}/${shards}`] : [])]),
        ),
      );
      const seconds = (performance.now() - t) / 1000;
      const stats = await em.getStats();
      const moved = stats.bytesWrittenByAccount[target.name] ?? 0;
      const disks = runs.reduce((n, r) => n + r.summary.disks, 0);
      const withinRpo = runs.reduce((n, r) => n + r.summary.withinRpo, 0);
      const perDisk = changed / DISKS;
      passes[name] = {
        runners: shards,
        disks,
        withinRpo,
        seconds: Math.round(seconds * 10) / 10,
        boundSeconds: Math.round(boundSeconds(perDisk) * 100) / 100,
        armRequestsPerDisk: Math.round((armRequests(stats) / DISKS) * 10) / 10,
        dataRequests: Object.entries(stats.requests)
          .filter(([k]) => !k.startsWith('arm:'))
          .reduce((n, [, v]) => n + v, 0),
        peakRssMBPerRunner: Math.round(Math.max(...runs.map((r) => r.peakRssBytes)) / 1e6),
        bytesChanged: changed,
        bytesMoved: moved,
        movedEqualsChanged: moved === changed,
      };
      log(`${name}: ${JSON.stringify(passes[name])}`);
    }
    const result = { disks: DISKS, diskGiB: DISK_GIB, changePerDisk: '1%', emulator: { latencyMs: 20, rps: 500, mibps: 60 }, cores: os.cpus().length, passes };
    console.log(JSON.stringify(result, null, 2));
    if (!args.includes('--no-write')) writeFileSync(path.join(root, 'bench', 'fleet-results.json'), JSON.stringify(result, null, 2) + '\n');
  } finally {
    await em.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
