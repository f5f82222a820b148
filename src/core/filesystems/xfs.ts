/**
 * XFS reader (v5 / CRC filesystems as mkfs.xfs makes them, and v4): superblock, AG headers, the
 * free-space and inode btrees, v3 (and v2) inodes, data forks in extents and btree format, shortform,
 * block, leaf and node directories, local and remote symlinks.
 *
 * On-disk layout: the XFS Algorithms & Data Structures book (kernel.org, "xfs_filesystem_structure"),
 * and xfsprogs' libxfs/xfs_format.h, xfs_da_format.h, xfs_log_format.h. All fields are big-endian.
 * CRCs are not verified: a snapshot is read-only and a bad checksum would not change what we can do.
 */
import {
  FilesystemError,
  type BlockReader,
  type DirEntry,
  type Extent,
  type FileId,
  type FileStat,
  type Filesystem,
  type FilesystemFormat,
  type FsRange,
  type SpaceKind,
} from './types';
import { fileTypeOfDirent, fileTypeOfMode } from './posix';
import { RecentRecords } from './recentRecords';

const SB_MAGIC = 0x58465342; // 'XFSB'
const AGF_MAGIC = 0x58414746; // 'XAGF'
const AGI_MAGIC = 0x58414749; // 'XAGI'
const AGFL_MAGIC = 0x5841464c; // 'XAFL'
const INODE_MAGIC = 0x494e; // 'IN'
const BMAP_MAGIC_V5 = 0x424d4133; // 'BMA3'
const BMAP_MAGIC_V4 = 0x424d4150; // 'BMAP'
const DIR_BLOCK_V5 = 0x58444233; // 'XDB3'
const DIR_BLOCK_V4 = 0x58443242; // 'XD2B'
const DIR_DATA_V5 = 0x58444433; // 'XDD3'
const DIR_DATA_V4 = 0x58443244; // 'XD2D'
const SYMLINK_MAGIC = 0x58534c4d; // 'XSLM'

/** AG btree magics: [v4, v5]. */
const BTREE_MAGIC = {
  bno: [0x41425442, 0x41423342], // 'ABTB', 'AB3B'
  cnt: [0x41425443, 0x41423343], // 'ABTC', 'AB3C'
  ino: [0x49414254, 0x49414233], // 'IABT', 'IAB3'
  fino: [0x46494254, 0x46494233], // 'FIBT', 'FIB3'
  rmap: [0, 0x524d4233], // 'RMB3' (v5 only)
  refc: [0, 0x52334643], // 'R3FC' (v5 only)
} as const;
type AgBtree = keyof typeof BTREE_MAGIC;

/** Directory data lives below this file offset; the leaf and free index blocks above it are not needed to list names. */
const DIR_LEAF_OFFSET = 32 * 1024 * 1024 * 1024;
const MAX_BTREE_LEVELS = 9;
const READ_CHUNK = 4 * 1024 * 1024;
const RECENT_LIMIT = 256;
const INODE_CLUSTER = 16 * 1024;
const CLUSTERS_KEPT = 64;
/** Blocks of one level of an allocation-group btree read at a time. */
const BTREE_BATCH = 256;
/** One readFile answer is one buffer: keep it well inside what a typed array can hold. */
const MAX_READ = 2 ** 31;

const FORMAT_LOCAL = 1;
const FORMAT_EXTENTS = 2;
const FORMAT_BTREE = 3;

const DIFLAG2_BIGTIME = 0x8n;
const DIFLAG2_NREXT64 = 0x10n;

interface Superblock {
  blockSize: number;
  dblocks: number;
  agBlocks: number;
  agCount: number;
  agBlkLog: number;
  inoPBLog: number;
  inodeSize: number;
  sectSize: number;
  rootIno: number;
  /** Realtime bitmap and summary, quota inodes: the filesystem's own files, not the user's. */
  metadataInodes: Set<number>;
  logStart: number;
  logBlocks: number;
  dirBlkLog: number;
  v5: boolean;
  ftype: boolean;
  /** incompat SPINODES: inobt records carry a hole mask. */
  sparseInodes: boolean;
  label: string;
}

interface XfsInode {
  ino: number;
  offset: number;
  mode: number;
  format: number;
  size: number;
  nextents: number;
  gen: number;
  nlink: number;
  mtime: Date;
  fork: Uint8Array;
  forkOffset: number;
}

interface RawExtent {
  fileBlock: number;
  fsBlock: number;
  count: number;
  unwritten: boolean;
}

interface InodeChunk {
  /** First inode number of the chunk (absolute). */
  start: number;
  /** Filesystem byte offset of the chunk. */
  byte: number;
  /** Bit i set: inode i is free (or a sparse hole). */
  freeOrHole: bigint;
}

interface AgMaps {
  /** [fs byte start, length, kind] sorted by start: free extents, fixed metadata, the log's part in this AG. */
  labelled: Array<[number, number, SpaceKind]>;
  /** Sorted by inode number, which is also disk order within an AG. */
  chunks: InodeChunk[];
}

/** Index of the first element whose end lies after `pos`, for arrays sorted by start with ends in order. */
function firstEndingAfter<T>(items: readonly T[], pos: number, end: (t: T) => number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (end(items[mid]) <= pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function be(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function u64(dv: DataView, at: number, what: () => FilesystemError): number {
  const v = dv.getBigUint64(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw what();
  return Number(v);
}

function isPow2(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

function parseSuperblock(b: Uint8Array, at: number, sizeBytes: number): Superblock {
  const err = (d: string) => new FilesystemError('XFS superblock', at, d);
  const dv = be(b);
  if (dv.getUint32(0) !== SB_MAGIC) throw err('wrong magic (not XFS)');
  const blockSize = dv.getUint32(4);
  const versionNum = dv.getUint16(100);
  const version = versionNum & 0xf;
  if (version !== 4 && version !== 5) throw err(`unsupported version ${version}`);
  const sectSize = dv.getUint16(102);
  const inodeSize = dv.getUint16(104);
  const blockLog = dv.getUint8(120);
  const inoPBLog = dv.getUint8(123);
  const agBlkLog = dv.getUint8(124);
  if (!isPow2(blockSize) || blockSize < 512 || blockSize > 65536 || 1 << blockLog !== blockSize) throw err(`bad block size ${blockSize}`);
  if (!isPow2(sectSize) || sectSize < 512 || sectSize > blockSize) throw err(`bad sector size ${sectSize}`);
  if (!isPow2(inodeSize) || inodeSize < 256 || inodeSize > 2048 || inodeSize > blockSize) throw err(`bad inode size ${inodeSize}`);
  if (1 << inoPBLog !== blockSize / inodeSize) throw err('inodes per block do not match the block and inode sizes');
  const dblocks = u64(dv, 8, () => err('data block count out of range'));
  const agBlocks = dv.getUint32(84);
  const agCount = dv.getUint32(88);
  if (agBlocks < 5 || agCount < 1 || agBlkLog > 31 || agBlocks > 2 ** agBlkLog || agBlocks <= 2 ** (agBlkLog - 1)) {
    throw err(`bad allocation group geometry (${agCount} x ${agBlocks} blocks, log ${agBlkLog})`);
  }
  if (dblocks > agBlocks * agCount || dblocks <= agBlocks * (agCount - 1))
    throw err(`data block count ${dblocks} does not match ${agCount} groups of ${agBlocks}`);
  if (dblocks * blockSize > sizeBytes)
    throw err(`filesystem of ${dblocks * blockSize} bytes is larger than its ${sizeBytes}-byte partition (truncated image?)`);
  const features2 = dv.getUint32(200);
  const incompat = version === 5 ? dv.getUint32(216) : 0;
  const ftype = version === 5 ? (incompat & 0x1) !== 0 : (features2 & 0x200) !== 0;
  let label = '';
  for (let i = 108; i < 120 && b[i] !== 0; i++) label += String.fromCharCode(b[i]);
  const sb: Superblock = {
    blockSize,
    dblocks,
    agBlocks,
    agCount,
    agBlkLog,
    inoPBLog,
    inodeSize,
    sectSize,
    rootIno: u64(dv, 56, () => err('root inode out of range')),
    metadataInodes: new Set(
      [64, 72, 160, 168, ...(version === 5 ? [232] : [])]
        .map((at) => dv.getBigUint64(at))
        .filter((v) => v !== 0n && v !== 0xffffffffffffffffn)
        .map((v) => Number(v)),
    ),
    logStart: u64(dv, 48, () => err('log start out of range')),
    logBlocks: dv.getUint32(96),
    dirBlkLog: dv.getUint8(192),
    v5: version === 5,
    ftype,
    sparseInodes: (incompat & 0x2) !== 0,
    label,
  };
  if (sb.dirBlkLog > 6) throw err(`bad directory block log ${sb.dirBlkLog}`);
  return sb;
}

class XfsFilesystem implements Filesystem {
  readonly type = 'xfs' as const;
  readonly label: string;
  readonly blockSize: number;
  readonly sizeBytes: number;
  readonly rootId: FileId;
  private readonly agMaps = new Map<number, Promise<AgMaps>>();

  constructor(
    private readonly reader: BlockReader,
    private readonly base: number,
    private readonly sb: Superblock,
  ) {
    this.label = sb.label;
    this.blockSize = sb.blockSize;
    this.sizeBytes = sb.dblocks * sb.blockSize;
    this.rootId = sb.rootIno;
  }

  // ---- addressing ----

  private agByte(agno: number, agbno: number): number {
    return (agno * this.sb.agBlocks + agbno) * this.sb.blockSize;
  }

  /** Filesystem block number (AG number in the high bits) to a byte offset in the filesystem. */
  private fsbToByte(fsb: number): number {
    const agno = Math.floor(fsb / 2 ** this.sb.agBlkLog);
    const agbno = fsb % 2 ** this.sb.agBlkLog;
    return this.agByte(agno, agbno);
  }

  private validFsb(fsb: number, count: number): boolean {
    const agno = Math.floor(fsb / 2 ** this.sb.agBlkLog);
    const agbno = fsb % 2 ** this.sb.agBlkLog;
    return agno < this.sb.agCount && agbno + count <= this.sb.agBlocks && this.fsbToByte(fsb) + count * this.sb.blockSize <= this.sizeBytes;
  }

  private inodeByte(ino: number): number {
    const perAgLog = this.sb.agBlkLog + this.sb.inoPBLog;
    const agno = Math.floor(ino / 2 ** perAgLog);
    const agino = ino % 2 ** perAgLog;
    const agbno = Math.floor(agino / 2 ** this.sb.inoPBLog);
    const slot = agino % 2 ** this.sb.inoPBLog;
    if (agno >= this.sb.agCount || agbno >= this.sb.agBlocks) throw new FilesystemError(`XFS inode ${ino}`, this.base, 'inode number outside the filesystem');
    return this.agByte(agno, agbno) + slot * this.sb.inodeSize;
  }

  /** Inodes are read by the 16 KiB cluster they sit in: files made together sit together, so a walk reads each cluster once. */
  private readonly clusters = new Map<number, Promise<Uint8Array>>();

  private async inodeBytes(at: number, signal?: AbortSignal): Promise<Uint8Array> {
    // Clusters are aligned on the disk (as a reader's cache is); an inode that straddles two (a partition
    // not aligned to them) is read by itself.
    const size = Math.max(INODE_CLUSTER, this.sb.blockSize);
    const diskAt = this.base + at;
    const start = Math.floor(diskAt / size) * size;
    if (diskAt + this.sb.inodeSize > start + size || start + size > this.reader.size) return this.reader.read(diskAt, this.sb.inodeSize, signal);
    let p = this.clusters.get(start);
    if (!p) {
      p = this.reader.read(start, size, signal);
      this.clusters.set(start, p);
      if (this.clusters.size > CLUSTERS_KEPT) this.clusters.delete(this.clusters.keys().next().value as number);
      const mine = p;
      p.catch(() => {
        if (this.clusters.get(start) === mine) this.clusters.delete(start);
      });
    }
    const cluster = await p;
    return cluster.slice(diskAt - start, diskAt - start + this.sb.inodeSize);
  }

  private async read(fsOffset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    return this.reader.read(this.base + fsOffset, length, signal);
  }

  // ---- inodes ----

  /** The last few parsed inodes: stat, extents and readFile of one file read it once. A snapshot never changes. */
  private readonly recent = new RecentRecords<XfsInode>(RECENT_LIMIT);

  private inode(ino: number, signal?: AbortSignal): Promise<XfsInode> {
    return this.recent.get(ino, () => this.inodeUncached(ino, signal));
  }

  private async inodeUncached(ino: number, signal?: AbortSignal): Promise<XfsInode> {
    if (!Number.isSafeInteger(ino) || ino < 0) throw new FilesystemError(`XFS inode ${ino}`, this.base, 'not an inode number');
    const at = this.inodeByte(ino);
    const where = this.base + at;
    const err = (d: string) => new FilesystemError(`XFS inode ${ino}`, where, d);
    const b = await this.inodeBytes(at, signal);
    const dv = be(b);
    if (dv.getUint16(0) !== INODE_MAGIC) throw err('wrong magic (not an inode)');
    const mode = dv.getUint16(2);
    const version = dv.getUint8(4);
    if (version < 1 || version > 3) throw err(`unsupported inode version ${version}`);
    if (mode === 0) throw err('inode is not in use');
    const coreSize = version === 3 ? 176 : 100;
    let flags2 = 0n;
    if (version === 3) {
      flags2 = dv.getBigUint64(120);
      const self = dv.getBigUint64(152);
      if (self !== BigInt(ino)) throw err(`inode records number ${self}, not ${ino}`);
    }
    const format = dv.getUint8(5);
    const nlink = version === 1 ? dv.getUint16(6) : dv.getUint32(16);
    const size = dv.getBigInt64(56);
    if (size < 0n || size > BigInt(Number.MAX_SAFE_INTEGER)) throw err(`absurd size ${size}`);
    const nextents = (flags2 & DIFLAG2_NREXT64) !== 0n ? u64(dv, 24, () => err('absurd extent count')) : dv.getUint32(76);
    const forkoff = dv.getUint8(82);
    const forkSize = forkoff ? forkoff * 8 : this.sb.inodeSize - coreSize;
    if (coreSize + forkSize > this.sb.inodeSize) throw err(`attribute fork offset ${forkoff} outside the inode`);
    const mtime = this.timestamp(dv, 40, (flags2 & DIFLAG2_BIGTIME) !== 0n);
    return {
      ino,
      offset: where,
      mode,
      format,
      size: Number(size),
      nextents,
      gen: dv.getUint32(92),
      nlink,
      mtime,
      fork: b.subarray(coreSize, coreSize + forkSize),
      forkOffset: where + coreSize,
    };
  }

  private timestamp(dv: DataView, at: number, bigtime: boolean): Date {
    if (bigtime) {
      // Nanoseconds since the smallest 32-bit time, 1901-12-13T20:45:52Z (xfs_format.h, XFS_BIGTIME_EPOCH_OFFSET).
      const ns = dv.getBigUint64(at);
      return new Date(Number(ns / 1_000_000n) - 2 ** 31 * 1000);
    }
    return new Date(dv.getInt32(at) * 1000 + Math.floor(dv.getUint32(at + 4) / 1e6));
  }

  async stat(id: FileId, signal?: AbortSignal): Promise<FileStat> {
    const ino = await this.inode(id, signal);
    return { id, generation: ino.gen, type: fileTypeOfMode(ino.mode), sizeBytes: ino.size, modified: ino.mtime, links: ino.nlink };
  }

  // ---- data fork ----

  private parseExtentRecords(b: Uint8Array, at: number, count: number, whereOf: (i: number) => number, ino: number, out: RawExtent[]): void {
    const dv = be(b);
    for (let i = 0; i < count; i++) {
      const p = at + i * 16;
      const hi = dv.getBigUint64(p);
      const lo = dv.getBigUint64(p + 8);
      const e: RawExtent = {
        unwritten: hi >> 63n === 1n,
        fileBlock: Number((hi & 0x7fffffffffffffffn) >> 9n),
        fsBlock: Number(((hi & 0x1ffn) << 43n) | (lo >> 21n)),
        count: Number(lo & 0x1fffffn),
      };
      if (e.count === 0 || !this.validFsb(e.fsBlock, e.count)) {
        throw new FilesystemError(
          `XFS inode ${ino} extent ${out.length}`,
          whereOf(p),
          `extent of ${e.count} blocks at block ${e.fsBlock} lies outside the filesystem`,
        );
      }
      const prev = out[out.length - 1];
      if (prev && e.fileBlock < prev.fileBlock + prev.count) {
        throw new FilesystemError(`XFS inode ${ino} extent ${out.length}`, whereOf(p), 'extents overlap or are out of order');
      }
      out.push(e);
    }
  }

  private async rawExtents(ino: XfsInode, signal?: AbortSignal): Promise<RawExtent[]> {
    const out: RawExtent[] = [];
    if (ino.format === FORMAT_LOCAL) return out;
    if (ino.format === FORMAT_EXTENTS) {
      if (ino.nextents * 16 > ino.fork.length) {
        throw new FilesystemError(`XFS inode ${ino.ino} data fork`, ino.forkOffset, `${ino.nextents} extents do not fit in a ${ino.fork.length}-byte fork`);
      }
      this.parseExtentRecords(ino.fork, 0, ino.nextents, (p) => ino.forkOffset + p, ino.ino, out);
      return out;
    }
    if (ino.format !== FORMAT_BTREE) {
      throw new FilesystemError(`XFS inode ${ino.ino} data fork`, ino.forkOffset, `unsupported fork format ${ino.format}`);
    }
    // Root of the bmap btree lives in the inode: level, numrecs, keys[maxrecs], ptrs[maxrecs].
    const dv = be(ino.fork);
    const level = dv.getUint16(0);
    const numrecs = dv.getUint16(2);
    const maxrecs = Math.floor((ino.fork.length - 4) / 16);
    const rootErr = (d: string) => new FilesystemError(`XFS inode ${ino.ino} bmap btree root`, ino.forkOffset, d);
    if (level < 1 || level > MAX_BTREE_LEVELS) throw rootErr(`bad level ${level}`);
    if (numrecs < 1 || numrecs > maxrecs) throw rootErr(`bad record count ${numrecs}`);
    const visited = new Set<number>();
    const budget = { blocks: ino.nextents + 2 * MAX_BTREE_LEVELS + 16 };
    for (let i = 0; i < numrecs; i++) {
      const ptr = u64(dv, 4 + maxrecs * 8 + i * 8, () => rootErr('pointer out of range'));
      await this.walkBmbt(ino, ptr, level - 1, visited, budget, out, signal);
    }
    if (out.length !== ino.nextents) {
      throw rootErr(`btree holds ${out.length} extents, the inode says ${ino.nextents}`);
    }
    return out;
  }

  private async walkBmbt(
    ino: XfsInode,
    fsb: number,
    level: number,
    visited: Set<number>,
    budget: { blocks: number },
    out: RawExtent[],
    signal?: AbortSignal,
  ): Promise<void> {
    const structure = `XFS inode ${ino.ino} bmap btree block ${fsb}`;
    if (!this.validFsb(fsb, 1)) throw new FilesystemError(structure, ino.forkOffset, 'block outside the filesystem');
    const at = this.base + this.fsbToByte(fsb);
    if (visited.has(fsb)) throw new FilesystemError(structure, at, 'btree loops back to a block already visited');
    visited.add(fsb);
    if (--budget.blocks < 0) throw new FilesystemError(structure, at, 'btree has more blocks than its extent count allows');
    const b = await this.read(this.fsbToByte(fsb), this.sb.blockSize, signal);
    const dv = be(b);
    const magic = dv.getUint32(0);
    if (magic !== (this.sb.v5 ? BMAP_MAGIC_V5 : BMAP_MAGIC_V4)) throw new FilesystemError(structure, at, 'wrong magic (not a bmap btree block)');
    const hdr = this.sb.v5 ? 72 : 24;
    const blkLevel = dv.getUint16(4);
    const numrecs = dv.getUint16(6);
    if (blkLevel !== level) throw new FilesystemError(structure, at, `level ${blkLevel} where ${level} was expected`);
    const maxrecs = Math.floor((this.sb.blockSize - hdr) / 16);
    if (numrecs > maxrecs) throw new FilesystemError(structure, at, `record count ${numrecs} exceeds ${maxrecs}`);
    if (level === 0) {
      if (out.length + numrecs > ino.nextents) throw new FilesystemError(structure, at, `more extents than the inode's ${ino.nextents}`);
      this.parseExtentRecords(b, hdr, numrecs, (p) => at + p, ino.ino, out);
      return;
    }
    const maxNode = Math.floor((this.sb.blockSize - hdr) / 16);
    for (let i = 0; i < numrecs; i++) {
      const ptr = u64(dv, hdr + maxNode * 8 + i * 8, () => new FilesystemError(structure, at, 'pointer out of range'));
      await this.walkBmbt(ino, ptr, level - 1, visited, budget, out, signal);
    }
  }

  async extents(id: FileId, signal?: AbortSignal): Promise<Extent[]> {
    const ino = await this.inode(id, signal);
    const bs = this.sb.blockSize;
    return (await this.rawExtents(ino, signal)).map((e) => ({ fileOffset: e.fileBlock * bs, fsOffset: this.fsbToByte(e.fsBlock), length: e.count * bs }));
  }

  private async readExtents(extents: RawExtent[], offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const bs = this.sb.blockSize;
    const end = offset + length;
    // The extents' reads go out together: a directory grown among its files' data has its blocks
    // scattered, and each read is a round trip (the reader under this bounds how many are in flight).
    const reads: Array<Promise<void>> = [];
    for (const e of extents) {
      const eStart = e.fileBlock * bs;
      const eEnd = eStart + e.count * bs;
      if (eEnd <= offset || eStart >= end || e.unwritten) continue;
      const from = Math.max(eStart, offset);
      const to = Math.min(eEnd, end);
      reads.push(this.read(this.fsbToByte(e.fsBlock) + (from - eStart), to - from, signal).then((data) => out.set(data, from - offset)));
    }
    await Promise.all(reads);
    return out;
  }

  async readFile(id: FileId, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const ino = await this.inode(id, signal);
    if (offset < 0 || length < 0) throw new FilesystemError(`XFS inode ${id}`, ino.offset, 'negative offset or length');
    const from = Math.min(offset, ino.size);
    const len = Math.min(length, ino.size - from);
    if (len === 0) return new Uint8Array(0);
    if (len > MAX_READ)
      throw new FilesystemError(
        `XFS inode ${id}`,
        ino.offset,
        `a read of ${len} bytes at once is too large; read the file in pieces of at most ${MAX_READ} bytes`,
      );
    if (ino.format === FORMAT_LOCAL) return ino.fork.slice(from, from + len);
    return this.readExtents(await this.rawExtents(ino, signal), from, len, signal);
  }

  async readLink(id: FileId, signal?: AbortSignal): Promise<string> {
    const ino = await this.inode(id, signal);
    const err = (d: string) => new FilesystemError(`XFS symlink inode ${id}`, ino.offset, d);
    if (fileTypeOfMode(ino.mode) !== 'symlink') throw err('not a symbolic link');
    if (ino.size > 1024) throw err(`target length ${ino.size} exceeds 1024`);
    if (ino.format === FORMAT_LOCAL) {
      if (ino.size > ino.fork.length) throw err('target longer than the inode fork');
      return new TextDecoder().decode(ino.fork.subarray(0, ino.size));
    }
    // Remote: target in whole blocks; on v5 each block starts with a 56-byte header (xfs_dsymlink_hdr).
    const extents = await this.rawExtents(ino, signal);
    const parts: Uint8Array[] = [];
    let left = ino.size;
    const bs = this.sb.blockSize;
    for (const e of extents) {
      const blocks = await this.read(this.fsbToByte(e.fsBlock), e.count * bs, signal);
      for (let i = 0; i < e.count && left > 0; i++) {
        const blk = blocks.subarray(i * bs, (i + 1) * bs);
        // mkfs.xfs -p (xfsprogs 6.1) writes v5 remote symlink blocks without their header; the kernel
        // writes it. Take the header when its magic is there, else the block is all target.
        const start = this.sb.v5 && be(blk).getUint32(0) === SYMLINK_MAGIC ? 56 : 0;
        const take = Math.min(left, bs - start);
        parts.push(blk.subarray(start, start + take));
        left -= take;
      }
    }
    if (left > 0) throw err('remote symlink blocks hold less than the target length');
    return new TextDecoder().decode(Buffer.concat(parts));
  }

  // ---- directories ----

  async readDir(id: FileId, signal?: AbortSignal): Promise<DirEntry[]> {
    const ino = await this.inode(id, signal);
    if (fileTypeOfMode(ino.mode) !== 'dir') throw new FilesystemError(`XFS inode ${id}`, ino.offset, 'not a directory');
    if (ino.format === FORMAT_LOCAL) return this.shortformDir(ino);
    const extents = await this.rawExtents(ino, signal);
    const out: DirEntry[] = [];
    const bs = this.sb.blockSize;
    const dirFsbs = 1 << this.sb.dirBlkLog;
    const dirBlk = bs * dirFsbs;
    const leafBlock = DIR_LEAF_OFFSET / bs;
    // Data blocks are whole directory blocks inside mapped file ranges below the leaf offset; a directory
    // block larger than a filesystem block may span two extents.
    const mapped: Array<[number, number]> = [];
    for (const e of extents) {
      if (e.fileBlock >= leafBlock) break;
      const end = Math.min(e.fileBlock + e.count, leafBlock);
      const last = mapped[mapped.length - 1];
      if (last && last[1] === e.fileBlock) last[1] = end;
      else mapped.push([e.fileBlock, end]);
    }
    const chunkBlocks = Math.max(dirFsbs, Math.floor(READ_CHUNK / dirBlk) * dirFsbs);
    for (const [start, end] of mapped) {
      for (let fb = Math.ceil(start / dirFsbs) * dirFsbs; fb + dirFsbs <= end;) {
        const n = Math.min(chunkBlocks, Math.floor((end - fb) / dirFsbs) * dirFsbs);
        const data = await this.readExtents(extents, fb * bs, n * bs, signal);
        for (let p = 0; p + dirBlk <= data.length; p += dirBlk) {
          this.parseDataBlock(ino, data.subarray(p, p + dirBlk), this.base + this.diskByteOf(extents, fb * bs + p), out);
        }
        fb += n;
      }
    }
    return out;
  }

  /** Filesystem byte that holds byte `fileByte` of a file with these extents (for error offsets). */
  private diskByteOf(extents: RawExtent[], fileByte: number): number {
    const bs = this.sb.blockSize;
    for (const e of extents) {
      if (fileByte >= e.fileBlock * bs && fileByte < (e.fileBlock + e.count) * bs) return this.fsbToByte(e.fsBlock) + (fileByte - e.fileBlock * bs);
    }
    return 0;
  }

  private shortformDir(ino: XfsInode): DirEntry[] {
    const b = ino.fork;
    const dv = be(b);
    const err = (p: number, d: string) => new FilesystemError(`XFS inode ${ino.ino} shortform directory`, ino.forkOffset + p, d);
    if (b.length < 6) throw err(0, 'fork too small');
    const count = dv.getUint8(0);
    const i8 = dv.getUint8(1);
    const inoLen = i8 ? 8 : 4;
    let p = 2 + inoLen;
    const end = Math.min(ino.size, b.length);
    const out: DirEntry[] = [];
    const n = count;
    for (let i = 0; i < n; i++) {
      if (p + 3 > end) throw err(p, `entry ${i} of ${n} runs past the directory's ${end} bytes`);
      const nameLen = dv.getUint8(p);
      const nameAt = p + 3;
      const after = nameAt + nameLen + (this.sb.ftype ? 1 : 0);
      if (nameLen === 0 || after + inoLen > end) throw err(p, `entry ${i} of ${n} runs past the directory's ${end} bytes`);
      const name = new TextDecoder().decode(b.subarray(nameAt, nameAt + nameLen));
      const type = this.sb.ftype ? fileTypeOfDirent(b[nameAt + nameLen]) : undefined;
      const child = inoLen === 8 ? Number(dv.getBigUint64(after)) : dv.getUint32(after);
      out.push(type ? { name, id: child, type } : { name, id: child });
      p = after + inoLen;
    }
    return out;
  }

  private parseDataBlock(ino: XfsInode, blk: Uint8Array, at: number, out: DirEntry[]): void {
    const dv = be(blk);
    const magic = dv.getUint32(0);
    const structure = `XFS inode ${ino.ino} directory block`;
    let end = blk.length;
    let p: number;
    if (magic === DIR_BLOCK_V5 || magic === DIR_BLOCK_V4) {
      // Single-block directory: the hash leaf and an 8-byte tail (count, stale) end the block.
      const count = dv.getUint32(blk.length - 8);
      end = blk.length - 8 - count * 8;
      if (count > blk.length / 8 || end < 16) throw new FilesystemError(structure, at, `leaf count ${count} does not fit`);
    } else if (magic !== DIR_DATA_V5 && magic !== DIR_DATA_V4) {
      throw new FilesystemError(structure, at, 'wrong magic (not a directory data block)');
    }
    p = magic === DIR_BLOCK_V5 || magic === DIR_DATA_V5 ? 64 : 16;
    while (p + 8 <= end) {
      if (dv.getUint16(p) === 0xffff) {
        const len = dv.getUint16(p + 2);
        if (len < 8 || len % 8 !== 0 || p + len > end) throw new FilesystemError(structure, at + p, `bad free-space length ${len}`);
        p += len;
        continue;
      }
      const child = dv.getBigUint64(p);
      const nameLen = dv.getUint8(p + 8);
      const len = Math.ceil((8 + 1 + nameLen + (this.sb.ftype ? 1 : 0) + 2) / 8) * 8;
      if (nameLen === 0 || p + len > end) throw new FilesystemError(structure, at + p, `entry of ${len} bytes runs past the block`);
      const name = new TextDecoder().decode(blk.subarray(p + 9, p + 9 + nameLen));
      if (name !== '.' && name !== '..') {
        if (child > BigInt(Number.MAX_SAFE_INTEGER)) throw new FilesystemError(structure, at + p, 'inode number out of range');
        const type = this.sb.ftype ? fileTypeOfDirent(blk[p + 9 + nameLen]) : undefined;
        out.push(type ? { name, id: Number(child), type } : { name, id: Number(child) });
      }
      p += len;
    }
  }

  // ---- allocation groups ----

  private async walkAgBtree(
    agno: number,
    kind: AgBtree,
    root: number,
    levels: number,
    recSize: number,
    keySize: number,
    onBlock: (agbno: number) => void,
    onLeaf: (b: Uint8Array, at: number, numrecs: number, hdr: number) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const hdr = this.sb.v5 ? 56 : 16;
    const magic = BTREE_MAGIC[kind][this.sb.v5 ? 1 : 0];
    const structure = (agbno: number) => `XFS AG ${agno} ${kind}bt block ${agbno}`;
    if (levels < 1 || levels > MAX_BTREE_LEVELS) {
      throw new FilesystemError(`XFS AG ${agno} ${kind}bt`, this.base + this.agByte(agno, 0), `bad level count ${levels}`);
    }
    const visited = new Set<number>();
    let frontier = [root];
    for (let level = levels - 1; level >= 0; level--) {
      const next: number[] = [];
      // A level's blocks are read together (each read is a round trip), a bounded batch at a time, then
      // taken in key order.
      for (let from = 0; from < frontier.length; from += BTREE_BATCH) {
        const batch = frontier.slice(from, from + BTREE_BATCH);
        for (const agbno of batch) {
          if (agbno === 0 || agbno >= this.sb.agBlocks) {
            throw new FilesystemError(structure(agbno), this.base + this.agByte(agno, 0), 'block outside the allocation group');
          }
          if (visited.has(agbno))
            throw new FilesystemError(structure(agbno), this.base + this.agByte(agno, agbno), 'btree loops back to a block already visited');
          visited.add(agbno);
          onBlock(agbno);
        }
        signal?.throwIfAborted();
        const blocks = await Promise.all(batch.map((agbno) => this.read(this.agByte(agno, agbno), this.sb.blockSize, signal)));
        for (const [i, agbno] of batch.entries()) {
          const byte = this.agByte(agno, agbno);
          const b = blocks[i]!;
          const dv = be(b);
          if (dv.getUint32(0) !== magic) throw new FilesystemError(structure(agbno), this.base + byte, `wrong magic (not a ${kind}bt block)`);
          const blkLevel = dv.getUint16(4);
          const numrecs = dv.getUint16(6);
          if (blkLevel !== level) throw new FilesystemError(structure(agbno), this.base + byte, `level ${blkLevel} where ${level} was expected`);
          if (level === 0) {
            if (hdr + numrecs * recSize > b.length) throw new FilesystemError(structure(agbno), this.base + byte, `record count ${numrecs} does not fit`);
            onLeaf(b, this.base + byte, numrecs, hdr);
          } else {
            const maxrecs = Math.floor((this.sb.blockSize - hdr) / (keySize + 4));
            if (numrecs > maxrecs) throw new FilesystemError(structure(agbno), this.base + byte, `record count ${numrecs} exceeds ${maxrecs}`);
            for (let k = 0; k < numrecs; k++) next.push(dv.getUint32(hdr + maxrecs * keySize + k * 4));
          }
        }
      }
      frontier = next;
    }
  }

  private agMapsOf(agno: number, signal?: AbortSignal): Promise<AgMaps> {
    let p = this.agMaps.get(agno);
    if (!p) {
      p = this.loadAgMaps(agno, signal);
      this.agMaps.set(agno, p);
      p.catch(() => this.agMaps.delete(agno));
    }
    return p;
  }

  private async loadAgMaps(agno: number, signal?: AbortSignal): Promise<AgMaps> {
    const sb = this.sb;
    const agStart = this.agByte(agno, 0);
    // Superblock copy, AGF, AGI and AGFL take the first four sectors.
    const head = await this.read(agStart, 4 * sb.sectSize, signal);
    const agf = be(head.subarray(sb.sectSize, 2 * sb.sectSize));
    const agi = be(head.subarray(2 * sb.sectSize, 3 * sb.sectSize));
    const agflBytes = head.subarray(3 * sb.sectSize, 4 * sb.sectSize);
    const agfAt = this.base + agStart + sb.sectSize;
    const agiAt = agfAt + sb.sectSize;
    if (agf.getUint32(0) !== AGF_MAGIC) throw new FilesystemError(`XFS AG ${agno} AGF`, agfAt, 'wrong magic');
    if (agi.getUint32(0) !== AGI_MAGIC) throw new FilesystemError(`XFS AG ${agno} AGI`, agiAt, 'wrong magic');
    if (agf.getUint32(8) !== agno) throw new FilesystemError(`XFS AG ${agno} AGF`, agfAt, `sequence number ${agf.getUint32(8)}`);
    const agLen = agf.getUint32(12);
    if (agLen === 0 || agLen > sb.agBlocks) throw new FilesystemError(`XFS AG ${agno} AGF`, agfAt, `length ${agLen} exceeds ${sb.agBlocks} blocks`);

    const meta: Array<[number, number]> = [];
    const bs = sb.blockSize;
    const addBlock = (agbno: number) => meta.push([this.agByte(agno, agbno), bs]);
    meta.push([agStart, Math.ceil((4 * sb.sectSize) / bs) * bs]);

    const free: Array<[number, number]> = [];
    // The group's btrees are walked together (records are sorted below); each walk is a chain of round trips.
    const walks: Array<Promise<void>> = [];
    // A check below may fail while walks are under way: their own failures are then reported by nobody.
    const walk = (p: Promise<void>) => {
      p.catch(() => undefined);
      walks.push(p);
    };
    walk(
      this.walkAgBtree(
        agno,
        'bno',
        agf.getUint32(16),
        agf.getUint32(28),
        8,
        8,
        addBlock,
        (b, at, n, hdr) => {
          const dv = be(b);
          for (let i = 0; i < n; i++) {
            const start = dv.getUint32(hdr + i * 8);
            const count = dv.getUint32(hdr + i * 8 + 4);
            if (count === 0 || start + count > agLen)
              throw new FilesystemError(`XFS AG ${agno} bnobt record`, at + hdr + i * 8, `free extent ${start}+${count} outside the group`);
            free.push([this.agByte(agno, start), count * bs]);
          }
        },
        signal,
      ),
    );
    walk(this.walkAgBtree(agno, 'cnt', agf.getUint32(20), agf.getUint32(32), 8, 8, addBlock, () => undefined, signal));
    if (sb.v5) {
      const rmapLevels = agf.getUint32(36);
      if (rmapLevels > 0 && agf.getUint32(24) !== 0)
        walk(this.walkAgBtree(agno, 'rmap', agf.getUint32(24), rmapLevels, 24, 40, addBlock, () => undefined, signal));
      const refcLevels = agf.getUint32(92);
      if (refcLevels > 0 && agf.getUint32(88) !== 0)
        walk(this.walkAgBtree(agno, 'refc', agf.getUint32(88), refcLevels, 12, 4, addBlock, () => undefined, signal));
    }
    // Blocks on the AG free list are reserved for btree growth: metadata, not free space.
    const flHdr = sb.v5 ? 36 : 0;
    if (sb.v5 && be(agflBytes).getUint32(0) !== AGFL_MAGIC) throw new FilesystemError(`XFS AG ${agno} AGFL`, agiAt + sb.sectSize, 'wrong magic');
    const flSize = Math.floor((sb.sectSize - flHdr) / 4);
    const flCount = agf.getUint32(48);
    if (flCount > flSize) throw new FilesystemError(`XFS AG ${agno} AGF`, agfAt, `free list count ${flCount} exceeds ${flSize}`);
    for (let i = 0, slot = agf.getUint32(40); i < flCount; i++, slot = (slot + 1) % flSize) {
      const agbno = be(agflBytes).getUint32(flHdr + slot * 4);
      if (agbno < agLen) addBlock(agbno);
    }

    const chunks: InodeChunk[] = [];
    const inodesPerAgLog = sb.agBlkLog + sb.inoPBLog;
    walk(
      this.walkAgBtree(
        agno,
        'ino',
        agi.getUint32(20),
        agi.getUint32(24),
        16,
        4,
        addBlock,
        (b, at, n, hdr) => {
          const dv = be(b);
          for (let i = 0; i < n; i++) {
            const p = hdr + i * 16;
            const agino = dv.getUint32(p);
            // Sparse inode chunks (incompat SPINODES) put a 16-bit hole mask before the count; each bit covers 4 inodes.
            const sparse = sb.sparseInodes;
            let holes = 0n;
            if (sparse) {
              const holemask = dv.getUint16(p + 4);
              for (let h = 0; h < 16; h++) if (holemask & (1 << h)) holes |= 0xfn << BigInt(h * 4);
            }
            const freeMask = dv.getBigUint64(p + 8);
            // Chunks are aligned to inoalignmt blocks, not to 64 inodes; within an AG, inode number x lives at byte x * inode size.
            const chunkBytes = 64 * sb.inodeSize;
            if (agino % 8 !== 0 || (agino + 64) * sb.inodeSize > agLen * bs)
              throw new FilesystemError(`XFS AG ${agno} inobt record`, at + p, `inode chunk at ${agino} outside the group`);
            const byte = agStart + agino * sb.inodeSize;
            chunks.push({ start: agno * 2 ** inodesPerAgLog + agino, byte, freeOrHole: freeMask | holes });
            for (let q = 0; q < 16; q++) {
              const part = chunkBytes / 16;
              if (!(holes & (1n << BigInt(q * 4)))) meta.push([byte + q * part, part]);
            }
          }
        },
        signal,
      ),
    );
    if (sb.v5) {
      const fRoot = agi.getUint32(328);
      const fLevels = agi.getUint32(332);
      if (fLevels > 0 && fRoot !== 0) walk(this.walkAgBtree(agno, 'fino', fRoot, fLevels, 16, 4, addBlock, () => undefined, signal));
    }
    await Promise.all(walks);
    meta.sort((a, b) => a[0] - b[0]);
    chunks.sort((a, b) => a.start - b.start);
    const labelled: Array<[number, number, SpaceKind]> = [];
    for (const [s, l] of free) labelled.push([s, l, 'free']);
    for (const [s, l] of mergeRuns(meta)) labelled.push([s, l, 'metadata']);
    if (sb.logStart !== 0) {
      const logAt = this.fsbToByte(sb.logStart);
      const agEnd = agStart + sb.agBlocks * bs;
      const from = Math.max(logAt, agStart);
      const to = Math.min(logAt + sb.logBlocks * bs, agEnd);
      if (from < to) labelled.push([from, to - from, 'journal']);
    }
    labelled.sort((a, b) => a[0] - b[0]);
    return { labelled, chunks };
  }

  async *allFiles(signal?: AbortSignal): AsyncIterable<FileId> {
    for (let agno = 0; agno < this.sb.agCount; agno++) {
      const maps = await this.agMapsOf(agno, signal);
      for (const c of maps.chunks) {
        for (let i = 0; i < 64; i++) if (!(c.freeOrHole & (1n << BigInt(i))) && !this.sb.metadataInodes.has(c.start + i)) yield c.start + i;
      }
    }
  }

  /** The maps of every allocation group the ranges touch, read together (each group's walk is a chain of round trips). */
  private async loadAgsOf(ranges: readonly FsRange[], signal?: AbortSignal): Promise<void> {
    const agBytes = this.sb.agBlocks * this.sb.blockSize;
    const ags = new Set<number>();
    for (const r of ranges) {
      const end = Math.min(r.offset + r.length, this.sizeBytes);
      for (let agno = Math.floor(r.offset / agBytes); r.offset < end && agno <= Math.floor((end - 1) / agBytes) && agno < this.sb.agCount; agno++)
        ags.add(agno);
    }
    await Promise.all([...ags].map((agno) => this.agMapsOf(agno, signal)));
  }

  async recordRange(id: FileId): Promise<FsRange> {
    return { offset: this.inodeByte(id), length: this.sb.inodeSize };
  }

  async recordsIn(ranges: readonly FsRange[], signal?: AbortSignal): Promise<FileId[]> {
    const ids = new Set<FileId>();
    const agBytes = this.sb.agBlocks * this.sb.blockSize;
    const chunkBytes = 64 * this.sb.inodeSize;
    await this.loadAgsOf(ranges, signal);
    for (const r of ranges) {
      const end = Math.min(r.offset + r.length, this.sizeBytes);
      if (r.offset >= end) continue;
      for (let agno = Math.floor(r.offset / agBytes); agno <= Math.floor((end - 1) / agBytes) && agno < this.sb.agCount; agno++) {
        const maps = await this.agMapsOf(agno, signal);
        for (let i = firstEndingAfter(maps.chunks, r.offset, (c) => c.byte + chunkBytes); i < maps.chunks.length; i++) {
          const c = maps.chunks[i];
          if (c.byte >= end) break;
          for (let k = 0; k < 64; k++) {
            if (c.freeOrHole & (1n << BigInt(k))) continue;
            const at = c.byte + k * this.sb.inodeSize;
            if (at < end && at + this.sb.inodeSize > r.offset && !this.sb.metadataInodes.has(c.start + k)) ids.add(c.start + k);
          }
        }
      }
    }
    return [...ids].sort((a, b) => a - b);
  }

  async classify(ranges: readonly FsRange[], signal?: AbortSignal): Promise<Array<FsRange & { kind: SpaceKind }>> {
    const out: Array<{ offset: number; length: number; kind: SpaceKind }> = [];
    const agBytes = this.sb.agBlocks * this.sb.blockSize;
    const push = (offset: number, length: number, kind: SpaceKind) => {
      if (length <= 0) return;
      const last = out[out.length - 1];
      if (last && last.kind === kind && last.offset + last.length === offset) last.length += length;
      else out.push({ offset, length, kind });
    };
    await this.loadAgsOf(ranges, signal);
    for (const r of ranges) {
      let pos = r.offset;
      const end = r.offset + r.length;
      while (pos < end) {
        if (pos >= this.sizeBytes) {
          push(pos, end - pos, 'metadata');
          break;
        }
        const agno = Math.floor(pos / agBytes);
        const agEnd = Math.min((agno + 1) * agBytes, this.sizeBytes, end);
        const maps = await this.agMapsOf(agno, signal);
        let cur = pos;
        for (let i = firstEndingAfter(maps.labelled, cur, (x) => x[0] + x[1]); i < maps.labelled.length; i++) {
          const [s, l, kind] = maps.labelled[i];
          if (s >= agEnd) break;
          if (s + l <= cur) continue;
          if (s > cur) push(cur, s - cur, 'data');
          const to = Math.min(s + l, agEnd);
          push(Math.max(cur, s), to - Math.max(cur, s), kind);
          cur = to;
          if (cur >= agEnd) break;
        }
        if (cur < agEnd) push(cur, agEnd - cur, 'data');
        pos = agEnd;
      }
    }
    return out;
  }
}

function mergeRuns(runs: Array<[number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [s, l] of runs) {
    const last = out[out.length - 1];
    if (last && s <= last[0] + last[1]) last[1] = Math.max(last[1], s + l - last[0]);
    else out.push([s, l]);
  }
  return out;
}

export const xfsFormat: FilesystemFormat = {
  type: 'xfs',
  detect(head: Uint8Array): boolean {
    return head.length >= 4 && be(head).getUint32(0) === SB_MAGIC;
  },
  async open(reader: BlockReader, offsetBytes: number, sizeBytes: number, signal?: AbortSignal): Promise<Filesystem> {
    if (sizeBytes < 512 || offsetBytes + 512 > reader.size)
      throw new FilesystemError('XFS superblock', offsetBytes, 'partition too small or outside the image');
    const head = await reader.read(offsetBytes, 512, signal);
    const sb = parseSuperblock(head, offsetBytes, Math.min(sizeBytes, reader.size - offsetBytes));
    return new XfsFilesystem(reader, offsetBytes, sb);
  },
};
