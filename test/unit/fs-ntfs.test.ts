/**
 * The NTFS reader against an image made by mkntfs and written through ntfs-3g, checked against
 * ntfs-3g's own tools (ntfsls, ntfsinfo, ntfscluster) and the source bytes.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { ntfsFormat } from '../../src/core/filesystems/ntfs';
import { CachedBlockReader } from '../../src/core/filesystems/reader';
import { FilesystemError, type Filesystem, type FileId } from '../../src/core/filesystems/types';
import { FileBlockReader } from '../support/fileBlockReader';
import { exerciseFilesystem, PatchedReader, walk } from '../support/fsFuzz';
import { buildNtfsImage, buildNtfsSmallClusterImage, ensureNtfsTools, removeDir, run, sha256, tempDir, type Expected } from '../support/fsImages';

/** ntfs-3g tools print warnings on stderr; only stdout is read. */
function tool(cmd: string, ...args: string[]): string {
  return run(cmd, args);
}

interface InfoRun {
  vcn: number;
  lcn: number | null;
  length: number;
}

interface NtfsInfo {
  seq: number;
  hardLinks: number;
  dosNames: number;
  attributeList: boolean;
  /** Attribute type name (with ":named" for a named instance such as $I30) -> runs of all its fragments. */
  runs: Map<string, InfoRun[]>;
  dataSize?: number;
  dataFlags?: number;
  /** $STANDARD_INFORMATION's altered time, seconds since the epoch. */
  modified?: number;
}

function ntfsInfo(image: string, inode: number): NtfsInfo {
  const out = tool('ntfsinfo', '-v', '-i', String(inode), image);
  const info: NtfsInfo = { seq: -1, hardLinks: -1, dosNames: 0, attributeList: false, runs: new Map() };
  let attr = '';
  let named = false;
  let inRunlist = false;
  for (const line of out.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^MFT Record Seq\. Numb\.:\s+(\d+)/.exec(line))) info.seq = Number(m[1]);
    else if ((m = /^Number of Hard Links:\s+(\d+)/.exec(line))) info.hardLinks = Number(m[1]);
    else if ((m = /^Dumping attribute (\$\w+) /.exec(line))) {
      attr = m[1];
      named = false;
      inRunlist = false;
      if (attr === '$ATTRIBUTE_LIST') info.attributeList = true;
    } else if (/^\tNamespace:\s+DOS$/.test(line)) info.dosNames++;
    else if (attr === '$STANDARD_INFORMATION' && (m = /^\tFile Altered Time:\s+\w{3} (\w{3}) +(\d+) (\d\d:\d\d:\d\d) (\d{4}) UTC$/.exec(line))) {
      info.modified = Date.parse(`${m[2]} ${m[1]} ${m[4]} ${m[3]} UTC`) / 1000;
    } else if ((m = /^\tName length:\s+(\d+)/.exec(line))) named = Number(m[1]) > 0;
    else if (attr === '$DATA' && !named && (m = /^\tData size:\s+(\d+)/.exec(line))) info.dataSize ??= Number(m[1]);
    else if (attr === '$DATA' && !named && (m = /^\tAttribute flags:\s+0x([0-9a-f]+)/.exec(line))) info.dataFlags ??= parseInt(m[1], 16);
    else if (/^\tRunlist:/.test(line)) inRunlist = true;
    else if (inRunlist && (m = /^\t\t\t0x([0-9a-f]+)\t\t(<HOLE>|0x[0-9a-f]+)\t\t0x([0-9a-f]+)/.exec(line))) {
      const key = named ? `${attr}:named` : attr;
      const runs = info.runs.get(key) ?? [];
      runs.push({ vcn: parseInt(m[1], 16), lcn: m[2] === '<HOLE>' ? null : parseInt(m[2].slice(2), 16), length: parseInt(m[3], 16) });
      info.runs.set(key, runs);
    } else if (!/^\t\t\t/.test(line)) inRunlist = false;
  }
  for (const runs of info.runs.values()) runs.sort((a, b) => a.vcn - b.vcn);
  return info;
}

void describe('NTFS reader', { timeout: 600_000 }, () => {
  let dir = '';
  let built: ReturnType<typeof buildNtfsImage>;
  let fs: Filesystem;
  let reader: FileBlockReader;
  const ids = new Map<string, FileId>();
  const readers: FileBlockReader[] = [];

  before(async () => {
    ensureNtfsTools();
    dir = tempDir('dd-ntfs-');
    built = buildNtfsImage(dir);
    reader = new FileBlockReader(built.image);
    readers.push(reader);
    fs = await ntfsFormat.open(reader, 0, reader.size);
    await walk(fs, fs.rootId, '', ids);
  });
  after(() => {
    for (const r of readers) r.close();
    removeDir(dir);
  });

  void it('leaves the bytes it reads as they were: a cache of Node Buffers (whose slice() is a view) reads the same records twice', async () => {
    const image = readFileSync(built.image);
    const cached = new CachedBlockReader(image.length, (o, l) => Promise.resolve(Buffer.from(image.subarray(o, o + l))));
    const before = Buffer.from(await cached.read(0, 4 * 1024 * 1024));
    const twice = await ntfsFormat.open(cached, 0, cached.size);
    const first: FileId[] = [];
    for await (const id of twice.allFiles()) first.push(id);
    const second: FileId[] = [];
    for await (const id of twice.allFiles()) second.push(id);
    assert.ok(first.length > 10);
    assert.deepEqual(second, first);
    assert.ok(Buffer.from(await cached.read(0, 4 * 1024 * 1024)).equals(before), 'no byte of the cache changed');
  });

  void it('detects NTFS by its OEM id only', async () => {
    assert.equal(ntfsFormat.detect(await reader.read(0, 65536)), true);
    assert.equal(ntfsFormat.detect(new Uint8Array(65536)), false);
  });

  void it('the tree, sizes, bytes and symlink targets equal the sources; the label and cluster size equal ntfsinfo -m', async () => {
    const vol = tool('ntfsinfo', '-m', built.image);
    assert.equal(fs.label, /Volume Name: (.*)/.exec(vol)?.[1]);
    assert.equal(fs.label, 'WINDATA');
    assert.equal(fs.blockSize, Number(/Cluster Size: (\d+)/.exec(vol)?.[1]));
    assert.deepEqual([...ids.keys()].sort(), [...(built.expected as Expected).keys()].sort());
    for (const [p, want] of built.expected) {
      const id = ids.get(p) as FileId;
      const st = await fs.stat(id);
      assert.equal(st.type, want.type, p);
      if (want.type === 'file') assert.equal(st.sizeBytes, want.size, `size of ${p}`);
      if (want.type === 'file' && want.sha256) assert.equal(sha256(await fs.readFile(id, 0, st.sizeBytes)), want.sha256, `SHA-256 of ${p}`);
      if (want.type === 'symlink') assert.equal(await fs.readLink(id), want.target, `target of ${p}`);
    }
    // The Windows-style links are reparse points with the symlink tag, as ntfsinfo reads them.
    for (const p of ['/winlink', '/dirlink']) assert.match(tool('ntfsinfo', '-F', p, built.image), /Reparse tag:\s+0xa000000c \(symlink\)/);
    // Hard links: one file, two names.
    assert.equal(ids.get('/hello.txt'), ids.get('/Windows/hello-hardlink.txt'));
    assert.equal((await fs.stat(ids.get('/hello.txt') as FileId)).links, 2);
  });

  void it('a compressed file: stat works, readFile says it is compressed', async () => {
    const id = ids.get(built.compressed) as FileId;
    assert.equal(ntfsInfo(built.image, id).dataFlags, 0x0001, 'ntfsinfo shows the compressed flag');
    const st = await fs.stat(id);
    assert.equal(st.sizeBytes, 240000);
    await assert.rejects(
      fs.readFile(id, 0, 10),
      (e: unknown) => e instanceof FilesystemError && /compressed/.test(e.message) && /MFT record/.test(e.structure),
    );
  });

  void it('readDir equals ntfsls -l -i (names, record numbers, sizes) for every directory, DOS names not listed twice', async () => {
    for (const p of ['/', '/Users', '/Windows', '/Windows/System32', '/frag', '/packed']) {
      const want = tool('ntfsls', '-l', '-i', '-a', '-p', p, built.image)
        .split('\n')
        .map((l) => /^\s*(\d+)\s+(\d+) \w{3} [ \d]\d \d\d:\d\d \d{4} (.*)$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null && m[3] !== '.' && m[3] !== '..')
        .map((m) => `${m[3]}=${m[1]}`)
        .sort();
      const id = p === '/' ? fs.rootId : (ids.get(p) as FileId);
      const got = (await fs.readDir(id)).map((e) => `${e.name}=${e.id}`).sort();
      assert.ok(want.length > 0, `ntfsls listed ${p}`);
      assert.deepEqual(got, want, `listing of ${p}`);
    }
  });

  void it('stat and extents equal ntfsinfo -v -i: sequence number, names, data size and data runs (attribute lists and holes included)', async () => {
    const cs = fs.blockSize;
    const paths = [...ids.keys()].filter((p) => !p.startsWith('/Users/') || p.endsWith('0007.txt'));
    for (const p of paths) {
      const id = ids.get(p) as FileId;
      const info = ntfsInfo(built.image, id);
      const st = await fs.stat(id);
      assert.equal(st.generation, info.seq, `sequence number of ${p}`);
      assert.equal(st.links, info.hardLinks - info.dosNames, `links of ${p}`);
      assert.equal(Math.floor(st.modified.getTime() / 1000), info.modified, `modified time of ${p}`);
      if (st.type === 'dir') {
        const index = info.runs.get('$INDEX_ALLOCATION:named') ?? [];
        assert.deepEqual(
          await fs.extents(id),
          index.map((r) => ({ fileOffset: r.vcn * cs, fsOffset: (r.lcn as number) * cs, length: r.length * cs })),
          `index blocks of ${p}`,
        );
      }
      if (st.type !== 'file') continue;
      assert.equal(st.sizeBytes, info.dataSize, `size of ${p}`);
      const runs = info.runs.get('$DATA') ?? [];
      assert.deepEqual(
        await fs.extents(id),
        runs.filter((r) => r.lcn !== null).map((r) => ({ fileOffset: r.vcn * cs, fsOffset: (r.lcn as number) * cs, length: r.length * cs })),
        `extents of ${p}`,
      );
    }
    assert.ok((await fs.extents(ids.get('/Users') as FileId)).length > 0, '/Users has index blocks');
    const rev = ntfsInfo(built.image, ids.get('/frag/reverse.bin') as FileId);
    assert.ok(rev.attributeList, 'reverse.bin has an attribute list');
    assert.equal((await fs.extents(ids.get('/frag/reverse.bin') as FileId)).length, 512);
    const sparse = ntfsInfo(built.image, ids.get('/sparse.bin') as FileId);
    assert.ok(
      (sparse.runs.get('$DATA') ?? []).some((r) => r.lcn === null),
      'sparse.bin has holes',
    );
  });

  void it('the $MFT is fragmented and every record maps through its runs: recordRange equals ntfsinfo -i 0 runs', async () => {
    const mft = ntfsInfo(built.image, 0).runs.get('$DATA') ?? [];
    assert.ok(mft.length > 1, `$MFT runs: ${JSON.stringify(mft)}`);
    const cs = fs.blockSize;
    for (const [p, id] of ids) {
      const byte = id * 1024;
      const r = mft.find((x) => byte >= x.vcn * cs && byte < (x.vcn + x.length) * cs) as InfoRun;
      assert.deepEqual(await fs.recordRange(id), { offset: (r.lcn as number) * cs + (byte - r.vcn * cs), length: 1024 }, `record of ${p}`);
    }
    assert.ok(
      [...ids.values()].some((id) => id * 1024 >= mft[0].length * cs),
      'some files live past the first $MFT run',
    );
  });

  void it('allFiles is every file reached from the root; recordsIn maps records (extension records to their base) back to files', async () => {
    const all: FileId[] = [];
    for await (const id of fs.allFiles()) all.push(id);
    assert.deepEqual(
      all.sort((a, b) => a - b),
      [...new Set([fs.rootId, ...ids.values()])].sort((a, b) => a - b),
    );
    assert.deepEqual(await fs.recordsIn([{ offset: 0, length: fs.sizeBytes }]), all);
    const rev = ids.get('/frag/reverse.bin') as FileId;
    // ntfsinfo names the records the attributes of reverse.bin were read from: its extension records.
    const from = tool('ntfsinfo', '-v', '-i', String(rev), built.image);
    const extRecords = [...new Set([...from.matchAll(/from mft record (\d+)/g)].map((m) => Number(m[1])))].filter((n) => n !== rev);
    assert.ok(extRecords.length >= 2, `extension records ${extRecords.join(', ')}`);
    for (const ext of extRecords) {
      const r = await fs.recordRange(ext);
      assert.deepEqual(await fs.recordsIn([r]), [rev], `record ${ext} belongs to ${rev}`);
      await assert.rejects(fs.stat(ext), (e: unknown) => e instanceof FilesystemError && /extension record/.test(e.message));
    }
  });

  void it('classify: free space equals ntfsinfo -m, $LogFile is journal, $MFT metadata, file clusters data and owned per ntfscluster -c', async () => {
    const whole = await fs.classify([{ offset: 0, length: fs.sizeBytes }]);
    let pos = 0;
    for (const r of whole) {
      assert.equal(r.offset, pos);
      pos += r.length;
    }
    assert.equal(pos, fs.sizeBytes);
    const vol = tool('ntfsinfo', '-m', built.image);
    const freeClusters = Number(/Free Clusters: (\d+)/.exec(vol)?.[1]);
    assert.equal(
      whole.filter((r) => r.kind === 'free').reduce((n, r) => n + r.length, 0),
      freeClusters * fs.blockSize,
    );
    const cs = fs.blockSize;
    const log = ntfsInfo(built.image, 2).runs.get('$DATA') ?? [];
    assert.deepEqual(
      whole.filter((r) => r.kind === 'journal').map((r) => [r.offset, r.length]),
      log.map((r) => [(r.lcn as number) * cs, r.length * cs]),
    );
    for (const r of ntfsInfo(built.image, 0).runs.get('$DATA') ?? []) {
      assert.deepEqual(
        (await fs.classify([{ offset: (r.lcn as number) * cs, length: r.length * cs }])).map((x) => x.kind),
        ['metadata'],
      );
    }
    for (const p of ['/sparse.bin', '/random-300k.bin', '/frag/reverse.bin']) {
      const id = ids.get(p) as FileId;
      const ex = await fs.extents(id);
      for (const e of ex)
        assert.deepEqual(
          (await fs.classify([{ offset: e.fsOffset, length: e.length }])).map((x) => x.kind),
          ['data'],
          p,
        );
      const lcn = ex[0].fsOffset / cs;
      const owner = tool('ntfscluster', '-c', `${lcn}-${lcn}`, built.image);
      assert.match(owner, new RegExp(`Inode ${id} ${p.replace(/[.]/g, '\\.')}/\\$DATA`), `ntfscluster -c ${lcn}`);
    }
  });

  void it('512-byte clusters, written with ntfscp: files, extents and free space equal ntfsinfo', async () => {
    const small = buildNtfsSmallClusterImage(dir);
    const r = new FileBlockReader(small.image);
    readers.push(r);
    const f = await ntfsFormat.open(r, 0, r.size);
    assert.equal(f.blockSize, 512);
    assert.equal(f.label, 'SMALLCL');
    const entries = await f.readDir(f.rootId);
    assert.deepEqual(
      entries.map((e) => e.name),
      ['r1m.bin'],
    );
    const id = entries[0].id;
    const want = small.expected.get('/r1m.bin') as { sha256: string; size: number };
    assert.equal(sha256(await f.readFile(id, 0, want.size)), want.sha256);
    const info = ntfsInfo(small.image, id);
    assert.deepEqual(
      await f.extents(id),
      (info.runs.get('$DATA') ?? []).map((x) => ({ fileOffset: x.vcn * 512, fsOffset: (x.lcn as number) * 512, length: x.length * 512 })),
    );
    const freeClusters = Number(/Free Clusters: (\d+)/.exec(tool('ntfsinfo', '-m', small.image))?.[1]);
    assert.ok(freeClusters > 64 * 1024 * 8, 'the bitmap spans more than one 64 KiB page');
    const whole = await f.classify([{ offset: 0, length: f.sizeBytes }]);
    assert.equal(
      whole.filter((x) => x.kind === 'free').reduce((n, x) => n + x.length, 0),
      freeClusters * 512,
    );
    assert.equal(
      whole.reduce((n, x) => n + x.length, 0),
      f.sizeBytes,
    );
  });

  void describe('hostile images', () => {
    const expectFsError = async (p: Promise<unknown>, structure: RegExp, detail?: RegExp) => {
      await assert.rejects(p, (e: unknown) => {
        assert.ok(e instanceof FilesystemError, `a FilesystemError, not ${String(e)}`);
        assert.match(e.structure, structure);
        if (detail) assert.match(e.message, detail);
        assert.ok(Number.isSafeInteger(e.offset) && e.offset >= 0);
        return true;
      });
    };

    void it('a truncated image and a wrong OEM id name the boot sector', async () => {
      await expectFsError(ntfsFormat.open(new PatchedReader(reader, new Map(), 16 * 1024 * 1024), 0, 16 * 1024 * 1024), /NTFS boot sector/, /truncated/);
      await expectFsError(ntfsFormat.open(new PatchedReader(reader, new Map([[3, 0x58]])), 0, reader.size), /NTFS boot sector/);
    });

    void it('a corrupted fixup, an absurd size and an index looping on itself end in FilesystemErrors naming record and offset', async () => {
      const hello = ids.get('/hello.txt') as FileId;
      const rec = await fs.recordRange(hello);
      // The last two bytes of the first sector must equal the update sequence number.
      const torn = await ntfsFormat.open(
        new PatchedReader(
          reader,
          new Map([
            [rec.offset + 510, 0xee],
            [rec.offset + 511, 0xee],
          ]),
        ),
        0,
        reader.size,
      );
      await assert.rejects(torn.stat(hello), (e: unknown) => {
        assert.ok(e instanceof FilesystemError);
        assert.equal(e.structure, `NTFS MFT record ${hello}`);
        assert.equal(e.offset, rec.offset + 510);
        assert.match(e.message, /update sequence/);
        return true;
      });

      // The data size of random-300k.bin (non-resident $DATA, +48 in the attribute) = 2^62.
      const big = ids.get('/random-300k.bin') as FileId;
      const bigRec = await fs.recordRange(big);
      const raw = await reader.read(bigRec.offset, 1024);
      const dv = new DataView(raw.buffer, raw.byteOffset);
      let p = dv.getUint16(20, true);
      while (dv.getUint32(p, true) !== 0x80) p += dv.getUint32(p + 4, true);
      const absurd = new Map<number, number>([[bigRec.offset + p + 48 + 7, 0x40]]);
      const fsAbsurd = await ntfsFormat.open(new PatchedReader(reader, absurd), 0, reader.size);
      await expectFsError(fsAbsurd.stat(big), new RegExp(`NTFS MFT record ${big}`), /out of range/);

      // /Users' first index block: its last entry gains a sub-node pointer to VCN 0 (the block itself).
      const users = ids.get('/Users') as FileId;
      const alloc = ntfsInfo(built.image, users).runs.get('$INDEX_ALLOCATION:named') as InfoRun[];
      const blockAt = (alloc[0].lcn as number) * fs.blockSize;
      const blk = await reader.read(blockAt, 4096);
      const bv = new DataView(blk.buffer, blk.byteOffset);
      const entriesAt = 24 + bv.getUint32(24, true);
      const used = 24 + bv.getUint32(28, true);
      let q = entriesAt;
      while (!(bv.getUint16(q + 12, true) & 2)) q += bv.getUint16(q + 8, true);
      const patches = new Map<number, number>();
      const set16 = (at: number, v: number) => {
        patches.set(blockAt + at, v & 0xff);
        patches.set(blockAt + at + 1, v >> 8);
      };
      set16(q + 8, 24); // entry length 16 -> 24
      set16(q + 12, 3); // last entry with a sub-node
      for (let i = 0; i < 8; i++) patches.set(blockAt + q + 16 + i, 0); // VCN 0
      set16(28, used - 24 + 8); // bytes in use
      for (const at of [...patches.keys()]) assert.ok((at - blockAt) % 512 < 510, 'the patch avoids the fixup slots');
      const loop = await ntfsFormat.open(new PatchedReader(reader, patches), 0, reader.size);
      await expectFsError(loop.readDir(users), new RegExp(`NTFS MFT record ${users} \\$I30`), /loops/);
    });

    void it('fuzz: mutated boot sector, MFT records and index blocks end in a result or a FilesystemError', async () => {
      const targets: Array<[number, number]> = [[0, 512]];
      for (const id of [0, 3, 5, 6, ...new Set(ids.values())].slice(0, 40)) targets.push([(await fs.recordRange(id)).offset, 1024]);
      const rev = ids.get('/frag/reverse.bin') as FileId;
      for (const id of [rev]) targets.push([(await fs.recordRange(id)).offset, 1024]);
      const alloc = ntfsInfo(built.image, ids.get('/Users') as FileId).runs.get('$INDEX_ALLOCATION:named') as InfoRun[];
      targets.push([(alloc[0].lcn as number) * fs.blockSize, 4096]);
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(fc.nat(targets.length - 1), fc.nat(4095), fc.nat(255)), { minLength: 1, maxLength: 6 }), async (muts) => {
          runs++;
          const patches = new Map<number, number>();
          for (const [t, off, v] of muts) patches.set(targets[t][0] + (off % targets[t][1]), v);
          try {
            const f = await ntfsFormat.open(new PatchedReader(reader, patches), 0, reader.size);
            await exerciseFilesystem(f, 15);
            await f.recordsIn([{ offset: 0, length: 1 << 20 }]);
          } catch (e) {
            if (!(e instanceof FilesystemError)) throw e;
          }
        }),
        { seed: 4242, numRuns: 300, interruptAfterTimeLimit: 25_000 },
      );
      assert.ok(runs >= 50, `${runs} fuzz runs`);
    });
  });
});
