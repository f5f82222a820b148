/**
 * What the XFS and NTFS reader tests share: the whole tree by path, an image with some bytes replaced, and a
 * bounded walk that uses every reader method.
 */
import assert from 'node:assert/strict';
import type { BlockReader, FileId, Filesystem } from '../../src/core/filesystems/types';

/** The image's bytes with some of them replaced, without copying the image. */
export class PatchedReader implements BlockReader {
  readonly size: number;
  constructor(
    private readonly inner: BlockReader,
    private readonly patches: Map<number, number>,
    size?: number,
  ) {
    this.size = size ?? inner.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) throw new RangeError(`read of ${length} at ${offset} past the ${this.size}-byte image`);
    const b = await this.inner.read(offset, length);
    for (const [at, v] of this.patches) if (at >= offset && at < offset + length) b[at - offset] = v;
    return b;
  }
}

/** Walks up to 60 files breadth first (`entriesPerDir` of each directory), reading each the way a user would. */
export async function exerciseFilesystem(f: Filesystem, entriesPerDir: number): Promise<void> {
  const queue: FileId[] = [f.rootId];
  let budget = 60;
  while (queue.length && budget-- > 0) {
    const id = queue.shift() as FileId;
    const st = await f.stat(id);
    if (st.type === 'dir') for (const e of (await f.readDir(id)).slice(0, entriesPerDir)) queue.push(e.id);
    else if (st.type === 'symlink') await f.readLink(id);
    else {
      await f.extents(id);
      await f.readFile(id, 0, Math.min(st.sizeBytes, 1 << 20));
    }
  }
  await f.classify([{ offset: 0, length: 1 << 20 }]);
}

/** Every path under `id` with its file id; asserts there is no directory cycle and entry types match stat. */
export async function walk(fs: Filesystem, id: FileId, prefix: string, out: Map<string, FileId>, seen = new Set<FileId>()): Promise<void> {
  assert.ok(!seen.has(id), `directory cycle at ${prefix}`);
  seen.add(id);
  for (const e of await fs.readDir(id)) {
    const p = `${prefix}/${e.name}`;
    out.set(p, e.id);
    const st = await fs.stat(e.id);
    if (e.type) assert.equal(e.type, st.type, `entry type of ${p}`);
    if (st.type === 'dir') await walk(fs, e.id, p, out, seen);
  }
}
