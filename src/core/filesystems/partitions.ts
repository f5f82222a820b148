import { FilesystemError, type BlockReader, type FilesystemType, type Partition, type UnsupportedContent } from './types';

/** Azure disks present 512-byte logical sectors (512e), so LBAs in MBR and GPT count 512-byte sectors. */
const SECTOR = 512;
/** GPT allows more, but no partitioning tool writes more than 128 entries; bounding keeps a hostile header cheap. */
const MAX_GPT_ENTRIES = 1024;
/** Logical partitions in an MBR extended chain; the bound stops a looping chain. */
const MAX_LOGICAL = 128;

export type PartitionTable = 'gpt' | 'mbr' | 'none';

export interface PartitionLayout {
  readonly table: PartitionTable;
  readonly partitions: Partition[];
}

const u16 = (b: Uint8Array, o: number) => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;
const u64 = (b: Uint8Array, o: number) => u32(b, o) + u32(b, o + 4) * 0x100000000;

function guidText(b: Uint8Array, o: number): string {
  const hex = (from: number, to: number, reverse: boolean) => {
    const bytes = Array.from(b.subarray(o + from, o + to));
    if (reverse) bytes.reverse();
    return bytes.map((x) => x.toString(16).padStart(2, '0')).join('');
  };
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`.toUpperCase();
}

function ascii(b: Uint8Array, o: number, text: string): boolean {
  if (o + text.length > b.length) return false;
  for (let i = 0; i < text.length; i++) if (b[o + i] !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * Reads the partition table: GPT (behind its protective MBR; the backup header at the disk's last
 * sector when the primary one is damaged), else MBR with its extended chain, else none - a
 * filesystem written on the whole disk, reported as partition 0.
 */
export async function readPartitionTable(reader: BlockReader, signal?: AbortSignal): Promise<PartitionLayout> {
  if (reader.size < SECTOR) throw new FilesystemError('partition table', 0, `the disk is ${reader.size} bytes, smaller than one sector`);
  const mbr = await reader.read(0, SECTOR, signal);
  const hasMbr = mbr[510] === 0x55 && mbr[511] === 0xaa && !looksLikeBootSector(mbr);
  const entries = hasMbr ? [0, 1, 2, 3].map((i) => mbrEntry(mbr, 446 + i * 16)) : [];
  if (entries.some((e) => e.type === 0xee) || (!hasMbr && reader.size >= 2 * SECTOR && ascii(await reader.read(SECTOR, 8, signal), 0, 'EFI PART'))) {
    return { table: 'gpt', partitions: await readGpt(reader, signal) };
  }
  if (hasMbr && entries.some((e) => e.type !== 0 && e.count > 0)) {
    return { table: 'mbr', partitions: await readMbr(reader, entries, signal) };
  }
  return { table: 'none', partitions: [{ index: 0, offsetBytes: 0, sizeBytes: reader.size }] };
}

/**
 * NTFS and FAT boot sectors end in 55 AA too; a filesystem on the whole disk must not be taken for an
 * MBR whose "entries" are boot code.
 */
function looksLikeBootSector(b: Uint8Array): boolean {
  return (
    ascii(b, 3, 'NTFS    ') || ascii(b, 3, '-FVE-FS-') || ascii(b, 3, 'ReFS') || ascii(b, 3, 'EXFAT   ') || ascii(b, 0x36, 'FAT') || ascii(b, 0x52, 'FAT32')
  );
}

interface MbrEntry {
  readonly type: number;
  readonly start: number;
  readonly count: number;
}

function mbrEntry(b: Uint8Array, o: number): MbrEntry {
  return { type: b[o + 4]!, start: u32(b, o + 8), count: u32(b, o + 12) };
}

const isExtended = (type: number) => type === 0x05 || type === 0x0f || type === 0x85;

async function readMbr(reader: BlockReader, entries: MbrEntry[], signal?: AbortSignal): Promise<Partition[]> {
  const out: Partition[] = [];
  const disk = reader.size;
  const add = (index: number, e: MbrEntry, base: number, where: number) => {
    const offsetBytes = (base + e.start) * SECTOR;
    const sizeBytes = e.count * SECTOR;
    if (offsetBytes + sizeBytes > disk) {
      throw new FilesystemError(`MBR partition ${index}`, where, `ends at byte ${offsetBytes + sizeBytes}, past the disk's end (${disk})`);
    }
    out.push({ index, offsetBytes, sizeBytes, typeId: `0x${e.type.toString(16).padStart(2, '0')}` });
  };
  for (let i = 0; i < 4; i++) {
    const e = entries[i]!;
    if (e.type === 0 || e.count === 0) continue;
    if (!isExtended(e.type)) {
      add(i + 1, e, 0, 446 + i * 16);
      continue;
    }
    // Logical partitions: a chain of EBRs, each 'next' link relative to the extended partition's start.
    const extStart = e.start;
    let ebr = extStart;
    const seen = new Set<number>();
    for (let n = 0; n < MAX_LOGICAL; n++) {
      if (seen.has(ebr)) throw new FilesystemError('MBR extended partition chain', ebr * SECTOR, 'the chain loops back on itself');
      seen.add(ebr);
      if ((ebr + 1) * SECTOR > disk) throw new FilesystemError('MBR extended boot record', ebr * SECTOR, "lies past the disk's end");
      const b = await reader.read(ebr * SECTOR, SECTOR, signal);
      if (b[510] !== 0x55 || b[511] !== 0xaa) throw new FilesystemError('MBR extended boot record', ebr * SECTOR, 'has no 55 AA signature');
      const logical = mbrEntry(b, 446);
      const next = mbrEntry(b, 462);
      if (logical.type !== 0 && logical.count > 0) add(5 + out.filter((p) => p.index >= 5).length, logical, ebr, ebr * SECTOR + 446);
      if (!isExtended(next.type) || next.count === 0) break;
      ebr = extStart + next.start;
    }
  }
  return out.sort((a, b) => a.index - b.index);
}

async function readGpt(reader: BlockReader, signal?: AbortSignal): Promise<Partition[]> {
  const lastLba = Math.floor(reader.size / SECTOR) - 1;
  let problem = '';
  for (const lba of [1, lastLba]) {
    const header = await reader.read(lba * SECTOR, SECTOR, signal);
    if (!ascii(header, 0, 'EFI PART')) {
      problem ||= 'no "EFI PART" signature';
      continue;
    }
    const entriesLba = u64(header, 0x48);
    const count = u32(header, 0x50);
    const entrySize = u32(header, 0x54);
    if (count > MAX_GPT_ENTRIES || entrySize < 128 || entrySize > 4096 || entrySize % 8 !== 0) {
      problem = `${count} entries of ${entrySize} bytes is not a plausible GPT`;
      continue;
    }
    if (entriesLba * SECTOR + count * entrySize > reader.size) {
      problem = `the entry array at LBA ${entriesLba} lies past the disk's end`;
      continue;
    }
    const table = await reader.read(entriesLba * SECTOR, count * entrySize, signal);
    const out: Partition[] = [];
    for (let i = 0; i < count; i++) {
      const o = i * entrySize;
      if (table.subarray(o, o + 16).every((x) => x === 0)) continue;
      const first = u64(table, o + 32);
      const last = u64(table, o + 40);
      if (last < first || (last + 1) * SECTOR > reader.size) {
        throw new FilesystemError(`GPT partition ${i + 1}`, entriesLba * SECTOR + o, `LBAs ${first}..${last} do not fit the disk (${reader.size} bytes)`);
      }
      let name = '';
      for (let c = 0; c < 36; c++) {
        const ch = u16(table, o + 56 + c * 2);
        if (ch === 0) break;
        name += String.fromCharCode(ch);
      }
      out.push({ index: i + 1, offsetBytes: first * SECTOR, sizeBytes: (last - first + 1) * SECTOR, typeId: guidText(table, o), name: name || undefined });
    }
    return out;
  }
  throw new FilesystemError('GPT header', SECTOR, `${problem}; the protective MBR says the disk has a GPT, but neither header can be read`);
}

/** What cannot be read, in words for the `reason` a file diff shows. */
export const UNSUPPORTED_REASONS: Record<UnsupportedContent, string> = {
  lvm: 'LVM2 physical volume: logical volumes are not read; changes are shown as blocks',
  luks: 'LUKS encrypted volume: its contents cannot be read without the key; changes are shown as blocks',
  bitlocker: 'BitLocker (Azure Disk Encryption) volume: its contents cannot be read without the key; changes are shown as blocks',
  refs: 'ReFS volume: not readable by Disk Delta; changes are shown as blocks',
  btrfs: 'Btrfs filesystem: not readable by Disk Delta; changes are shown as blocks',
  swap: 'Linux swap area: holds no files',
  unknown: 'no filesystem Disk Delta can read was recognised; changes are shown as blocks',
  empty: 'empty (all zeros at its start): no filesystem',
};

/** Bytes read from a partition's start to recognise what it holds (Btrfs's superblock is at 64 KiB). */
export const PROBE_BYTES = 64 * 1024 + 4096;

/** Recognises content Disk Delta does not read, from the first {@link PROBE_BYTES} of a partition. */
export function detectUnsupported(head: Uint8Array): UnsupportedContent {
  if (ascii(head, 0, 'LUKS\xba\xbe') || ascii(head, 0, 'SKUL\xba\xbe')) return 'luks';
  if (ascii(head, 3, '-FVE-FS-')) return 'bitlocker';
  if (ascii(head, 3, 'ReFS') || ascii(head, 0x10, 'FSRS')) return 'refs';
  for (let s = 0; s < 4; s++) if (ascii(head, s * SECTOR, 'LABELONE') && ascii(head, s * SECTOR + 24, 'LVM2 001')) return 'lvm';
  if (ascii(head, 0x10040, '_BHRfS_M')) return 'btrfs';
  for (const page of [4096, 8192, 16384, 65536]) {
    if (ascii(head, page - 10, 'SWAPSPACE2') || ascii(head, page - 10, 'SWAP-SPACE')) return 'swap';
  }
  const probe = head.subarray(0, Math.min(head.length, 64 * 1024));
  if (probe.every((x) => x === 0)) return 'empty';
  return 'unknown';
}

export type { FilesystemType };
