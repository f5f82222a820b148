/**
 * Page-range algebra over `PageRange` / `DiffRange`: exact byte lengths, half-open `[offset, offset + length)`.
 *
 * Array functions are for small lists; the `*Stream` functions keep O(1) memory so a 32 TiB disk with
 * millions of ranges can be diffed and copied without holding its range list.
 * Offsets stay below 2^53 (32 TiB is 2^45), so plain number arithmetic is exact; no bitwise operators here.
 */
import type { DiffKind, DiffRange, PageRange } from './model';
import type { ByteWindow } from './ports';
import { DiskDeltaError } from './errors';

/** Azure: page blobs are written in 512-byte pages — docs/azure-behaviour.md#page-blobs. */
export const PAGE = 512;
/** Azure: Put Page and Put Page From URL write at most 4 MiB per call — docs/azure-behaviour.md#page-blobs. */
export const MAX_PUT_PAGES = 4 * 1024 * 1024;

/** One past the last byte of a range. */
export function rangeEnd(range: PageRange): number {
  return range.offset + range.length;
}

function isPageMultiple(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0 && n % PAGE === 0;
}

/** True when the range starts on a page boundary and its length is a positive multiple of 512. */
export function isAligned(range: PageRange): boolean {
  return isPageMultiple(range.offset) && isPageMultiple(range.length) && range.length > 0;
}

/**
 * Throws a `DiskDeltaError` (code `UnalignedRange`) unless the range is page-aligned.
 * Azure: Put Page ranges must start at a multiple of 512 and end at 512k - 1 — docs/azure-behaviour.md#page-blobs.
 */
export function assertAligned(range: PageRange, what = 'Page range'): void {
  if (!isAligned(range)) {
    throw new DiskDeltaError(
      `${what} at offset ${range.offset} with length ${range.length} is not aligned to 512-byte pages.`,
      'UnalignedRange',
      'Page ranges must start at a multiple of 512 and have a positive length that is a multiple of 512.',
    );
  }
}

/**
 * A range from Azure's inclusive form (`<Start>`/`<End>` of Get Page Ranges, `bytes=start-end`).
 * Azure: Get Page Ranges returns INCLUSIVE end offsets, so one page is 0-511 — docs/azure-behaviour.md#page-blobs.
 */
export function fromInclusive(start: number, endInclusive: number): PageRange;
export function fromInclusive(start: number, endInclusive: number, kind: DiffKind): DiffRange;
export function fromInclusive(start: number, endInclusive: number, kind?: DiffKind): PageRange | DiffRange {
  const range = { offset: start, length: endInclusive - start + 1 };
  assertAligned(range, 'Azure page range');
  return kind === undefined ? range : { ...range, kind };
}

/**
 * A range from @azure/storage-blob's `{offset, count}`, where `count` is `end - start` (a page has count 511).
 * Azure SDK trap: getPageRangesDiffForManagedDisks reports length - 1 as `count` — docs/azure-behaviour.md#the-storage-sdks-traps.
 */
export function fromSdkRange(range: { offset: number; count: number }): PageRange;
export function fromSdkRange(range: { offset: number; count: number }, kind: DiffKind): DiffRange;
export function fromSdkRange(range: { offset: number; count: number }, kind?: DiffKind): PageRange | DiffRange {
  return kind === undefined ? fromInclusive(range.offset, range.offset + range.count) : fromInclusive(range.offset, range.offset + range.count, kind);
}

/** The inclusive end offset Azure's headers want (`x-ms-range: bytes=offset-end`). */
export function inclusiveEnd(range: PageRange): number {
  return range.offset + range.length - 1;
}

/** `bytes=start-end` for `x-ms-range` / `x-ms-source-range`. */
export function rangeHeader(range: PageRange): string {
  return `bytes=${range.offset}-${inclusiveEnd(range)}`;
}

function kindOf(range: PageRange): DiffKind | undefined {
  return (range as Partial<DiffRange>).kind;
}

function withBounds<T extends PageRange>(template: T, offset: number, length: number): T {
  return { ...template, offset, length };
}

function byOffset(a: PageRange, b: PageRange): number {
  return a.offset - b.offset || a.length - b.length;
}

/**
 * Coalesces consecutive ranges of the same kind (plain `PageRange`s all count as one kind) that touch or
 * overlap. The input is sorted by offset first (a copy; the input is not changed). Ranges of different
 * kinds are never merged with each other.
 */
export function mergeAdjacent<T extends PageRange>(ranges: Iterable<T>): T[] {
  const sorted = [...ranges].sort(byOffset);
  const out: T[] = [];
  let pending: T | undefined;
  for (const r of sorted) {
    if (r.length <= 0) continue;
    if (pending && kindOf(pending) === kindOf(r) && r.offset <= rangeEnd(pending)) {
      const end = Math.max(rangeEnd(pending), rangeEnd(r));
      pending = withBounds(pending, pending.offset, end - pending.offset);
    } else {
      if (pending) out.push(pending);
      pending = r;
    }
  }
  if (pending) out.push(pending);
  return out;
}

/**
 * `mergeAdjacent` one range at a time, for input already in offset order (what Get Page Ranges returns):
 * `push` hands back the range that is complete, if any; `finish` the last one. Throws `UnsortedRanges`
 * if the input goes backwards, as that would silently lose bytes.
 */
export class AdjacentMerger<T extends PageRange> {
  #pending: T | undefined;
  #lastOffset = -Infinity;

  push(r: T): T | undefined {
    if (r.offset < this.#lastOffset) {
      throw new DiskDeltaError(
        `Page ranges arrived out of order (offset ${r.offset} after ${this.#lastOffset}).`,
        'UnsortedRanges',
        'List the ranges in offset order, one offset window after another.',
      );
    }
    this.#lastOffset = r.offset;
    if (r.length <= 0) return undefined;
    const pending = this.#pending;
    if (pending && kindOf(pending) === kindOf(r) && r.offset <= rangeEnd(pending)) {
      const end = Math.max(rangeEnd(pending), rangeEnd(r));
      this.#pending = withBounds(pending, pending.offset, end - pending.offset);
      return undefined;
    }
    this.#pending = r;
    return pending;
  }

  finish(): T | undefined {
    const pending = this.#pending;
    this.#pending = undefined;
    return pending;
  }
}

/** Streaming `mergeAdjacent` for input already in offset order; holds one range at a time (see `AdjacentMerger`). */
export async function* mergeAdjacentStream<T extends PageRange>(ranges: AsyncIterable<T> | Iterable<T>): AsyncGenerator<T, void, undefined> {
  const merger = new AdjacentMerger<T>();
  for await (const r of ranges) {
    const done = merger.push(r);
    if (done) yield done;
  }
  const last = merger.finish();
  if (last) yield last;
}

/** The bytes covered by any of the ranges, as sorted, disjoint, non-touching plain ranges (kinds dropped). */
export function union(...lists: Iterable<PageRange>[]): PageRange[] {
  const all: PageRange[] = [];
  for (const list of lists) for (const r of list) if (r.length > 0) all.push({ offset: r.offset, length: r.length });
  return mergeAdjacent(all);
}

/** Pushes the parts of `r` outside the sorted, disjoint `holes` onto `out`. */
function subtractOne<T extends PageRange>(r: T, holes: readonly PageRange[], out: T[]): void {
  if (r.length <= 0) return;
  let cursor = r.offset;
  const end = rangeEnd(r);
  for (let i = firstEndingAfter(holes, cursor); cursor < end && i < holes.length && holes[i].offset < end; i++) {
    const h = holes[i];
    if (h.offset > cursor) out.push(withBounds(r, cursor, h.offset - cursor));
    cursor = Math.max(cursor, rangeEnd(h));
  }
  if (cursor < end) out.push(withBounds(r, cursor, end - cursor));
}

/**
 * The parts of `a` not covered by `b`, in offset order; each piece keeps the fields (e.g. `kind`) of the
 * range of `a` it came from.
 */
export function subtract<T extends PageRange>(a: Iterable<T>, b: Iterable<PageRange>): T[] {
  const holes = union(b);
  const out: T[] = [];
  for (const r of [...a].sort(byOffset)) subtractOne(r, holes, out);
  return out;
}

/**
 * Streaming `subtract`: the (possibly huge) stream `a` minus a list `b` held in memory, such as the
 * ranges a resumed copy already wrote. Pieces come out in the order of `a`.
 */
export async function* subtractStream<T extends PageRange>(a: AsyncIterable<T> | Iterable<T>, b: Iterable<PageRange>): AsyncGenerator<T, void, undefined> {
  const holes = union(b);
  const pieces: T[] = [];
  for await (const r of a) {
    subtractOne(r, holes, pieces);
    yield* pieces;
    pieces.length = 0;
  }
}

/**
 * One offset-ordered diff from the separate changed and cleared lists the SDK returns for a window
 * (`pageRange` and `clearRange`), already converted to exact lengths.
 * Azure SDK trap: interleaved PageRange/ClearRange elements must both survive parsing — docs/azure-behaviour.md#the-storage-sdks-traps.
 */
export function interleaveDiff(changed: Iterable<PageRange>, cleared: Iterable<PageRange>): DiffRange[] {
  const out: DiffRange[] = [];
  for (const r of changed) out.push({ offset: r.offset, length: r.length, kind: 'changed' });
  for (const r of cleared) out.push({ offset: r.offset, length: r.length, kind: 'cleared' });
  return out.sort(byOffset);
}

/** The parts of `a` that `b` also covers, in offset order; pieces keep the fields of their range of `a`. */
export function intersect<T extends PageRange>(a: Iterable<T>, b: Iterable<PageRange>): T[] {
  const cover = union(b);
  const out: T[] = [];
  for (const r of [...a].sort(byOffset)) {
    if (r.length <= 0) continue;
    const end = rangeEnd(r);
    for (let i = firstEndingAfter(cover, r.offset); i < cover.length && cover[i].offset < end; i++) {
      const start = Math.max(r.offset, cover[i].offset);
      const stop = Math.min(end, rangeEnd(cover[i]));
      if (stop > start) out.push(withBounds(r, start, stop - start));
    }
  }
  return out;
}

/** Index of the first sorted, disjoint range whose end is after `offset` (binary search). */
function firstEndingAfter(sorted: readonly PageRange[], offset: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rangeEnd(sorted[mid]) <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The part of one range inside the window, or undefined. The window need not be page-aligned. */
export function clipRange<T extends PageRange>(range: T, window: ByteWindow): T | undefined {
  const start = Math.max(range.offset, window.offset);
  const end = Math.min(rangeEnd(range), window.offset + window.length);
  return end > start ? withBounds(range, start, end - start) : undefined;
}

/** The parts of the ranges inside the window, in input order. */
export function clipToWindow<T extends PageRange>(ranges: Iterable<T>, window: ByteWindow): T[] {
  const out: T[] = [];
  for (const r of ranges) {
    const c = clipRange(r, window);
    if (c) out.push(c);
  }
  return out;
}

/** Streaming `clipToWindow`; stops reading once sorted input has passed the window's end. */
export async function* clipStream<T extends PageRange>(ranges: AsyncIterable<T> | Iterable<T>, window: ByteWindow): AsyncGenerator<T, void, undefined> {
  const windowEnd = window.offset + window.length;
  for await (const r of ranges) {
    if (r.offset >= windowEnd) return;
    const c = clipRange(r, window);
    if (c) yield c;
  }
}

function assertChunkSize(maxBytes: number): void {
  if (!isPageMultiple(maxBytes) || maxBytes <= 0 || maxBytes > MAX_PUT_PAGES) {
    throw new DiskDeltaError(
      `Chunk size ${maxBytes} is not a multiple of 512 bytes between 512 bytes and 4 MiB.`,
      'InvalidChunkSize',
      'Choose a chunk size of 1 to 4 MiB.',
    );
  }
}

/**
 * Chunks of one aligned range, each at most `maxBytes` (<= 4 MiB, a multiple of 512), lazily.
 * Chunk k starts at `range.offset + k * maxBytes`: the official differential-copy sample wrote chunk k at
 * `k * maxBytes` and produced unbootable disks — docs/azure-behaviour.md#the-official-differential-copy-sample.
 */
export function* iterateChunks<T extends PageRange>(range: T, maxBytes: number = MAX_PUT_PAGES): Generator<T, void, undefined> {
  assertChunkSize(maxBytes);
  assertAligned(range);
  const end = rangeEnd(range);
  for (let offset = range.offset; offset < end; offset += maxBytes) {
    yield withBounds(range, offset, Math.min(maxBytes, end - offset));
  }
}

/** `iterateChunks` collected into an array (for ranges of a known, modest size). */
export function splitIntoChunks<T extends PageRange>(range: T, maxBytes: number = MAX_PUT_PAGES): T[] {
  return [...iterateChunks(range, maxBytes)];
}

/** Every range of the stream split into aligned chunks of at most `maxBytes`, in order, O(1) memory. */
export async function* chunkStream<T extends PageRange>(
  ranges: AsyncIterable<T> | Iterable<T>,
  maxBytes: number = MAX_PUT_PAGES,
): AsyncGenerator<T, void, undefined> {
  assertChunkSize(maxBytes);
  for await (const r of ranges) yield* iterateChunks(r, maxBytes);
}

/** Sum of the lengths (overlaps count twice: normalise with `union` first if the input may overlap). */
export function totalBytes(ranges: Iterable<PageRange>): number {
  let sum = 0;
  for (const r of ranges) sum += r.length;
  return sum;
}

/**
 * Consecutive page-aligned windows covering `[0, size)` (the last one may be shorter), for listing a
 * large blob's ranges window by window.
 * Azure: very fragmented blobs should be listed in offset windows to avoid server timeouts — docs/azure-behaviour.md#page-blobs.
 */
export function* offsetWindows(size: number, windowBytes: number): Generator<ByteWindow, void, undefined> {
  if (!isPageMultiple(windowBytes) || windowBytes <= 0) {
    throw new DiskDeltaError(`Window size ${windowBytes} is not a positive multiple of 512 bytes.`, 'InvalidRange');
  }
  for (let offset = 0; offset < size; offset += windowBytes) {
    yield { offset, length: Math.min(windowBytes, size - offset) };
  }
}

/** Collects an async iterable into an array (tests and small lists only). */
export async function collect<T>(items: AsyncIterable<T> | Iterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
