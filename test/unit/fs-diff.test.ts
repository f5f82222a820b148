/**
 * The file-level diff against images edited with Debian's debugfs -w: the block diff of two images is
 * computed by comparing them 512 bytes at a time (what Azure's page diff reports at page granularity),
 * and the file diff must name exactly the files the edits touched, with every byte counted once.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { openDisk } from '../../src/core/filesystems/disk';
import { fileDiff, type FileDiff } from '../../src/core/filesystems/fileDiff';
import { BufferReader } from '../../src/core/filesystems/reader';
import type { DiffRange } from '../../src/core/model';
import { ensureNtfsTools } from '../support/fsImages';
import { debugfs, makeExt4, run, tempDir, writeTree, type Tree } from './support/fsTools';

function blockDiff(a: Uint8Array, b: Uint8Array): DiffRange[] {
  const out: DiffRange[] = [];
  for (let o = 0; o < a.length; o += 512) {
    if (Buffer.compare(a.subarray(o, o + 512), b.subarray(o, o + 512)) === 0) continue;
    const last = out[out.length - 1];
    if (last && last.offset + last.length === o) out[out.length - 1] = { ...last, length: last.length + 512 };
    else out.push({ offset: o, length: 512, kind: 'changed' });
  }
  return out;
}

async function diffImages(olderPath: string, newerPath: string): Promise<{ result: FileDiff; total: number }> {
  const a = readFileSync(olderPath);
  const b = readFileSync(newerPath);
  const ranges = blockDiff(a, b);
  const older = { reader: new BufferReader(a), disk: await openDisk(new BufferReader(a)) };
  const newer = { reader: new BufferReader(b), disk: await openDisk(new BufferReader(b)) };
  const result = await fileDiff(older, newer, ranges);
  return { result, total: ranges.reduce((s, r) => s + r.length, 0) };
}

function assertTotals(result: FileDiff, total: number): void {
  const files = result.files.reduce((s, f) => s + f.changedBytes, 0);
  const u = result.unattributed;
  assert.equal(files + u.freeSpace + u.metadata + u.outsidePartitions, total, 'files + unattributed = changed + cleared bytes of the block diff');
}

/** Overwrites bytes of a file's data in the image directly, the way an in-place write leaves the inode as it was. */
async function overwriteInPlace(image: string, filePath: string, offsetInFile: number, length: number): Promise<number> {
  const bytes = readFileSync(image);
  const fs = (await openDisk(new BufferReader(bytes))).volumes[0]!.filesystem!;
  let id = fs.rootId;
  for (const part of filePath.split('/').filter(Boolean)) id = (await fs.readDir(id)).find((e) => e.name === part)!.id;
  const extent = (await fs.extents(id)).find((e) => e.fileOffset <= offsetInFile && offsetInFile + length <= e.fileOffset + e.length)!;
  const fd = openSync(image, 'r+');
  try {
    writeSync(fd, randomBytes(length), 0, length, extent.fsOffset + (offsetInFile - extent.fileOffset));
  } finally {
    closeSync(fd);
  }
  return length;
}

const baseTree = (): Tree => {
  const tree: Tree = {
    'hello.txt': 'hello\n',
    empty: '',
    'etc/nginx/nginx.conf': 'worker_processes auto;\n'.repeat(100),
    'var/log/syslog': randomBytes(512 * 1024),
    'home/user/notes.md': '# notes\n'.repeat(500),
  };
  for (let i = 0; i < 30; i++) tree[`srv/data/f${i}.bin`] = randomBytes(4096 + i * 1000);
  return tree;
};

void describe('file diff of ext4 images edited with debugfs -w', { timeout: 300_000 }, () => {
  const { dir, cleanup } = tempDir('dd-fdiff-');
  after(cleanup);
  /** An ext4 image (4 KiB blocks) made by mke2fs -d from `tree`; returns its path. */
  const ext4Image = (name: string, tree: Tree, sizeMiB = 32): string => {
    const src = path.join(dir, `${name}-src`);
    writeTree(src, tree);
    const image = path.join(dir, `${name}-a.img`);
    makeExt4(image, src, sizeMiB, ['-b', '4096']);
    return image;
  };

  void it('names added, deleted, renamed, modified (in place) and metadata-only files, and adds up', async () => {
    const a = ext4Image('base', baseTree());
    const b = path.join(dir, 'base-b.img');
    copyFileSync(a, b);
    const host = path.join(dir, 'new.txt');
    writeFileSync(host, randomBytes(20_000));
    debugfs(
      b,
      [
        `write ${host} /new.txt`,
        'sif /new.txt generation 12345',
        'rm /hello.txt',
        'ln /etc/nginx/nginx.conf /etc/nginx/nginx.conf.bak',
        'unlink /etc/nginx/nginx.conf',
        'sif /empty mode 0100600',
        'mkdir /newdir',
      ],
      true,
    );
    const written = await overwriteInPlace(b, '/var/log/syslog', 8192, 4096);
    const { result, total } = await diffImages(a, b);
    assertTotals(result, total);
    const byPath = new Map(result.files.map((f) => [f.path, f]));
    assert.equal(byPath.get('/new.txt')?.change, 'added');
    assert.equal(byPath.get('/new.txt')?.sizeBefore, null);
    assert.equal(byPath.get('/new.txt')?.sizeAfter, 20_000);
    assert.equal(byPath.get('/new.txt')?.changedBytes, 20_480, 'the diff bytes in the blocks holding the new data');
    assert.equal(byPath.get('/hello.txt')?.change, 'deleted');
    assert.equal(byPath.get('/hello.txt')?.sizeAfter, null);
    const renamed = byPath.get('/etc/nginx/nginx.conf.bak');
    assert.equal(renamed?.change, 'renamed');
    assert.equal(renamed?.previousPath, '/etc/nginx/nginx.conf');
    assert.equal(byPath.get('/var/log/syslog')?.change, 'modified', 'found by walking the files: its inode did not change');
    assert.equal(byPath.get('/var/log/syslog')?.changedBytes, written);
    assert.equal(byPath.get('/empty')?.change, 'metadata');
    assert.equal(byPath.get('/newdir')?.change, 'added');
    assert.equal(byPath.get('/')?.change, 'metadata', 'the root directory whose entries changed');
    assert.equal(byPath.get('/etc/nginx')?.change, 'metadata');
    const named = new Set(result.files.map((f) => f.path));
    assert.deepEqual(
      [...named].sort(),
      ['/', '/empty', '/etc/nginx', '/etc/nginx/nginx.conf.bak', '/hello.txt', '/new.txt', '/newdir', '/var/log/syslog'],
      'nothing else is named',
    );
    assert.equal(result.work.walkedSnapshots, 1, 'one walk, for the in-place write no record explains');
  });

  void it('counts a block two damaged files both claim once, for the first of them', async () => {
    const a = ext4Image('cross', { 'a.bin': randomBytes(8192), 'b.bin': randomBytes(8192) }, 16);
    const b = path.join(dir, 'cross-b.img');
    // Cross-link: b.bin's one extent (i_block[3..5]: logical block, length, physical block) now points at a.bin's blocks.
    const fs = (await openDisk(new BufferReader(readFileSync(a)))).volumes[0]!.filesystem!;
    const idOf = async (name: string) => (await fs.readDir(fs.rootId)).find((e) => e.name === name)!.id;
    const [aExtent] = await fs.extents(await idOf('a.bin'));
    debugfs(a, [`sif /b.bin block[5] ${aExtent!.fsOffset / 4096}`], true);
    copyFileSync(a, b);
    // Both records change (so both files are owners from the start) and the shared block is rewritten.
    debugfs(b, ['sif /a.bin mtime 200001010000', 'sif /b.bin mtime 200001010000'], true);
    const written = await overwriteInPlace(b, '/a.bin', 0, 4096);
    const { result, total } = await diffImages(a, b);
    assertTotals(result, total);
    const changed = result.files.filter((f) => f.path === '/a.bin' || f.path === '/b.bin');
    assert.equal(
      changed.reduce((n, f) => n + f.changedBytes, 0),
      written,
      `the shared block's bytes counted once: ${JSON.stringify(changed)}`,
    );
    assert.ok(
      changed.some((f) => f.changedBytes === written),
      'all of them given to one file',
    );
  });

  void it('collectExtents: each file gets exactly its changed bytes as disk ranges, inside the diff and disjoint', async () => {
    const a = ext4Image('ext', baseTree());
    const b = path.join(dir, 'ext-b.img');
    copyFileSync(a, b);
    const host = path.join(dir, 'ext-new.txt');
    writeFileSync(host, randomBytes(50_000));
    debugfs(b, [`write ${host} /new.txt`, 'rm /hello.txt'], true);
    await overwriteInPlace(b, '/var/log/syslog', 8192, 4096);
    const bytesA = readFileSync(a);
    const bytesB = readFileSync(b);
    const ranges = blockDiff(bytesA, bytesB);
    const open = async (x: Buffer) => ({ reader: new BufferReader(x), disk: await openDisk(new BufferReader(x)) });
    const result = await fileDiff(await open(bytesA), await open(bytesB), ranges, { collectExtents: true });
    const plain = await fileDiff(await open(bytesA), await open(bytesB), ranges);
    assert.deepEqual(result.files, plain.files, 'collecting extents changes nothing else');
    assert.equal(plain.extents, undefined);
    assert.ok(result.extents);
    const inDiff = (o: number, l: number) => ranges.some((r) => r.offset <= o && o + l <= r.offset + r.length);
    const seen: { offset: number; end: number; path: string }[] = [];
    for (const f of result.files) {
      const held: readonly DiffRange[] = result.extents.get(f) ?? [];
      assert.equal(
        held.reduce((sum: number, r) => sum + r.length, 0),
        f.changedBytes,
        `${f.path}: its extents add up to its changed bytes`,
      );
      for (const r of held) {
        assert.ok(inDiff(r.offset, r.length), `${f.path}: ${r.offset}+${r.length} lies in the block diff`);
        seen.push({ offset: r.offset, end: r.offset + r.length, path: f.path });
      }
    }
    seen.sort((x, y) => x.offset - y.offset);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.offset >= seen[i - 1]!.end, `${seen[i - 1]!.path} and ${seen[i]!.path} do not share a byte`);
    const syslog = result.files.find((f) => f.path === '/var/log/syslog')!;
    assert.equal(result.extents.get(syslog)?.length, 1, 'one 4 KiB write in place is one extent');
    const newTxt = result.files.find((f) => f.path === '/new.txt')!;
    assert.ok(newTxt.changedBytes >= 49_664, 'the new file: the 512-byte pages of its 50,000 random bytes');
    assert.ok(result.extents.get(newTxt)!.length >= 1);
  });

  void it('property: random file operations between two images are named exactly, and bytes add up', async () => {
    const src = path.join(dir, 'prop-src');
    writeTree(src, baseTree());
    const base = path.join(dir, 'prop-a.img');
    makeExt4(base, src, 32, ['-b', '4096']);
    const candidates = [
      '/hello.txt',
      '/empty',
      '/etc/nginx/nginx.conf',
      '/var/log/syslog',
      '/home/user/notes.md',
      ...Array.from({ length: 30 }, (_, i) => `/srv/data/f${i}.bin`),
    ];
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('write' as const),
        dir: fc.constantFrom('/', '/etc', '/srv/data', '/home/user'),
        size: fc.integer({ min: 1, max: 60_000 }),
      }),
      fc.record({ kind: fc.constantFrom('rm' as const, 'rename' as const, 'chmod' as const, 'overwrite' as const), file: fc.constantFrom(...candidates) }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 6 }), async (ops) => {
        run++;
        const b = path.join(dir, `prop-b-${run}.img`);
        copyFileSync(base, b);
        const touched = new Set<string>();
        const used = new Set<string>();
        const requests: string[] = [];
        const overwrites: string[] = [];
        for (const [i, o] of ops.entries()) {
          if (o.kind === 'write') {
            const host = path.join(dir, `host-${run}-${i}`);
            writeFileSync(host, randomBytes(o.size));
            const target = `${o.dir === '/' ? '' : o.dir}/added-${i}.dat`;
            requests.push(`write ${host} ${target}`, `sif ${target} generation ${1000 + i}`);
            touched.add(target);
            continue;
          }
          if (used.has(o.file)) continue;
          used.add(o.file);
          if (o.kind === 'rm') {
            requests.push(`rm ${o.file}`);
            touched.add(o.file);
          } else if (o.kind === 'rename') {
            requests.push(`ln ${o.file} ${o.file}.moved`, `unlink ${o.file}`);
            touched.add(`${o.file}.moved`);
          } else if (o.kind === 'chmod') {
            requests.push(`sif ${o.file} mode 0100600`);
            touched.add(o.file);
          } else if (o.file !== '/empty' && o.file !== '/hello.txt') {
            overwrites.push(o.file);
            touched.add(o.file);
          }
        }
        for (const f of overwrites) await overwriteInPlace(b, f, 0, 512);
        if (requests.length) debugfs(b, requests, true);
        const { result, total } = await diffImages(base, b);
        assertTotals(result, total);
        const named = new Set(result.files.filter((f) => f.type !== 'dir').map((f) => f.path));
        assert.deepEqual([...named].sort(), [...touched].sort());
        for (const f of result.files.filter((x) => x.type === 'dir'))
          assert.equal(f.change === 'modified', false, `${f.path}: a directory is never "modified"`);
      }),
      { numRuns: 8, seed: 1717 },
    );
  });
});

/** An empty NTFS image of `size` (truncate's syntax) made by mkntfs; returns its path. */
function makeNtfs(image: string, size: string, label: string): string {
  writeFileSync(image, '');
  run('truncate', ['-s', size, image]);
  run('mkntfs', ['-F', '-f', '-q', '-L', label, image]);
  return image;
}

void describe('file diff of NTFS images written by ntfscp', { timeout: 300_000 }, () => {
  const t = tempDir('dd-fsdiff-ntfs-');
  after(() => t.cleanup());

  void it('names an NTFS resident file whose bytes changed at the same size as modified, not metadata only', async () => {
    ensureNtfsTools();
    // ntfscp writes without a mount; a 300-byte file stays resident in its MFT record ($DATA inside the record).
    const a = makeNtfs(path.join(t.dir, 'resident-a.ntfs'), '16M', 'RESIDENT');
    const b = path.join(t.dir, 'resident-b.ntfs');
    const before = path.join(t.dir, 'before.txt');
    const afterFile = path.join(t.dir, 'after.txt');
    writeFileSync(before, Buffer.alloc(300, 'a'));
    writeFileSync(afterFile, Buffer.alloc(300, 'b'));
    run('ntfscp', [a, before, '/note.txt']);
    copyFileSync(a, b);
    run('ntfscp', [b, afterFile, '/note.txt']);
    const { result, total } = await diffImages(a, b);
    assertTotals(result, total);
    const note = result.files.find((f) => f.path === '/note.txt');
    assert.equal(note?.change, 'modified', JSON.stringify(result.files));
    assert.equal(note.sizeBefore, 300);
    assert.equal(note.sizeAfter, 300);
    // Its bytes live in the MFT record: they count as filesystem metadata, not as the file's.
    assert.equal(note.changedBytes, 0);
  });

  void it('finds the directory whose index blocks a file change rewrote from the file, without walking every file', async () => {
    ensureNtfsTools();
    // Enough long names that the directory's entries live in index blocks ($INDEX_ALLOCATION), not in its record.
    const a = makeNtfs(path.join(t.dir, 'index-a.ntfs'), '32M', 'INDEX');
    const b = path.join(t.dir, 'index-b.ntfs');
    const src = path.join(t.dir, 'src.bin');
    writeFileSync(src, Buffer.alloc(8192, 'x'));
    for (let i = 0; i < 80; i++) run('ntfscp', [a, src, `/a-file-with-a-rather-long-name-${String(i).padStart(3, '0')}.dat`]);
    copyFileSync(a, b);
    // A new size: ntfs-3g writes it to the file's record and to the entry that names it in the root's index.
    const grown = path.join(t.dir, 'grown.bin');
    writeFileSync(grown, Buffer.alloc(20_000, 'y'));
    run('ntfscp', [b, grown, '/a-file-with-a-rather-long-name-042.dat']);
    const { result, total } = await diffImages(a, b);
    assertTotals(result, total);
    const changed = result.files.find((f) => f.path === '/a-file-with-a-rather-long-name-042.dat');
    assert.equal(changed?.change, 'modified', JSON.stringify(result.files));
    assert.equal(changed.sizeBefore, 8192);
    assert.equal(changed.sizeAfter, 20_000);
    const root = result.files.find((f) => f.path === '/');
    assert.equal(root?.change, 'metadata', `the root directory's rewritten index blocks are its own: ${JSON.stringify(result.files)}`);
    assert.ok(root.changedBytes > 0, 'the root owns the changed index block bytes');
    assert.equal(result.work.walkedSnapshots, 0, 'the owner was found from the changed file, not by walking every file');
    assert.equal(
      result.files.filter((f) => f.path !== '/' && f.path !== changed.path).length,
      0,
      `nothing else is named: ${JSON.stringify(result.files.map((f) => f.path))}`,
    );
  });
});
