/**
 * ext2/3/4 reader (Ubuntu and Debian images), from the on-disk layout documented in the Linux kernel's
 * Documentation/filesystems/ext4/ (torvalds/linux) and e2fsprogs' lib/ext2fs/ext2_fs.h: superblock, group
 * descriptors (32 and 64 bytes, meta_bg), inodes, extent trees of any depth, block-mapped (ext3) files,
 * inline data, linear and htree directories (an htree's index blocks are hidden in entries a linear
 * reader skips), fast and slow symlinks, block and inode bitmaps, the journal inode. Checksums
 * (metadata_csum) are not verified: structures are checked for consistency instead.
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

const SUPERBLOCK_OFFSET = 1024;
const EXT4_MAGIC = 0xef53;
const EXTENT_MAGIC = 0xf30a;

const INCOMPAT_FILETYPE = 0x2;
const INCOMPAT_JOURNAL_DEV = 0x8;
const INCOMPAT_META_BG = 0x10;
const INCOMPAT_64BIT = 0x80;
const INCOMPAT_ENCRYPT = 0x10000;
const COMPAT_SPARSE_SUPER2 = 0x200;
const RO_COMPAT_SPARSE_SUPER = 0x1;
const RO_COMPAT_HUGE_FILE = 0x8;
const RO_COMPAT_GDT_CSUM = 0x10;
const RO_COMPAT_METADATA_CSUM = 0x400;

const BG_INODE_UNINIT = 0x1;
const BG_BLOCK_UNINIT = 0x2;

const FL_HUGE_FILE = 0x40000;
const FL_EXTENTS = 0x80000;
const FL_INLINE_DATA = 0x10000000;

/** The kernel never builds deeper extent trees (ext4_extents.h: EXT4_MAX_EXTENT_DEPTH). */
const MAX_EXTENT_DEPTH = 5;
/** One readFile call answers at most this much, so a hostile size cannot ask for unbounded memory. */
const MAX_READ_BYTES = 256 * 1024 * 1024;
/** Extent lists of recently asked files kept in memory. */
const EXTENT_CACHE_FILES = 256;

interface GroupDesc {
  readonly blockBitmap: number;
  readonly inodeBitmap: number;
  readonly inodeTable: number;
  readonly flags: number;
}

interface Inode {
  readonly id: number;
  readonly offset: number;
  readonly mode: number;
  readonly size: number;
  readonly links: number;
  readonly flags: number;
  readonly generation: number;
  readonly mtime: Date;
  readonly blocks512: number;
  readonly fileAcl: number;
  readonly iBlock: Uint8Array;
  readonly raw: Uint8Array;
}

interface Mapping {
  readonly extents: Extent[];
  /** Extent-tree nodes below the inode, indirect blocks: fs block numbers. */
  readonly mapBlocks: number[];
}

const le16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const le32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;
const s32 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);

export const ext4Format: FilesystemFormat = {
  type: 'ext4',
  detect(head: Uint8Array): boolean {
    if (head.length < SUPERBLOCK_OFFSET + 0x60) return false;
    if (le16(head, SUPERBLOCK_OFFSET + 0x38) !== EXT4_MAGIC) return false;
    // A journal device carries the magic too but holds no files.
    return (le32(head, SUPERBLOCK_OFFSET + 0x60) & INCOMPAT_JOURNAL_DEV) === 0;
  },
  open(reader: BlockReader, offsetBytes: number, sizeBytes: number, signal?: AbortSignal): Promise<Filesystem> {
    return Ext4Filesystem.open(reader, offsetBytes, sizeBytes, signal);
  },
};

class Ext4Filesystem implements Filesystem {
  readonly type = 'ext4' as const;
  readonly rootId = 2;
  #groups: GroupDesc[] = [];
  /** Fixed metadata (superblocks, descriptors, bitmaps, inode tables) as sorted, merged [start, end) block runs. */
  #meta: Array<[number, number]> = [];
  #journal: Array<[number, number]> = [];
  /** Inode tables sorted by start block, for recordsIn. */
  #tables: Array<{ start: number; group: number }> = [];
  readonly #bitmaps = new Map<number, Promise<Uint8Array | undefined>>();
  readonly #mappings = new Map<number, Promise<Mapping>>();

  private constructor(
    private readonly reader: BlockReader,
    private readonly base: number,
    readonly sizeBytes: number,
    readonly label: string,
    readonly blockSize: number,
    private readonly sb: {
      inodesCount: number;
      blocksCount: number;
      firstDataBlock: number;
      blocksPerGroup: number;
      inodesPerGroup: number;
      inodeSize: number;
      firstIno: number;
      descSize: number;
      incompat: number;
      compat: number;
      roCompat: number;
      journalInum: number;
      reservedGdt: number;
      firstMetaBg: number;
      backupBgs: [number, number];
      groupCount: number;
    },
  ) {}

  static async open(reader: BlockReader, base: number, sizeBytes: number, signal?: AbortSignal): Promise<Ext4Filesystem> {
    const at = base + SUPERBLOCK_OFFSET;
    if (sizeBytes < SUPERBLOCK_OFFSET + 1024 || base + sizeBytes > reader.size) {
      throw new FilesystemError('ext4 superblock', at, `the partition (${sizeBytes} bytes at ${base}) cannot hold an ext4 superblock within the image`);
    }
    const b = await reader.read(at, 1024, signal);
    const bad = (detail: string) => new FilesystemError('ext4 superblock', at, detail);
    if (le16(b, 0x38) !== EXT4_MAGIC) throw bad(`wrong magic 0x${le16(b, 0x38).toString(16)} (expected 0xef53)`);
    const logBlock = le32(b, 0x18);
    if (logBlock > 6) throw bad(`block size 2^(10+${logBlock}) is not possible (at most 64 KiB)`);
    const blockSize = 1024 << logBlock;
    const incompat = le32(b, 0x60);
    const compat = le32(b, 0x5c);
    const roCompat = le32(b, 0x64);
    const is64 = (incompat & INCOMPAT_64BIT) !== 0;
    const blocksCount = le32(b, 0x04) + (is64 ? le32(b, 0x150) * 0x100000000 : 0);
    const inodesCount = le32(b, 0x00);
    const firstDataBlock = le32(b, 0x14);
    const blocksPerGroup = le32(b, 0x20);
    const inodesPerGroup = le32(b, 0x28);
    const rev = le32(b, 0x4c);
    const inodeSize = rev >= 1 ? le16(b, 0x58) : 128;
    const firstIno = rev >= 1 ? le32(b, 0x54) : 11;
    const descSize = is64 ? le16(b, 0xfe) : 32;
    if (incompat & INCOMPAT_JOURNAL_DEV) throw bad('this is an external journal device, not a filesystem');
    if (blocksPerGroup < 8 || blocksPerGroup > 8 * blockSize) throw bad(`${blocksPerGroup} blocks per group is not possible with ${blockSize}-byte blocks`);
    if (inodesPerGroup < 1 || inodesPerGroup > 8 * blockSize) throw bad(`${inodesPerGroup} inodes per group is not possible with ${blockSize}-byte blocks`);
    if (inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0)
      throw bad(`inode size ${inodeSize} is not a power of two between 128 and the block size`);
    if (is64 && (descSize < 32 || descSize > 1024 || (descSize & (descSize - 1)) !== 0)) throw bad(`group descriptor size ${descSize} is not possible`);
    if (blocksCount === 0 || blocksCount * blockSize > sizeBytes) {
      throw bad(`it says ${blocksCount} blocks of ${blockSize} bytes, but the partition holds ${sizeBytes} bytes (truncated image or wrong size)`);
    }
    if (firstDataBlock >= blocksCount || firstDataBlock > 1) throw bad(`first data block ${firstDataBlock} is not possible`);
    const groupCount = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
    if (inodesCount > groupCount * inodesPerGroup) throw bad(`${inodesCount} inodes do not fit ${groupCount} groups of ${inodesPerGroup}`);
    const name = b.subarray(0x78, 0x78 + 16);
    const nul = name.indexOf(0);
    const label = new TextDecoder().decode(nul < 0 ? name : name.subarray(0, nul));
    const fs = new Ext4Filesystem(reader, base, sizeBytes, label, blockSize, {
      inodesCount,
      blocksCount,
      firstDataBlock,
      blocksPerGroup,
      inodesPerGroup,
      inodeSize,
      firstIno,
      descSize,
      incompat,
      compat,
      roCompat,
      journalInum: compat & 0x4 ? le32(b, 0xe0) : 0,
      reservedGdt: le16(b, 0xce),
      firstMetaBg: le32(b, 0x104),
      backupBgs: [le32(b, 0x24c), le32(b, 0x250)],
      groupCount,
    });
    await fs.#loadGroups(signal);
    await fs.#loadJournal(signal);
    return fs;
  }

  get #descPerBlock(): number {
    return this.blockSize / this.sb.descSize;
  }

  #groupFirst(g: number): number {
    return this.sb.firstDataBlock + g * this.sb.blocksPerGroup;
  }

  #hasSuper(g: number): boolean {
    if (g === 0) return true;
    if (this.sb.compat & COMPAT_SPARSE_SUPER2) return g === this.sb.backupBgs[0] || g === this.sb.backupBgs[1];
    if (g <= 1 || !(this.sb.roCompat & RO_COMPAT_SPARSE_SUPER)) return true;
    if (!(g & 1)) return false;
    for (const p of [3, 5, 7]) {
      let n = p;
      while (n < g) n *= p;
      if (n === g) return true;
    }
    return false;
  }

  #fail(structure: string, fsOffset: number, detail: string): FilesystemError {
    return new FilesystemError(structure, this.base + fsOffset, detail);
  }

  #checkBlock(block: number, structure: string, where: number): void {
    if (!Number.isSafeInteger(block) || block < this.sb.firstDataBlock || block >= this.sb.blocksCount) {
      throw this.#fail(structure, where, `points to block ${block}, outside the filesystem (${this.sb.blocksCount} blocks)`);
    }
  }

  async #readFs(fsOffset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    return this.reader.read(this.base + fsOffset, length, signal);
  }

  async #loadGroups(signal?: AbortSignal): Promise<void> {
    const { groupCount, descSize, incompat } = this.sb;
    const bs = this.blockSize;
    const perBlock = this.#descPerBlock;
    const descBlocks = Math.ceil(groupCount / perBlock);
    const metaBg = (incompat & INCOMPAT_META_BG) !== 0;
    const locate = (i: number): number => {
      if (!metaBg || i < this.sb.firstMetaBg) return this.sb.firstDataBlock + 1 + i;
      const g = i * perBlock;
      return this.#groupFirst(g) + (this.#hasSuper(g) ? 1 : 0);
    };
    const meta: Array<[number, number]> = [];
    // Descriptor blocks, read in contiguous runs.
    const raw: Uint8Array[] = [];
    for (let i = 0; i < descBlocks;) {
      let n = 1;
      const start = locate(i);
      while (i + n < descBlocks && locate(i + n) === start + n && n < 1024) n++;
      this.#checkBlock(start + n - 1, 'ext4 group descriptor table', start * bs);
      const bytes = await this.#readFs(start * bs, n * bs, signal);
      for (let k = 0; k < n; k++) raw.push(bytes.subarray(k * bs, (k + 1) * bs));
      meta.push([start, start + n]);
      i += n;
    }
    const is64 = (incompat & INCOMPAT_64BIT) !== 0 && descSize >= 64;
    const itBlocks = Math.ceil((this.sb.inodesPerGroup * this.sb.inodeSize) / bs);
    for (let g = 0; g < groupCount; g++) {
      const d = raw[Math.floor(g / perBlock)]!;
      const o = (g % perBlock) * descSize;
      const hi = (lo: number, hiOff: number) => lo + (is64 ? le32(d, o + hiOff) * 0x100000000 : 0);
      const desc: GroupDesc = {
        blockBitmap: hi(le32(d, o), 0x20),
        inodeBitmap: hi(le32(d, o + 4), 0x24),
        inodeTable: hi(le32(d, o + 8), 0x28),
        flags: le16(d, o + 0x12),
      };
      const where = locate(Math.floor(g / perBlock)) * bs + o;
      this.#checkBlock(desc.blockBitmap, `ext4 group descriptor ${g} (block bitmap)`, where);
      this.#checkBlock(desc.inodeBitmap, `ext4 group descriptor ${g} (inode bitmap)`, where);
      this.#checkBlock(desc.inodeTable + itBlocks - 1, `ext4 group descriptor ${g} (inode table)`, where);
      this.#groups.push(desc);
      meta.push([desc.blockBitmap, desc.blockBitmap + 1], [desc.inodeBitmap, desc.inodeBitmap + 1], [desc.inodeTable, desc.inodeTable + itBlocks]);
      this.#tables.push({ start: desc.inodeTable, group: g });
      if (this.#hasSuper(g)) {
        // Superblock copy, then (without meta_bg) the descriptor table copy and its reserved growth blocks.
        const first = g === 0 ? 0 : this.#groupFirst(g);
        const extra = metaBg ? Math.min(descBlocks, this.sb.firstMetaBg) : descBlocks;
        meta.push([first, this.#groupFirst(g) + 1 + extra + this.sb.reservedGdt]);
      }
    }
    this.#tables.sort((a, b) => a.start - b.start);
    this.#meta = mergeRuns(meta);
  }

  async #loadJournal(signal?: AbortSignal): Promise<void> {
    const j = this.sb.journalInum;
    if (!j) return;
    const inode = await this.#inode(j, signal);
    const { extents, mapBlocks } = await this.#mapping(inode, signal);
    const runs: Array<[number, number]> = extents.map((e) => [e.fsOffset / this.blockSize, (e.fsOffset + e.length) / this.blockSize]);
    for (const m of mapBlocks) runs.push([m, m + 1]);
    this.#journal = mergeRuns(runs);
  }

  /** fs byte offset of an inode's slot. */
  #inodeOffset(id: number): number {
    if (!Number.isSafeInteger(id) || id < 1 || id > this.sb.inodesCount) {
      throw this.#fail('ext4 inode', SUPERBLOCK_OFFSET, `inode ${id} does not exist (the filesystem has ${this.sb.inodesCount})`);
    }
    const g = Math.floor((id - 1) / this.sb.inodesPerGroup);
    const i = (id - 1) % this.sb.inodesPerGroup;
    return this.#groups[g]!.inodeTable * this.blockSize + i * this.sb.inodeSize;
  }

  async #inode(id: number, signal?: AbortSignal): Promise<Inode> {
    const offset = this.#inodeOffset(id);
    const b = await this.#readFs(offset, this.sb.inodeSize, signal);
    const mode = le16(b, 0);
    const flags = le32(b, 0x20);
    const extra = this.sb.inodeSize > 128 ? le16(b, 0x80) : 0;
    if (extra && (extra < 4 || 128 + extra > this.sb.inodeSize))
      throw this.#fail(`ext4 inode ${id}`, offset, `extra size ${extra} does not fit a ${this.sb.inodeSize}-byte inode`);
    const seconds = s32(b, 0x10);
    let mtimeMs = seconds * 1000;
    if (extra >= 12) {
      const mx = le32(b, 0x88);
      mtimeMs = (seconds + (mx & 3) * 0x100000000) * 1000 + Math.floor((mx >>> 2) / 1e6);
    }
    const sizeHi = le32(b, 0x6c);
    const size = le32(b, 0x04) + sizeHi * 0x100000000;
    if (!Number.isSafeInteger(size) || size > 2 ** 50) throw this.#fail(`ext4 inode ${id}`, offset, `size ${size} is not possible`);
    let blocks512 = le32(b, 0x1c) + ((this.sb.roCompat & RO_COMPAT_HUGE_FILE) !== 0 ? le16(b, 0x74) * 0x100000000 : 0);
    if ((this.sb.roCompat & RO_COMPAT_HUGE_FILE) !== 0 && flags & FL_HUGE_FILE) blocks512 *= this.blockSize / 512;
    return {
      id,
      offset,
      mode,
      size,
      links: le16(b, 0x1a),
      flags,
      generation: le32(b, 0x64),
      mtime: new Date(mtimeMs),
      blocks512,
      fileAcl: le32(b, 0x68) + le16(b, 0x76) * 0x100000000,
      iBlock: b.subarray(0x28, 0x28 + 60),
      raw: b,
    };
  }

  async stat(id: FileId, signal?: AbortSignal): Promise<FileStat> {
    const inode = await this.#inode(id, signal);
    return {
      id,
      generation: inode.generation,
      type: fileTypeOfMode(inode.mode),
      sizeBytes: inode.size,
      modified: inode.mtime,
      links: inode.mode === 0 ? 0 : inode.links,
    };
  }

  internalFile(id: FileId): boolean {
    return id !== this.rootId && id < this.sb.firstIno;
  }

  async recordRange(id: FileId): Promise<FsRange> {
    return { offset: this.#inodeOffset(id), length: this.sb.inodeSize };
  }

  async recordsIn(ranges: readonly FsRange[]): Promise<FileId[]> {
    const bs = this.blockSize;
    const tableBytes = this.sb.inodesPerGroup * this.sb.inodeSize;
    const ids = new Set<number>();
    for (const r of ranges) {
      const end = r.offset + r.length;
      // Tables are sorted by start; find the first that may overlap.
      let lo = 0;
      let hi = this.#tables.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (this.#tables[mid]!.start * bs + tableBytes <= r.offset) lo = mid + 1;
        else hi = mid;
      }
      for (let t = lo; t < this.#tables.length; t++) {
        const table = this.#tables[t]!;
        const start = table.start * bs;
        if (start >= end) break;
        const from = Math.max(r.offset, start);
        const to = Math.min(end, start + tableBytes);
        if (to <= from) continue;
        const first = Math.floor((from - start) / this.sb.inodeSize);
        const last = Math.floor((to - 1 - start) / this.sb.inodeSize);
        for (let i = first; i <= last; i++) {
          const id = table.group * this.sb.inodesPerGroup + i + 1;
          if (id <= this.sb.inodesCount) ids.add(id);
        }
      }
    }
    return [...ids].sort((a, b) => a - b);
  }

  async extents(id: FileId, signal?: AbortSignal): Promise<Extent[]> {
    return (await this.#mappingOf(id, signal)).extents;
  }

  async mappingRanges(id: FileId, signal?: AbortSignal): Promise<FsRange[]> {
    const { mapBlocks } = await this.#mappingOf(id, signal);
    const bs = this.blockSize;
    return mergeRuns(mapBlocks.map((b) => [b, b + 1])).map(([s, e]) => ({ offset: s * bs, length: (e - s) * bs }));
  }

  async #mappingOf(id: FileId, signal?: AbortSignal): Promise<Mapping> {
    let m = this.#mappings.get(id);
    if (!m) {
      m = this.#inode(id, signal).then((inode) => this.#mapping(inode, signal));
      m.catch(() => this.#mappings.delete(id));
      this.#mappings.set(id, m);
      if (this.#mappings.size > EXTENT_CACHE_FILES) this.#mappings.delete(this.#mappings.keys().next().value!);
    }
    return m;
  }

  /** Fast symlinks and inline data keep the bytes in the inode: no blocks to map. */
  #inInode(inode: Inode): boolean {
    if (inode.flags & FL_INLINE_DATA) return true;
    if (fileTypeOfMode(inode.mode) !== 'symlink') return false;
    const aclSectors = inode.fileAcl ? this.blockSize / 512 : 0;
    return inode.size < 60 && inode.blocks512 - aclSectors === 0;
  }

  async #mapping(inode: Inode, signal?: AbortSignal): Promise<Mapping> {
    if (inode.mode === 0 || this.#inInode(inode)) return { extents: [], mapBlocks: [] };
    const type = fileTypeOfMode(inode.mode);
    if (type === 'other') return { extents: [], mapBlocks: [] };
    return inode.flags & FL_EXTENTS ? this.#extentTree(inode, signal) : this.#blockMap(inode, signal);
  }

  async #extentTree(inode: Inode, signal?: AbortSignal): Promise<Mapping> {
    const bs = this.blockSize;
    const extents: Extent[] = [];
    const mapBlocks: number[] = [];
    const seen = new Set<number>();
    const structure = `ext4 inode ${inode.id} extent tree`;
    const walk = async (node: Uint8Array, where: number, expectDepth: number | undefined, capacity: number): Promise<void> => {
      signal?.throwIfAborted();
      if (le16(node, 0) !== EXTENT_MAGIC) throw this.#fail(structure, where, `node has magic 0x${le16(node, 0).toString(16)} (expected 0xf30a)`);
      const entries = le16(node, 2);
      const max = le16(node, 4);
      const depth = le16(node, 6);
      if (max > capacity || entries > max) throw this.#fail(structure, where, `node claims ${entries} of ${max} entries, room for ${capacity}`);
      if (depth > MAX_EXTENT_DEPTH || (expectDepth !== undefined && depth !== expectDepth)) {
        throw this.#fail(structure, where, `node depth ${depth} is not possible here${expectDepth !== undefined ? ` (expected ${expectDepth})` : ''}`);
      }
      for (let i = 0; i < entries; i++) {
        const e = 12 + i * 12;
        if (depth === 0) {
          const logical = le32(node, e);
          let len = le16(node, e + 4);
          const unwritten = len > 32768;
          if (unwritten) len -= 32768;
          const start = le16(node, e + 6) * 0x100000000 + le32(node, e + 8);
          if (len === 0) continue;
          this.#checkBlock(start, structure, where + e);
          this.#checkBlock(start + len - 1, structure, where + e);
          const prev = extents[extents.length - 1];
          if (prev && logical * bs < prev.fileOffset + prev.length) {
            throw this.#fail(structure, where + e, `extent at file block ${logical} overlaps or precedes the one before it`);
          }
          extents.push({ fileOffset: logical * bs, fsOffset: start * bs, length: len * bs, ...(unwritten ? { unwritten: true } : {}) });
        } else {
          const child = le16(node, e + 8) * 0x100000000 + le32(node, e + 4);
          this.#checkBlock(child, structure, where + e);
          if (seen.has(child)) throw this.#fail(structure, where + e, `node block ${child} is referenced twice (a loop)`);
          seen.add(child);
          mapBlocks.push(child);
          const bytes = await this.#readFs(child * bs, bs, signal);
          await walk(bytes, child * bs, depth - 1, Math.floor((bs - 12) / 12));
        }
      }
    };
    await walk(inode.iBlock, inode.offset + 0x28, undefined, 4);
    return { extents: coalesce(extents), mapBlocks };
  }

  /** ext2/ext3 block maps: 12 direct pointers, then single, double and triple indirect blocks. */
  async #blockMap(inode: Inode, signal?: AbortSignal): Promise<Mapping> {
    const bs = this.blockSize;
    const per = bs / 4;
    const total = Math.ceil(inode.size / bs);
    const extents: Extent[] = [];
    const mapBlocks: number[] = [];
    const structure = `ext4 inode ${inode.id} block map`;
    const add = (logical: number, block: number, where: number) => {
      if (block === 0 || logical >= total) return;
      this.#checkBlock(block, structure, where);
      extents.push({ fileOffset: logical * bs, fsOffset: block * bs, length: bs });
    };
    for (let i = 0; i < 12; i++) add(i, le32(inode.iBlock, i * 4), inode.offset + 0x28 + i * 4);
    const indirect = async (block: number, level: number, firstLogical: number, where: number): Promise<void> => {
      if (block === 0 || firstLogical >= total) return;
      signal?.throwIfAborted();
      this.#checkBlock(block, structure, where);
      mapBlocks.push(block);
      const b = await this.#readFs(block * bs, bs, signal);
      const span = per ** (level - 1);
      for (let i = 0; i < per; i++) {
        const p = le32(b, i * 4);
        const logical = firstLogical + i * span;
        if (logical >= total) break;
        if (level === 1) add(logical, p, block * bs + i * 4);
        else await indirect(p, level - 1, logical, block * bs + i * 4);
      }
    };
    await indirect(le32(inode.iBlock, 48), 1, 12, inode.offset + 0x28 + 48);
    await indirect(le32(inode.iBlock, 52), 2, 12 + per, inode.offset + 0x28 + 52);
    await indirect(le32(inode.iBlock, 56), 3, 12 + per + per * per, inode.offset + 0x28 + 56);
    return { extents: coalesce(extents), mapBlocks };
  }

  /** Inline data: the 60 bytes of i_block, then the value of the in-inode "system.data" attribute. */
  #inlineData(inode: Inode): Uint8Array {
    const head = inode.iBlock;
    if (!(inode.flags & FL_INLINE_DATA)) return head.subarray(0, Math.min(60, inode.size));
    const b = inode.raw;
    const extra = this.sb.inodeSize > 128 ? le16(b, 0x80) : 0;
    const start = 128 + extra;
    let rest: Uint8Array = new Uint8Array(0);
    if (start + 4 <= b.length && le32(b, start) === 0xea020000) {
      const first = start + 4;
      for (let e = first, n = 0; e + 16 <= b.length && n < 64; n++) {
        const nameLen = b[e]!;
        const index = b[e + 1]!;
        if (nameLen === 0 && index === 0 && le32(b, e) === 0) break;
        const valueOffs = le16(b, e + 2);
        const valueSize = le32(b, e + 8);
        const name = String.fromCharCode(...b.subarray(e + 16, e + 16 + nameLen));
        if (index === 7 && name === 'data') {
          if (first + valueOffs + valueSize > b.length)
            throw this.#fail(`ext4 inode ${inode.id} inline data`, inode.offset + e, 'attribute value lies outside the inode');
          rest = b.subarray(first + valueOffs, first + valueOffs + valueSize);
          break;
        }
        e += (16 + nameLen + 3) & ~3;
      }
    }
    const out = new Uint8Array(60 + rest.length);
    out.set(head, 0);
    out.set(rest, 60);
    return out;
  }

  async readFile(id: FileId, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const inode = await this.#inode(id, signal);
    const end = Math.min(inode.size, offset + length);
    if (offset >= end) return new Uint8Array(0);
    if (end - offset > MAX_READ_BYTES) {
      throw this.#fail(`ext4 inode ${id}`, inode.offset, `a read of ${end - offset} bytes at once is more than ${MAX_READ_BYTES}; read the file in pieces`);
    }
    if (this.#inInode(inode)) {
      const data = this.#inlineData(inode);
      const out = new Uint8Array(end - offset);
      out.set(data.subarray(Math.min(offset, data.length), Math.min(end, data.length)));
      return out;
    }
    const { extents } = await this.#mappingOf(id, signal);
    const out = new Uint8Array(end - offset);
    const reads: Array<Promise<void>> = [];
    for (const e of extents) {
      const from = Math.max(offset, e.fileOffset);
      const to = Math.min(end, e.fileOffset + e.length);
      if (to <= from || e.unwritten) continue;
      reads.push(this.#readFs(e.fsOffset + (from - e.fileOffset), to - from, signal).then((bytes) => out.set(bytes, from - offset)));
    }
    await Promise.all(reads);
    return out;
  }

  async readLink(id: FileId, signal?: AbortSignal): Promise<string> {
    const inode = await this.#inode(id, signal);
    if (fileTypeOfMode(inode.mode) !== 'symlink') throw this.#fail(`ext4 inode ${id}`, inode.offset, 'is not a symbolic link');
    if (inode.size > this.blockSize) throw this.#fail(`ext4 inode ${id}`, inode.offset, `symbolic link target of ${inode.size} bytes is longer than a block`);
    return new TextDecoder().decode(await this.readFile(id, 0, inode.size, signal));
  }

  async readDir(id: FileId, signal?: AbortSignal): Promise<DirEntry[]> {
    const inode = await this.#inode(id, signal);
    if (fileTypeOfMode(inode.mode) !== 'dir') throw this.#fail(`ext4 inode ${id}`, inode.offset, 'is not a directory');
    if (inode.size > this.sizeBytes) throw this.#fail(`ext4 inode ${id}`, inode.offset, `directory size ${inode.size} exceeds the filesystem`);
    if (inode.flags & FL_INLINE_DATA) {
      const data = this.#inlineData(inode);
      const out: DirEntry[] = [];
      // Inline directories start with the parent's inode number instead of "." and "..".
      this.#parseEntries(data.subarray(4, 60), id, inode.offset + 0x28 + 4, out, false);
      if (data.length > 60) this.#parseEntries(data.subarray(60), id, inode.offset, out, false);
      return out;
    }
    const { extents } = await this.#mappingOf(id, signal);
    const out: DirEntry[] = [];
    const bs = this.blockSize;
    for (const e of extents) {
      if (e.unwritten) continue;
      const len = Math.min(e.length, Math.max(0, inode.size - e.fileOffset));
      for (let pos = 0; pos < len; pos += bs) {
        signal?.throwIfAborted();
        const block = await this.#readFs(e.fsOffset + pos, bs, signal);
        this.#parseEntries(block, id, e.fsOffset + pos, out, true);
      }
    }
    return out;
  }

  #parseEntries(b: Uint8Array, dir: number, where: number, out: DirEntry[], wholeBlock: boolean): void {
    const hasType = (this.sb.incompat & INCOMPAT_FILETYPE) !== 0;
    const structure = `ext4 directory ${dir} entry`;
    let o = 0;
    while (o + 8 <= b.length) {
      const ino = le32(b, o);
      const recLen = le16(b, o + 4);
      const real = recLen === 0 && wholeBlock && b.length === 65536 ? 65536 : recLen;
      const nameLen = b[o + 6]!;
      if (real < 8 || real % 4 !== 0 || o + real > b.length) throw this.#fail(structure, where + o, `record length ${recLen} is not possible`);
      if (ino !== 0) {
        if (nameLen + 8 > real) throw this.#fail(structure, where + o, `name of ${nameLen} bytes does not fit a ${real}-byte record`);
        if (ino > this.sb.inodesCount) throw this.#fail(structure, where + o, `names inode ${ino}, which does not exist`);
        const nameBytes = b.subarray(o + 8, o + 8 + nameLen);
        const name = new TextDecoder().decode(nameBytes);
        if (name !== '.' && name !== '..' && nameLen > 0) {
          if (this.sb.incompat & INCOMPAT_ENCRYPT && name.includes('/')) throw this.#fail(structure, where + o, 'name holds a "/"');
          const type = hasType ? fileTypeOfDirent(b[o + 7]!) : undefined;
          out.push(type ? { name, id: ino, type } : { name, id: ino });
        }
      }
      o += real;
    }
  }

  async #blockBitmap(g: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    let p: Promise<Uint8Array | undefined> | undefined = this.#bitmaps.get(g);
    if (!p) {
      const desc = this.#groups[g]!;
      const uninitOk = (this.sb.roCompat & (RO_COMPAT_GDT_CSUM | RO_COMPAT_METADATA_CSUM)) !== 0;
      p = uninitOk && desc.flags & BG_BLOCK_UNINIT ? Promise.resolve(undefined) : this.#readFs(desc.blockBitmap * this.blockSize, this.blockSize, signal);
      p.catch(() => this.#bitmaps.delete(g));
      this.#bitmaps.set(g, p);
      if (this.#bitmaps.size > 4096) this.#bitmaps.delete(this.#bitmaps.keys().next().value!);
    }
    return p;
  }

  async #kind(block: number, signal?: AbortSignal): Promise<SpaceKind> {
    if (block >= this.sb.blocksCount) return 'free';
    if (inRuns(this.#meta, block)) return 'metadata';
    if (inRuns(this.#journal, block)) return 'journal';
    if (block < this.sb.firstDataBlock) return 'metadata';
    const g = Math.floor((block - this.sb.firstDataBlock) / this.sb.blocksPerGroup);
    const bitmap = await this.#blockBitmap(g, signal);
    if (!bitmap) return 'free';
    const bit = (block - this.sb.firstDataBlock) % this.sb.blocksPerGroup;
    return bitmap[bit >> 3]! & (1 << (bit & 7)) ? 'data' : 'free';
  }

  async classify(ranges: readonly FsRange[], signal?: AbortSignal): Promise<Array<FsRange & { kind: SpaceKind }>> {
    const bs = this.blockSize;
    const out: Array<FsRange & { kind: SpaceKind }> = [];
    const push = (offset: number, length: number, kind: SpaceKind) => {
      const last = out[out.length - 1];
      if (last && last.kind === kind && last.offset + last.length === offset) out[out.length - 1] = { ...last, length: last.length + length };
      else out.push({ offset, length, kind });
    };
    for (const r of ranges) {
      let pos = r.offset;
      const end = r.offset + r.length;
      while (pos < end) {
        signal?.throwIfAborted();
        const block = Math.floor(pos / bs);
        const next = Math.min(end, (block + 1) * bs);
        push(pos, next - pos, await this.#kind(block, signal));
        pos = next;
      }
    }
    return out;
  }

  async *allFiles(signal?: AbortSignal): AsyncIterable<FileId> {
    const ipg = this.sb.inodesPerGroup;
    const uninitOk = (this.sb.roCompat & (RO_COMPAT_GDT_CSUM | RO_COMPAT_METADATA_CSUM)) !== 0;
    for (let g = 0; g < this.#groups.length; g++) {
      signal?.throwIfAborted();
      const desc = this.#groups[g]!;
      if (uninitOk && desc.flags & BG_INODE_UNINIT) continue;
      const bitmap = await this.#readFs(desc.inodeBitmap * this.blockSize, this.blockSize, signal);
      for (let i = 0; i < ipg; i++) {
        if (!(bitmap[i >> 3]! & (1 << (i & 7)))) continue;
        const id = g * ipg + i + 1;
        if (id > this.sb.inodesCount) break;
        if (id === this.rootId || id >= this.sb.firstIno) yield id;
      }
    }
  }
}

function mergeRuns(runs: Array<[number, number]>): Array<[number, number]> {
  const sorted = runs.filter(([s, e]) => e > s).sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

function inRuns(runs: Array<[number, number]>, x: number): boolean {
  let lo = 0;
  let hi = runs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (runs[mid]![1] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo < runs.length && runs[lo]![0] <= x;
}

function coalesce(extents: Extent[]): Extent[] {
  const out: Extent[] = [];
  for (const e of extents) {
    const last = out[out.length - 1];
    if (last && !last.unwritten === !e.unwritten && last.fileOffset + last.length === e.fileOffset && last.fsOffset + last.length === e.fsOffset) {
      out[out.length - 1] = { ...last, length: last.length + e.length };
    } else out.push(e);
  }
  return out;
}
