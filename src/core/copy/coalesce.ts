/**
 * Coalescing of a differential copy's writes when requests, not bytes, bound it.
 *
 * One page blob accepts a limited number of requests and a limited number of bytes per second
 * (docs/azure-behaviour.md#page-blobs), so a copy takes at least max(bytes / byteRate, requests / requestRate).
 * Many small changed ranges make the request term dominate. Two neighbouring changed ranges can then be written
 * by one Put Page From URL request that also covers the unchanged gap between them: on a differential step the
 * target holds the previous snapshot, and the diff says the source's gap bytes equal the previous snapshot's, so
 * the gap is rewritten with the bytes it already holds (docs/azure-behaviour.md#coalesced-writes). Each merge
 * saves one request and costs the gap's bytes; merging the smallest gaps first while the bound still falls
 * gives the best plan among those that merge neighbours.
 *
 * Never merged: across a cleared range (its bytes must end up cleared, not rewritten), into a request over the
 * plan's largest chunk (Azure: at most 4 MiB per Put Page From URL), or on a base or full copy (the target does
 * not hold the source's gap bytes there). Every piece stays 512-aligned because every range and gap is.
 */
import { rangeEnd } from '../pageRanges';
import type { PageOp } from './plan';

/** What one blob accepts per second; the copy's pacing settings (e.g. AZURE_TARGET_PACE) supply it. */
export interface RequestRates {
  readonly requestsPerSecond: number;
  readonly bytesPerSecond: number;
}

/** Which term of max(bytes / byteRate, requests / requestRate) is the larger. */
export type CopyBound = 'requests' | 'bytes';

/** A write that may cover several changed ranges and the unchanged gaps between them. */
export interface CoalescedOp extends PageOp {
  /** Changed bytes inside the request (its length less the gaps it rewrites); absent means all of it. */
  readonly changedBytes?: number;
  /** Gaps between changed ranges this request rewrites (0 or absent: none). */
  readonly coalescedGaps?: number;
}

/** The lower bound on a copy's time, in seconds. */
export function boundSeconds(bytes: number, requests: number, rates: RequestRates): number {
  return Math.max(bytes / rates.bytesPerSecond, requests / rates.requestsPerSecond);
}

export function boundOf(bytes: number, requests: number, rates: RequestRates): CopyBound {
  return requests / rates.requestsPerSecond > bytes / rates.bytesPerSecond ? 'requests' : 'bytes';
}

/** Bytes and requests of work already planned (earlier batches of the same copy). */
export interface PlannedSoFar {
  readonly bytes: number;
  readonly requests: number;
}

/**
 * Coalesces one offset-ordered batch of operations. `prior` is what earlier batches of the same copy planned:
 * the bound is the whole copy's, so a batch keeps merging only while the copy as a whole gets faster.
 */
export function coalesceOps(
  ops: readonly PageOp[],
  rates: RequestRates,
  maxChunkBytes: number,
  prior: PlannedSoFar = { bytes: 0, requests: 0 },
): CoalescedOp[] {
  const n = ops.length;
  if (n < 2) return ops.map((o) => ({ offset: o.offset, length: o.length, op: o.op }));
  let bytes = prior.bytes;
  for (const o of ops) if (o.op === 'write') bytes += o.length;
  let requests = prior.requests + n;

  // Candidate gaps: between two writes with nothing (no clear) between them.
  const candidates: number[] = [];
  for (let k = 0; k + 1 < n; k++) {
    const a = ops[k]!;
    const b = ops[k + 1]!;
    if (a.op === 'write' && b.op === 'write' && b.offset >= rangeEnd(a)) candidates.push(k);
  }
  const gap = (k: number): number => ops[k + 1]!.offset - rangeEnd(ops[k]!);
  candidates.sort((x, y) => gap(x) - gap(y) || x - y);

  // Groups are runs of consecutive operations; each root knows its run's first and last index.
  const parent = new Int32Array(n);
  const first = new Int32Array(n);
  const last = new Int32Array(n);
  for (let i = 0; i < n; i++) parent[i] = first[i] = last[i] = i;
  const find = (i: number): number => {
    let r = i;
    while (parent[r] !== r) r = parent[r]!;
    while (parent[i] !== r) {
      const next = parent[i]!;
      parent[i] = r;
      i = next;
    }
    return r;
  };

  let bound = boundSeconds(bytes, requests, rates);
  for (const k of candidates) {
    const g = gap(k);
    const next = boundSeconds(bytes + g, requests - 1, rates);
    // Gaps come smallest first: once a merge no longer shortens the bound, no later one can.
    if (next >= bound) break;
    const ra = find(k);
    const rb = find(k + 1);
    const span = rangeEnd(ops[last[rb]!]!) - ops[first[ra]!]!.offset;
    if (span > maxChunkBytes) continue;
    parent[rb] = ra;
    last[ra] = last[rb]!;
    bytes += g;
    requests -= 1;
    bound = next;
  }

  const out: CoalescedOp[] = [];
  for (let i = 0; i < n;) {
    const r = find(i);
    const j = last[r]!;
    const o = ops[i]!;
    if (j === i) {
      out.push({ offset: o.offset, length: o.length, op: o.op });
    } else {
      let changed = 0;
      for (let m = i; m <= j; m++) changed += ops[m]!.length;
      out.push({ offset: o.offset, length: rangeEnd(ops[j]!) - o.offset, op: 'write', changedBytes: changed, coalescedGaps: j - i });
    }
    i = j + 1;
  }
  return out;
}

/** Operations coalesced per batch (the batch is sorted by gap: ~1 MiB of memory per 65,536). */
export const COALESCE_BATCH_OPS = 65_536;

/**
 * A stream of a differential step's operations, coalesced batch by batch so memory stays bounded however many
 * ranges a disk has. A diff that fits in one batch (50,000 ranges do) gets the best plan for the whole copy.
 */
export async function* coalesceStream(
  ops: AsyncIterable<PageOp>,
  rates: RequestRates,
  maxChunkBytes: number,
  batchOps = COALESCE_BATCH_OPS,
): AsyncGenerator<CoalescedOp, void, undefined> {
  let planned = { bytes: 0, requests: 0 };
  let batch: PageOp[] = [];
  const flush = function* (): Generator<CoalescedOp> {
    const out = coalesceOps(batch, rates, maxChunkBytes, planned);
    let bytes = planned.bytes;
    for (const o of out) if (o.op === 'write') bytes += o.length;
    planned = { bytes, requests: planned.requests + out.length };
    batch = [];
    yield* out;
  };
  for await (const op of ops) {
    batch.push(op);
    if (batch.length >= batchOps) yield* flush();
  }
  if (batch.length > 0) yield* flush();
}

/** What a step's plan moved against what changed, for the summary. */
export interface CoalesceTally {
  changedBytes: number;
  bytesMoved: number;
  requests: number;
  coalescedGaps: number;
}

export function tallyOp(t: CoalesceTally, op: CoalescedOp): void {
  t.requests += 1;
  if (op.op !== 'write') return;
  t.bytesMoved += op.length;
  t.changedBytes += op.changedBytes ?? op.length;
  t.coalescedGaps += op.coalescedGaps ?? 0;
}
