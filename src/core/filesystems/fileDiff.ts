/**
 * The file-level diff: the changed and cleared ranges of two snapshots of one disk, mapped to the files
 * that hold them. Every byte of the block diff is counted once: in the file that holds it in the newer
 * snapshot, else in the file that held it in the older one, else as free space, filesystem metadata
 * (inode tables, bitmaps, journal, extent-tree blocks) or bytes outside any filesystem read.
 *
 * It reads as little as it can: the changed ranges that fall on inode tables / MFT records name the files
 * whose records changed (recordsIn), and those files' extents explain most changed data. Only when a
 * changed data block is left that none of them owns (a file rewritten in place without its record
 * changing) does it walk every file's extents to find the owner, once per snapshot, stopping as soon as
 * every such block has one. Paths are found by reading the changed directories first, then directories
 * from the root only until every file to report has a path.
 */
import type { DiffRange } from '../model';
import { intersect, subtract, totalBytes, union } from '../pageRanges';
import { summarizeVolume, type DiskImage, type Volume, type VolumeSummary } from './disk';
import { FilesystemError, type BlockReader, type DirEntry, type FileId, type FileStat, type Filesystem, type FsRange } from './types';

export type FileChangeKind = 'added' | 'deleted' | 'modified' | 'metadata' | 'renamed';

export interface FileChange {
  readonly path: string;
  readonly change: FileChangeKind;
  /** Only on `renamed`: the path in the older snapshot. */
  readonly previousPath?: string;
  /** Bytes of the diff in the blocks that hold the file's data. */
  readonly changedBytes: number;
  /** Size in the older snapshot; null when the file did not exist there. */
  readonly sizeBefore: number | null;
  /** Size in the newer snapshot; null when the file no longer exists. */
  readonly sizeAfter: number | null;
  readonly partition: number;
  readonly type: FileStat['type'];
}

export interface Unattributed {
  /** Diff bytes on blocks no file holds in either snapshot. */
  freeSpace: number;
  /** Superblocks, descriptors, bitmaps, inode tables / MFT records, journal, extent-tree blocks. */
  metadata: number;
  /** Bytes outside every filesystem read: partition tables, gaps, partitions that cannot be read. */
  outsidePartitions: number;
}

export interface FileDiff {
  readonly filesystems: VolumeSummary[];
  readonly files: FileChange[];
  readonly unattributed: Unattributed;
  /** What the diff had to do (for logs and benchmarks). */
  readonly work: { candidates: number; walkedSnapshots: number; directoriesRead: number };
  /**
   * With `collectExtents`: per reported file, the diff's bytes it was given, as disk offsets (merged, in
   * offset order) - where its changes lie on the disk, for the block map.
   */
  readonly extents?: ReadonlyMap<FileChange, readonly DiffRange[]>;
}

export interface SnapshotImage {
  readonly reader: BlockReader;
  readonly disk: DiskImage;
}

export interface FileDiffOptions {
  readonly signal?: AbortSignal;
  /** Keep each file's changed ranges (disk offsets) in `extents`. */
  readonly collectExtents?: boolean;
  readonly onProgress?: (text: string) => void;
}

/**
 * Maps the block diff (disk offsets; `changed` and `cleared` alike) to files. `older` and `newer` are
 * the two snapshots opened with openDisk over their own readers.
 */
export async function fileDiff(older: SnapshotImage, newer: SnapshotImage, ranges: readonly DiffRange[], options: FileDiffOptions = {}): Promise<FileDiff> {
  const all = union(ranges);
  const files: FileChange[] = [];
  const unattributed: Unattributed = { freeSpace: 0, metadata: 0, outsidePartitions: 0 };
  const work = { candidates: 0, walkedSnapshots: 0, directoriesRead: 0 };
  let outside = all;
  const summaries: VolumeSummary[] = [];
  const extents = options.collectExtents ? new Map<FileChange, DiffRange[]>() : undefined;
  for (const vNew of newer.disk.volumes) {
    summaries.push(summarizeVolume(vNew));
    const vOld = older.disk.volumes.find(
      (v) => v.partition.index === vNew.partition.index && v.partition.offsetBytes === vNew.partition.offsetBytes && v.type === vNew.type,
    );
    const fsNew = vNew.filesystem;
    const fsOld = vOld?.filesystem;
    if (!fsNew && !fsOld) continue;
    const base = vNew.partition.offsetBytes;
    const window = { offset: base, length: Math.min(vNew.partition.sizeBytes, (fsNew ?? fsOld)!.sizeBytes) };
    const inside = intersect(all, [window]);
    if (inside.length === 0) continue;
    outside = subtract(outside, [window]);
    const rel = inside.map((r) => ({ offset: r.offset - base, length: r.length }));
    const result = await new VolumeDiff(vNew, fsOld, fsNew, older.reader, newer.reader, base, options, work).run(rel);
    files.push(...result.files);
    if (extents)
      for (const [f, held] of result.extents)
        extents.set(
          f,
          union(held).map((r) => ({ offset: r.offset + base, length: r.length, kind: 'changed' as const })),
        );
    unattributed.freeSpace += result.freeSpace;
    unattributed.metadata += result.metadata;
  }
  // Volumes only the older snapshot had (the newer one repartitioned) are not read: their bytes are outside.
  unattributed.outsidePartitions = totalBytes(outside);
  files.sort((a, b) => b.changedBytes - a.changedBytes || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { filesystems: summaries, files, unattributed, work, ...(extents ? { extents } : {}) };
}

interface Side {
  readonly stat: FileStat;
  path?: string;
}

interface Entry {
  readonly id: FileId;
  old?: Side;
  new?: Side;
  recordChanged: boolean;
  /** Its name appeared in or disappeared from a changed directory (a rename that left the record as it was). */
  entryChanged?: boolean;
  changedBytes: number;
  /** The diff's bytes given to this file (filesystem offsets), kept only with `collectExtents`. */
  held?: FsRange[];
}

class VolumeDiff {
  /** Files present in the newer snapshot (and the same file in the older one, same id and generation). */
  readonly #entries = new Map<FileId, Entry>();
  /** Files only in the older snapshot, or an older file whose id was reused by another one. */
  readonly #gone = new Map<FileId, Entry>();
  #metadata = 0;
  #free = 0;

  constructor(
    private readonly volume: Volume,
    private readonly fsOld: Filesystem | undefined,
    private readonly fsNew: Filesystem | undefined,
    private readonly readerOld: BlockReader,
    private readonly readerNew: BlockReader,
    private readonly base: number,
    private readonly options: FileDiffOptions,
    private readonly work: FileDiff['work'],
  ) {}

  async run(ranges: FsRange[]): Promise<{ files: FileChange[]; freeSpace: number; metadata: number; extents: Map<FileChange, FsRange[]> }> {
    const signal = this.options.signal;
    // 1. Files whose own records lie in the changed ranges.
    const ids = new Set<FileId>([...((await this.fsNew?.recordsIn(ranges, signal)) ?? []), ...((await this.fsOld?.recordsIn(ranges, signal)) ?? [])]);
    this.work.candidates += ids.size;
    for (const id of ids) await this.#consider(id, true);

    const compared = new Set<FileId>();
    await this.#compareDirectories(compared);
    // 2. Bytes, newer snapshot first; directories found to own changed bytes are compared too.
    let remaining: FsRange[] = ranges;
    for (const side of ['new', 'old'] as const) {
      const fs = side === 'new' ? this.fsNew : this.fsOld;
      if (!fs || remaining.length === 0) continue;
      remaining = await this.#attribute(fs, side, remaining);
      await this.#compareDirectories(compared);
    }
    // 3. What no file holds: metadata or free, by the newer snapshot's maps, then the older one's.
    if (remaining.length) {
      const kindsNew = this.fsNew ? await this.fsNew.classify(remaining, signal) : remaining.map((r) => ({ ...r, kind: 'free' as const }));
      const freeNew = kindsNew.filter((k) => k.kind === 'free');
      this.#metadata += totalBytes(remaining) - totalBytes(freeNew);
      const kindsOld = this.fsOld && freeNew.length ? await this.fsOld.classify(freeNew, signal) : freeNew.map((r) => ({ ...r, kind: 'free' as const }));
      for (const k of kindsOld) {
        if (k.kind === 'free') this.#free += k.length;
        else this.#metadata += k.length;
      }
    }
    // 4. Paths, then what changed.
    await this.#paths();
    const files: FileChange[] = [];
    const extents = new Map<FileChange, FsRange[]>();
    const partition = this.volume.partition.index;
    for (const e of [...this.#entries.values(), ...this.#gone.values()]) {
      const change = this.#kindOf(e);
      if (!change) continue;
      const path = (e.new ?? e.old)!.path ?? `<unnamed ${e.id}>`;
      const stat = (e.new ?? e.old)!.stat;
      const file: FileChange = {
        path,
        change,
        ...(change === 'renamed' ? { previousPath: e.old!.path ?? `<unnamed ${e.id}>` } : {}),
        changedBytes: e.changedBytes,
        sizeBefore: e.old ? e.old.stat.sizeBytes : null,
        sizeAfter: e.new ? e.new.stat.sizeBytes : null,
        partition,
        type: stat.type,
      };
      files.push(file);
      if (e.held?.length) extents.set(file, e.held);
    }
    return { files, freeSpace: this.#free, metadata: this.#metadata, extents };
  }

  #kindOf(e: Entry): FileChangeKind | undefined {
    if (e.new && !e.old) return 'added';
    if (e.old && !e.new) return 'deleted';
    const o = e.old!;
    const n = e.new!;
    if (o.path !== undefined && n.path !== undefined && o.path !== n.path) return 'renamed';
    if (n.stat.type === 'dir') return e.recordChanged || e.entryChanged || e.changedBytes > 0 ? 'metadata' : undefined;
    if (e.changedBytes > 0 || o.stat.sizeBytes !== n.stat.sizeBytes) return 'modified';
    return e.recordChanged || e.entryChanged ? 'metadata' : undefined;
  }

  /**
   * Reads both versions of each changed directory not compared yet; the files whose names appeared or
   * disappeared are part of the diff even when their own records did not change (a rename).
   */
  async #compareDirectories(done: Set<FileId>): Promise<void> {
    const signal = this.options.signal;
    const dirs = [...this.#entries.values(), ...this.#gone.values()].filter(
      (e) => (e.new ?? e.old)!.stat.type === 'dir' && (e.recordChanged || e.changedBytes > 0) && !done.has(e.id),
    );
    for (const d of dirs) {
      done.add(d.id);
      const key = (x: DirEntry) => `${x.id}/${x.name}`;
      const before = d.old && this.fsOld ? await this.#safe(() => this.fsOld!.readDir(d.id, signal), []) : [];
      const after = d.new && this.fsNew ? await this.#safe(() => this.fsNew!.readDir(d.id, signal), []) : [];
      this.work.directoriesRead += 2;
      const a = new Set(before.map(key));
      const b = new Set(after.map(key));
      const moved = new Set<FileId>();
      for (const x of before) if (!b.has(key(x)) && x.name !== '.' && x.name !== '..') moved.add(x.id);
      for (const x of after) if (!a.has(key(x)) && x.name !== '.' && x.name !== '..') moved.add(x.id);
      for (const id of moved) {
        const entry = (await this.#consider(id, false)) ?? this.#gone.get(id);
        if (entry) entry.entryChanged = true;
      }
    }
  }

  /** A file's state in both snapshots; `fromRecord` when its record bytes lie in the diff. */
  async #consider(id: FileId, fromRecord: boolean): Promise<Entry | undefined> {
    const existing = this.#entries.get(id);
    if (existing) return existing;
    if (this.#gone.has(id) && !fromRecord) return undefined;
    const [sOld, sNew] = await Promise.all([this.#stat(this.fsOld, id), this.#stat(this.fsNew, id)]);
    if (!sOld && !sNew) return undefined;
    let recordChanged = true;
    if (sOld && sNew && sOld.generation === sNew.generation && sOld.type === sNew.type) {
      recordChanged = !(await this.#sameRecord(id));
      if (!recordChanged && fromRecord) {
        // A neighbour of a changed record (records share a 512-byte page): unchanged unless its data changed.
        const entry: Entry = { id, old: { stat: sOld }, new: { stat: sNew }, recordChanged: false, changedBytes: 0 };
        this.#entries.set(id, entry);
        return entry;
      }
    }
    if (sOld && sNew && sOld.generation === sNew.generation && sOld.type === sNew.type) {
      const entry: Entry = { id, old: { stat: sOld }, new: { stat: sNew }, recordChanged, changedBytes: 0 };
      this.#entries.set(id, entry);
      return entry;
    }
    // A reused id is a deletion plus an addition.
    if (sOld) this.#gone.set(id, { id, old: { stat: sOld }, recordChanged: true, changedBytes: 0 });
    if (sNew) {
      const entry: Entry = { id, new: { stat: sNew }, recordChanged: true, changedBytes: 0 };
      this.#entries.set(id, entry);
      return entry;
    }
    return undefined;
  }

  async #stat(fs: Filesystem | undefined, id: FileId): Promise<FileStat | undefined> {
    if (!fs || (fs.internalFile ? fs.internalFile(id) : defaultInternal(fs, id))) return undefined;
    try {
      const s = await fs.stat(id, this.options.signal);
      return s.links > 0 ? s : undefined;
    } catch (error) {
      if (error instanceof FilesystemError) return undefined;
      throw error;
    }
  }

  async #sameRecord(id: FileId): Promise<boolean> {
    const [rOld, rNew] = await Promise.all([this.fsOld!.recordRange(id, this.options.signal), this.fsNew!.recordRange(id, this.options.signal)]);
    if (rOld.offset !== rNew.offset || rOld.length !== rNew.length) return false;
    const [a, b] = await Promise.all([
      this.readerOld.read(this.base + rOld.offset, rOld.length, this.options.signal),
      this.readerNew.read(this.base + rNew.offset, rNew.length, this.options.signal),
    ]);
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }

  /** Gives the bytes of `remaining` that files of one snapshot hold to those files; returns the rest. */
  async #attribute(fs: Filesystem, side: 'new' | 'old', remaining: FsRange[]): Promise<FsRange[]> {
    const signal = this.options.signal;
    const owners = side === 'new' ? [...this.#entries.values()].filter((e) => e.new) : [...this.#entries.values(), ...this.#gone.values()].filter((e) => e.old);
    for (const e of owners) {
      if (remaining.length === 0) break;
      remaining = await this.#take(fs, e, remaining);
      // The file's own mapping blocks (extent-tree nodes) are filesystem metadata.
      const mapping = await this.#safe(async () => (await fs.mappingRanges?.(e.id, signal)) ?? [], []);
      if (mapping.length) {
        const hit = intersect(remaining, mapping);
        this.#metadata += totalBytes(hit);
        remaining = subtract(remaining, hit);
      }
    }
    if (remaining.length === 0) return remaining;
    // Data blocks no file with a changed record explains: find their owners by walking every file.
    const kinds = await fs.classify(remaining, signal);
    const data = union(kinds.filter((k) => k.kind === 'data'));
    if (data.length === 0) return remaining;
    this.work.walkedSnapshots++;
    this.options.onProgress?.(`Looking for the owners of ${totalBytes(data)} changed bytes in every file of partition ${this.volume.partition.index}...`);
    let want = data;
    for await (const id of fs.allFiles(signal)) {
      if (want.length === 0) break;
      const extents = await this.#safe(() => fs.extents(id, signal), []);
      if (
        !overlapsAny(
          want,
          extents.map((x) => ({ offset: x.fsOffset, length: x.length })),
        )
      ) {
        const mapping = (await this.#safe(async () => (await fs.mappingRanges?.(id, signal)) ?? [], [])) ?? [];
        if (overlapsAny(want, mapping)) {
          const hit = intersect(want, mapping);
          this.#metadata += totalBytes(hit);
          want = subtract(want, hit);
          remaining = subtract(remaining, hit);
        }
        continue;
      }
      const entry = side === 'new' ? await this.#consider(id, false) : await this.#olderOwner(id);
      if (!entry) continue;
      const before = remaining;
      remaining = await this.#take(fs, entry, remaining);
      want = subtract(want, subtract(before, remaining));
    }
    return remaining;
  }

  /** The entry for a file of the older snapshot found by the walk. */
  async #olderOwner(id: FileId): Promise<Entry | undefined> {
    const e = this.#entries.get(id);
    if (e?.old) return e;
    const g = this.#gone.get(id);
    if (g) return g;
    const sOld = await this.#stat(this.fsOld, id);
    if (!sOld) return undefined;
    const sNew = await this.#stat(this.fsNew, id);
    if (sNew && sNew.generation === sOld.generation && sNew.type === sOld.type && !e) {
      const entry: Entry = { id, old: { stat: sOld }, new: { stat: sNew }, recordChanged: !(await this.#sameRecord(id)), changedBytes: 0 };
      this.#entries.set(id, entry);
      return entry;
    }
    const entry: Entry = { id, old: { stat: sOld }, recordChanged: true, changedBytes: 0 };
    this.#gone.set(id, entry);
    return entry;
  }

  async #take(fs: Filesystem, e: Entry, remaining: FsRange[]): Promise<FsRange[]> {
    const extents = await this.#safe(() => fs.extents(e.id, this.options.signal), []);
    if (extents.length === 0) return remaining;
    const held = extents.map((x) => ({ offset: x.fsOffset, length: x.length }));
    if (!overlapsAny(remaining, held)) return remaining;
    const hit = intersect(remaining, held);
    e.changedBytes += totalBytes(hit);
    if (this.options.collectExtents) (e.held ??= []).push(...hit);
    return subtract(remaining, hit);
  }

  /** A damaged file (a hostile extent tree) is not a reason to stop the whole diff: it owns nothing. */
  async #safe<T>(read: () => Promise<T>, fallback: T): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (error instanceof FilesystemError) {
        this.options.onProgress?.(`skipped: ${error.message}`);
        return fallback;
      }
      throw error;
    }
  }

  async #paths(): Promise<void> {
    const report = [...this.#entries.values(), ...this.#gone.values()].filter(
      (e) => !e.old || !e.new || e.recordChanged || e.entryChanged || e.changedBytes > 0,
    );
    const wantNew = new Set(report.filter((e) => e.new).map((e) => e.id));
    const wantOld = new Set(report.filter((e) => e.old).map((e) => e.id));
    const changedDirs = (side: 'new' | 'old') => report.filter((e) => e[side]?.stat.type === 'dir').map((e) => e.id);
    const pathsNew = this.fsNew ? await this.#resolve(this.fsNew, wantNew, changedDirs('new')) : new Map<FileId, string>();
    const pathsOld = this.fsOld ? await this.#resolve(this.fsOld, wantOld, changedDirs('old')) : new Map<FileId, string>();
    for (const e of [...this.#entries.values(), ...this.#gone.values()]) {
      if (e.new) e.new.path = pathsNew.get(e.id);
      if (e.old) e.old.path = pathsOld.get(e.id);
    }
  }

  /**
   * Paths of the wanted ids. The changed directories are read first (a new, deleted or renamed file is
   * named in one of them); then directories from the root, breadth first, until every wanted id and
   * every directory holding one has a path. A directory met twice (a cycle) is not read again.
   */
  async #resolve(fs: Filesystem, wanted: Set<FileId>, changedDirs: FileId[]): Promise<Map<FileId, string>> {
    const signal = this.options.signal;
    const paths = new Map<FileId, string>([[fs.rootId, '']]);
    if (wanted.size === 0) return new Map();
    const parent = new Map<FileId, { dir: FileId; name: string }>();
    const read = new Map<FileId, DirEntry[]>();
    const readDir = async (id: FileId) => {
      let entries = read.get(id);
      if (!entries) {
        entries = (await this.#safe(() => fs.readDir(id, signal), [])).filter((e) => e.name !== '.' && e.name !== '..');
        read.set(id, entries);
        this.work.directoriesRead++;
      }
      return entries;
    };
    for (const dir of changedDirs) {
      for (const e of await readDir(dir)) if (wanted.has(e.id) && !parent.has(e.id)) parent.set(e.id, { dir, name: e.name });
    }
    const unresolved = () => [...wanted].filter((id) => !pathOf(id));
    const pathOf = (id: FileId, depth = 0): string | undefined => {
      const known = paths.get(id);
      if (known !== undefined) return known;
      const p = parent.get(id);
      if (!p || depth > 4096) return undefined;
      const up = pathOf(p.dir, depth + 1);
      if (up === undefined) return undefined;
      const full = `${up}/${p.name}`;
      paths.set(id, full);
      return full;
    };
    if (unresolved().length) {
      const queue: FileId[] = [fs.rootId];
      const seen = new Set<FileId>([fs.rootId]);
      while (queue.length && unresolved().length) {
        const dir = queue.shift()!;
        for (const e of await readDir(dir)) {
          if (!paths.has(e.id)) paths.set(e.id, `${paths.get(dir)}/${e.name}`);
          const isDir = e.type ? e.type === 'dir' : (await this.#safe(() => fs.stat(e.id, signal), undefined))?.type === 'dir';
          if (isDir && !seen.has(e.id)) {
            seen.add(e.id);
            queue.push(e.id);
          }
        }
      }
    }
    const out = new Map<FileId, string>();
    for (const id of wanted) {
      const p = pathOf(id);
      if (p !== undefined) out.set(id, p === '' ? '/' : p);
    }
    return out;
  }
}

/**
 * The filesystem's own files when its reader does not say: NTFS keeps its metadata files ($MFT, $LogFile,
 * $Bitmap...) in MFT records 0-15 and reserves 16-23; record 5 is the root directory.
 */
function defaultInternal(fs: Filesystem, id: FileId): boolean {
  return fs.type === 'ntfs' && id < 24 && id !== fs.rootId;
}

/** True when any of `ranges` overlaps the sorted, disjoint `sorted`. */
function overlapsAny(sorted: readonly FsRange[], ranges: readonly FsRange[]): boolean {
  for (const r of ranges) {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]!.offset + sorted[mid]!.length <= r.offset) lo = mid + 1;
      else hi = mid;
    }
    if (lo < sorted.length && sorted[lo]!.offset < r.offset + r.length) return true;
  }
  return false;
}
