import type { DiffKind, DiffRange } from './model';
import type { ByteWindow } from './ports';
import { DiskDeltaError } from './errors';

/**
 * Ranges as three growing typed arrays (17 bytes a range: offset, length, cleared flag) rather than objects,
 * which is what keeps a million-range diff in flat memory.
 */
export class RangeColumns {
  offsets: Float64Array;
  lengths: Float64Array;
  /** 1 for a cleared range, 0 for a changed one. */
  cleared: Uint8Array;
  count = 0;

  constructor(capacity = 1024) {
    this.offsets = new Float64Array(capacity);
    this.lengths = new Float64Array(capacity);
    this.cleared = new Uint8Array(capacity);
  }

  /** Bytes held by the arrays (for memory reports). */
  get byteSize(): number {
    return this.offsets.byteLength + this.lengths.byteLength + this.cleared.byteLength;
  }

  push(offset: number, length: number, cleared: boolean): void {
    const n = this.count;
    if (n === this.offsets.length) this.#grow();
    this.offsets[n] = offset;
    this.lengths[n] = length;
    this.cleared[n] = cleared ? 1 : 0;
    this.count = n + 1;
  }

  #grow(): void {
    const size = this.offsets.length * 2;
    const o = new Float64Array(size);
    o.set(this.offsets);
    const l = new Float64Array(size);
    l.set(this.lengths);
    const k = new Uint8Array(size);
    k.set(this.cleared);
    this.offsets = o;
    this.lengths = l;
    this.cleared = k;
  }
}

/**
 * A diff's ranges held compactly (17 bytes a range in typed arrays, not objects), in offset order, so
 * that a map can be re-binned for any zoom window without listing the diff again (which would need
 * new SAS grants). Ranges are appended in offset order, as the diff stream yields them.
 */
export class DiffRangeStore {
  readonly #c = new RangeColumns();

  get count(): number {
    return this.#c.count;
  }

  /** Bytes held by the arrays (for memory reports). */
  get byteSize(): number {
    return this.#c.byteSize;
  }

  append(range: DiffRange): void {
    const c = this.#c;
    if (c.count > 0 && range.offset < c.offsets[c.count - 1]!) {
      throw new DiskDeltaError('Diff ranges must be stored in offset order.', 'UnsortedRanges');
    }
    c.push(range.offset, range.length, range.kind === 'cleared');
  }

  at(index: number): DiffRange {
    const c = this.#c;
    const kind: DiffKind = c.cleared[index] === 1 ? 'cleared' : 'changed';
    return { offset: c.offsets[index]!, length: c.lengths[index]!, kind };
  }

  /** Index of the first range that ends after `offset` (ranges do not overlap, so ends are sorted too). */
  firstEndingAfter(offset: number): number {
    const c = this.#c;
    let lo = 0;
    let hi = c.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (c.offsets[mid]! + c.lengths[mid]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The ranges overlapping the window, in offset order (not clipped). */
  *inWindow(window: ByteWindow): Generator<DiffRange, void, undefined> {
    const end = window.offset + window.length;
    for (let i = this.firstEndingAfter(window.offset); i < this.#c.count && this.#c.offsets[i]! < end; i++) yield this.at(i);
  }

  *all(): Generator<DiffRange, void, undefined> {
    for (let i = 0; i < this.#c.count; i++) yield this.at(i);
  }
}
