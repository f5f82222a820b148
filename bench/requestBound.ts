/**
 * The request-bound scenario: a database disk whose snapshot changed 50,000 pages of 4 KiB scattered over
 * 64 GiB, clustered the way a database writes them (in hot extents: tables, indexes), so most changes lie a few
 * KiB from the next. At 500 requests/s the minimal-request plan needs 100 s for 195 MiB that 60 MiB/s moves in
 * 3.3 s; coalescing neighbours into one request with the gap between them trades bytes for requests.
 * Rows: Disk Delta (coalescing), the same engine with coalescing off (the minimal-request plan) and the optimum:
 * the best plan that merges neighbouring changes into requests of at most 4 MiB, at the blob's targets.
 */
import { boundOf, boundSeconds, coalesceOps } from '../src/core/copy/coalesce';
import type { PageOp } from '../src/core/copy/plan';
import type { PageRange, SnapshotInfo } from '../src/core/model';
import { seededRandom } from '../emulator/faults';
import type { CopyBench } from './copyScenarios';
import { LAYOUT, runEngineChild } from './copyScenarios';
import { BLOB_MIBPS, BLOB_RPS, GiB, limitSeconds, MiB, PAGE, totalBytes } from './fixtures';

export interface RequestBoundResult {
  readonly name: string;
  readonly description: string;
  readonly changes: number;
  readonly changedBytes: number;
  /** the minimal-request plan's bound: one request per change */
  readonly minimalLimitSeconds: number;
  /** the best coalesced plan at 500 requests/s and 60 MiB/s */
  readonly optimum: { readonly bytes: number; readonly requests: number; readonly seconds: number; readonly bound: string };
  readonly engine: EngineRow;
  /** the engine with coalescing off; undefined when not run (--quick) */
  readonly minimal?: EngineRow;
  readonly failures: string[];
}

export interface EngineRow {
  /** from the start until verification begins */
  readonly copySeconds: number;
  readonly seconds: number;
  readonly bytesCopied: number;
  readonly bytesMoved: number;
  /** Put Page From URL and Clear Pages the emulator received, 503s included */
  readonly requests: number;
  readonly retries: number;
  readonly coalescedGaps: number;
  readonly bound: string;
  readonly maxRssBytes: number;
}

/** Gaps inside an extent: 1 to 32 pages (0.5 to 16 KiB) between two changed 4 KiB pages. */
const MAX_GAP_PAGES = 32;
const CHANGE_BYTES = 4096;

/**
 * `extents` hot extents, one at a random place in each equal slot of `span`, each holding `perExtent` changes of
 * 4 KiB separated by random gaps (never touching, so the diff lists every change on its own).
 */
export function databaseChanges(extents: number, perExtent: number, span: number, seed: number): PageRange[] {
  const random = seededRandom(seed);
  const slotPages = Math.floor(span / extents / PAGE);
  const extentPages = perExtent * (CHANGE_BYTES / PAGE) + (perExtent - 1) * MAX_GAP_PAGES;
  if (slotPages < extentPages + 2) throw new Error('extents do not fit');
  const out: PageRange[] = [];
  for (let e = 0; e < extents; e++) {
    let page = e * slotPages + 1 + Math.floor(random() * (slotPages - extentPages - 1));
    for (let i = 0; i < perExtent; i++) {
      out.push({ offset: page * PAGE, length: CHANGE_BYTES });
      page += CHANGE_BYTES / PAGE + 1 + Math.floor(random() * MAX_GAP_PAGES);
    }
  }
  return out;
}

/** The best plan among those merging neighbours into requests of at most 4 MiB, at the blob's targets. */
export function optimumPlan(changes: readonly PageRange[]): RequestBoundResult['optimum'] {
  const rates = { requestsPerSecond: BLOB_RPS, bytesPerSecond: BLOB_MIBPS * MiB };
  const ops: PageOp[] = changes.map((r) => ({ offset: r.offset, length: r.length, op: 'write' }));
  const plan = coalesceOps(ops, rates, 4 * MiB);
  const bytes = totalBytes(plan);
  return { bytes, requests: plan.length, seconds: boundSeconds(bytes, plan.length, rates), bound: boundOf(bytes, plan.length, rates) };
}

export async function requestBoundScenario(bench: CopyBench, quick: boolean, log: (line: string) => void): Promise<RequestBoundResult> {
  const extents = quick ? 250 : 2500;
  const perExtent = 20;
  const world = bench.world;
  log(`scenario: request-bound delta copy, ${(extents * perExtent).toLocaleString('en-US')} scattered 4 KiB changes over 64 GiB${quick ? ' (--quick)' : ''}`);
  const disk = await world.createDisk('requestbound', 64);
  await world.write(disk, { ranges: LAYOUT.baseRanges(3) });
  const base = await world.snapshot(disk, 'requestbound-0');
  const sets = [databaseChanges(extents, perExtent, 64 * GiB, 300), databaseChanges(extents, perExtent, 64 * GiB, 301)];
  const snaps: SnapshotInfo[] = [];
  for (const [i, set] of sets.entries()) {
    await world.write(disk, { ranges: set });
    snaps.push(await world.snapshot(disk, `requestbound-${i + 1}`));
  }
  const family = [base, ...snaps];
  const changedBytes = totalBytes(sets[0]!);
  const failures: string[] = [];
  const blob = bench.blobName('requestbound-engine');
  log('  engine: base copy (not measured)');
  await runEngineChild(bench.engineJob(family, blob, { only: base.id, verify: 'none' }));

  const run = async (index: number, coalesce: boolean): Promise<EngineRow> => {
    await bench.em.resetStats();
    const r = await runEngineChild(bench.engineJob(family, blob, { only: snaps[index]!.id, ...(coalesce ? {} : { coalesce: false }) }));
    const stats = await bench.em.getStats();
    const writes = (stats.requests['PutPageFromURL'] ?? 0) + (stats.requests['ClearPages'] ?? 0);
    const label = coalesce ? 'engine' : 'engine, coalescing off';
    log(
      `  ${label}: ${r.seconds.toFixed(2)} s (copy ${r.copySeconds.toFixed(2)} s), ${r.bytesCopied} changed bytes, ${r.bytesMoved} moved, ${writes} write requests, ${r.coalescedGaps} gaps coalesced, bound ${r.bound}`,
    );
    if (r.bytesCopied !== totalBytes(sets[index]!))
      failures.push(`request-bound: ${label} copied ${r.bytesCopied} changed bytes, expected ${totalBytes(sets[index]!)}`);
    if (r.bytesMoved < r.bytesCopied) failures.push(`request-bound: ${label} moved fewer bytes than changed`);
    const bad = await bench.check(snaps[index]!, blob, sets[index]!, 5);
    if (bad.length) failures.push(`request-bound: ${label}: target differs from ${snaps[index]!.name} in ${bad.length} range(s)`);
    return {
      copySeconds: r.copySeconds,
      seconds: r.seconds,
      bytesCopied: r.bytesCopied,
      bytesMoved: r.bytesMoved,
      requests: writes,
      retries: r.copyRetries,
      coalescedGaps: r.coalescedGaps,
      bound: r.bound,
      maxRssBytes: r.maxRssBytes,
    };
  };
  const engine = await run(0, true);
  // The minimal-request plan takes ~100 s: run in the default bench, estimated at its bound with --quick.
  const minimal = quick ? undefined : await run(1, false);
  return {
    name: 'request-bound',
    description: `Delta copy of one snapshot: 64 GiB database disk, ${(extents * perExtent).toLocaleString('en-US')} changes of 4 KiB in ${extents.toLocaleString('en-US')} hot extents (0.5-16 KiB apart inside an extent)`,
    changes: sets[0]!.length,
    changedBytes,
    minimalLimitSeconds: limitSeconds(changedBytes, sets[0]!.length),
    optimum: optimumPlan(sets[0]!),
    engine,
    ...(minimal ? { minimal } : {}),
    failures,
  };
}

const s = (seconds: number) => `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 0)} MB`;
const n = (v: number) => v.toLocaleString('en-US');

/** Goals: within 1.15x of the optimum, and at least 5x faster than the minimal-request plan. */
export function requestBoundGoals(r: RequestBoundResult): { optimumRatio: number; speedUp: number; speedUpMeasured: boolean } {
  const minimalSeconds = r.minimal?.copySeconds ?? r.minimalLimitSeconds;
  return { optimumRatio: r.engine.copySeconds / r.optimum.seconds, speedUp: minimalSeconds / r.engine.copySeconds, speedUpMeasured: r.minimal !== undefined };
}

export function renderRequestBound(r: RequestBoundResult): string[] {
  const g = requestBoundGoals(r);
  const lines = ['## Copies where requests dominate', '', `${r.description}.`, ''];
  lines.push(
    '| method | copy phase | wall time | changed bytes | bytes moved | write requests | gaps coalesced | bound | Disk Delta ÷ this |',
    '|---|---:|---:|---:|---:|---:|---:|---|---:|',
  );
  const e = r.engine;
  lines.push(
    `| **Disk Delta** (coalescing) | ${s(e.copySeconds)} | ${s(e.seconds)} | ${mb(e.bytesCopied)} | ${mb(e.bytesMoved)} | ${n(e.requests)} | ${n(e.coalescedGaps)} | ${e.bound} | 1.00 |`,
  );
  if (r.minimal) {
    const m = r.minimal;
    lines.push(
      `| minimal-request plan (Disk Delta, coalescing off) | ${s(m.copySeconds)} | ${s(m.seconds)} | ${mb(m.bytesCopied)} | ${mb(m.bytesMoved)} | ${n(m.requests)} | 0 | ${m.bound} | ${(e.copySeconds / m.copySeconds).toFixed(2)} |`,
    );
  } else {
    lines.push(
      `| minimal-request plan, its bound (not run) | ${s(r.minimalLimitSeconds)} | - | ${mb(r.changedBytes)} | ${mb(r.changedBytes)} | ${n(r.changes)} | 0 | requests | ${(e.copySeconds / r.minimalLimitSeconds).toFixed(2)} |`,
    );
  }
  lines.push(
    `| optimum: best coalesced plan, max(bytes ÷ 60 MiB/s, requests ÷ 500/s) | ${s(r.optimum.seconds)} | - | ${mb(r.changedBytes)} | ${mb(r.optimum.bytes)} | ${n(r.optimum.requests)} | ${n(r.changes - r.optimum.requests)} | ${r.optimum.bound} | ${g.optimumRatio.toFixed(2)} |`,
    '',
  );
  lines.push(
    `Goals: copy phase within 1.15 × the optimum: ${g.optimumRatio <= 1.15 ? 'met' : '**missed**'} (${g.optimumRatio.toFixed(2)} ×); ` +
      `at least 5 × faster than the minimal-request plan: ${g.speedUp >= 5 ? 'met' : '**missed**'} (${g.speedUp.toFixed(1)} ×${g.speedUpMeasured ? '' : ', against its bound'}). ` +
      'The optimum is the best plan that merges neighbouring changes into requests of at most 4 MiB, never across a cleared range (src/core/copy/coalesce.ts merges the smallest gaps first while max(bytes ÷ byte rate, requests ÷ request rate) falls); the engine plans at its pacing rates, 95% of the targets, which picks the same plan. ' +
      'Verification (on, as at the defaults) reads back the same coalesced requests: every changed byte and the gaps between them, in as many reads as the copy made writes. ' +
      '"Copy phase" is the time from the start until verification begins; "write requests" count the 503s retried.',
    '',
  );
  if (g.optimumRatio > 1.15) {
    const e = r.engine;
    lines.push(
      `What limits it: the optimum plan runs both terms at once right under their caps (${mb(e.bytesMoved)} at 95% of 60 MiB/s and ` +
        `${n(e.requests - e.retries)} requests at 95% of 500/s take the same time), leaving 5% of slack on each. The emulator counts each blob's ` +
        'requests and bytes per calendar second, after its 20 ms of latency, so arrival jitter on this 2-core machine (the copy, the emulator and ' +
        `the source reads share it) tips some seconds over one cap: ${n(e.retries)} requests were refused with 503, each waiting its 1 s ` +
        "Retry-After while the in-flight limit halves. Copies where only one term is near its cap meet few refusals (see the scattered row's retries). " +
        'What would close it: plan with clear slack on one term (for instance at 90% of the request rate, which merges a little more and moves a ' +
        'little more), or pace by measured arrival rather than by departure. Not tried in this run.',
      '',
    );
  }
  return lines;
}
