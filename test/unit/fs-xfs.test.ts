/**
 * The XFS reader against images made by xfsprogs (mkfs.xfs -p, and the kernel's XFS over a loop mount),
 * checked against xfs_db's own view (ls, inode print, bmap, freesp, sb) and the source bytes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { xfsFormat } from '../../src/core/filesystems/xfs';
import { FilesystemError, type Filesystem, type FileId } from '../../src/core/filesystems/types';
import { FileBlockReader } from '../support/fileBlockReader';
import { exerciseFilesystem, PatchedReader, walk } from '../support/fsFuzz';
import { buildXfsMountedImage, buildXfsProtoImage, ensureXfsTools, removeDir, sha256, tempDir, xfsDb, type Expected } from '../support/fsImages';

async function checkAgainstSources(fs: Filesystem, expected: Expected): Promise<Map<string, FileId>> {
  const ids = new Map<string, FileId>();
  await walk(fs, fs.rootId, '', ids);
  assert.deepEqual([...ids.keys()].sort(), [...expected.keys()].sort());
  for (const [p, want] of expected) {
    const id = ids.get(p) as FileId;
    const st = await fs.stat(id);
    assert.equal(st.type, want.type, p);
    if (want.type === 'file') {
      assert.equal(st.sizeBytes, want.size, `size of ${p}`);
      assert.equal(sha256(await fs.readFile(id, 0, st.sizeBytes)), want.sha256, `SHA-256 of ${p}`);
    }
    if (want.type === 'symlink') assert.equal(await fs.readLink(id), want.target, `target of ${p}`);
  }
  return ids;
}

interface DbInode {
  size: number;
  gen: number;
  nextents: number;
  format: number;
  nlink: number;
  /** Seconds since the epoch, from xfs_db's UTC date. */
  mtime: number;
  bmap: Array<{ fileBlock: number; ag: number; agbno: number; count: number }>;
}

/** `inode N`, `print core...`, `bmap` for many inodes in one xfs_db run. */
function dbInodes(image: string, inos: FileId[]): Map<FileId, DbInode> {
  const cmds = inos.flatMap((i) => [`inode ${i}`, 'print core.size core.gen core.nextents core.format core.nlinkv2 core.mtime.sec', 'bmap']);
  const out = new Map<FileId, DbInode>();
  const lines = xfsDb(image, ...cmds).split('\n');
  let k = -1;
  let cur: DbInode | undefined;
  for (const line of lines) {
    let m: RegExpMatchArray | null;
    if ((m = /^core\.size = (\d+)/.exec(line))) {
      cur = { size: Number(m[1]), gen: 0, nextents: 0, format: 0, nlink: 0, mtime: NaN, bmap: [] };
      out.set(inos[++k], cur);
    } else if (cur && (m = /^core\.gen = (\d+)/.exec(line))) cur.gen = Number(m[1]);
    else if (cur && (m = /^core\.nextents = (\d+)/.exec(line))) cur.nextents = Number(m[1]);
    else if (cur && (m = /^core\.format = (\d+)/.exec(line))) cur.format = Number(m[1]);
    else if (cur && (m = /^core\.nlinkv2 = (\d+)/.exec(line))) cur.nlink = Number(m[1]);
    else if (cur && (m = /^core\.mtime\.sec = \w{3} (\w{3}) +(\d+) (\d\d:\d\d:\d\d) (\d{4})$/.exec(line)))
      cur.mtime = Date.parse(`${m[2]} ${m[1]} ${m[4]} ${m[3]} UTC`) / 1000;
    else if (cur && (m = /^data offset (\d+) startblock \d+ \((\d+)\/(\d+)\) count (\d+) flag \d/.exec(line))) {
      cur.bmap.push({ fileBlock: Number(m[1]), ag: Number(m[2]), agbno: Number(m[3]), count: Number(m[4]) });
    }
  }
  assert.equal(out.size, inos.length, 'xfs_db printed every inode');
  return out;
}

function dbSb(image: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of xfsDb(image, 'sb 0', 'print').split('\n')) {
    const m = /^(\w+) = (.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

async function assertStatsMatchXfsDb(fs: Filesystem, image: string, ids: Map<string, FileId>): Promise<void> {
  const sb = dbSb(image);
  const agBlocks = Number(sb.agblocks);
  const bs = Number(sb.blocksize);
  const inos = [...new Set(ids.values())];
  const db = dbInodes(image, inos);
  for (const ino of inos) {
    const want = db.get(ino) as DbInode;
    const st = await fs.stat(ino);
    assert.equal(st.sizeBytes, want.size, `size of inode ${ino}`);
    assert.equal(st.generation, want.gen, `generation of inode ${ino}`);
    assert.equal(st.links, want.nlink, `links of inode ${ino}`);
    assert.ok(Number.isFinite(want.mtime), `xfs_db printed the modified time of inode ${ino}`);
    assert.equal(Math.floor(st.modified.getTime() / 1000), want.mtime, `modified time of inode ${ino}`);
    const ext = await fs.extents(ino);
    if (want.format === 1) assert.deepEqual(ext, [], `local inode ${ino} has no extents`);
    else {
      assert.equal(ext.length, want.nextents, `extent count of inode ${ino}`);
      assert.deepEqual(
        ext,
        want.bmap.map((b) => ({ fileOffset: b.fileBlock * bs, fsOffset: (b.ag * agBlocks + b.agbno) * bs, length: b.count * bs })),
        `extents of inode ${ino} equal xfs_db bmap`,
      );
    }
  }
}

void describe('XFS reader', { timeout: 600_000 }, () => {
  let dir = '';
  let proto: { image: string; expected: Expected };
  let mounted: { image: string; expected: Expected };
  let v4: { image: string; expected: Expected };
  const readers: FileBlockReader[] = [];
  const open = async (image: string) => {
    const r = new FileBlockReader(image);
    readers.push(r);
    return { fs: await xfsFormat.open(r, 0, r.size), reader: r };
  };

  before(() => {
    ensureXfsTools();
    dir = tempDir('dd-xfs-');
    proto = buildXfsProtoImage(`${dir}`);
    mounted = buildXfsMountedImage(`${dir}`);
    v4 = buildXfsProtoImage(`${dir}`, 'v4');
  });
  after(() => {
    for (const r of readers) r.close();
    removeDir(dir);
  });

  void it('detects XFS by its superblock magic only', async () => {
    const r = new FileBlockReader(proto.image);
    readers.push(r);
    assert.equal(xfsFormat.detect(await r.read(0, 65536)), true);
    assert.equal(xfsFormat.detect(new Uint8Array(65536)), false);
  });

  void it('mkfs.xfs -p image: the tree, sizes, bytes and symlink targets equal the sources; label and geometry equal xfs_db sb', async () => {
    const { fs, reader } = await open(proto.image);
    const sb = dbSb(proto.image);
    assert.equal(fs.label, 'PROTOXFS');
    assert.equal(fs.blockSize, Number(sb.blocksize));
    assert.equal(fs.sizeBytes, Number(sb.dblocks) * Number(sb.blocksize));
    assert.equal(fs.rootId, Number(sb.rootino));
    const ids = await checkAgainstSources(fs, proto.expected);
    // The node-format directory really spans several data blocks and a btree-format fork.
    const nodeDir = dbInodes(proto.image, [ids.get('/node-dir') as FileId]).get(ids.get('/node-dir') as FileId) as DbInode;
    assert.ok(nodeDir.format === 3 && nodeDir.nextents > 21, `node-dir fork format ${nodeDir.format}, ${nodeDir.nextents} extents`);
    assert.ok(reader.bytesRead < 40 * 1024 * 1024, `read ${reader.bytesRead} bytes`);
  });

  void it('readDir of every directory equals xfs_db ls (names and inode numbers)', async () => {
    const { fs } = await open(proto.image);
    for (const p of ['/', '/etc', '/etc/nginx', '/block-dir', '/node-dir']) {
      const lines = xfsDb(proto.image, `ls ${p}`).split('\n');
      const want = lines
        .map((l) => /^\d+\s+(\d+)\s+\w+\s+0x[0-9a-f]+\s+\d+ (.*) \(good\)$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null && m[2] !== '.' && m[2] !== '..')
        .map((m) => `${m[2]}=${m[1]}`)
        .sort();
      let id = fs.rootId;
      for (const part of p.split('/').filter(Boolean)) id = ((await fs.readDir(id)).find((e) => e.name === part) as { id: number }).id;
      const got = (await fs.readDir(id)).map((e) => `${e.name}=${e.id}`).sort();
      assert.ok(want.length > 0, `xfs_db listed ${p}`);
      assert.deepEqual(got, want, `listing of ${p}`);
    }
  });

  void it('stat and extents of every inode equal xfs_db inode print and bmap', async () => {
    const { fs } = await open(proto.image);
    const ids = new Map<string, FileId>();
    await walk(fs, fs.rootId, '', ids);
    ids.set('/', fs.rootId);
    await assertStatsMatchXfsDb(fs, proto.image, ids);
  });

  void it('v4 image (no CRCs, 256-byte inodes, 8 KiB directory blocks): tree, bytes, stat and extents equal the sources and xfs_db', async () => {
    const { fs } = await open(v4.image);
    const sb = dbSb(v4.image);
    assert.equal(Number(sb.versionnum) & 0xf, 4);
    assert.equal(Number(sb.dirblklog), 1);
    const ids = await checkAgainstSources(fs, v4.expected);
    ids.set('/', fs.rootId);
    await assertStatsMatchXfsDb(fs, v4.image, ids);
    const all: FileId[] = [];
    for await (const id of fs.allFiles()) all.push(id);
    assert.equal(all.length, Number(sb.icount) - Number(sb.ifree) - 2, 'all allocated inodes but the realtime bitmap and summary');
  });

  void it('kernel-written image: fragmented, btree-format, unwritten and remote-symlink files equal the sources and xfs_db bmap', async () => {
    const { fs } = await open(mounted.image);
    assert.equal(fs.label, 'FRAGXFS');
    const ids = await checkAgainstSources(fs, mounted.expected);
    ids.set('/', fs.rootId);
    await assertStatsMatchXfsDb(fs, mounted.image, ids);
    const db = dbInodes(mounted.image, [ids.get('/frag/a.bin') as FileId, ids.get('/sparse.bin') as FileId]);
    assert.ok((db.get(ids.get('/frag/a.bin') as FileId) as DbInode).nextents > 1, 'a.bin is fragmented');
    const sparse = db.get(ids.get('/sparse.bin') as FileId) as DbInode;
    assert.equal(sparse.format, 3, 'sparse.bin has a btree-format data fork');
    assert.equal(sparse.nextents, 48);
    // The fallocated tail is an unwritten extent: allocated to the file, read as zeros.
    const pre = await fs.extents(ids.get('/prealloc.bin') as FileId);
    assert.equal(
      pre.reduce((n, e) => n + e.length, 0),
      65536,
    );
    // Reads clip at the end of the file.
    const a = ids.get('/frag/a.bin') as FileId;
    assert.equal((await fs.readFile(a, 1572864 - 10, 100)).length, 10);
    assert.equal((await fs.readFile(a, 1572864 + 10, 100)).length, 0);
  });

  void it('allFiles and recordsIn agree with the superblock inode counts and with recordRange', async () => {
    const { fs } = await open(mounted.image);
    const sb = dbSb(mounted.image);
    const all: FileId[] = [];
    for await (const id of fs.allFiles()) all.push(id);
    // The realtime bitmap and summary inodes (and quota inodes, none here) are allocated but are not files.
    const own = [sb.rbmino, sb.rsumino, sb.uquotino, sb.gquotino, sb.pquotino].filter((v) => v !== undefined && v !== '0' && v !== 'null');
    assert.equal(own.length, 2);
    assert.equal(all.length, Number(sb.icount) - Number(sb.ifree) - own.length, 'allocated inodes = icount - ifree - own inodes');
    for (const v of own) assert.ok(!all.includes(Number(v)));
    const tree = new Map<string, FileId>();
    await walk(fs, fs.rootId, '', tree);
    assert.deepEqual(
      all,
      [...new Set([fs.rootId, ...tree.values()])].sort((a, b) => a - b),
      'allFiles = every inode reached from the root',
    );
    for (const id of all) assert.ok((await fs.stat(id)).links >= 0);
    assert.deepEqual(await fs.recordsIn([{ offset: 0, length: fs.sizeBytes }]), all);
    for (const id of all) {
      const r = await fs.recordRange(id);
      assert.equal(r.length, Number(sb.inodesize));
      assert.deepEqual(await fs.recordsIn([{ offset: r.offset + 1, length: 1 }]), [id]);
    }
    assert.deepEqual(await fs.recordsIn([{ offset: fs.sizeBytes - 4096, length: 4096 }]), []);
  });

  void it('classify: free space equals xfs_db freesp less the AG free lists, the internal log is journal, inodes are metadata, file blocks are data', async () => {
    const { fs } = await open(mounted.image);
    const sb = dbSb(mounted.image);
    const bs = Number(sb.blocksize);
    const agBlocks = Number(sb.agblocks);
    const whole = await fs.classify([{ offset: 0, length: fs.sizeBytes }]);
    let pos = 0;
    for (const r of whole) {
      assert.equal(r.offset, pos, 'classify covers the input in order');
      pos += r.length;
    }
    assert.equal(pos, fs.sizeBytes);
    const freeBlocks = new Set<number>();
    for (const line of xfsDb(mounted.image, 'freesp -d').split('\n')) {
      const m = /^\s+(\d+)\s+(\d+)\s+(\d+)$/.exec(line);
      if (m) for (let i = 0; i < Number(m[3]); i++) freeBlocks.add(Number(m[1]) * agBlocks + Number(m[2]) + i);
    }
    const agfl = new Set<number>();
    for (let ag = 0; ag < Number(sb.agcount); ag++) {
      const m = /bno\[[^\]]*\] = (.*)/.exec(xfsDb(mounted.image, `agfl ${ag}`, 'print bno'));
      for (const e of (m?.[1] ?? '').split(' ')) {
        const [, v] = e.split(':');
        if (v && v !== 'null') agfl.add(ag * agBlocks + Number(v));
      }
    }
    const ours = new Set<number>();
    for (const r of whole.filter((x) => x.kind === 'free')) for (let b = r.offset / bs; b < (r.offset + r.length) / bs; b++) ours.add(b);
    const want = [...freeBlocks].filter((b) => !agfl.has(b)).sort((a, b) => a - b);
    assert.ok(agfl.size > 0);
    assert.deepEqual(
      [...ours].sort((a, b) => a - b),
      want,
      'free blocks = freesp - AGFL',
    );
    const journal = whole.filter((x) => x.kind === 'journal');
    const logAg = Math.floor(Number(sb.logstart) / 2 ** Number(sb.agblklog));
    const logAgbno = Number(sb.logstart) % 2 ** Number(sb.agblklog);
    assert.deepEqual(
      journal.map((j) => [j.offset, j.length]),
      [[(logAg * agBlocks + logAgbno) * bs, Number(sb.logblocks) * bs]],
    );
    const a = (await fs.readDir((await fs.readDir(fs.rootId)).find((e) => e.name === 'frag')?.id as number)).find((e) => e.name === 'a.bin')?.id as number;
    for (const e of await fs.extents(a)) {
      assert.deepEqual(
        (await fs.classify([{ offset: e.fsOffset, length: e.length }])).map((x) => x.kind),
        ['data'],
      );
    }
    assert.deepEqual(
      (await fs.classify([await fs.recordRange(a)])).map((x) => x.kind),
      ['metadata'],
    );
  });

  void describe('hostile images', () => {
    const expectFsError = async (p: Promise<unknown>, structure: RegExp) => {
      await assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof FilesystemError, `a FilesystemError, not ${String(e)}`);
        assert.match(e.structure, structure);
        assert.ok(Number.isSafeInteger(e.offset) && e.offset >= 0);
        assert.match(e.message, / at byte \d+: /);
        return true;
      });
    };

    void it('a truncated image and a wrong magic name the superblock', async () => {
      const inner = new FileBlockReader(mounted.image);
      readers.push(inner);
      await expectFsError(xfsFormat.open(new PatchedReader(inner, new Map(), 100 * 1024 * 1024), 0, 100 * 1024 * 1024), /XFS superblock/);
      await expectFsError(xfsFormat.open(new PatchedReader(inner, new Map([[0, 0x41]])), 0, inner.size), /XFS superblock/);
    });

    void it('an inode with an absurd size, a bmap btree looping on itself and an inobt looping on itself end in FilesystemErrors', async () => {
      const inner = new FileBlockReader(mounted.image);
      readers.push(inner);
      const { fs } = await open(mounted.image);
      const sparse = (await fs.readDir(fs.rootId)).find((e) => e.name === 'sparse.bin')?.id as number;
      const rec = await fs.recordRange(sparse);
      // di_size (offset 56) = 2^62.
      const huge = new Map<number, number>([[rec.offset + 56, 0x40]]);
      for (let i = 57; i < 64; i++) huge.set(rec.offset + i, 0);
      const fsHuge = await xfsFormat.open(new PatchedReader(inner, huge), 0, inner.size);
      await expectFsError(fsHuge.stat(sparse), /XFS inode/);

      // Btree root in the data fork (offset 176): level 1 -> 2, and the leaf it points to becomes a level-1 node
      // whose only pointer is itself.
      const head = await inner.read(rec.offset, 512);
      const dv = new DataView(head.buffer, head.byteOffset);
      const forkSize = dv.getUint8(82) ? dv.getUint8(82) * 8 : 512 - 176;
      const maxrecs = Math.floor((forkSize - 4) / 16);
      const leaf = Number(dv.getBigUint64(176 + 4 + maxrecs * 8));
      const sbv = dbSb(mounted.image);
      const agBlocks = Number(sbv.agblocks);
      const agLog = Number(sbv.agblklog);
      const leafAt = (Math.floor(leaf / 2 ** agLog) * agBlocks + (leaf % 2 ** agLog)) * 4096;
      const loop = new Map<number, number>([
        [rec.offset + 176 + 1, 2],
        [leafAt + 5, 1],
        [leafAt + 7, 1],
      ]);
      const nodeMax = Math.floor((4096 - 72) / 16);
      const ptrAt = leafAt + 72 + nodeMax * 8;
      for (let i = 0; i < 8; i++) loop.set(ptrAt + i, Number((BigInt(leaf) >> BigInt(8 * (7 - i))) & 0xffn));
      const fsLoop = await xfsFormat.open(new PatchedReader(inner, loop), 0, inner.size);
      await expectFsError(fsLoop.extents(sparse), /bmap btree/);
      await expectFsError(fsLoop.readFile(sparse, 0, 100), /bmap btree/);

      // AGI of AG 0: inobt level 1 -> 2, and the root becomes a level-1 node pointing at itself.
      const agi = await inner.read(1024, 512);
      const root = new DataView(agi.buffer, agi.byteOffset).getUint32(20);
      const rootAt = root * 4096;
      const inoMax = Math.floor((4096 - 56) / 8);
      const p = rootAt + 56 + inoMax * 4;
      const ag = new Map<number, number>([
        [1024 + 27, 2],
        [rootAt + 5, 1],
        [rootAt + 7, 1],
        [p, (root >>> 24) & 0xff],
        [p + 1, (root >>> 16) & 0xff],
        [p + 2, (root >>> 8) & 0xff],
        [p + 3, root & 0xff],
      ]);
      const fsAg = await xfsFormat.open(new PatchedReader(inner, ag), 0, inner.size);
      const drain = async () => {
        for await (const _ of fsAg.allFiles()) void _;
      };
      await expectFsError(drain(), /XFS AG 0 inobt/);
      await expectFsError(fsAg.classify([{ offset: 0, length: 4096 }]), /XFS AG 0 inobt/);
    });

    void it('fuzz: mutated superblock, AG headers, inodes and btree blocks end in a result or a FilesystemError', async () => {
      const inner = new FileBlockReader(mounted.image);
      readers.push(inner);
      const { fs } = await open(mounted.image);
      const targets: Array<[number, number]> = [
        [0, 512],
        [512, 1536],
      ];
      for await (const id of fs.allFiles()) targets.push([(await fs.recordRange(id)).offset, 512]);
      // The AG 0 free-space and inode btree roots, and the bmap btree leaf of sparse.bin.
      const agHead = await inner.read(512, 1024);
      const hv = new DataView(agHead.buffer, agHead.byteOffset);
      targets.push([hv.getUint32(16) * 4096, 4096], [hv.getUint32(512 + 20) * 4096, 4096]);
      const sparse = (await fs.readDir(fs.rootId)).find((e) => e.name === 'sparse.bin')?.id as number;
      const rec = await fs.recordRange(sparse);
      const ino = await inner.read(rec.offset, 512);
      const iv = new DataView(ino.buffer, ino.byteOffset);
      const forkSize = iv.getUint8(82) ? iv.getUint8(82) * 8 : 512 - 176;
      const leaf = Number(iv.getBigUint64(176 + 4 + Math.floor((forkSize - 4) / 16) * 8));
      const sbv = dbSb(mounted.image);
      const agLog = Number(sbv.agblklog);
      targets.push([(Math.floor(leaf / 2 ** agLog) * Number(sbv.agblocks) + (leaf % 2 ** agLog)) * 4096, 4096]);
      const started = Date.now();
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(fc.nat(targets.length - 1), fc.nat(4095), fc.nat(255)), { minLength: 1, maxLength: 6 }), async (muts) => {
          runs++;
          const patches = new Map<number, number>();
          for (const [t, off, v] of muts) patches.set(targets[t][0] + (off % targets[t][1]), v);
          try {
            const f = await xfsFormat.open(new PatchedReader(inner, patches), 0, inner.size);
            await exerciseFilesystem(f, 20);
            for await (const _ of f.allFiles()) void _;
          } catch (e) {
            if (!(e instanceof FilesystemError)) throw e;
          }
        }),
        { seed: 1717, numRuns: 300, interruptAfterTimeLimit: 25_000 },
      );
      assert.ok(runs >= 50, `${runs} fuzz runs in ${Date.now() - started} ms`);
    });
  });
});
