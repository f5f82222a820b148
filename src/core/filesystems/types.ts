/**
 * The contract between the disk-image readers (partition tables, ext4, XFS, NTFS) and what uses them
 * (the file-level diff, `disk-delta ls` / `get`, the read-only snapshot file system in VS Code).
 *
 * Every parser is pure: bytes in through a {@link BlockReader}, structures out. Loops are bounded by
 * what the on-disk structures say is possible, and every error is a {@link FilesystemError} naming the
 * structure and the byte offset it was read from, so hostile images end in a message, never a hang.
 */

/** Ranged reads of a disk image (a snapshot SAS, a local file, a buffer). Offsets are bytes from the disk's start. */
export interface BlockReader {
  /** Size of the image in bytes (for a snapshot SAS: the disk size, without the VHD footer). */
  readonly size: number;
  /** Exactly `length` bytes at `offset`; reads past the end are an error. */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /**
   * Optional: fetch these ranges ahead of the reads that will ask for them, in as few requests as it
   * can (a cached reader). Ranges outside the image are left out; reads report errors, not this.
   */
  prefetch?(ranges: readonly FsRange[], signal?: AbortSignal): Promise<void>;
}

/** A structure that cannot be parsed: what it is, where it was read, what is wrong. */
export class FilesystemError extends Error {
  constructor(
    /** e.g. "ext4 superblock", "XFS inode 128", "NTFS MFT record 5", "GPT header" */
    readonly structure: string,
    /** byte offset from the start of the disk image */
    readonly offset: number,
    detail: string,
  ) {
    super(`${structure} at byte ${offset}: ${detail}`);
    this.name = 'FilesystemError';
  }
}

export type FilesystemType = 'ext4' | 'xfs' | 'ntfs';

/** What a partition (or the whole disk) holds, when it is something Disk Delta cannot read. */
export type UnsupportedContent = 'lvm' | 'luks' | 'bitlocker' | 'refs' | 'btrfs' | 'swap' | 'unknown' | 'empty';

export interface Partition {
  /** 0 for a filesystem written on the whole disk; else 1-based as in the partition table. */
  readonly index: number;
  readonly offsetBytes: number;
  readonly sizeBytes: number;
  /** GPT type GUID or MBR type byte, as text, when there is a table. */
  readonly typeId?: string;
  readonly name?: string;
}

export type FileType = 'file' | 'dir' | 'symlink' | 'other';

/**
 * A file's identity within one filesystem: the inode number (ext4, XFS) or MFT record number (NTFS).
 * Numbers stay below 2^53 for every image Disk Delta can read.
 */
export type FileId = number;

export interface FileStat {
  readonly id: FileId;
  /**
   * ext4 i_generation, XFS di_gen, NTFS MFT sequence number: a file with the same id and generation
   * in two snapshots is the same file (a rename keeps both); a reused id has another generation.
   */
  readonly generation: number;
  readonly type: FileType;
  readonly sizeBytes: number;
  readonly modified: Date;
  readonly links: number;
  /**
   * The directories that name the file, where its own record says (NTFS $FILE_NAME parent references).
   * NTFS keeps a copy of a file's size and times in the directory entries that name it, so a change to the
   * file rewrites those directories' index blocks too: a file diff looks there before walking every file.
   */
  readonly parents?: readonly FileId[];
}

export interface DirEntry {
  readonly name: string;
  readonly id: FileId;
  /** From the directory entry where the format records it; else read from the file itself. */
  readonly type?: FileType;
}

/** Where a run of a file's bytes lives. Offsets are bytes from the start of the FILESYSTEM (not the disk). */
export interface Extent {
  readonly fileOffset: number;
  readonly fsOffset: number;
  readonly length: number;
  /** Allocated but never written (ext4 unwritten extent, XFS unwritten): the file reads zeros there. */
  readonly unwritten?: boolean;
}

/** A byte range relative to the start of the filesystem. */
export interface FsRange {
  readonly offset: number;
  readonly length: number;
}

/** What a byte range of the filesystem holds, as far as the format's own maps say (no file walk). */
export type SpaceKind = 'free' | 'metadata' | 'journal' | 'data';

export interface Filesystem {
  readonly type: FilesystemType;
  readonly label: string;
  /** Allocation unit (ext4 block, XFS block, NTFS cluster) in bytes. */
  readonly blockSize: number;
  readonly sizeBytes: number;
  readonly rootId: FileId;

  stat(id: FileId, signal?: AbortSignal): Promise<FileStat>;
  readDir(id: FileId, signal?: AbortSignal): Promise<DirEntry[]>;
  /** The file's data extents, in file order; a sparse hole has no extent. Resident / inline data: []. */
  extents(id: FileId, signal?: AbortSignal): Promise<Extent[]>;
  /** Bytes of the file (inline and resident data included); past the end is clipped. */
  readFile(id: FileId, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  readLink(id: FileId, signal?: AbortSignal): Promise<string>;

  /**
   * Where each file's own record lives (ext4 inode table slot, XFS inode in its chunk, NTFS MFT record):
   * the ids of the records that lie in the given filesystem ranges. Used to start a file diff from
   * the blocks that changed instead of from a walk of every file.
   */
  recordsIn(ranges: readonly FsRange[], signal?: AbortSignal): Promise<FileId[]>;
  /** The filesystem range that holds a file's own record (inode / MFT record bytes). */
  recordRange(id: FileId, signal?: AbortSignal): Promise<FsRange>;
  /**
   * Splits the given ranges by what holds them according to the allocation maps (bitmaps, free-space
   * btrees, $Bitmap) and the fixed metadata areas (superblocks, group descriptors, inode tables, journal,
   * $MFT, $LogFile): the answer covers exactly the input, in order.
   */
  classify(ranges: readonly FsRange[], signal?: AbortSignal): Promise<Array<FsRange & { kind: SpaceKind }>>;
  /** Every allocated file id (a full walk of the inode / MFT tables), for the cases a diff cannot avoid it. */
  allFiles(signal?: AbortSignal): AsyncIterable<FileId>;
  /**
   * Optional: the blocks holding a file's own block map (ext4 extent-tree nodes and indirect blocks, XFS
   * bmap btree blocks). A file diff counts them as filesystem metadata; knowing them for the files whose
   * records changed spares it a walk of every file to find who owns such a block.
   */
  mappingRanges?(id: FileId, signal?: AbortSignal): Promise<FsRange[]>;
  /**
   * Optional: true for the filesystem's own files (ext4 reserved inodes such as the journal, NTFS $MFT and
   * the other system files), which a file diff counts as metadata instead of listing them.
   */
  internalFile?(id: FileId): boolean;
}

/** Each format module exports one of these. */
export interface FilesystemFormat {
  readonly type: FilesystemType;
  /** True when `head` (the first 64 KiB of the partition) carries this format's signature. */
  detect(head: Uint8Array): boolean;
  /** Opens the filesystem that starts `offsetBytes` into the image and is `sizeBytes` long. */
  open(reader: BlockReader, offsetBytes: number, sizeBytes: number, signal?: AbortSignal): Promise<Filesystem>;
}
