/**
 * `npm run bench`: Disk Delta against the alternatives and the limit, on one emulator with Azure's
 * per-blob targets (500 requests/s, 60 MiB/s, 503 beyond) and 20 ms per request. Prints a Markdown
 * table, writes bench/results.json and docs/PERFORMANCE.md, exits 1 when a correctness check fails.
 *   node bench/run.mjs [--only scattered,log,relay,requests,chain,diff,files,fleet,blockmap,activation] [--quick] [--no-write | --write] [--render] [--diff-cli <other cli.js>]
 * --quick: the request-bound scenario at 1/10 of its changes, without running its minimal-request plan; the
 * fleet scenario over 40 disks instead of 200; the file-diff scenario on 20,000 files instead of 200,000 and a
 * 256 MiB file for `get` instead of 1 GiB.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectToEmulator } from '../src/azure';
import type { PageRange, SnapshotInfo } from '../src/core/model';
import { redact } from '../src/core/secret';
import { startEmulator, type RunningEmulator } from '../test/support/emulator';
import { bundleEngineChild, CopyBench, FAULTS, LAYOUT, relayScenario, runEngineChild, type CopyScenarioResult } from './copyScenarios';
import { GiB, limitSeconds, median, MiB, minimalRequests, scatteredRanges, totalBytes, type BenchWorld } from './fixtures';
import { measureActivation, measureDiff, type ActivationResult, type DiffResult } from './processes';
import { officialSampleCopy } from './officialSample';
import { fleetScenario, type FleetResult } from './fleet';
import { filesScenario, type FilesResult } from './files';
import { renderMarkdown, type BenchResults, type ChainResult } from './report';
import { requestBoundScenario, type RequestBoundResult } from './requestBound';

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const onlyArg = args.indexOf('--only');
const only = onlyArg >= 0 ? new Set((args[onlyArg + 1] ?? '').split(',')) : undefined;
const wanted = (name: string) => !only || only.has(name);
const quick = args.includes('--quick');
// bench/results.json and docs/PERFORMANCE.md hold one whole run on one machine: a partial or quick run only
// prints its table unless --write asks for it.
const write = args.includes('--write') || (!args.includes('--no-write') && !only && !quick);
const started = Date.now();
const log = (line: string) => console.error(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);

const RSS_GOAL_BYTES = 250 * 1000 * 1000;

async function snapshotsWith(world: BenchWorld, diskId: string, prefix: string, sets: readonly PageRange[][]): Promise<SnapshotInfo[]> {
  const out: SnapshotInfo[] = [];
  for (let i = 0; i < sets.length; i++) {
    await world.write(diskId, { ranges: sets[i]! });
    out.push(await world.snapshot(diskId, `${prefix}-${i + 1}`));
  }
  return out;
}

async function copyScenarios(bench: CopyBench, results: CopyScenarioResult[], chains: ChainResult[], requestBound: RequestBoundResult[]): Promise<void> {
  const world = bench.world;
  const runs = 3;
  if (wanted('scattered')) {
    log('scenario: delta copy, 1% of 64 GiB in 5,000 scattered ranges');
    const disk = await world.createDisk('scattered', LAYOUT.diskGiB);
    const baseRanges = LAYOUT.baseRanges(1);
    await world.write(disk, { ranges: baseRanges });
    const base = await world.snapshot(disk, 'scattered-0');
    const changes = Array.from({ length: runs }, (_, i) => LAYOUT.scattered(100 + i));
    const snaps = await snapshotsWith(world, disk, 'scattered', changes);
    results.push(
      await bench.deltaScenario({
        name: 'scattered',
        description: 'Delta copy of one snapshot: 64 GiB disk, 1% changed in 5,000 scattered 134 KiB ranges',
        base,
        snapshots: snaps,
        changes,
        allocatedBytes: allocated([baseRanges, changes[0]!]),
        sampleFraction: 10,
        full: true,
        loopConcurrencies: [32, 64, 128],
        log,
      }),
    );
  }
  if (wanted('log')) {
    log('scenario: delta copy, log append (8 ranges of 80 MiB)');
    const disk = await world.createDisk('logappend', LAYOUT.diskGiB);
    const baseRanges = LAYOUT.baseRanges(2);
    await world.write(disk, { ranges: baseRanges });
    const base = await world.snapshot(disk, 'logappend-0');
    const changes = Array.from({ length: runs }, (_, i) => LAYOUT.logAppend(i));
    const snaps = await snapshotsWith(world, disk, 'logappend', changes);
    results.push(
      await bench.deltaScenario({
        name: 'log-append',
        description: 'Delta copy of one snapshot: 64 GiB disk, 640 MiB appended to 8 logs (8 ranges of 80 MiB)',
        base,
        snapshots: snaps,
        changes,
        allocatedBytes: allocated([baseRanges, changes[0]!]),
        sampleFraction: 1,
        full: true,
        loopConcurrencies: [8, 16, 32],
        log,
      }),
    );
  }
  if (wanted('relay')) {
    log('scenario: delta copy relayed through this machine (Put Page From URL refused), log append');
    results.push(await relayScenario(bench, log));
  }
  if (wanted('requests')) requestBound.push(await requestBoundScenario(bench, quick, log));
  if (wanted('chain')) chains.push(await chainScenario(bench));
}

/** Bytes allocated by writing these range sets in order (overlaps counted once). */
function allocated(sets: readonly PageRange[][]): number {
  const all = sets.flat().sort((a, b) => a.offset - b.offset);
  let bytes = 0;
  let end = 0;
  for (const r of all) {
    const start = Math.max(r.offset, end);
    if (r.offset + r.length > start) bytes += r.offset + r.length - start;
    end = Math.max(end, r.offset + r.length);
  }
  return bytes;
}

async function chainScenario(bench: CopyBench): Promise<ChainResult> {
  log('scenario: chain copy of 10 snapshots');
  const world = bench.world;
  const disk = await world.createDisk('chain', 16);
  const sets: PageRange[][] = [scatteredRanges(64, 4 * MiB, 16 * GiB, 7)];
  for (let i = 1; i < 10; i++) sets.push(scatteredRanges(60, 128 * 1024, 16 * GiB, 200 + i));
  const snaps = await snapshotsWith(world, disk, 'chain', sets);
  const last = snaps[snaps.length - 1]!;
  // What each step must move: the first snapshot's allocated ranges, then each diff.
  // The first step, a base copy, also writes the 512-byte VHD footer after the disk.
  const bytes = sets.map(totalBytes).map((b, i) => (i === 0 ? b + 512 : b));
  const requests = sets.map((s, i) => minimalRequests(s) + (i === 0 ? 1 : 0));
  const changedBytes = bytes.reduce((a, b) => a + b, 0);
  const minimal = requests.reduce((a, b) => a + b, 0);
  const limit = sets.reduce((n, _s, i) => n + limitSeconds(bytes[i]!, requests[i]!), 0);
  // A full copy per snapshot moves each snapshot's allocated bytes; estimated at the limit, not run.
  const fullBytes = sets.reduce((n, _s, i) => n + allocated(sets.slice(0, i + 1)), 0);
  const fullRequests = sets.reduce((n, _s, i) => n + minimalRequests(sets.slice(0, i + 1).flat()), 0);
  const failures: string[] = [];
  // Timed as the alternatives run, without verification (median of 3); then once with the engine's default
  // verification of the changed ranges, reported beside it.
  const runs = [];
  for (let r = 0; r < 4; r++) {
    const verified = r === 3;
    const blob = bench.blobName('chain-engine');
    await bench.em.resetStats();
    const result = await runEngineChild(bench.engineJob(snaps, blob, verified ? {} : { verify: 'none' }));
    const stats = await bench.em.getStats();
    const writes = (stats.requests['PutPageFromURL'] ?? 0) + (stats.requests['ClearPages'] ?? 0);
    const label = verified ? 'engine run with verification' : `engine run ${r + 1}`;
    log(
      `  ${label}: ${result.seconds.toFixed(2)} s, ${result.steps} snapshots, ${result.bytesCopied} bytes, ${writes} write requests, ${result.retries} retries`,
    );
    runs.push({ ...result, writes, verified });
    if (result.steps !== 10) failures.push(`chain: ${label} copied ${result.steps} snapshots, expected 10`);
    if (result.bytesCopied !== changedBytes) failures.push(`chain: ${label} copied ${result.bytesCopied} bytes, expected ${changedBytes}`);
    if (result.copyRequests - result.copyRetries !== minimal)
      failures.push(`chain: ${label} made ${result.copyRequests - result.copyRetries} successful write requests, expected ${minimal}`);
    if (r === 0 || verified) {
      const bad = await bench.check(last, blob, lastContent(sets), verified ? 5 : 1);
      if (bad.length) failures.push(`chain: ${label}: target differs from ${last.name} in ${bad.length} range(s)`);
    }
  }
  const timed = runs.filter((r) => !r.verified);
  const verifiedRun = runs.find((r) => r.verified)!;
  const seconds = median(timed.map((r) => r.seconds));
  const mid = timed.find((r) => r.seconds === seconds) ?? timed[0]!;

  log('  official sample over the same chain');
  const blob = bench.blobName('chain-sample');
  const emAccount = bench.em.connection.storageAccounts.find((a) => a.name === bench.account.name)!;
  await bench.em.resetStats();
  const sample = await officialSampleCopy(bench.em, bench.clients.compute, emAccount, bench.container, blob, snaps);
  const stats = await bench.em.getStats();
  log(`  official sample: ${sample.seconds.toFixed(2)} s, ${sample.bytesCopied} bytes`);
  if (sample.bytesCopied !== changedBytes) failures.push(`chain: sample copied ${sample.bytesCopied} bytes, expected ${changedBytes}`);
  const bad = await bench.check(last, blob, lastContent(sets), 2);
  if (bad.length) failures.push(`chain: sample target differs from ${last.name} in ${bad.length} range(s)`);
  return {
    name: 'chain',
    description: 'Chain copy of 10 snapshots: 16 GiB disk, 256 MiB base, then 60 scattered 128 KiB ranges per snapshot',
    snapshots: 10,
    changedBytes,
    minimalRequests: minimal,
    limitSeconds: limit,
    engine: {
      seconds: verifiedRun.seconds,
      copySeconds: seconds,
      verifiedPhaseSeconds: Object.fromEntries(Object.entries(verifiedRun.phaseSeconds).map(([k, v]) => [k, Math.round(v * 100) / 100])),
      verifiedMaxRssBytes: verifiedRun.maxRssBytes,
      runSeconds: timed.map((r) => Math.round(r.seconds * 100) / 100),
      bytesCopied: mid.bytesCopied,
      requests: mid.writes,
      retries: mid.copyRetries,
      successfulWrites: mid.copyRequests - mid.copyRetries,
      maxRssBytes: Math.max(...runs.map((r) => r.maxRssBytes)),
      runs: timed.length,
      phaseSeconds: Object.fromEntries(Object.entries(mid.phaseSeconds).map(([k, v]) => [k, Math.round(v * 100) / 100])),
    },
    sample: {
      seconds: sample.seconds,
      bytesCopied: sample.bytesCopied,
      requests: (stats.requests['PutPageFromURL'] ?? 0) + (stats.requests['ClearPages'] ?? 0),
      retries: 0,
      runs: 1,
    },
    fullEstimate: { bytes: fullBytes, requests: fullRequests, seconds: fullBytes / (60 * MiB) + 0 * fullRequests },
    failures,
  };
}

/** Every range written to the chain's disk (the last snapshot holds them all). */
function lastContent(sets: readonly PageRange[][]): PageRange[] {
  return sets.flat().sort((a, b) => a.offset - b.offset);
}

async function diffScenario(world: BenchWorld, connectionFile: string): Promise<DiffResult> {
  log('scenario: diff of a 4 TiB disk with 1,000,000 changed ranges');
  const disk = await world.createDisk('bigdiff', 4096);
  const older = await world.snapshot(disk, 'bigdiff-1');
  // 1,000,000 ranges of 4 KiB, one every 4,397,568 bytes (8,589 pages): spread over the whole 4 TiB.
  const w = await world.write(disk, { pattern: { count: 1_000_000, length: 4096, stride: 8589 * 512, start: 0 } });
  const newer = await world.snapshot(disk, 'bigdiff-2');
  const expected = { rangeCount: w.ranges, changedBytes: w.bytes };
  // --diff-cli <path>: the same diff by another build first, back to back, for a relative comparison.
  const other = args.indexOf('--diff-cli');
  if (other >= 0 && args[other + 1]) {
    const r = await measureDiff(connectionFile, older.id, newer.id, expected, log, path.resolve(args[other + 1]!));
    log(`  ${args[other + 1]}: ${r.seconds.toFixed(2)} s, peak RSS ${(r.maxRssBytes / 1e6).toFixed(0)} MB`);
  }
  return measureDiff(connectionFile, older.id, newer.id, expected, log);
}

/** The emulator's self-signed CA is generated at each start; a rare failure there is not the bench's to fail on. */
async function startEmulatorWithRetry(): Promise<RunningEmulator> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEmulator({ faults: FAULTS, regions: ['eastus', 'westus2'] });
    } catch (error) {
      if (attempt >= 3) throw error;
      log(`  the emulator did not start (${redact(error instanceof Error ? error.message.split('\n')[0]! : String(error))}); trying again`);
    }
  }
}

async function main(): Promise<void> {
  if (args.includes('--render')) {
    // Re-render docs/PERFORMANCE.md from the last results (after a change to the report's wording).
    const saved = JSON.parse(readFileSync(path.join(root, 'bench', 'results.json'), 'utf8')) as BenchResults;
    writeFileSync(path.join(root, 'docs', 'PERFORMANCE.md'), renderMarkdown(saved));
    return;
  }
  const results: CopyScenarioResult[] = [];
  const chains: ChainResult[] = [];
  const requestBound: RequestBoundResult[] = [];
  let diff: DiffResult | undefined;
  let fleet: FleetResult | undefined;
  let files: FilesResult | undefined;
  let blockMap: BenchResults['blockMap'];
  let activation: ActivationResult | undefined;
  const failures: string[] = [];
  let em: RunningEmulator | undefined;
  const connectionFile = path.join(os.tmpdir(), `dd-bench-connection-${process.pid}.json`);
  let bench: CopyBench | undefined;
  try {
    if (['scattered', 'log', 'relay', 'requests', 'chain', 'diff', 'files'].some(wanted)) {
      log(`starting the emulator (faults ${JSON.stringify(FAULTS)})`);
      em = await startEmulatorWithRetry();
      writeFileSync(connectionFile, JSON.stringify(em.connection), { mode: 0o600 });
      const clients = connectToEmulator(em.connection, em.ca);
      bench = new CopyBench(em, clients, connectionFile);
      await bench.init();
      await bundleEngineChild(bench.work);
      await copyScenarios(bench, results, chains, requestBound);
      if (wanted('diff')) diff = await diffScenario(bench.world, connectionFile);
      if (wanted('files')) files = await filesScenario(bench, quick, log);
    }
  } finally {
    await em?.stop();
    rmSync(connectionFile, { force: true });
    if (bench) rmSync(bench.work, { recursive: true, force: true });
  }
  // The fleet runs on an emulator of its own (started and stopped inside), after the copies' has stopped.
  if (wanted('fleet')) fleet = await fleetScenario({ disks: quick ? 40 : 200, log });
  if (wanted('blockmap')) {
    log('scenario: block map first paint and zoom (Chromium)');
    try {
      const { measureBlockMap } = (await import(path.join(root, 'bench', 'blockmap.mjs'))) as {
        measureBlockMap: () => Promise<{
          firstPaintMs: number;
          zoomMs: number;
          runs: number;
          zooms: number;
          targets: { firstPaintMs: number; zoomMs: number };
        }>;
      };
      const measured = await measureBlockMap();
      blockMap = measured;
      log(`  first paint ${measured.firstPaintMs} ms, zoom ${measured.zoomMs} ms`);
    } catch (error) {
      blockMap = { error: error instanceof Error ? error.message.split('\n')[0]! : String(error) };
      log(`  block map not measured: ${blockMap.error}`);
    }
  }
  if (wanted('activation')) {
    log('scenario: extension activation and bundle sizes');
    activation = await measureActivation();
    log(`  load ${activation.loadMs} ms, activate ${activation.activateMs} ms`);
  }
  for (const r of results) failures.push(...r.failures);
  for (const c of chains) failures.push(...c.failures);
  for (const c of requestBound) failures.push(...c.failures);
  if (fleet) failures.push(...fleet.failures);
  if (diff) failures.push(...diff.failures);
  if (files) failures.push(...files.failures);
  const out: BenchResults = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '', node: process.version, totalMemBytes: os.totalmem() },
    emulatorFaults: FAULTS,
    rssGoalBytes: RSS_GOAL_BYTES,
    copies: results,
    chains,
    ...(requestBound[0] ? { requestBound: requestBound[0] } : {}),
    ...(fleet ? { fleet } : {}),
    ...(diff ? { diff } : {}),
    ...(files ? { files } : {}),
    ...(blockMap ? { blockMap } : {}),
    ...(activation ? { activation } : {}),
    totalSeconds: (Date.now() - started) / 1000,
    failures,
  };
  const markdown = renderMarkdown(out);
  console.log(markdown);
  if (write) {
    writeFileSync(path.join(root, 'bench', 'results.json'), JSON.stringify(out, null, 2) + '\n');
    writeFileSync(path.join(root, 'docs', 'PERFORMANCE.md'), markdown);
    log('wrote bench/results.json and docs/PERFORMANCE.md');
  } else if (!args.includes('--no-write')) {
    log('a partial or quick run: bench/results.json and docs/PERFORMANCE.md keep the last whole run (--write to replace them)');
  }
  if (failures.length) {
    console.error(`\n${failures.length} correctness check(s) FAILED:\n${failures.map((f) => `  - ${f}`).join('\n')}`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(redact(error instanceof Error ? (error.stack ?? error.message) : String(error)));
  process.exitCode = 1;
});
