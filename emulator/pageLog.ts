import { openSync, closeSync, fstatSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { ExtentList } from './extentMap';

/**
 * The bytes behind every written page, for all blobs, disks and snapshots: an append-only file.
 * Extents point into it, so snapshots and copies never duplicate page data, and memory stays
 * bounded whatever the disk sizes are.
 */
export class PageLog {
  #size: number;
  readonly #handle: Promise<FileHandle>;
  constructor(readonly file: string) {
    const fd = openSync(file, 'a+');
    this.#size = fstatSync(fd).size;
    closeSync(fd);
    this.#handle = open(file, 'r+');
  }

  get size(): number {
    return this.#size;
  }

  /** Reserves room for `length` bytes and returns the log position. */
  reserve(length: number): number {
    const pos = this.#size;
    this.#size += length;
    return pos;
  }

  async write(pos: number, data: Buffer): Promise<void> {
    const fh = await this.#handle;
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await fh.write(data, done, data.length - done, pos + done);
      done += bytesWritten;
    }
  }

  appendSync(data: Buffer): number {
    const pos = this.reserve(data.length);
    const fd = openSync(this.file, 'r+');
    try {
      writeSync(fd, data, 0, data.length, pos);
    } finally {
      closeSync(fd);
    }
    return pos;
  }

  /** Streams exactly `length` bytes from `body` into the log without buffering them all. */
  async appendStream(body: Readable, length: number, onChunk?: (chunk: Buffer) => void): Promise<{ pos: number; received: number }> {
    const pos = this.reserve(length);
    let received = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      onChunk?.(chunk);
      const room = Math.max(0, length - received);
      if (room > 0) await this.write(pos + received, chunk.length > room ? chunk.subarray(0, room) : chunk);
      received += chunk.length;
    }
    return { pos, received };
  }

  async read(target: Buffer, targetOffset: number, length: number, pos: number): Promise<void> {
    const fh = await this.#handle;
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(target, targetOffset + done, length - done, pos + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    await (await this.#handle).close();
  }
}

export interface SyntheticSource {
  readonly seed: number;
  readonly version: number;
}

const BASE_BYTES = 64 * 1024;
const baseBlocks = new Map<string, Buffer>();

function baseBlock(source: SyntheticSource): Buffer {
  const key = `${source.seed}:${source.version}`;
  let block = baseBlocks.get(key);
  if (!block) {
    block = Buffer.allocUnsafe(BASE_BYTES + 512);
    let x = (Math.imul(source.seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(source.version + 1, 0xc2b2ae35)) | 0 || 1;
    for (let i = 0; i < block.length; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      block.writeInt32LE(x, i);
    }
    if (baseBlocks.size > 256) baseBlocks.clear();
    baseBlocks.set(key, block);
  }
  return block;
}

/**
 * Deterministic page content from (seed, version, page index): big changes without writing bytes.
 * Each page is a slice of a per-(seed, version) random block, stamped with its page index so no two
 * pages are alike.
 */
export function fillSynthetic(target: Buffer, targetOffset: number, from: number, to: number, source: SyntheticSource): void {
  const block = baseBlock(source);
  const firstPage = Math.floor(from / 512);
  const lastPage = Math.floor((to - 1) / 512);
  const page = Buffer.allocUnsafe(512);
  for (let p = firstPage; p <= lastPage; p++) {
    const pageStart = p * 512;
    const s = Math.max(from, pageStart);
    const e = Math.min(to, pageStart + 512);
    const at = ((Math.imul(p ^ (p >>> 16), 0x45d9f3b) >>> 0) % (BASE_BYTES / 4)) * 4;
    if (s === pageStart && e === pageStart + 512) {
      const dst = targetOffset + (s - from);
      block.copy(target, dst, at, at + 512);
      target.writeUInt32LE(p >>> 0, dst);
      target.writeUInt32LE(Math.floor(p / 4294967296) ^ source.version, dst + 4);
    } else {
      block.copy(page, 0, at, at + 512);
      page.writeUInt32LE(p >>> 0, 0);
      page.writeUInt32LE(Math.floor(p / 4294967296) ^ source.version, 4);
      page.copy(target, targetOffset + (s - from), s - pageStart, e - pageStart);
    }
  }
}

/** Reads `[from, to)` of a page list: unwritten pages read as zeros. */
export async function readExtents(
  log: PageLog,
  synthetic: ReadonlyMap<number, SyntheticSource>,
  list: ExtentList,
  from: number,
  to: number,
  firstIndex: number,
): Promise<Buffer> {
  const out = Buffer.alloc(to - from);
  for (let i = firstIndex; i < list.length && list[i]!.start < to; i++) {
    const e = list[i]!;
    const s = Math.max(e.start, from);
    const t = Math.min(e.end, to);
    if (t <= s) continue;
    if (e.src === 0) await log.read(out, s - from, t - s, s + e.delta);
    else {
      const source = synthetic.get(e.src);
      if (source) fillSynthetic(out, s - from, s + e.delta, t + e.delta, source);
    }
  }
  return out;
}
