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

  async #fetchRun(start: number, end: number, signal?: AbortSignal): Promise<Uint8Array[]> {
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
      this.#remember(i, part);
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
