import { BlockReader, FilesystemError } from './types';

/** The raw read under a cache: a snapshot SAS (PageSource.read), a file, a buffer. */
export type RangeRead = (offset: number, length: number, signal?: AbortSignal) => Promise<Uint8Array>;

export interface CachedReaderOptions {
  /** Cache granule: reads are widened to whole granules (default 64 KiB, a power of two >= 512). */
  readonly granuleBytes?: number;
  /** Upper bound of cached bytes; least recently used granules go first (default 64 MiB). */
  readonly maxCachedBytes?: number;
  /** Raw reads in flight at once (default 8). */
  readonly concurrency?: number;
  /** Largest single raw read when adjacent misses are coalesced (default 4 MiB). */
  readonly maxReadBytes?: number;
  /**
   * What the source serves a second, which prefetch weighs a gap's bytes against a request by (default:
   * one page blob's scale targets, 500 requests and 60 MiB a second).
   */
  readonly targets?: { readonly requestsPerSecond: number; readonly bytesPerSecond: number };
}

export interface ReaderStats {
  /** Bytes fetched from the underlying source. */
  bytesRead: number;
  /** Raw reads issued. */
  reads: number;
  /** Granules served from the cache. */
  hits: number;
}

/**
 * prefetch weighs the bytes of a gap it could read through at this many times their share of the
 * source's bytes a second: they also cost this machine the time to receive and drop them, which the
 * request they save does not (1x read twice the bytes for no time gained on the file-diff bench).
 */
const GAP_BYTE_WEIGHT = 2;

/**
 * A {@link BlockReader} that caches aligned granules with an LRU byte bound, fetches the granules a
 * read misses in parallel (bounded), and coalesces adjacent misses into one raw read. Filesystem
 * parsers ask for many small pieces close together (an inode, a directory block, a group
 * descriptor); a snapshot SAS answers each request with a round trip, so widening and coalescing
 * make the number of requests, not the bytes, the cost.
 */
export class CachedBlockReader implements BlockReader {
  readonly stats: ReaderStats = { bytesRead: 0, reads: 0, hits: 0 };
  readonly #granule: number;
  readonly #maxCached: number;
  readonly #concurrency: number;
  readonly #maxRead: number;
  readonly #targets: { readonly requestsPerSecond: number; readonly bytesPerSecond: number };
  /** Granule index -> bytes; Map iteration order is insertion order, so re-inserting marks recent use. */
  readonly #cache = new Map<number, Uint8Array>();
  readonly #inFlight = new Map<number, Promise<Uint8Array>>();
  #cachedBytes = 0;
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(
    readonly size: number,
    private readonly raw: RangeRead,
    options: CachedReaderOptions = {},
  ) {
    this.#granule = options.granuleBytes ?? 64 * 1024;
    if (this.#granule < 512 || (this.#granule & (this.#granule - 1)) !== 0) throw new RangeError('granuleBytes must be a power of two >= 512');
    this.#maxCached = Math.max(options.maxCachedBytes ?? 64 * 1024 * 1024, this.#granule);
    this.#concurrency = Math.max(1, options.concurrency ?? 8);
    this.#maxRead = Math.max(this.#granule, options.maxReadBytes ?? 4 * 1024 * 1024);
    this.#targets = options.targets ?? { requestsPerSecond: 500, bytesPerSecond: 60 * 1024 * 1024 };
  }

  /**
   * Brings the granules that cover `ranges` into the cache, for reads that follow: for many small
   * pieces far apart (records, directory blocks) that are all needed before anything can go on. A source
   * limits both requests and bytes a second (see targets), so fetching N granules one by one is bound by
   * requests, and fetching them with the gaps between them by bytes. The smallest gaps are read through
   * (one request instead of two) for as long as that shortens the larger of the two times; only the
   * wanted granules are kept. The requests run as many at a time as the reader allows. At most half the
   * cache is fetched at once: a caller with more pieces fetches and uses them a batch at a time.
   */
  async prefetch(ranges: ReadonlyArray<{ readonly offset: number; readonly length: number }>, signal?: AbortSignal): Promise<void> {
    const g = this.#granule;
    const wanted = new Set<number>();
    for (const r of ranges) {
      if (r.length <= 0 || r.offset < 0 || r.offset + r.length > this.size) continue;
      for (let i = Math.floor(r.offset / g), last = Math.floor((r.offset + r.length - 1) / g); i <= last; i++) {
        if (!this.#cache.has(i) && !this.#inFlight.has(i)) wanted.add(i);
      }
    }
    // At most half the cache: what it fetched must still be there when the reads come (the rest is left to them).
    const sorted = [...wanted].sort((a, b) => a - b).slice(0, Math.max(1, Math.floor(this.#maxCached / 2 / g)));
    const perRequest = 1 / this.#targets.requestsPerSecond;
    const perGranule = (GAP_BYTE_WEIGHT * g) / this.#targets.bytesPerSecond;
    let requestTime = sorted.length * perRequest;
    let byteTime = sorted.length * perGranule;
    const gaps = sorted.slice(1).map((at, k) => ({ k: k + 1, granules: at - sorted[k]! - 1 }));
    gaps.sort((a, b) => a.granules - b.granules || a.k - b.k);
    const joined = new Set<number>();
    for (const gap of gaps) {
      const after = Math.max(requestTime - perRequest, byteTime + gap.granules * perGranule);
      if (after >= Math.max(requestTime, byteTime)) break;
      joined.add(gap.k);
      requestTime -= perRequest;
      byteTime += gap.granules * perGranule;
    }
    const perRun = Math.max(1, Math.floor(this.#maxRead / g));
    const runs: Array<{ start: number; end: number; keep: number[] }> = [];
    for (const [k, i] of sorted.entries()) {
      const run = runs[runs.length - 1];
      if (run && joined.has(k) && i + 1 - run.start <= perRun) {
        run.end = i + 1;
        run.keep.push(i);
      } else runs.push({ start: i, end: i + 1, keep: [i] });
    }
    const done: Array<Promise<unknown>> = [];
    for (const run of runs) {
      const fetched = this.#fetchRun(run.start, run.end, signal, new Set(run.keep));
      for (const i of run.keep) {
        const one = fetched.then((parts) => parts[i - run.start]!);
        one.catch(() => undefined);
        this.#inFlight.set(i, one);
      }
      const settle = () => {
        for (const i of run.keep) this.#inFlight.delete(i);
      };
      void fetched.then(settle, settle);
      done.push(fetched);
    }
    // A failed fetch is reported by the read that asks for its bytes again.
    await Promise.allSettled(done);
  }

  /** Whether every granule of the range is cached or on its way (a read of it makes no new request). */
  holds(offset: number, length: number): boolean {
    const g = this.#granule;
    for (let i = Math.floor(offset / g), last = Math.floor((offset + length - 1) / g); i <= last; i++) {
      if (!this.#cache.has(i) && !this.#inFlight.has(i)) return false;
    }
    return true;
  }

  /** Raw reads running or waiting for a slot. */
  get load(): number {
    return this.#active + this.#waiting.length;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new FilesystemError('disk image', offset, `read of ${length} bytes is outside the image (${this.size} bytes)`);
    }
    if (length === 0) return new Uint8Array(0);
    const g = this.#granule;
    const first = Math.floor(offset / g);
    const last = Math.floor((offset + length - 1) / g);
    const parts = await this.#granules(first, last, signal);
    if (parts.length === 1) {
      const start = offset - first * g;
      return parts[0]!.subarray(start, start + length);
    }
    const out = new Uint8Array(length);
    let pos = 0;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      const from = i === 0 ? offset - first * g : 0;
      const take = Math.min(p.length - from, length - pos);
      out.set(p.subarray(from, from + take), pos);
      pos += take;
    }
    return out;
  }

  /** Granules first..last, missing ones fetched in coalesced runs. */
  async #granules(first: number, last: number, signal?: AbortSignal): Promise<Uint8Array[]> {
    const result: Array<Promise<Uint8Array>> = [];
    const runs: Array<{ start: number; end: number }> = [];
    const perRun = Math.max(1, Math.floor(this.#maxRead / this.#granule));
    for (let i = first; i <= last; i++) {
      const hit = this.#cache.get(i);
      if (hit) {
        this.#cache.delete(i);
        this.#cache.set(i, hit);
        this.stats.hits++;
        result.push(Promise.resolve(hit));
        continue;
      }
      const pending = this.#inFlight.get(i);
      if (pending) {
        result.push(pending);
        continue;
      }
      const run = runs[runs.length - 1];
      if (run && run.end === i && run.end - run.start < perRun) run.end = i + 1;
      else runs.push({ start: i, end: i + 1 });
      result.push(undefined as unknown as Promise<Uint8Array>);
    }
    for (const run of runs) {
      const fetched = this.#fetchRun(run.start, run.end, signal);
      for (let i = run.start; i < run.end; i++) {
        const one = fetched.then((parts) => parts[i - run.start]!);
        // The run's failure is reported by whoever awaits it; keep other waiters from an unhandled rejection.
        one.catch(() => undefined);
        this.#inFlight.set(i, one);
        result[i - first] = one;
      }
      void fetched.then(
        () => {
          for (let i = run.start; i < run.end; i++) this.#inFlight.delete(i);
        },
        () => {
          for (let i = run.start; i < run.end; i++) this.#inFlight.delete(i);
        },
      );
    }
    return Promise.all(result);
  }

  /** Granules start..end in one raw read; all of them are cached, or those in `keep`. */
  async #fetchRun(start: number, end: number, signal?: AbortSignal, keep?: ReadonlySet<number>): Promise<Uint8Array[]> {
    const g = this.#granule;
    const offset = start * g;
    const length = Math.min(end * g, this.size) - offset;
    await this.#slot(signal);
    let bytes: Uint8Array;
    try {
      bytes = await this.raw(offset, length, signal);
    } finally {
      this.#release();
    }
    if (bytes.length !== length) throw new FilesystemError('disk image', offset, `read returned ${bytes.length} bytes, expected ${length}`);
    this.stats.bytesRead += length;
    this.stats.reads++;
    const parts: Uint8Array[] = [];
    for (let i = start; i < end; i++) {
      const part = bytes.subarray((i - start) * g, Math.min((i - start + 1) * g, length));
      parts.push(part);
      if (!keep || keep.has(i)) this.#remember(i, part);
    }
    return parts;
  }

  #remember(index: number, bytes: Uint8Array): void {
    const old = this.#cache.get(index);
    if (old) this.#cachedBytes -= old.length;
    this.#cache.delete(index);
    this.#cache.set(index, bytes);
    this.#cachedBytes += bytes.length;
    for (const [key, value] of this.#cache) {
      if (this.#cachedBytes <= this.#maxCached) break;
      this.#cache.delete(key);
      this.#cachedBytes -= value.length;
    }
  }

  async #slot(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (this.#active < this.#concurrency) {
      this.#active++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active++;
    signal?.throwIfAborted();
  }

  #release(): void {
    this.#active--;
    this.#waiting.shift()?.();
  }
}

/**
 * Readers of two snapshots of one disk that share the bytes the diff between them leaves alone: those
 * are the same in both snapshots (docs/azure-behaviour.md#incremental-snapshots), so a read that lies
 * wholly outside the diff is served by whichever snapshot already holds it in its cache, else by the one
 * with fewer reads waiting. Each snapshot is a blob with its own request and bandwidth targets
 * (docs/azure-behaviour.md#scale-targets-of-one-page-blob), so a walk over unchanged directories of one
 * snapshot proceeds at the pace of two. Reads that touch the diff go to their own snapshot.
 */
export function sharedUnchanged(
  older: CachedBlockReader,
  newer: CachedBlockReader,
  diff: ReadonlyArray<{ readonly offset: number; readonly length: number }>,
): [older: BlockReader, newer: BlockReader] {
  const ranges = [...diff].sort((a, b) => a.offset - b.offset);
  // The largest end so far, per position: ranges may overlap; a read overlaps the diff when a range
  // starting before its end ends after its start.
  const endsSoFar: number[] = [];
  for (const [i, r] of ranges.entries()) endsSoFar.push(Math.max(r.offset + r.length, i ? endsSoFar[i - 1]! : 0));
  const touchesDiff = (offset: number, length: number): boolean => {
    let lo = 0;
    let hi = ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ranges[mid]!.offset < offset + length) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 && endsSoFar[lo - 1]! > offset;
  };
  const view = (own: CachedBlockReader, other: CachedBlockReader): BlockReader => ({
    size: own.size,
    prefetch(wanted, signal) {
      // Unchanged pieces neither snapshot holds are shared out, each to the one given fewer so far.
      const mine: Array<{ offset: number; length: number }> = [];
      const theirs: Array<{ offset: number; length: number }> = [];
      for (const r of [...wanted].sort((a, b) => a.offset - b.offset)) {
        if (r.length <= 0 || r.offset + r.length > other.size || touchesDiff(r.offset, r.length)) mine.push(r);
        else if (own.holds(r.offset, r.length) || other.holds(r.offset, r.length)) continue;
        else if (theirs.length < mine.length) theirs.push(r);
        else mine.push(r);
      }
      return Promise.all([own.prefetch(mine, signal), other.prefetch(theirs, signal)]).then(() => undefined);
    },
    read(offset, length, signal) {
      if (length === 0 || offset + length > other.size || touchesDiff(offset, length) || own.holds(offset, length)) return own.read(offset, length, signal);
      if (other.holds(offset, length) || other.load < own.load) return other.read(offset, length, signal);
      return own.read(offset, length, signal);
    },
  });
  return [view(older, newer), view(newer, older)];
}

/** A reader over bytes in memory (tests, fixtures). */
export class BufferReader implements BlockReader {
  readonly size: number;
  constructor(private readonly bytes: Uint8Array) {
    this.size = bytes.length;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      return Promise.reject(new FilesystemError('disk image', offset, `read of ${length} bytes is outside the image (${this.size} bytes)`));
    }
    return Promise.resolve(this.bytes.subarray(offset, offset + length));
  }
}
