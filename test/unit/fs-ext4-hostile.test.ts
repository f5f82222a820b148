/**
 * Hostile ext4 images: truncated, wrong magic, absurd sizes, a looping extent tree, a directory cycle,
 * and a fuzz loop over mutated superblock, descriptor, inode and extent bytes. Each ends in a
 * FilesystemError naming the structure and its offset (or in an answer), never a hang or a crash.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { openDisk } from '../../src/core/filesystems/disk';
import { ext4Format } from '../../src/core/filesystems/ext4';
import { fileDiff } from '../../src/core/filesystems/fileDiff';
import { BufferReader } from '../../src/core/filesystems/reader';
import { FilesystemError, type Filesystem } from '../../src/core/filesystems/types';
import { debugfs, makeExt4, tempDir, writeTree } from './support/fsTools';

/** Reads everything reachable, bounded, the way ls / get / the diff would. */
async function exercise(fs: Filesystem): Promise<number> {
  let visited = 0;
  const seen = new Set<number>();
  const queue = [fs.rootId];
  while (queue.length && visited < 500) {
    const id = queue.shift()!;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const e of await fs.readDir(id)) {
      visited++;
      const st = await fs.stat(e.id);
      if (st.type === 'dir') queue.push(e.id);
      else if (st.type === 'symlink') await fs.readLink(e.id);
      else if (st.type === 'file') {
        await fs.extents(e.id);
        await fs.readFile(e.id, 0, Math.min(st.sizeBytes, 256 * 1024));
      }
    }
  }
  await fs.classify([{ offset: 0, length: Math.min(fs.sizeBytes, 8 * 1024 * 1024) }]);
  let n = 0;
  for await (const id of fs.allFiles()) {
    if (++n > 5000) break;
    await fs.recordRange(id);
  }
  return visited;
}

function expectFsError(error: unknown, pattern: RegExp): true {
  assert.ok(error instanceof FilesystemError, `a FilesystemError, not ${String(error)}`);
  assert.match(error.message, pattern);
  assert.match(error.message, / at byte \d+: /, 'names the offset');
  return true;
}

void describe('hostile ext4 images', { timeout: 300_000 }, () => {
  const { dir, cleanup } = tempDir('dd-hostile-');
  const image = path.join(dir, 'good.img');
  let good: Buffer;
  let sparseId = 0;
  let etb = 0;
  before(() => {
    const src = path.join(dir, 'src');
    const sparse = new Uint8Array(4096 * 40);
    for (let i = 0; i < 40; i += 3) sparse.set(randomBytes(4096), i * 4096);
    writeTree(src, { 'a/b/c.txt': 'c\n', 'a/x.bin': randomBytes(50_000), 'sparse.bin': sparse, l: { symlink: 'a/x.bin' } });
    makeExt4(image, src, 16, ['-b', '4096']);
    good = readFileSync(image);
    const stat = debugfs(image, ['stat /sparse.bin']);
    sparseId = Number(/Inode: (\d+)/.exec(stat)![1]);
    etb = Number(/\(ETB0\):(\d+)/.exec(stat)![1]);
  });
  after(cleanup);

  const open = (bytes: Uint8Array) => ext4Format.open(new BufferReader(bytes), 0, bytes.length);

  void it('wrong magic names the superblock and byte 1024', async () => {
    const bad = Buffer.from(good);
    bad[1024 + 0x38] = 0;
    await assert.rejects(open(bad), (e) => expectFsError(e, /^ext4 superblock at byte 1024: wrong magic/));
  });

  void it("a truncated image is refused by its size, and reported as the partition's reason", async () => {
    const cut = good.subarray(0, good.length / 2);
    await assert.rejects(open(cut), (e) => expectFsError(e, /ext4 superblock at byte 1024: .*truncated/));
    const disk = await openDisk(new BufferReader(cut));
    assert.equal(disk.volumes[0]!.supported, false);
    assert.match(disk.volumes[0]!.reason!, /ext4 superblock at byte 1024/);
  });

  void it('absurd sizes: block size, inodes per group, a file of 2^60 bytes', async () => {
    const bad = Buffer.from(good);
    bad.writeUInt32LE(40, 1024 + 0x18);
    await assert.rejects(open(bad), (e) => expectFsError(e, /block size/));
    const bad2 = Buffer.from(good);
    bad2.writeUInt32LE(0xffffffff, 1024 + 0x28);
    await assert.rejects(open(bad2), (e) => expectFsError(e, /inodes per group/));
    const fs = await open(Buffer.from(good));
    const slot = await fs.recordRange(sparseId);
    const bad3 = Buffer.from(good);
    bad3.writeUInt32LE(0x10000000, slot.offset + 0x6c);
    const fs3 = await open(bad3);
    await assert.rejects(fs3.stat(sparseId), (e) => expectFsError(e, new RegExp(`^ext4 inode ${sparseId} at byte ${slot.offset}: size \\d+ is not possible`)));
  });

  void it('a looping extent tree is an error naming the tree and the node, not a hang', async () => {
    const fs = await open(Buffer.from(good));
    const slot = await fs.recordRange(sparseId);
    const bad = Buffer.from(good);
    // Root in the inode says depth 2; the index block says depth 1 and points at itself.
    bad.writeUInt16LE(2, slot.offset + 0x28 + 6);
    const node = etb * 4096;
    bad.writeUInt16LE(1, node + 6);
    bad.writeUInt16LE(1, node + 2);
    bad.writeUInt32LE(0, node + 12);
    bad.writeUInt32LE(etb, node + 16);
    bad.writeUInt16LE(0, node + 20);
    const fs2 = await open(bad);
    await assert.rejects(fs2.extents(sparseId), (e) =>
      expectFsError(e, new RegExp(`^ext4 inode ${sparseId} extent tree at byte \\d+: node block ${etb} is referenced twice`)),
    );
    // The diff skips the damaged file instead of stopping, and still adds up.
    const older = { reader: new BufferReader(good), disk: await openDisk(new BufferReader(good)) };
    const newer = { reader: new BufferReader(bad), disk: await openDisk(new BufferReader(bad)) };
    const ranges = [
      { offset: slot.offset - (slot.offset % 512), length: 512, kind: 'changed' as const },
      { offset: node, length: 512, kind: 'changed' as const },
    ];
    const d = await fileDiff(older, newer, ranges);
    const total = d.files.reduce((s, f) => s + f.changedBytes, 0) + d.unattributed.freeSpace + d.unattributed.metadata + d.unattributed.outsidePartitions;
    assert.equal(total, 1024);
  });

  void it('a directory cycle ends: reads stay bounded and the diff finds paths', async () => {
    const cyc = path.join(dir, 'cycle.img');
    copyFileSync(image, cyc);
    debugfs(cyc, ['ln /a /a/b/up'], true);
    const bytes = readFileSync(cyc);
    const fs = await open(bytes);
    assert.ok((await exercise(fs)) > 0);
    // An in-place write forces the walk and the breadth-first path search through the cycle.
    const changed = Buffer.from(bytes);
    const x = (await fs.readDir((await fs.readDir(fs.rootId)).find((e) => e.name === 'a')!.id)).find((e) => e.name === 'x.bin')!;
    const ex = (await fs.extents(x.id))[0]!;
    changed.fill(7, ex.fsOffset, ex.fsOffset + 512);
    const d = await fileDiff(
      { reader: new BufferReader(bytes), disk: await openDisk(new BufferReader(bytes)) },
      { reader: new BufferReader(changed), disk: await openDisk(new BufferReader(changed)) },
      [{ offset: ex.fsOffset, length: 512, kind: 'changed' }],
    );
    assert.deepEqual(
      d.files.map((f) => [f.path, f.change, f.changedBytes]),
      [['/a/x.bin', 'modified', 512]],
    );
  });

  void it('fuzz: mutated superblock, descriptor, inode and extent bytes end in an answer or a FilesystemError', async () => {
    const fs = await open(Buffer.from(good));
    const inodeSlot = (await fs.recordRange(sparseId)).offset;
    const rootSlot = (await fs.recordRange(fs.rootId)).offset;
    const regions = [
      { from: 1024, length: 1024 },
      { from: 4096, length: 64 },
      { from: rootSlot, length: 256 },
      { from: inodeSlot, length: 256 },
      { from: etb * 4096, length: 128 },
    ];
    const started = Date.now();
    let errors = 0;
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ region: fc.integer({ min: 0, max: regions.length - 1 }), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), {
          minLength: 1,
          maxLength: 12,
        }),
        async (mutations) => {
          cases++;
          const bad = Buffer.from(good);
          for (const m of mutations) {
            const r = regions[m.region]!;
            bad[r.from + (m.at % r.length)] = m.value;
          }
          const t0 = Date.now();
          try {
            const disk = await openDisk(new BufferReader(bad));
            const v = disk.volumes[0]!;
            if (v.filesystem) await exercise(v.filesystem);
          } catch (error) {
            if (!(error instanceof FilesystemError)) throw error;
            assert.match(error.message, / at byte \d+: /);
            errors++;
          }
          assert.ok(Date.now() - t0 < 20_000, 'each image is answered within seconds');
        },
      ),
      { numRuns: 300, seed: 4242, interruptAfterTimeLimit: 60_000 },
    );
    assert.ok(cases > 20, `fuzzed ${cases} images in ${Date.now() - started} ms (${errors} refused)`);
  });
});
