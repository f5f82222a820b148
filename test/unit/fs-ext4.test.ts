/**
 * The ext4 reader against Debian's e2fsprogs: images made with `mke2fs -t ext4 -d`, and every answer
 * compared with what `debugfs` reports for the same image (ls -l, blocks, ncheck, icheck) and with the
 * source files themselves (SHA-256).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { ext4Format } from '../../src/core/filesystems/ext4';
import { openDisk } from '../../src/core/filesystems/disk';
import { BufferReader } from '../../src/core/filesystems/reader';
import type { Filesystem, FileType } from '../../src/core/filesystems/types';
import { debugfs, makeExt4, tempDir, writeTree, type Tree } from './support/fsTools';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * A file whose every other block run is zeros: mke2fs -d leaves holes, so it has many extents (a tree of
 * depth 1). It ends with data: mke2fs -O inline_data drops a trailing hole from the size.
 */
function sparseContent(blockSize: number, runs: number): Uint8Array {
  const out = new Uint8Array((runs * 3 - 2) * blockSize);
  for (let i = 0; i < runs; i++) out.set(randomBytes(blockSize), i * 3 * blockSize);
  return out;
}

function sourceTree(): Tree {
  const tree: Tree = {
    'hello.txt': 'hello, world\n',
    empty: '',
    'etc/nginx/nginx.conf': 'worker_processes auto;\n'.repeat(200),
    'var/log/syslog': randomBytes(3 * 1024 * 1024 + 123),
    'var/lib/sparse.db': sparseContent(4096, 40),
    'small-sparse': sparseContent(1024, 9),
    'link-short': { symlink: 'hello.txt' },
    'link-long': { symlink: `etc/${'a-rather-long-directory-name/'.repeat(4)}nginx.conf` },
    emptydir: {},
    'ünïcode name.txt': 'unicode\n',
  };
  // Enough entries that the directory becomes an htree (indexed) directory.
  for (let i = 0; i < 400; i++) tree[`many/file-with-a-longish-name-${String(i).padStart(4, '0')}.txt`] = `${i}\n`;
  return tree;
}

interface Walked {
  path: string;
  id: number;
  type: FileType;
  size: number;
}

async function walk(fs: Filesystem): Promise<Walked[]> {
  const out: Walked[] = [];
  const visit = async (id: number, prefix: string) => {
    for (const e of await fs.readDir(id)) {
      const st = await fs.stat(e.id);
      const p = `${prefix}/${e.name}`;
      out.push({ path: p, id: e.id, type: st.type, size: st.sizeBytes });
      if (st.type === 'dir') await visit(e.id, p);
    }
  };
  await visit(fs.rootId, '');
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

function sourceWalk(root: string): Array<{ path: string; type: FileType; size: number }> {
  const out: Array<{ path: string; type: FileType; size: number }> = [];
  const visit = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      const st = lstatSync(full);
      const type: FileType = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
      out.push({ path: `${prefix}/${name}`, type, size: type === 'dir' ? -1 : st.size });
      if (type === 'dir') visit(full, `${prefix}/${name}`);
    }
  };
  visit(root, '');
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

function blocksOf(extents: Array<{ fsOffset: number; length: number }>, bs: number): number[] {
  const out: number[] = [];
  for (const e of extents) for (let b = e.fsOffset / bs; b < (e.fsOffset + e.length) / bs; b++) out.push(b);
  return out;
}

for (const variant of [
  { name: '1 KiB blocks (mke2fs small profile)', sizeMiB: 48, options: [] as string[] },
  { name: '4 KiB blocks, 64bit', sizeMiB: 96, options: ['-b', '4096', '-O', '64bit'] },
  { name: '4 KiB blocks, inline_data', sizeMiB: 64, options: ['-b', '4096', '-O', 'inline_data'] },
]) {
  void describe(`ext4 reader vs e2fsprogs: ${variant.name}`, { timeout: 300_000 }, () => {
    const { dir, cleanup } = tempDir('dd-ext4-');
    const src = path.join(dir, 'src');
    const image = path.join(dir, 'disk.img');
    let fs: Filesystem;
    let files: Walked[];

    before(async () => {
      writeTree(src, sourceTree());
      makeExt4(image, src, variant.sizeMiB, [...variant.options, '-L', 'rootfs']);
      const reader = new BufferReader(readFileSync(image));
      const disk = await openDisk(reader);
      assert.equal(disk.table, 'none');
      assert.equal(disk.volumes.length, 1);
      const v = disk.volumes[0]!;
      assert.equal(v.partition.index, 0, 'a filesystem on the whole disk is partition 0');
      assert.equal(v.type, 'ext4');
      assert.equal(v.label, 'rootfs');
      assert.ok(v.filesystem);
      fs = v.filesystem;
      files = await walk(fs);
    });
    after(cleanup);

    void it('lists exactly the source files with their types and sizes', () => {
      const ours = files.filter((f) => f.path !== '/lost+found').map((f) => ({ path: f.path, type: f.type, size: f.type === 'dir' ? -1 : f.size }));
      assert.deepEqual(ours, sourceWalk(src));
    });

    void it('names every entry with the inode number debugfs ls -l shows', () => {
      for (const d of ['/', '/etc/nginx', '/many']) {
        const listing = debugfs(image, [`ls -l ${d}`]);
        const expected = new Map<string, number>();
        for (const line of listing.split('\n')) {
          const m = /^\s*(\d+)\s+\d+\s+\(\d+\)\s+\d+\s+\d+\s+\d+\s+\S+\s+\S+\s+(.+?)\s*$/.exec(line);
          // debugfs prints bytes outside ASCII as \xNN escapes.
          const name =
            m &&
            Buffer.from(
              m[2]!.replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
              'latin1',
            ).toString('utf8');
          if (m && name !== '.' && name !== '..') expected.set(name!, Number(m[1]));
        }
        const ours = new Map(files.filter((f) => path.posix.dirname(f.path) === d).map((f) => [path.posix.basename(f.path), f.id]));
        assert.deepEqual(ours, expected, `entries of ${d}`);
      }
    });

    void it('returns byte-identical file contents (SHA-256 against the source files)', async () => {
      for (const f of files.filter((x) => x.type === 'file')) {
        const bytes = await fs.readFile(f.id, 0, f.size);
        assert.equal(sha(bytes), sha(readFileSync(path.join(src, f.path))), f.path);
      }
      const log = files.find((f) => f.path === '/var/log/syslog')!;
      const piece = await fs.readFile(log.id, 1_000_000, 70_000);
      assert.deepEqual(Buffer.from(piece), readFileSync(path.join(src, 'var/log/syslog')).subarray(1_000_000, 1_070_000));
    });

    void it('reads fast and slow symbolic links', async () => {
      for (const f of files.filter((x) => x.type === 'symlink')) {
        assert.equal(await fs.readLink(f.id), readlinkSync(path.join(src, f.path)), f.path);
      }
    });

    void it('maps each file to the blocks debugfs "blocks" lists (data, extent-tree and indirect blocks)', async () => {
      const bs = fs.blockSize;
      let deepTrees = 0;
      for (const f of files.filter((x) => x.type !== 'symlink' || x.size >= 60)) {
        const extents = await fs.extents(f.id);
        const mapping = (await fs.mappingRanges?.(f.id)) ?? [];
        if (mapping.length) deepTrees++;
        const ours = [
          ...blocksOf(extents, bs),
          ...blocksOf(
            mapping.map((m) => ({ fsOffset: m.offset, length: m.length })),
            bs,
          ),
        ].sort((a, b) => a - b);
        const out = debugfs(image, [`blocks <${f.id}>`])
          .split('\n')
          .slice(1)
          .join(' ');
        const theirs = out
          .trim()
          .split(/\s+/)
          .filter(Boolean)
          .map(Number)
          .sort((a, b) => a - b);
        assert.deepEqual(ours, theirs, f.path);
      }
      if (!variant.options.includes('inline_data')) assert.ok(deepTrees >= 1, 'the sparse files have extent trees deeper than the inode');
    });

    void it('agrees with debugfs ncheck and icheck on who owns what', async () => {
      const sample = files.filter((f) => f.type === 'file' && f.size > 0).slice(0, 20);
      const ncheck = debugfs(image, [`ncheck ${sample.map((f) => f.id).join(' ')}`]);
      for (const f of sample) assert.match(ncheck, new RegExp(`^${f.id}\\s+/?${f.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), f.path);
      const probes: Array<{ block: number; id: number }> = [];
      for (const f of sample) {
        const ex = await fs.extents(f.id);
        if (ex.length) probes.push({ block: ex[ex.length - 1]!.fsOffset / fs.blockSize, id: f.id });
      }
      const icheck = debugfs(image, [`icheck ${probes.map((p) => p.block).join(' ')}`]);
      for (const p of probes) assert.match(icheck, new RegExp(`^${p.block}\\s+${p.id}$`, 'm'));
      const kinds = await fs.classify(probes.map((p) => ({ offset: p.block * fs.blockSize, length: fs.blockSize })));
      assert.ok(
        kinds.every((k) => k.kind === 'data'),
        'file blocks are in use in the block bitmap',
      );
    });

    void it('finds each inode from the inode-table bytes that hold it, and lists every allocated inode', async () => {
      for (const f of files.slice(0, 30)) {
        const r = await fs.recordRange(f.id);
        assert.ok((await fs.recordsIn([r])).includes(f.id));
      }
      const all = new Set<number>();
      for await (const id of fs.allFiles()) all.add(id);
      for (const f of files) assert.ok(all.has(f.id), `${f.path} (inode ${f.id}) is listed`);
      assert.ok(all.has(fs.rootId));
    });

    void it('classifies free space, metadata and the journal like dumpe2fs / debugfs see them', async () => {
      const sb = await fs.classify([{ offset: 1024, length: 1024 }]);
      assert.deepEqual(
        sb.map((k) => k.kind),
        ['metadata'],
        'the superblock',
      );
      const journalStat = debugfs(image, ['blocks <8>']).split('\n')[1]!.trim().split(/\s+/).map(Number);
      const j = await fs.classify([{ offset: journalStat[5]! * fs.blockSize, length: fs.blockSize }]);
      assert.deepEqual(
        j.map((k) => k.kind),
        ['journal'],
      );
      const ffb = debugfs(image, ['ffb 1 ' + String(Math.floor(fs.sizeBytes / fs.blockSize / 2))]);
      const free = Number(/(\d+)\s*$/.exec(ffb.trim())![1]);
      const k = await fs.classify([{ offset: free * fs.blockSize, length: fs.blockSize }]);
      assert.deepEqual(
        k.map((x) => x.kind),
        ['free'],
        `block ${free} is free for debugfs ffb`,
      );
      // The answer covers the input exactly.
      const whole = await fs.classify([{ offset: 0, length: fs.sizeBytes }]);
      assert.equal(
        whole.reduce((s, x) => s + x.length, 0),
        fs.sizeBytes,
      );
    });
  });
}

void describe('ext4 detection', () => {
  void it('detects the superblock magic in a partition head and nothing else', () => {
    const head = new Uint8Array(64 * 1024);
    assert.equal(ext4Format.detect(head), false);
    head[1024 + 0x38] = 0x53;
    head[1024 + 0x39] = 0xef;
    assert.equal(ext4Format.detect(head), true);
  });
});
