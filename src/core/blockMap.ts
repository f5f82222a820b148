/**
 * The changed-block map model: a window of a disk's address space binned into cells, each with the
 * fraction of its bytes changed and cleared, plus a summary of the whole diff. Both are computed from a
 * stream of ranges in one pass, so a 32 TiB disk with millions of ranges never has its range list in memory.
 *
 * Cell i of a window `[offset, offset + length)` split into `bins` cells covers the real interval
 * `[offset + i * length / bins, offset + (i + 1) * length / bins)`. Cells may be narrower than a byte (a window of
 * a few pages shown with thousands of cells), and a range partly inside a cell adds exactly its share.
 */
import type { DiffKind, DiffRange, PageRange } from './model';
import type { ByteWindow } from './ports';
import { DiskDeltaError } from './errors';

export interface ChangedBlockMap {
  readonly window: ByteWindow;
  readonly bins: number;
  /** Per cell, the fraction (0..1) of its bytes written since the older snapshot. */
  readonly changed: Float32Array;
  /** Per cell, the fraction (0..1) of its bytes cleared (trimmed/zeroed) since the older snapshot. */
  readonly cleared: Float32Array;
}

function assertWindow(window: ByteWindow, bins: number): void {
  if (!Number.isSafeInteger(window.offset) || window.offset < 0 || !Number.isSafeInteger(window.length) || window.length <= 0) {
    throw new DiskDeltaError(`The byte window at ${window.offset} with length ${window.length} is empty or invalid.`, 'InvalidRange');
  }
  if (!Number.isSafeInteger(bins) || bins < 1) {
    throw new DiskDeltaError(`A block map needs at least one cell (asked for ${bins}).`, 'InvalidRange');
  }
}

/**
 * Accumulates ranges into the cells of one window. Feed it ranges in any order with `add`; `result()`
 * gives the fractions. Overlapping ranges of one kind (which Azure's diff does not produce) are capped at 1.
 */
export class BlockMapBinner {
  readonly window: ByteWindow;
  readonly bins: number;
  readonly #changed: Float64Array;
  readonly #cleared: Float64Array;
  /** Cells per byte. */
  readonly #scale: number;
  readonly #bigBins: bigint;
  readonly #bigLength: bigint;

  constructor(window: ByteWindow, bins: number) {
    assertWindow(window, bins);
    this.window = { offset: window.offset, length: window.length };
    this.bins = bins;
    this.#changed = new Float64Array(bins);
    this.#cleared = new Float64Array(bins);
    this.#scale = bins / window.length;
    this.#bigBins = BigInt(bins);
    this.#bigLength = BigInt(window.length);
  }

  /**
   * Position of a byte (relative to the window) in cell units. Doubles are exact to ~1e-12 of a cell; when
   * that lands next to a cell boundary, an exact integer check decides, so a range that starts or ends on
   * a boundary never leaks a sliver into the neighbouring cell.
   */
  #position(relative: number): number {
    const t = relative * this.#scale;
    const nearest = Math.round(t);
    if (t !== nearest && Math.abs(t - nearest) < 1e-6) {
      if (BigInt(relative) * this.#bigBins === BigInt(nearest) * this.#bigLength) return nearest;
    }
    return t;
  }

  add(range: DiffRange): void {
    this.addRange(range, range.kind);
  }

  addRange(range: PageRange, kind: DiffKind): void {
    const length = this.window.length;
    let start = range.offset - this.window.offset;
    let end = start + range.length;
    if (end <= 0 || start >= length || range.length <= 0) return;
    if (start < 0) start = 0;
    if (end > length) end = length;
    const cells = kind === 'cleared' ? this.#cleared : this.#changed;
    const last = this.bins - 1;
    const ts = this.#position(start);
    const te = end === length ? this.bins : this.#position(end);
    let i0 = Math.floor(ts);
    let i1 = Math.ceil(te) - 1;
    if (i0 > last) i0 = last;
    if (i1 > last) i1 = last;
    if (i1 < i0) i1 = i0;
    if (i0 === i1) {
      cells[i0] += te - ts;
      return;
    }
    cells[i0] += i0 + 1 - ts;
    for (let i = i0 + 1; i < i1; i++) cells[i] += 1;
    cells[i1] += te - i1;
  }

  result(): ChangedBlockMap {
    return { window: this.window, bins: this.bins, changed: toFractions(this.#changed), cleared: toFractions(this.#cleared) };
  }
}

function toFractions(cells: Float64Array): Float32Array {
  const out = new Float32Array(cells.length);
  for (let i = 0; i < cells.length; i++) {
    const v = cells[i];
    out[i] = v <= 0 ? 0 : v >= 1 ? 1 : v;
  }
  return out;
}

/** Bins a stream of diff ranges over a window into `bins` cells; holds only the cells. */
export async function binDiff(ranges: AsyncIterable<DiffRange> | Iterable<DiffRange>, window: ByteWindow, bins: number): Promise<ChangedBlockMap> {
  const binner = new BlockMapBinner(window, bins);
  if (Symbol.asyncIterator in ranges) {
    for await (const r of ranges) binner.add(r);
  } else {
    for (const r of ranges) binner.add(r);
  }
  return binner.result();
}

function cellBound(window: ByteWindow, index: number, bins: number, roundUp: boolean): number {
  const num = BigInt(index) * BigInt(window.length);
  const den = BigInt(bins);
  let q = num / den;
  if (roundUp && q * den !== num) q += 1n;
  return window.offset + Number(q);
}

/**
 * The smallest byte window holding cell `bin`: a range overlaps the cell exactly when it overlaps this
 * window. Neighbouring windows share a byte when a cell boundary falls inside it.
 */
export function cellRanges(window: ByteWindow, bin: number, bins: number): ByteWindow {
  assertWindow(window, bins);
  if (!Number.isSafeInteger(bin) || bin < 0 || bin >= bins) {
    throw new DiskDeltaError(`Cell ${bin} is outside a map of ${bins} cells.`, 'InvalidRange');
  }
  const start = cellBound(window, bin, bins, false);
  const end = cellBound(window, bin + 1, bins, true);
  return { offset: start, length: end - start };
}

/** The cell holding a byte offset, or undefined when the offset is outside the window. */
export function cellOf(window: ByteWindow, bins: number, offset: number): number | undefined {
  assertWindow(window, bins);
  const relative = offset - window.offset;
  if (relative < 0 || relative >= window.length) return undefined;
  return Number((BigInt(relative) * BigInt(bins)) / BigInt(window.length));
}

/** One histogram bucket: ranges with `min <= length < max` (`max` undefined for the last, open bucket). */
export interface HistogramBucket {
  readonly min: number;
  readonly max?: number;
}

const FIRST_BUCKET_LOG2 = 9; // 512 B
const LAST_BUCKET_LOG2 = 32; // 4 GiB and more
/** Power-of-two range-size buckets: [512 B, 1 KiB), [1 KiB, 2 KiB), ... [2 GiB, 4 GiB), [4 GiB, ∞). */
export const RANGE_SIZE_BUCKETS: readonly HistogramBucket[] = Array.from({ length: LAST_BUCKET_LOG2 - FIRST_BUCKET_LOG2 + 1 }, (_, i) => {
  const log2 = FIRST_BUCKET_LOG2 + i;
  return log2 === LAST_BUCKET_LOG2 ? { min: 2 ** log2 } : { min: 2 ** log2, max: 2 ** (log2 + 1) };
});

/** Index into `RANGE_SIZE_BUCKETS` for a range length (lengths below 512 count in the first bucket). */
export function histogramBucket(length: number): number {
  if (length < 2 ** (FIRST_BUCKET_LOG2 + 1)) return 0;
  // clz32 is exact and fast below 2^31; longer ranges (rare) take the floating-point path and a check.
  if (length < 2 ** 31) return 31 - Math.clz32(length) - FIRST_BUCKET_LOG2;
  let log2 = Math.floor(Math.log2(length));
  if (2 ** log2 > length) log2 -= 1;
  else if (2 ** (log2 + 1) <= length) log2 += 1;
  return Math.min(log2, LAST_BUCKET_LOG2) - FIRST_BUCKET_LOG2;
}

/** What a diff amounts to; plain data, safe to send to the webview. */
export interface DiffSummary {
  readonly diskSizeBytes: number;
  readonly changedBytes: number;
  readonly clearedBytes: number;
  readonly rangeCount: number;
  readonly changedRangeCount: number;
  readonly clearedRangeCount: number;
  /** The longest range (either kind); undefined for an empty diff. */
  readonly largestRange?: DiffRange;
  /** changedBytes / diskSizeBytes (0..1). */
  readonly changedShare: number;
  /** clearedBytes / diskSizeBytes (0..1). */
  readonly clearedShare: number;
  /** Counts per `RANGE_SIZE_BUCKETS` entry, changed ranges. */
  readonly changedHistogram: readonly number[];
  /** Counts per `RANGE_SIZE_BUCKETS` entry, cleared ranges. */
  readonly clearedHistogram: readonly number[];
}

/** Streaming summary of a diff: feed every range once with `add`, read `result()` at the end. */
export class DiffSummaryAccumulator {
  readonly #diskSizeBytes: number;
  #changedBytes = 0;
  #clearedBytes = 0;
  #changedCount = 0;
  #clearedCount = 0;
  #largest: DiffRange | undefined;
  readonly #changedHistogram = new Array<number>(RANGE_SIZE_BUCKETS.length).fill(0);
  readonly #clearedHistogram = new Array<number>(RANGE_SIZE_BUCKETS.length).fill(0);

  constructor(diskSizeBytes: number) {
    this.#diskSizeBytes = diskSizeBytes;
  }

  add(range: DiffRange): void {
    if (range.length <= 0) return;
    const bucket = histogramBucket(range.length);
    if (range.kind === 'cleared') {
      this.#clearedBytes += range.length;
      this.#clearedCount++;
      this.#clearedHistogram[bucket]++;
    } else {
      this.#changedBytes += range.length;
      this.#changedCount++;
      this.#changedHistogram[bucket]++;
    }
    if (!this.#largest || range.length > this.#largest.length) {
      this.#largest = { offset: range.offset, length: range.length, kind: range.kind };
    }
  }

  result(): DiffSummary {
    const size = this.#diskSizeBytes;
    return {
      diskSizeBytes: size,
      changedBytes: this.#changedBytes,
      clearedBytes: this.#clearedBytes,
      rangeCount: this.#changedCount + this.#clearedCount,
      changedRangeCount: this.#changedCount,
      clearedRangeCount: this.#clearedCount,
      ...(this.#largest ? { largestRange: this.#largest } : {}),
      changedShare: size > 0 ? Math.min(1, this.#changedBytes / size) : 0,
      clearedShare: size > 0 ? Math.min(1, this.#clearedBytes / size) : 0,
      changedHistogram: [...this.#changedHistogram],
      clearedHistogram: [...this.#clearedHistogram],
    };
  }
}

/** Summarises a stream of diff ranges. */
export async function summarizeDiff(ranges: AsyncIterable<DiffRange> | Iterable<DiffRange>, diskSizeBytes: number): Promise<DiffSummary> {
  const acc = new DiffSummaryAccumulator(diskSizeBytes);
  for await (const r of ranges) acc.add(r);
  return acc.result();
}

/**
 * One pass over a diff stream giving both the map of a window and the summary of everything streamed
 * (the first view of a diff: the whole disk and its totals, without listing the ranges twice).
 */
export async function analyseDiff(
  ranges: AsyncIterable<DiffRange> | Iterable<DiffRange>,
  window: ByteWindow,
  bins: number,
  diskSizeBytes: number,
): Promise<{ map: ChangedBlockMap; summary: DiffSummary }> {
  const binner = new BlockMapBinner(window, bins);
  const acc = new DiffSummaryAccumulator(diskSizeBytes);
  for await (const r of ranges) {
    binner.add(r);
    acc.add(r);
  }
  return { map: binner.result(), summary: acc.result() };
}
