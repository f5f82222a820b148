import type { DiffKind, DiffRange } from './model';
import type { ByteWindow } from './ports';
import { DiskDeltaError } from './errors';

/**
 * A diff's ranges held compactly (17 bytes a range in typed arrays, not objects), in offset order, so
 * that a map can be re-binned for any zoom window without listing the diff again (which would need
 * new SAS grants). Ranges are appended in offset order, as the diff stream yields them.
 */
export class DiffRangeStore {
  #offsets = new Float64Array(1024);
  #lengths = new Float64Array(1024);
  #kinds = new Uint8Array(1024);
  #count = 0;

  get count(): number {
    return this.#count;
  }

  /** Bytes held by the arrays (for memory reports). */
  get byteSize(): number {
    return this.#offsets.byteLength + this.#lengths.byteLength + this.#kinds.byteLength;
  }

  append(range: DiffRange): void {
    const n = this.#count;
    if (n > 0 && range.offset < this.#offsets[n - 1]!) {
      throw new DiskDeltaError('Diff ranges must be stored in offset order.', 'UnsortedRanges');
    }
    if (n === this.#offsets.length) this.#grow();
    this.#offsets[n] = range.offset;
    this.#lengths[n] = range.length;
    this.#kinds[n] = range.kind === 'cleared' ? 1 : 0;
    this.#count = n + 1;
  }

  #grow(): void {
    const size = this.#offsets.length * 2;
    const o = new Float64Array(size);
    o.set(this.#offsets);
    const l = new Float64Array(size);
    l.set(this.#lengths);
    const k = new Uint8Array(size);
    k.set(this.#kinds);
    this.#offsets = o;
    this.#lengths = l;
    this.#kinds = k;
  }

  at(index: number): DiffRange {
    const kind: DiffKind = this.#kinds[index] === 1 ? 'cleared' : 'changed';
    return { offset: this.#offsets[index]!, length: this.#lengths[index]!, kind };
  }

  /** Index of the first range that ends after `offset` (ranges do not overlap, so ends are sorted too). */
  firstEndingAfter(offset: number): number {
    let lo = 0;
    let hi = this.#count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#offsets[mid]! + this.#lengths[mid]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The ranges overlapping the window, in offset order (not clipped). */
  *inWindow(window: ByteWindow): Generator<DiffRange, void, undefined> {
    const end = window.offset + window.length;
    for (let i = this.firstEndingAfter(window.offset); i < this.#count && this.#offsets[i]! < end; i++) yield this.at(i);
  }

  *all(): Generator<DiffRange, void, undefined> {
    for (let i = 0; i < this.#count; i++) yield this.at(i);
  }
}
