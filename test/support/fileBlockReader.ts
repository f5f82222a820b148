import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import type { BlockReader } from '../../src/core/filesystems/types';

/** A BlockReader over a local image file, counting the reads it serves (for the filesystem tests). */
export class FileBlockReader implements BlockReader {
  readonly size: number;
  reads = 0;
  bytesRead = 0;
  private fd: number | undefined;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted();
    if (this.fd === undefined) throw new Error(`${this.path} is closed`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`read of ${length} bytes at ${offset} outside the ${this.size}-byte image ${this.path}`);
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, length - done, offset + done);
      if (n === 0) throw new RangeError(`short read at ${offset + done} in ${this.path}`);
      done += n;
    }
    this.reads++;
    this.bytesRead += length;
    return out;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** A BlockReader over bytes in memory (for mutated images in the hostile-image tests). */
export class BufferBlockReader implements BlockReader {
  readonly size: number;
  constructor(readonly bytes: Uint8Array) {
    this.size = bytes.length;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size)
      throw new RangeError(`read of ${length} bytes at ${offset} outside the ${this.size}-byte image`);
    return this.bytes.slice(offset, offset + length);
  }
}
