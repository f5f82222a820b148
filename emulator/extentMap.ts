/**
 * Sparse, copy-on-write page storage. A blob's content is a sorted list of non-overlapping extents
 * `[start, end)` (512-byte aligned) that each point into a content source. Extents are never mutated
 * in place, so a snapshot is a shallow copy of the array and shares every byte with its blob.
 *
 * Two extents hold the same bytes exactly when they have the same `src` and `delta`: `src` 0 is the
 * append-only page log (byte `o` lives at log position `o + delta`); `src` > 0 is a synthetic source
 * whose bytes are generated from (seed, version) at disk offset `o + delta`.
 */
export interface Extent {
  readonly start: number;
  readonly end: number;
  readonly src: number;
  readonly delta: number;
}

export type ExtentList = readonly Extent[];

export const PAGE = 512;

/**
 * `src` of a cleared run: pages read as zeros and are not valid ranges, but a diff still reports them
 * as ClearRange when they were cleared after the earlier snapshot, whatever they held before - the
 * diff follows what happened to each page, as Azure's change tracking does.
 */
export const CLEARED = -1;

/** Index of the first extent whose end is after `offset`. */
export function firstEndingAfter(list: ExtentList, offset: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.end <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A new list with `[start, end)` replaced by `piece` (or cleared when `piece` is undefined). */
export function overwrite(list: ExtentList, start: number, end: number, piece?: { src: number; delta: number }): Extent[] {
  const out = list.slice() as Extent[];
  overwriteInPlace(out, start, end, piece);
  return out;
}

/** In-place variant for the live (unshared) list of a blob; snapshots hold their own array. */
export function overwriteInPlace(list: Extent[], start: number, end: number, piece?: { src: number; delta: number }): void {
  const i = firstEndingAfter(list, start);
  let j = i;
  const middle: Extent[] = [];
  while (j < list.length && list[j]!.start < end) {
    const e = list[j]!;
    if (e.start < start) middle.push({ start: e.start, end: start, src: e.src, delta: e.delta });
    j++;
  }
  if (piece) middle.push({ start, end, src: piece.src, delta: piece.delta });
  if (j > i) {
    const last = list[j - 1]!;
    if (last.end > end) middle.push({ start: end, end: last.end, src: last.src, delta: last.delta });
  }
  list.splice(i, j - i, ...middle);
}

/** Overlays many sorted, non-overlapping pieces in one linear pass (bulk synthetic writes). */
export function overlay(base: ExtentList, top: ExtentList): Extent[] {
  const out: Extent[] = [];
  let k = 0;
  let pending: Extent | undefined = base[0];
  const advance = (): void => {
    k++;
    pending = base[k];
  };
  for (const t of top) {
    while (pending && pending.end <= t.start) {
      out.push(pending);
      advance();
    }
    while (pending && pending.start < t.end) {
      if (pending.start < t.start) out.push({ ...pending, end: t.start });
      if (pending.end > t.end) {
        pending = { ...pending, start: t.end };
        break;
      }
      advance();
    }
    out.push(t);
  }
  while (pending) {
    out.push(pending);
    advance();
  }
  return out;
}

/** Drops everything at or after `size` (a shrink). */
export function truncate(list: ExtentList, size: number): Extent[] {
  const i = firstEndingAfter(list, size);
  const out = list.slice(0, i) as Extent[];
  if (i < list.length && list[i]!.start < size) {
    const e = list[i]!;
    out.push({ start: e.start, end: size, src: e.src, delta: e.delta });
  }
  return out;
}

export interface RangeOut {
  start: number;
  /** exclusive */
  end: number;
  clear: boolean;
}

/** Valid ranges inside `[from, to)`, adjacent extents coalesced as Azure reports them. */
export function validRanges(list: ExtentList, from: number, to: number, max = Infinity): RangeOut[] {
  const out: RangeOut[] = [];
  for (let i = firstEndingAfter(list, from); i < list.length && list[i]!.start < to; i++) {
    const e = list[i]!;
    if (e.src === CLEARED) continue;
    const s = Math.max(e.start, from);
    const t = Math.min(e.end, to);
    if (t <= s) continue;
    const last = out[out.length - 1];
    if (last && last.end === s) last.end = t;
    else if (out.length >= max) break;
    else out.push({ start: s, end: t, clear: false });
  }
  return out;
}

/**
 * Changes from `prev` to `cur` inside `[from, to)`, at most `max` ranges (the last one complete): pages whose content differs (PageRange) and
 * pages valid in `prev` but gone in `cur` (ClearRange), in offset order. Linear in both lists.
 */
export function diffRanges(prev: ExtentList, cur: ExtentList, from: number, to: number, max = Infinity): RangeOut[] {
  const out: RangeOut[] = [];
  let full = false;
  const push = (s: number, t: number, clear: boolean): void => {
    if (t <= s) return;
    const last = out[out.length - 1];
    if (last && last.end === s && last.clear === clear) last.end = t;
    else if (out.length >= max) full = true;
    else out.push({ start: s, end: t, clear });
  };
  let i = firstEndingAfter(prev, from);
  let j = firstEndingAfter(cur, from);
  let pos = from;
  while (pos < to) {
    const p = i < prev.length ? prev[i]! : undefined;
    const c = j < cur.length ? cur[j]! : undefined;
    const pIn = p !== undefined && p.start <= pos;
    const cIn = c !== undefined && c.start <= pos;
    let next = to;
    if (p) next = Math.min(next, pIn ? p.end : p.start);
    if (c) next = Math.min(next, cIn ? c.end : c.start);
    if (!p && !c) break;
    const same = pIn && cIn && p.src === c.src && p.delta === c.delta;
    if (cIn && !same) push(pos, next, c.src === CLEARED);
    else if (pIn && !cIn && p.src !== CLEARED) push(pos, next, true);
    if (full) break;
    pos = next;
    if (p && p.end <= pos) i++;
    if (c && c.end <= pos) j++;
  }
  return out;
}

export function usedBytes(list: ExtentList): number {
  let n = 0;
  for (const e of list) if (e.src !== CLEARED) n += e.end - e.start;
  return n;
}
