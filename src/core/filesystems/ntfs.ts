/**
 * NTFS reader: boot sector, $MFT (its own, possibly fragmented, data runs read from record 0 and its
 * attribute list), update sequence fixups on every multi-sector record, $ATTRIBUTE_LIST,
 * $STANDARD_INFORMATION, $FILE_NAME, resident and non-resident $DATA (sparse runs included),
 * $INDEX_ROOT / $INDEX_ALLOCATION directories, symbolic links (reparse points and the Interix form
 * ntfs-3g writes), the volume label, $Bitmap.
 *
 * On-disk layout: ntfs-3g's include/ntfs-3g/layout.h and the Linux kernel's fs/ntfs3/ntfs.h (both
 * public); all fields are little-endian.
 */
import {
  FilesystemError,
  type BlockReader,
  type DirEntry,
  type Extent,
  type FileId,
  type FileStat,
  type FileType,
  type Filesystem,
  type FilesystemFormat,
  type FsRange,
  type SpaceKind,
} from './types';
import { RecentRecords } from './recentRecords';

/** Runs of changed MFT records recordsIn scans at once (each a read of the snapshot). */
const RECORD_RUNS_IN_FLIGHT = 16;
const AT_STANDARD_INFORMATION = 0x10;
const AT_ATTRIBUTE_LIST = 0x20;
const AT_FILE_NAME = 0x30;
const AT_VOLUME_NAME = 0x60;
const AT_DATA = 0x80;
const AT_INDEX_ROOT = 0x90;
const AT_INDEX_ALLOCATION = 0xa0;
const AT_REPARSE_POINT = 0xc0;
const AT_END = 0xffffffff;

const ATTR_COMPRESSED = 0x0001;
const ATTR_ENCRYPTED = 0x4000;

const REC_IN_USE = 0x1;
const REC_DIRECTORY = 0x2;

const FILE_ATTR_SYSTEM = 0x4;
const FILE_ATTR_REPARSE = 0x400;
const FILE_NAME_IS_DIR = 0x10000000;

const NS_DOS = 2;

const TAG_SYMLINK = 0xa000000c;
const TAG_MOUNT_POINT = 0xa0000003;
const TAG_LX_SYMLINK = 0xa000001d;

/** Records 0-15 are the filesystem's own files ($MFT ... $Extend and reserved); 5 is the root directory. */
const FIRST_USER_RECORD = 16;
const ROOT_RECORD = 5;
const EXTEND_RECORD = 11;
const LOGFILE_RECORD = 2;

const SECTOR = 512;
const READ_CHUNK = 4 * 1024 * 1024;
const RECENT_LIMIT = 256;
/** MFT records are read by the 16 KiB window of the disk they sit in (16 records of 1 KiB). */
const RECORD_WINDOW = 16 * 1024;
/** Runs of at most this many changed records are prefetched (longer ones are read in large pieces)... */
const SHORT_RUN = 64;
/** ...this many records at a time, so that a batch stays well inside a reader's cache. */
const PREFETCH_BATCH = 1024;
const GROUPS_KEPT = 64;
const BITMAP_PAGE = 64 * 1024;
const BITMAP_PAGES_KEPT = 64;
const MAX_READ = 2 ** 31;
/** Directory indexes larger than this are read block by block rather than in one read. */
const MAX_INDEX_READ = 64 * 1024 * 1024;
const FILETIME_UNIX_EPOCH_MS = 11644473600000;

interface Boot {
  bytesPerSector: number;
  clusterSize: number;
  totalSectors: number;
  clusters: number;
  mftLcn: number;
  recordSize: number;
  indexBlockSize: number;
}

interface Run {
  vcn: number;
  /** null: a sparse run (no clusters). */
  lcn: number | null;
  length: number;
}

interface Attr {
  type: number;
  name: string;
  flags: number;
  nonResident: boolean;
  value?: Uint8Array;
  startVcn: number;
  runs: Run[];
  allocatedSize: number;
  dataSize: number;
  initializedSize: number;
  compressionUnit: number;
  /** Absolute byte offset of the attribute header, for errors. */
  at: number;
}

interface MftRecord {
  no: number;
  seq: number;
  flags: number;
  baseRecord: number;
  attrs: Attr[];
  at: number;
}

interface DataStream {
  resident: boolean;
  value?: Uint8Array;
  runs: Run[];
  dataSize: number;
  initializedSize: number;
  flags: number;
  at: number;
}

function le(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function u64(dv: DataView, at: number, err: () => FilesystemError): number {
  const v = dv.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw err();
  return Number(v);
}

function utf16(b: Uint8Array, at: number, chars: number): string {
  let s = '';
  const dv = le(b);
  for (let i = 0; i < chars; i++) s += String.fromCharCode(dv.getUint16(at + i * 2, true));
  return s;
}

function filetime(dv: DataView, at: number): Date {
  const t = dv.getBigUint64(at, true);
  return new Date(Number(t / 10000n) - FILETIME_UNIX_EPOCH_MS);
}

function parseBoot(b: Uint8Array, at: number, sizeBytes: number): Boot {
  const err = (d: string) => new FilesystemError('NTFS boot sector', at, d);
  if (new TextDecoder().decode(b.subarray(3, 11)) !== 'NTFS    ') throw err('wrong OEM id (not NTFS)');
  const dv = le(b);
  const bytesPerSector = dv.getUint16(11, true);
  if (![512, 1024, 2048, 4096].includes(bytesPerSector)) throw err(`bad sector size ${bytesPerSector}`);
  const spc = dv.getUint8(13);
  // Values above 0x80 are negative powers of two (cluster sizes above 64 KiB, Windows 10 1903+).
  const sectorsPerCluster = spc <= 0x80 ? spc : 2 ** (256 - spc);
  const clusterSize = bytesPerSector * sectorsPerCluster;
  if (spc === 0 || (sectorsPerCluster & (sectorsPerCluster - 1)) !== 0 || clusterSize > 2 * 1024 * 1024) throw err(`bad sectors per cluster ${spc}`);
  const totalSectors = u64(dv, 40, () => err('sector count out of range'));
  const clusters = Math.floor(totalSectors / sectorsPerCluster);
  if (totalSectors * bytesPerSector > sizeBytes) {
    throw err(`volume of ${totalSectors * bytesPerSector} bytes is larger than its ${sizeBytes}-byte partition (truncated image?)`);
  }
  const mftLcn = u64(dv, 48, () => err('$MFT cluster out of range'));
  if (mftLcn >= clusters) throw err(`$MFT cluster ${mftLcn} outside the ${clusters}-cluster volume`);
  const sizeOf = (v: number, what: string) => {
    const signed = v > 127 ? v - 256 : v;
    const size = signed < 0 ? 2 ** -signed : signed * clusterSize;
    if (signed === 0 || signed < -31 || size < 256 || size > 65536 || (size & (size - 1)) !== 0) throw err(`bad ${what} size ${signed}`);
    return size;
  };
  return {
    bytesPerSector,
    clusterSize,
    totalSectors,
    clusters,
    mftLcn,
    recordSize: sizeOf(dv.getUint8(64), 'MFT record'),
    indexBlockSize: sizeOf(dv.getUint8(68), 'index block'),
  };
}

/**
 * A copy of a multi-sector record with its update sequence array applied. Never in place: the bytes may be
 * a block reader's cache, and fixing them twice would read as a torn record.
 */
function withFixups(record: Uint8Array, structure: string, at: number): Uint8Array {
  // A copy even when the bytes are a Node Buffer, whose slice() is a view.
  const b = new Uint8Array(record);
  const dv = le(b);
  const usaOfs = dv.getUint16(4, true);
  const usaCount = dv.getUint16(6, true);
  if (usaCount < 2 || usaOfs < 8 || usaOfs % 2 !== 0 || usaOfs + usaCount * 2 > b.length || (usaCount - 1) * SECTOR !== b.length) {
    throw new FilesystemError(structure, at, `bad update sequence array (offset ${usaOfs}, count ${usaCount}) for a ${b.length}-byte record`);
  }
  const usn = dv.getUint16(usaOfs, true);
  for (let i = 1; i < usaCount; i++) {
    const end = i * SECTOR - 2;
    if (dv.getUint16(end, true) !== usn) {
      throw new FilesystemError(structure, at + end, `update sequence number mismatch in sector ${i - 1} (torn or corrupted record)`);
    }
    dv.setUint16(end, dv.getUint16(usaOfs + i * 2, true), true);
  }
  return b;
}

/** Decodes a mapping-pairs array into runs. */
function decodeRuns(b: Uint8Array, start: number, end: number, firstVcn: number, clusters: number, structure: string, at: number): Run[] {
  const runs: Run[] = [];
  let p = start;
  let vcn = firstVcn;
  let lcn = 0;
  while (p < end) {
    const header = b[p];
    if (header === 0) break;
    const lenBytes = header & 0xf;
    const offBytes = header >> 4;
    if (lenBytes === 0 || lenBytes > 8 || offBytes > 8 || p + 1 + lenBytes + offBytes > end) {
      throw new FilesystemError(structure, at + p, `bad mapping pair header 0x${header.toString(16)}`);
    }
    let length = 0;
    for (let i = lenBytes - 1; i >= 0; i--) length = length * 256 + b[p + 1 + i];
    let delta = 0;
    if (offBytes > 0) {
      let v = 0n;
      for (let i = offBytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[p + 1 + lenBytes + i]);
      if (b[p + lenBytes + offBytes] & 0x80) v -= 1n << BigInt(offBytes * 8);
      delta = Number(v);
    }
    if (length <= 0 || length > clusters) throw new FilesystemError(structure, at + p, `run of ${length} clusters`);
    if (offBytes === 0) runs.push({ vcn, lcn: null, length });
    else {
      lcn += delta;
      if (lcn < 0 || lcn + length > clusters)
        throw new FilesystemError(structure, at + p, `run of ${length} clusters at cluster ${lcn} lies outside the ${clusters}-cluster volume`);
      runs.push({ vcn, lcn, length });
    }
    vcn += length;
    p += 1 + lenBytes + offBytes;
  }
  return runs;
}

class NtfsFilesystem implements Filesystem {
  readonly type = 'ntfs' as const;
  label = '';
  readonly blockSize: number;
  readonly sizeBytes: number;
  readonly rootId: FileId = ROOT_RECORD;
  private mftRuns: Run[] = [];
  private mftSize = 0;
  private fixedAreas?: Promise<Array<[number, number, SpaceKind]>>;
  private bitmapStream?: Promise<DataStream>;
  private readonly bitmapPages = new Map<number, Promise<Uint8Array>>();

  constructor(
    private readonly reader: BlockReader,
    private readonly base: number,
    private readonly boot: Boot,
  ) {
    this.blockSize = boot.clusterSize;
    this.sizeBytes = boot.totalSectors * boot.bytesPerSector;
  }

  private async read(fsOffset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    return this.reader.read(this.base + fsOffset, length, signal);
  }

  /** Reads `length` bytes at byte `offset` of a stream given by runs; sparse runs and bytes past `initialized` read as zeros. */
  private async readRuns(runs: Run[], offset: number, length: number, initialized: number, signal?: AbortSignal): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    const cs = this.boot.clusterSize;
    const end = Math.min(offset + length, initialized);
    // Runs that follow each other on disk are read together.
    let pending: { file: number; disk: number; len: number } | undefined;
    const flush = async () => {
      if (!pending) return;
      const data = await this.read(pending.disk, pending.len, signal);
      out.set(data, pending.file - offset);
      pending = undefined;
    };
    for (const r of runs) {
      const rStart = r.vcn * cs;
      const rEnd = rStart + r.length * cs;
      if (rEnd <= offset || rStart >= end) continue;
      if (r.lcn === null) {
        await flush();
        continue;
      }
      const from = Math.max(rStart, offset);
      const to = Math.min(rEnd, end);
      const disk = r.lcn * cs + (from - rStart);
      if (pending && pending.disk + pending.len === disk && pending.file + pending.len === from && pending.len + (to - from) <= READ_CHUNK * 16) {
        pending.len += to - from;
      } else {
        await flush();
        pending = { file: from, disk, len: to - from };
      }
    }
    await flush();
    return out;
  }

  // ---- MFT records ----

  /** Where byte `byte` of the $MFT stream lies on disk (filesystem offset), or undefined when unmapped. */
  private mftByteAt(byte: number): number | undefined {
    const cs = this.boot.clusterSize;
    for (const r of this.mftRuns) {
      const rStart = r.vcn * cs;
      if (byte >= rStart && byte < rStart + r.length * cs) return r.lcn === null ? undefined : r.lcn * cs + (byte - rStart);
    }
    return undefined;
  }

  private recordBytesAt(no: number): number {
    const at = this.mftByteAt(no * this.boot.recordSize);
    if (at === undefined)
      throw new FilesystemError(`NTFS MFT record ${no}`, this.base + this.boot.mftLcn * this.boot.clusterSize, 'record outside the $MFT data runs');
    return at;
  }

  private async rawRecord(no: number, signal?: AbortSignal): Promise<{ bytes: Uint8Array; at: number }> {
    const rs = this.boot.recordSize;
    if (!Number.isSafeInteger(no) || no < 0 || (no + 1) * rs > this.mftSize) {
      throw new FilesystemError(
        `NTFS MFT record ${no}`,
        this.base + this.boot.mftLcn * this.boot.clusterSize,
        `record number outside the ${this.mftSize}-byte $MFT`,
      );
    }
    const at = this.recordBytesAt(no);
    // Records are read by the aligned window of the disk they sit in: files made together sit together,
    // so a walk reads each window once, and a window is what a cache in the reader (aligned to the disk)
    // holds. A record that straddles two windows (a partition not aligned to them) is read by itself.
    const diskAt = this.base + at;
    const win = Math.floor(diskAt / RECORD_WINDOW) * RECORD_WINDOW;
    if (diskAt + rs > win + RECORD_WINDOW || win + RECORD_WINDOW > this.reader.size) {
      return { bytes: await this.reader.read(diskAt, rs, signal), at: diskAt };
    }
    let p = this.groups.get(win);
    if (!p) {
      p = this.reader.read(win, RECORD_WINDOW, signal);
      this.groups.set(win, p);
      if (this.groups.size > GROUPS_KEPT) this.groups.delete(this.groups.keys().next().value as number);
      const mine = p;
      p.catch(() => {
        if (this.groups.get(win) === mine) this.groups.delete(win);
      });
    }
    const group = await p;
    return { bytes: group.subarray(diskAt - win, diskAt - win + rs), at: diskAt };
  }

  private readonly groups = new Map<number, Promise<Uint8Array>>();

  private parseRecord(no: number, raw: Uint8Array, at: number): MftRecord {
    const structure = `NTFS MFT record ${no}`;
    if (le(raw).getUint32(0, true) !== 0x454c4946) throw new FilesystemError(structure, at, 'wrong magic (not a FILE record)');
    const b = withFixups(raw, structure, at);
    const dv = le(b);
    const flags = dv.getUint16(22, true);
    const attrOfs = dv.getUint16(20, true);
    const used = Math.min(dv.getUint32(24, true), b.length);
    const baseRef = dv.getBigUint64(32, true) & 0xffffffffffffn;
    const rec: MftRecord = { no, seq: dv.getUint16(16, true), flags, baseRecord: Number(baseRef), attrs: [], at };
    if (attrOfs < 24 || attrOfs >= used) throw new FilesystemError(structure, at, `attribute offset ${attrOfs} outside the ${used} bytes in use`);
    let p = attrOfs;
    while (p + 4 <= used) {
      const type = dv.getUint32(p, true);
      if (type === AT_END) break;
      const len = p + 8 <= used ? dv.getUint32(p + 4, true) : 0;
      if (len < 24 || len % 8 !== 0 || p + len > used)
        throw new FilesystemError(`${structure} attribute 0x${type.toString(16)}`, at + p, `bad attribute length ${len}`);
      rec.attrs.push(this.parseAttr(b, p, len, structure, at));
      p += len;
    }
    return rec;
  }

  private parseAttr(b: Uint8Array, p: number, len: number, structure: string, at: number): Attr {
    const dv = le(b);
    const type = dv.getUint32(p, true);
    const s = `${structure} attribute 0x${type.toString(16)}`;
    const nonResident = b[p + 8] !== 0;
    const nameLen = b[p + 9];
    const nameOfs = dv.getUint16(p + 10, true);
    if (nameLen && nameOfs + nameLen * 2 > len) throw new FilesystemError(s, at + p, 'name runs past the attribute');
    const name = nameLen ? utf16(b, p + nameOfs, nameLen) : '';
    const flags = dv.getUint16(p + 12, true);
    const attr: Attr = {
      type,
      name,
      flags,
      nonResident,
      startVcn: 0,
      runs: [],
      allocatedSize: 0,
      dataSize: 0,
      initializedSize: 0,
      compressionUnit: 0,
      at: at + p,
    };
    if (!nonResident) {
      const vlen = dv.getUint32(p + 16, true);
      const vofs = dv.getUint16(p + 20, true);
      if (vofs + vlen > len) throw new FilesystemError(s, at + p, `resident value of ${vlen} bytes at ${vofs} runs past the attribute`);
      attr.value = b.slice(p + vofs, p + vofs + vlen);
      attr.dataSize = attr.initializedSize = attr.allocatedSize = vlen;
      return attr;
    }
    if (len < 64) throw new FilesystemError(s, at + p, 'non-resident attribute header too short');
    const err = () => new FilesystemError(s, at + p, 'size out of range');
    attr.startVcn = u64(dv, p + 16, err);
    const lastVcn = dv.getBigInt64(p + 24, true);
    const runsOfs = dv.getUint16(p + 32, true);
    attr.compressionUnit = dv.getUint16(p + 34, true);
    attr.allocatedSize = u64(dv, p + 40, err);
    attr.dataSize = u64(dv, p + 48, err);
    attr.initializedSize = u64(dv, p + 56, err);
    if (runsOfs < 64 || runsOfs > len) throw new FilesystemError(s, at + p, `mapping pairs offset ${runsOfs}`);
    attr.runs = decodeRuns(b, p + runsOfs, p + len, attr.startVcn, this.boot.clusters, s, at);
    const endVcn = attr.runs.length ? attr.runs[attr.runs.length - 1].vcn + attr.runs[attr.runs.length - 1].length : attr.startVcn;
    if (lastVcn >= 0n && BigInt(endVcn) !== lastVcn + 1n && attr.runs.length > 0) {
      throw new FilesystemError(s, at + p, `runs end at cluster ${endVcn}, the header says ${lastVcn + 1n}`);
    }
    return attr;
  }

  /** The record with the attributes of its extension records (named by $ATTRIBUTE_LIST) joined in. */
  /** The last few parsed records: stat, extents and readFile of one file read it once. A snapshot never changes. */
  private readonly recent = new RecentRecords<MftRecord>(RECENT_LIMIT);

  private record(no: number, signal?: AbortSignal): Promise<MftRecord> {
    return this.recent.get(no, () => this.recordUncached(no, signal));
  }

  private async recordUncached(no: number, signal?: AbortSignal): Promise<MftRecord> {
    const raw = await this.rawRecord(no, signal);
    const rec = this.parseRecord(no, raw.bytes, raw.at);
    if (!(rec.flags & REC_IN_USE)) throw new FilesystemError(`NTFS MFT record ${no}`, raw.at, 'record is not in use');
    const list = rec.attrs.find((a) => a.type === AT_ATTRIBUTE_LIST);
    if (!list) return rec;
    const bytes = list.nonResident ? await this.readRuns(list.runs, 0, list.dataSize, list.initializedSize, signal) : (list.value as Uint8Array);
    const dv = le(bytes);
    const others = new Set<number>();
    for (let p = 0; p + 26 <= bytes.length;) {
      const len = dv.getUint16(p + 4, true);
      if (len < 26 || p + len > bytes.length) throw new FilesystemError(`NTFS MFT record ${no} attribute list`, list.at, `entry of ${len} bytes at ${p}`);
      const ref = Number(dv.getBigUint64(p + 16, true) & 0xffffffffffffn);
      if (ref !== no) others.add(ref);
      p += len;
    }
    for (const other of others) {
      const r = await this.rawRecord(other, signal);
      const ext = this.parseRecord(other, r.bytes, r.at);
      if (ext.baseRecord !== no || !(ext.flags & REC_IN_USE)) {
        throw new FilesystemError(`NTFS MFT record ${other}`, r.at, `named by record ${no}'s attribute list but not its extension record`);
      }
      rec.attrs.push(...ext.attrs.filter((a) => a.type !== AT_ATTRIBUTE_LIST));
    }
    return rec;
  }

  private async fileRecord(id: FileId, signal?: AbortSignal): Promise<MftRecord> {
    const rec = await this.record(id, signal);
    if (rec.baseRecord !== 0) throw new FilesystemError(`NTFS MFT record ${id}`, rec.at, `an extension record of record ${rec.baseRecord}, not a file`);
    return rec;
  }

  private stream(rec: MftRecord, type: number, name: string): DataStream | undefined {
    const parts = rec.attrs.filter((a) => a.type === type && a.name === name).sort((a, b) => a.startVcn - b.startVcn);
    if (parts.length === 0) return undefined;
    const first = parts[0];
    if (!first.nonResident)
      return { resident: true, value: first.value, runs: [], dataSize: first.dataSize, initializedSize: first.dataSize, flags: first.flags, at: first.at };
    if (first.startVcn !== 0)
      throw new FilesystemError(`NTFS MFT record ${rec.no} attribute 0x${type.toString(16)}`, first.at, 'first fragment does not start at cluster 0');
    const runs: Run[] = [];
    for (const part of parts) {
      const last = runs[runs.length - 1];
      const next = last ? last.vcn + last.length : 0;
      if (part.startVcn !== next && part.runs.length > 0) {
        throw new FilesystemError(
          `NTFS MFT record ${rec.no} attribute 0x${type.toString(16)}`,
          part.at,
          `fragment starts at cluster ${part.startVcn}, expected ${next}`,
        );
      }
      runs.push(...part.runs);
    }
    const initialized = Math.min(first.initializedSize, first.dataSize);
    return { resident: false, runs, dataSize: first.dataSize, initializedSize: initialized, flags: first.flags, at: first.at };
  }

  private async streamBytes(s: DataStream, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (s.resident) return (s.value as Uint8Array).slice(offset, offset + length);
    return this.readRuns(s.runs, offset, length, s.initializedSize, signal);
  }

  async init(signal?: AbortSignal): Promise<void> {
    // Record 0 ($MFT) is read from the boot sector's cluster; its $DATA runs then place every other record.
    const cs = this.boot.clusterSize;
    const at0 = this.boot.mftLcn * cs;
    const b = await this.read(at0, this.boot.recordSize, signal);
    const rec0 = this.parseRecord(0, b, this.base + at0);
    const data0 = rec0.attrs.filter((a) => a.type === AT_DATA && a.name === '');
    const first = data0.find((a) => a.startVcn === 0 && a.nonResident);
    if (!first) throw new FilesystemError('NTFS $MFT record 0', this.base + at0, 'no non-resident $DATA attribute');
    this.mftRuns = data0.flatMap((a) => a.runs).sort((x, y) => x.vcn - y.vcn);
    this.mftSize = Math.min(first.dataSize, first.initializedSize);
    if (this.mftSize < FIRST_USER_RECORD * this.boot.recordSize)
      throw new FilesystemError('NTFS $MFT record 0', first.at, `$MFT of ${this.mftSize} bytes is too small`);
    // A fragmented $MFT may keep the rest of its runs in extension records named by its attribute list.
    const list = rec0.attrs.find((a) => a.type === AT_ATTRIBUTE_LIST);
    if (list) {
      const full = await this.fileRecord(0, signal);
      const s = this.stream(full, AT_DATA, '');
      if (s && !s.resident) this.mftRuns = s.runs;
      // Groups read before every run was known may hold zeros where those runs are.
      this.groups.clear();
      this.recent.clear();
    }
    const mapped = this.mftRuns.reduce((n, r) => n + r.length, 0) * cs;
    if (mapped < this.mftSize) this.mftSize = Math.floor(mapped / this.boot.recordSize) * this.boot.recordSize;
    try {
      const vol = await this.fileRecord(3, signal);
      const name = vol.attrs.find((a) => a.type === AT_VOLUME_NAME && !a.nonResident);
      if (name?.value) this.label = utf16(name.value, 0, name.value.length >> 1);
    } catch (e) {
      if (!(e instanceof FilesystemError)) throw e;
      this.label = '';
    }
  }

  // ---- files ----

  private symlinkKind(rec: MftRecord): 'reparse' | 'interix' | 'other-reparse' | undefined {
    const rp = rec.attrs.find((a) => a.type === AT_REPARSE_POINT);
    if (rp) {
      if (rp.value && rp.value.length >= 4) {
        const tag = le(rp.value).getUint32(0, true);
        if (tag === TAG_SYMLINK || tag === TAG_MOUNT_POINT || tag === TAG_LX_SYMLINK) return 'reparse';
      }
      // Reparse data is at most 16 KiB and resident in practice; one that is not is shown as 'other'.
      return 'other-reparse';
    }
    const si = rec.attrs.find((a) => a.type === AT_STANDARD_INFORMATION && a.value && a.value.length >= 36);
    const data = rec.attrs.find((a) => a.type === AT_DATA && a.name === '' && !a.nonResident);
    // ntfs-3g's default symlink: a system file whose data is "IntxLNK\1" and the UTF-16 target (Interix / SFU form).
    if (si?.value && le(si.value).getUint32(32, true) & FILE_ATTR_SYSTEM && data?.value && data.value.length >= 8) {
      if (new TextDecoder().decode(data.value.subarray(0, 8)) === 'IntxLNK\u0001') return 'interix';
    }
    return undefined;
  }

  async stat(id: FileId, signal?: AbortSignal): Promise<FileStat> {
    const rec = await this.fileRecord(id, signal);
    const si = rec.attrs.find((a) => a.type === AT_STANDARD_INFORMATION && !a.nonResident);
    if (!si?.value || si.value.length < 48) throw new FilesystemError(`NTFS MFT record ${id}`, rec.at, 'no $STANDARD_INFORMATION');
    const names = rec.attrs.filter((a) => a.type === AT_FILE_NAME && a.value && a.value.length >= 66 && a.value[65] !== NS_DOS);
    const link = this.symlinkKind(rec);
    let type: FileType = rec.flags & REC_DIRECTORY ? 'dir' : 'file';
    if (link === 'reparse' || link === 'interix') type = 'symlink';
    else if (link === 'other-reparse' && type === 'file') type = 'other';
    const data = type === 'file' || type === 'other' ? this.stream(rec, AT_DATA, '') : undefined;
    return {
      id,
      generation: rec.seq,
      type,
      sizeBytes: type === 'symlink' ? new TextEncoder().encode(await this.readLink(id, signal)).length : (data?.dataSize ?? 0),
      modified: filetime(le(si.value), 8),
      links: names.length,
      parents: [...new Set(names.map((a) => Number(le(a.value!).getBigUint64(0, true) & 0xffffffffffffn)))],
    };
  }

  async extents(id: FileId, signal?: AbortSignal): Promise<Extent[]> {
    const rec = await this.fileRecord(id, signal);
    // A directory's data is its $I30 index: the blocks that change when its entries do.
    const s = rec.flags & REC_DIRECTORY ? this.stream(rec, AT_INDEX_ALLOCATION, '$I30') : this.stream(rec, AT_DATA, '');
    if (!s || s.resident) return [];
    const cs = this.boot.clusterSize;
    return s.runs.filter((r) => r.lcn !== null).map((r) => ({ fileOffset: r.vcn * cs, fsOffset: (r.lcn as number) * cs, length: r.length * cs }));
  }

  async readFile(id: FileId, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const rec = await this.fileRecord(id, signal);
    const s = this.stream(rec, AT_DATA, '');
    if (!s) return new Uint8Array(0);
    const structure = `NTFS MFT record ${id} $DATA`;
    if (s.flags & ATTR_ENCRYPTED) throw new FilesystemError(structure, s.at, "the file is encrypted (EFS); its bytes cannot be read without the owner's key");
    if (s.flags & ATTR_COMPRESSED)
      throw new FilesystemError(structure, s.at, 'the file is NTFS-compressed, which this reader does not decompress; copy it from a running system instead');
    if (offset < 0 || length < 0) throw new FilesystemError(structure, s.at, 'negative offset or length');
    const from = Math.min(offset, s.dataSize);
    const len = Math.min(length, s.dataSize - from);
    if (len > MAX_READ)
      throw new FilesystemError(structure, s.at, `a read of ${len} bytes at once is too large; read the file in pieces of at most ${MAX_READ} bytes`);
    if (len === 0) return new Uint8Array(0);
    return this.streamBytes(s, from, len, signal);
  }

  async readLink(id: FileId, signal?: AbortSignal): Promise<string> {
    const rec = await this.fileRecord(id, signal);
    const kind = this.symlinkKind(rec);
    const err = (d: string) => new FilesystemError(`NTFS MFT record ${id} reparse point`, rec.at, d);
    if (kind === 'interix') {
      const data = rec.attrs.find((a) => a.type === AT_DATA && a.name === '' && !a.nonResident)?.value as Uint8Array;
      return utf16(data, 8, (data.length - 8) >> 1);
    }
    if (kind !== 'reparse') throw err('not a symbolic link');
    const v = rec.attrs.find((a) => a.type === AT_REPARSE_POINT)?.value as Uint8Array;
    const dv = le(v);
    const tag = dv.getUint32(0, true);
    const dataLen = dv.getUint16(4, true);
    if (8 + dataLen > v.length) throw err(`reparse data of ${dataLen} bytes runs past the attribute`);
    if (tag === TAG_LX_SYMLINK) return new TextDecoder().decode(v.subarray(12, 8 + dataLen));
    // Symlink and mount point: substitute and print names in a path buffer after the fixed fields.
    const bufAt = tag === TAG_SYMLINK ? 20 : 16;
    const printOfs = dv.getUint16(12, true);
    const printLen = dv.getUint16(14, true);
    const subOfs = dv.getUint16(8, true);
    const subLen = dv.getUint16(10, true);
    const [o, l] = printLen > 0 ? [printOfs, printLen] : [subOfs, subLen];
    if (bufAt + o + l > 8 + dataLen) throw err('target name runs past the reparse data');
    let target = utf16(v, bufAt + o, l >> 1);
    if (target.startsWith('\\??\\')) target = target.slice(4);
    return target.replace(/\\/g, '/');
  }

  // ---- directories ----

  async readDir(id: FileId, signal?: AbortSignal, includeSystem = false): Promise<DirEntry[]> {
    const rec = await this.fileRecord(id, signal);
    const structure = `NTFS MFT record ${id} $I30 index`;
    const root = rec.attrs.find((a) => a.type === AT_INDEX_ROOT && a.name === '$I30');
    if (!(rec.flags & REC_DIRECTORY) || !root?.value) throw new FilesystemError(`NTFS MFT record ${id}`, rec.at, 'not a directory');
    const rv = root.value;
    if (rv.length < 32) throw new FilesystemError(structure, root.at, 'index root too short');
    const blockSize = le(rv).getUint32(8, true);
    if (blockSize < 512 || blockSize > 65536 || (blockSize & (blockSize - 1)) !== 0)
      throw new FilesystemError(structure, root.at, `bad index block size ${blockSize}`);
    const out: DirEntry[] = [];
    const seen = new Set<string>();
    const children: number[] = [];
    this.indexEntries(rv, 16, rv.length, structure, root.at, out, seen, children, includeSystem);
    if (children.length === 0) return out;

    const alloc = this.stream(rec, AT_INDEX_ALLOCATION, '$I30');
    if (!alloc || alloc.resident) throw new FilesystemError(structure, root.at, 'index has sub-nodes but no $INDEX_ALLOCATION');
    const cs = this.boot.clusterSize;
    // VCNs count clusters, or 512-byte units when index blocks are smaller than a cluster.
    const vcnSize = blockSize >= cs ? cs : SECTOR;
    const blocks = Math.floor(alloc.dataSize / blockSize);
    const whole = alloc.dataSize <= MAX_INDEX_READ ? await this.readRuns(alloc.runs, 0, blocks * blockSize, alloc.initializedSize, signal) : undefined;
    const visited = new Set<number>();
    while (children.length) {
      const vcn = children.pop() as number;
      const byte = vcn * vcnSize;
      if (byte % blockSize !== 0 || byte + blockSize > blocks * blockSize)
        throw new FilesystemError(structure, root.at, `sub-node VCN ${vcn} outside the index allocation`);
      if (visited.has(vcn)) throw new FilesystemError(structure, root.at, `index loops back to block VCN ${vcn}`);
      visited.add(vcn);
      const raw = whole ? whole.subarray(byte, byte + blockSize) : await this.readRuns(alloc.runs, byte, blockSize, alloc.initializedSize, signal);
      const diskAt = this.base + this.streamDiskOffset(alloc.runs, byte);
      if (le(raw).getUint32(0, true) !== 0x58444e49) throw new FilesystemError(`${structure} block VCN ${vcn}`, diskAt, 'wrong magic (not an INDX block)');
      const blk = withFixups(raw, `${structure} block VCN ${vcn}`, diskAt);
      const hdrEnd = 24 + le(blk).getUint32(24 + 4, true);
      this.indexEntries(blk, 24, Math.min(hdrEnd, blk.length), `${structure} block VCN ${vcn}`, diskAt, out, seen, children, includeSystem);
    }
    return out;
  }

  private streamDiskOffset(runs: Run[], byte: number): number {
    const cs = this.boot.clusterSize;
    for (const r of runs) {
      if (byte >= r.vcn * cs && byte < (r.vcn + r.length) * cs) return r.lcn === null ? 0 : r.lcn * cs + (byte - r.vcn * cs);
    }
    return 0;
  }

  /** Entries of one index node (header at `hdr`): names go to `out`, sub-node VCNs to `children`. */
  private indexEntries(
    b: Uint8Array,
    hdr: number,
    end: number,
    structure: string,
    at: number,
    out: DirEntry[],
    seen: Set<string>,
    children: number[],
    includeSystem: boolean,
  ): void {
    const dv = le(b);
    let p = hdr + dv.getUint32(hdr, true);
    const total = Math.min(hdr + dv.getUint32(hdr + 4, true), end, b.length);
    while (p + 16 <= total) {
      const len = dv.getUint16(p + 8, true);
      const keyLen = dv.getUint16(p + 10, true);
      const flags = dv.getUint16(p + 12, true);
      if (len < 16 || len % 8 !== 0 || p + len > total) throw new FilesystemError(structure, at + p, `bad index entry length ${len}`);
      if (flags & 1) children.push(u64(dv, p + len - 8, () => new FilesystemError(structure, at + p, 'sub-node VCN out of range')));
      if (flags & 2) break;
      if (keyLen < 66 || 16 + keyLen > len) throw new FilesystemError(structure, at + p, `bad file name key of ${keyLen} bytes`);
      const ref = dv.getBigUint64(p, true);
      const child = Number(ref & 0xffffffffffffn);
      const k = p + 16;
      const nameLen = b[k + 64];
      const ns = b[k + 65];
      if (66 + nameLen * 2 > keyLen) throw new FilesystemError(structure, at + p, 'file name runs past its key');
      if (ns === NS_DOS || (child < FIRST_USER_RECORD && !includeSystem) || child === ROOT_RECORD) {
        p += len;
        continue;
      }
      const name = utf16(b, k + 66, nameLen);
      const key = `${child}/${name}`;
      if (!seen.has(key)) {
        seen.add(key);
        const fflags = dv.getUint32(k + 56, true);
        const type: FileType | undefined = fflags & (FILE_ATTR_REPARSE | FILE_ATTR_SYSTEM) ? undefined : fflags & FILE_NAME_IS_DIR ? 'dir' : 'file';
        out.push(type ? { name, id: child, type } : { name, id: child });
      }
      p += len;
    }
  }

  // ---- the MFT as a table ----

  async recordRange(id: FileId): Promise<FsRange> {
    if (!Number.isSafeInteger(id) || id < 0 || (id + 1) * this.boot.recordSize > this.mftSize) {
      throw new FilesystemError(`NTFS MFT record ${id}`, this.base + this.boot.mftLcn * this.boot.clusterSize, 'record number outside the $MFT');
    }
    return { offset: this.recordBytesAt(id), length: this.boot.recordSize };
  }

  /** Parses the records in [first, first+count) read in large pieces; yields the in-use base records. */
  private async *scanRecords(first: number, count: number, signal?: AbortSignal): AsyncGenerator<MftRecord> {
    const rs = this.boot.recordSize;
    const per = Math.max(1, Math.floor(READ_CHUNK / rs));
    for (let no = first; no < first + count; no += per) {
      const n = Math.min(per, first + count - no);
      const bytes = await this.readRuns(this.mftRuns, no * rs, n * rs, this.mftSize, signal);
      for (let i = 0; i < n; i++) {
        const b = bytes.subarray(i * rs, (i + 1) * rs);
        const dv = le(b);
        if (dv.getUint32(0, true) !== 0x454c4946) continue;
        if (!(dv.getUint16(22, true) & REC_IN_USE)) continue;
        const at = this.base + this.streamDiskOffset(this.mftRuns, (no + i) * rs);
        yield this.parseRecord(no + i, b, at);
      }
    }
  }

  private isUserFile(rec: MftRecord): boolean {
    if (rec.baseRecord !== 0) return false;
    if (rec.no === ROOT_RECORD) return true;
    if (rec.no < FIRST_USER_RECORD) return false;
    // $Extend's children ($Quota, $ObjId, $Reparse, $UsnJrnl) are filesystem metadata too.
    const fn = rec.attrs.find((a) => a.type === AT_FILE_NAME && a.value && a.value.length >= 8);
    return !(fn?.value && Number(le(fn.value).getBigUint64(0, true) & 0xffffffffffffn) === EXTEND_RECORD);
  }

  async *allFiles(signal?: AbortSignal): AsyncIterable<FileId> {
    for await (const rec of this.scanRecords(0, Math.floor(this.mftSize / this.boot.recordSize), signal)) {
      if (this.isUserFile(rec)) yield rec.no;
    }
  }

  async recordsIn(ranges: readonly FsRange[], signal?: AbortSignal): Promise<FileId[]> {
    const cs = this.boot.clusterSize;
    const rs = this.boot.recordSize;
    const total = Math.floor(this.mftSize / rs);
    const wanted = new Set<number>();
    for (const r of ranges) {
      for (const run of this.mftRuns) {
        if (run.lcn === null) continue;
        const dStart = run.lcn * cs;
        const dEnd = dStart + run.length * cs;
        const from = Math.max(dStart, r.offset);
        const to = Math.min(dEnd, r.offset + r.length);
        if (from >= to) continue;
        const firstRec = Math.floor((run.vcn * cs + (from - dStart)) / rs);
        const lastRec = Math.floor((run.vcn * cs + (to - dStart) - 1) / rs);
        for (let no = firstRec; no <= Math.min(lastRec, total - 1); no++) wanted.add(no);
      }
    }
    const sorted = [...wanted].sort((a, b) => a - b);
    const runs: Array<[first: number, count: number]> = [];
    for (let i = 0; i < sorted.length;) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
      runs.push([sorted[i]!, j - i + 1]);
      i = j + 1;
    }
    // Short runs of changed records (scattered edits) are fetched a batch at a time, as few requests as the
    // reader can make of them, then scanned from its cache; long runs (a rewritten table) are scanned in
    // large reads. Several runs are scanned at a time.
    const ids = new Set<FileId>();
    const scan = async (batch: ReadonlyArray<readonly [first: number, count: number]>) => {
      let next = 0;
      const worker = async () => {
        while (next < batch.length) {
          const [first, count] = batch[next++]!;
          for await (const rec of this.scanRecords(first, count, signal)) {
            const base = rec.baseRecord !== 0 ? rec.baseRecord : rec.no;
            if (base === ROOT_RECORD || (base >= FIRST_USER_RECORD && (rec.baseRecord !== 0 || this.isUserFile(rec)))) ids.add(base);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(RECORD_RUNS_IN_FLIGHT, batch.length) }, worker));
    };
    const short = runs.filter(([, count]) => count <= SHORT_RUN);
    await scan(runs.filter(([, count]) => count > SHORT_RUN));
    for (let i = 0; i < short.length;) {
      const batch: Array<[number, number]> = [];
      for (let records = 0; i < short.length && records + short[i]![1] <= PREFETCH_BATCH; i++) {
        batch.push(short[i]!);
        records += short[i]![1];
      }
      if (this.reader.prefetch) {
        const at: FsRange[] = [];
        for (const [first, count] of batch) {
          for (let no = first; no < first + count; no++) {
            try {
              at.push({ offset: this.base + this.recordBytesAt(no), length: rs });
            } catch (e) {
              if (!(e instanceof FilesystemError)) throw e;
            }
          }
        }
        await this.reader.prefetch(at, signal);
      }
      await scan(batch);
    }
    return [...ids].sort((a, b) => a - b);
  }

  // ---- space ----

  private loadFixedAreas(signal?: AbortSignal): Promise<Array<[number, number, SpaceKind]>> {
    this.fixedAreas ??= (async () => {
      const cs = this.boot.clusterSize;
      const out: Array<[number, number, SpaceKind]> = [];
      for (let no = 0; no < FIRST_USER_RECORD; no++) {
        if (no === ROOT_RECORD) continue;
        let rec: MftRecord;
        try {
          rec = await this.fileRecord(no, signal);
        } catch (e) {
          if (e instanceof FilesystemError) continue;
          throw e;
        }
        for (const a of rec.attrs) {
          if (!a.nonResident) continue;
          for (const r of a.runs) if (r.lcn !== null) out.push([r.lcn * cs, r.length * cs, no === LOGFILE_RECORD ? 'journal' : 'metadata']);
        }
      }
      // $Extend's children: the change journal ($UsnJrnl, rewritten with every file change) and the
      // quota, object id and reparse indexes.
      try {
        for (const e of await this.readDir(EXTEND_RECORD, signal, true)) {
          const rec = await this.fileRecord(e.id, signal);
          for (const a of rec.attrs) {
            if (!a.nonResident) continue;
            for (const r of a.runs) if (r.lcn !== null) out.push([r.lcn * cs, r.length * cs, e.name === '$UsnJrnl' ? 'journal' : 'metadata']);
          }
        }
      } catch (e) {
        if (!(e instanceof FilesystemError)) throw e;
      }
      // The boot sector's backup lives past the last cluster.
      const clusterEnd = this.boot.clusters * cs;
      if (clusterEnd < this.sizeBytes) out.push([clusterEnd, this.sizeBytes - clusterEnd, 'metadata']);
      out.sort((a, b) => a[0] - b[0]);
      return out;
    })();
    this.fixedAreas.catch(() => (this.fixedAreas = undefined));
    return this.fixedAreas;
  }

  /** $Bitmap is read in pages as classify needs them (a 4 TiB volume's is 128 MiB), the recent ones kept. */
  private async bitmapPage(page: number, signal?: AbortSignal): Promise<Uint8Array> {
    const hit = this.bitmapPages.get(page);
    if (hit) return hit;
    this.bitmapStream ??= (async () => {
      const rec = await this.fileRecord(6, signal);
      const s = this.stream(rec, AT_DATA, '');
      const need = Math.ceil(this.boot.clusters / 8);
      if (!s || s.dataSize < need)
        throw new FilesystemError('NTFS $Bitmap', rec.at, `holds ${s?.dataSize ?? 0} bytes, ${need} needed for ${this.boot.clusters} clusters`);
      return s;
    })();
    this.bitmapStream.catch(() => (this.bitmapStream = undefined));
    const stream = await this.bitmapStream;
    const from = page * BITMAP_PAGE;
    const p = this.streamBytes(stream, from, Math.min(BITMAP_PAGE, Math.ceil(this.boot.clusters / 8) - from), signal);
    this.bitmapPages.set(page, p);
    if (this.bitmapPages.size > BITMAP_PAGES_KEPT) this.bitmapPages.delete(this.bitmapPages.keys().next().value as number);
    p.catch(() => this.bitmapPages.delete(page));
    return p;
  }

  async classify(ranges: readonly FsRange[], signal?: AbortSignal): Promise<Array<FsRange & { kind: SpaceKind }>> {
    const fixed = await this.loadFixedAreas(signal);
    const cs = this.boot.clusterSize;
    const out: Array<{ offset: number; length: number; kind: SpaceKind }> = [];
    const push = (offset: number, length: number, kind: SpaceKind) => {
      if (length <= 0) return;
      const last = out[out.length - 1];
      if (last && last.kind === kind && last.offset + last.length === offset) last.length += length;
      else out.push({ offset, length, kind });
    };
    const clusterEnd = this.boot.clusters * cs;
    for (const r of ranges) {
      let pos = r.offset;
      const end = r.offset + r.length;
      while (pos < end) {
        signal?.throwIfAborted();
        const area = fixed.find(([s, l]) => s <= pos && pos < s + l);
        if (area) {
          const to = Math.min(end, area[0] + area[1]);
          push(pos, to - pos, area[2]);
          pos = to;
          continue;
        }
        if (pos >= clusterEnd) {
          push(pos, end - pos, 'metadata');
          break;
        }
        const nextFixed = fixed.find(([s]) => s > pos)?.[0] ?? Infinity;
        const cluster = Math.floor(pos / cs);
        const bitsPerPage = BITMAP_PAGE * 8;
        let page = await this.bitmapPage(Math.floor(cluster / bitsPerPage), signal);
        const bit = (c: number) => (page[(c % bitsPerPage) >> 3] >> (c & 7)) & 1;
        const used = bit(cluster);
        // Extend over following clusters with the same bit.
        let c = cluster + 1;
        const stop = Math.min(end, nextFixed, clusterEnd);
        while (c * cs < stop) {
          if (c % bitsPerPage === 0) page = await this.bitmapPage(c / bitsPerPage, signal);
          if (bit(c) !== used) break;
          c++;
        }
        const to = Math.min(stop, c * cs);
        push(pos, to - pos, used ? 'data' : 'free');
        pos = to;
      }
    }
    return out;
  }
}

export const ntfsFormat: FilesystemFormat = {
  type: 'ntfs',
  detect(head: Uint8Array): boolean {
    return head.length >= 11 && new TextDecoder().decode(head.subarray(3, 11)) === 'NTFS    ';
  },
  async open(reader: BlockReader, offsetBytes: number, sizeBytes: number, signal?: AbortSignal): Promise<Filesystem> {
    if (sizeBytes < 512 || offsetBytes + 512 > reader.size)
      throw new FilesystemError('NTFS boot sector', offsetBytes, 'partition too small or outside the image');
    const head = await reader.read(offsetBytes, 512, signal);
    const boot = parseBoot(head, offsetBytes, Math.min(sizeBytes, reader.size - offsetBytes));
    const fs = new NtfsFilesystem(reader, offsetBytes, boot);
    await fs.init(signal);
    return fs;
  },
};
