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
import { FilesystemError, type BlockReader, type DirEntry, type Extent, type FileId, type FileStat, type Filesystem, type FsRange } from './types';

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
  /** Its content, kept inside its record, differs between the snapshots. */
  dataInRecordChanged?: boolean;
}

class VolumeDiff {
  /** Files present in the newer snapshot (and the same file in the older one, same id and generation). */
  readonly #entries = new Map<FileId, Entry>();
  /** Files only in the older snapshot, or an older file whose id was reused by another one. */
  readonly #gone = new Map<FileId, Entry>();
  #metadata = 0;
  #free = 0;
  /** Extents and mapping blocks of the files met, per snapshot. */
  readonly #maps = { new: new Map<FileId, Promise<FileMap>>(), old: new Map<FileId, Promise<FileMap>>() };
  /** Directory listings read, per snapshot ('.' and '..' left out): compared, then walked for paths. */
  readonly #listings = { new: new Map<FileId, Promise<DirEntry[]>>(), old: new Map<FileId, Promise<DirEntry[]>>() };
  /** A compared directory names other files in one snapshot than in the other: paths may differ. */
  #namesChanged = false;

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
    const [inNew, inOld] = await Promise.all([this.fsNew?.recordsIn(ranges, signal), this.fsOld?.recordsIn(ranges, signal)]);
    const ids = new Set<FileId>([...(inNew ?? []), ...(inOld ?? [])]);
    this.work.candidates += ids.size;
    // Both snapshots' records are read many at a time (each read is a round trip), then applied in order.
    const loaded = await this.#loadRecords([...ids]);
    for (const id of ids) this.#apply(id, loaded.get(id)!, true);

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
    if (e.changedBytes > 0 || o.stat.sizeBytes !== n.stat.sizeBytes || e.dataInRecordChanged) return 'modified';
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
    const listings = await mapLimit(
      dirs,
      PARALLEL_READS,
      (d) => Promise.all([d.old ? this.#list('old', d.id) : Promise.resolve([]), d.new ? this.#list('new', d.id) : Promise.resolve([])]),
      signal,
    );
    for (const [i, d] of dirs.entries()) {
      done.add(d.id);
      const key = (x: DirEntry) => `${x.id}/${x.name}`;
      const [before, after] = listings[i]!;
      const a = new Set(before.map(key));
      const b = new Set(after.map(key));
      const moved = new Set<FileId>();
      for (const x of before) if (!b.has(key(x))) moved.add(x.id);
      for (const x of after) if (!a.has(key(x))) moved.add(x.id);
      if (moved.size || !d.old || !d.new) this.#namesChanged = true;
      for (const id of moved) {
        const entry = (await this.#consider(id, false)) ?? this.#gone.get(id);
        if (entry) entry.entryChanged = true;
      }
    }
  }

  /** A directory's entries in one snapshot, read once ('.' and '..' left out; a damaged one is empty). */
  #list(side: 'new' | 'old', id: FileId): Promise<DirEntry[]> {
    const known = this.#listings[side].get(id);
    if (known) return known;
    const fs = side === 'new' ? this.fsNew : this.fsOld;
    const signal = this.options.signal;
    this.work.directoriesRead++;
    const listing = fs
      ? this.#safe(async () => (await fs.readDir(id, signal)).filter((e) => e.name !== '.' && e.name !== '..'), [] as DirEntry[])
      : Promise.resolve([]);
    this.#listings[side].set(id, listing);
    return listing;
  }

  /** A file's state in both snapshots; `fromRecord` when its record bytes lie in the diff. */
  async #consider(id: FileId, fromRecord: boolean): Promise<Entry | undefined> {
    const existing = this.#entries.get(id);
    if (existing) return existing;
    if (this.#gone.has(id) && !fromRecord) return undefined;
    return this.#apply(id, await this.#load(id), fromRecord);
  }

  /** What #apply needs of a file, read from both snapshots (no state changes: safe to run many at once). */
  async #load(id: FileId): Promise<Loaded> {
    const [sOld, sNew] = await Promise.all([this.#stat(this.fsOld, id), this.#stat(this.fsNew, id)]);
    // Its extents are read now, while its record's bytes are in the reader's cache: the files met here
    // are the owners #attribute goes through, and reading them there again would fetch the records twice.
    const [same, mapNew, mapOld] = await Promise.all([
      sOld && sNew && sOld.generation === sNew.generation && sOld.type === sNew.type ? this.#sameRecord(id) : undefined,
      sNew && this.fsNew ? this.#mapOf(this.fsNew, 'new', id) : undefined,
      sOld && this.fsOld ? this.#mapOf(this.fsOld, 'old', id) : undefined,
    ]);
    // A small file kept inside its record (NTFS resident $DATA, ext4 inline data) has no blocks of its own:
    // its bytes count as the record's, so whether its content changed is found by reading both versions.
    let dataInRecordChanged = false;
    if (
      same === false &&
      sOld!.type === 'file' &&
      sOld!.sizeBytes === sNew!.sizeBytes &&
      sNew!.sizeBytes > 0 &&
      sNew!.sizeBytes <= IN_RECORD_MAX &&
      mapNew?.[0].length === 0 &&
      mapOld?.[0].length === 0
    ) {
      const signal = this.options.signal;
      const [a, b] = await Promise.all([
        this.#safe(() => this.fsOld!.readFile(id, 0, sOld!.sizeBytes, signal), undefined),
        this.#safe(() => this.fsNew!.readFile(id, 0, sNew!.sizeBytes, signal), undefined),
      ]);
      dataInRecordChanged =
        a !== undefined && b !== undefined && !Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    }
    return { sOld, sNew, same, dataInRecordChanged };
  }

  /**
   * #load for many files: their records (the changed stretches of inode tables, MFT records, inode
   * chunks) are fetched from both snapshots first, in as few requests as the readers can make of them,
   * then each file is loaded from the cache. One request per record would hold the diff to the blob's
   * request rate (docs/azure-behaviour.md#scale-targets-of-one-page-blob).
   */
  async #loadRecords(ids: readonly FileId[]): Promise<Map<FileId, Loaded>> {
    const signal = this.options.signal;
    const fs = this.fsNew ?? this.fsOld!;
    const placed = await mapLimit(ids, PARALLEL_READS, async (id) => ({ id, at: await this.#safe(() => fs.recordRange(id, signal), undefined) }), signal);
    // In record order, a batch at a time, so that a batch's records stay in the readers' caches until loaded.
    placed.sort((a, b) => (a.at?.offset ?? -1) - (b.at?.offset ?? -1));
    const out = new Map<FileId, Loaded>();
    for (let i = 0; i < placed.length; i += RECORDS_PER_BATCH) {
      const batch = placed.slice(i, i + RECORDS_PER_BATCH);
      const ranges = batch.filter((p) => p.at).map((p) => ({ offset: this.base + p.at!.offset, length: p.at!.length }));
      await Promise.all([this.fsOld && this.readerOld.prefetch?.(ranges, signal), this.fsNew && this.readerNew.prefetch?.(ranges, signal)]);
      const loaded = await mapLimit(batch, PARALLEL_READS, (p) => this.#load(p.id), signal);
      batch.forEach((p, k) => out.set(p.id, loaded[k]!));
    }
    return out;
  }

  /** A file's extents and mapping blocks for the walk (not kept: the walk meets every file once). */
  async #walkMapOf(fs: Filesystem, id: FileId): Promise<FileMap> {
    const signal = this.options.signal;
    return Promise.all([this.#safe(() => fs.extents(id, signal), []), this.#safe(async () => (await fs.mappingRanges?.(id, signal)) ?? [], [])] as const);
  }

  /** A file's extents and mapping blocks in one snapshot, read once. */
  #mapOf(fs: Filesystem, side: 'new' | 'old', id: FileId): Promise<FileMap> {
    const known = this.#maps[side].get(id);
    if (known) return known;
    const signal = this.options.signal;
    const map = Promise.all([this.#safe(() => fs.extents(id, signal), []), this.#safe(async () => (await fs.mappingRanges?.(id, signal)) ?? [], [])] as const);
    this.#maps[side].set(id, map);
    return map;
  }

  #apply(id: FileId, { sOld, sNew, same, dataInRecordChanged }: Loaded, fromRecord: boolean): Entry | undefined {
    const existing = this.#entries.get(id);
    if (existing) return existing;
    if (this.#gone.has(id) && !fromRecord) return undefined;
    if (!sOld && !sNew) return undefined;
    let recordChanged = true;
    if (sOld && sNew && sOld.generation === sNew.generation && sOld.type === sNew.type) {
      recordChanged = !same;
      if (!recordChanged && fromRecord) {
        // A neighbour of a changed record (records share a 512-byte page): unchanged unless its data changed.
        const entry: Entry = { id, old: { stat: sOld }, new: { stat: sNew }, recordChanged: false, changedBytes: 0 };
        this.#entries.set(id, entry);
        return entry;
      }
    }
    if (sOld && sNew && sOld.generation === sNew.generation && sOld.type === sNew.type) {
      const entry: Entry = {
        id,
        old: { stat: sOld },
        new: { stat: sNew },
        recordChanged,
        changedBytes: 0,
        ...(dataInRecordChanged ? { dataInRecordChanged } : {}),
      };
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
    // Each owner's extents and mapping blocks are read many at a time, then given their bytes in order.
    const maps = await mapLimit(owners, PARALLEL_READS, (e) => this.#mapOf(fs, side, e.id), signal);
    remaining = this.#takeAll(owners, maps, remaining);
    if (remaining.length === 0) return remaining;
    const kinds = await fs.classify(remaining, signal);
    let data = union(kinds.filter((k) => k.kind === 'data'));
    if (data.length === 0) return remaining;
    // Data blocks no file with a changed record explains. The directories that name those files are
    // looked at first (NTFS rewrites the entries that name a changed file, docs on FileStat.parents).
    const parents = new Set<FileId>();
    for (const e of owners) for (const p of e[side]?.stat.parents ?? []) if (!this.#entries.has(p) && !this.#gone.has(p)) parents.add(p);
    if (parents.size) {
      const found = await mapLimit(
        [...parents].sort((a, b) => a - b),
        PARALLEL_READS,
        async (id) => {
          const entry = side === 'new' ? await this.#consider(id, false) : await this.#olderOwner(id);
          return entry?.[side] ? { entry, map: await this.#mapOf(fs, side, id) } : undefined;
        },
        signal,
      );
      const hits = found.filter((f) => f !== undefined);
      remaining = this.#takeAll(
        hits.map((f) => f.entry),
        hits.map((f) => f.map),
        remaining,
      );
      data = intersect(data, remaining);
      if (data.length === 0) return remaining;
    }
    // What is left: find the owners by walking every file.
    this.work.walkedSnapshots++;
    this.options.onProgress?.(`Looking for the owners of ${totalBytes(data)} changed bytes in every file of partition ${this.volume.partition.index}...`);
    let want = data;
    // The walk reads many files' extents at a time, a batch after another, and gives bytes in walk order.
    const walk = fs.allFiles(signal)[Symbol.asyncIterator]();
    let done = false;
    while (want.length > 0 && !done) {
      const batch: FileId[] = [];
      while (batch.length < WALK_BATCH) {
        const next = await walk.next();
        if (next.done) {
          done = true;
          break;
        }
        batch.push(next.value);
      }
      const maps = await mapLimit(batch, PARALLEL_READS, (id) => this.#walkMapOf(fs, id), signal);
      for (const [i, id] of batch.entries()) {
        if (want.length === 0) break;
        const [extents, mapping] = maps[i]!;
        if (
          !overlapsAny(
            want,
            extents.map((x) => ({ offset: x.fsOffset, length: x.length })),
          )
        ) {
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
        remaining = this.#takeExtents(entry, extents, remaining);
        want = subtract(want, subtract(before, remaining));
      }
    }
    if (!done) await walk.return?.();
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

  /**
   * Gives the bytes of `remaining` to the owners, in owner order: each owner's extents, then its mapping
   * blocks (extent-tree nodes: filesystem metadata). Returns the rest. Extents of a sound filesystem do not
   * overlap, so one sweep in offset order over both lists does it; when some do (a damaged image), the
   * owners take their bytes one after the other, the first one first.
   */
  #takeAll(owners: readonly Entry[], maps: readonly FileMap[], remaining: FsRange[]): FsRange[] {
    const items: Array<{ offset: number; end: number; owner: Entry | undefined }> = [];
    for (const [i, e] of owners.entries()) {
      const [extents, mapping] = maps[i]!;
      for (const x of extents) if (x.length > 0) items.push({ offset: x.fsOffset, end: x.fsOffset + x.length, owner: e });
      for (const m of mapping) if (m.length > 0) items.push({ offset: m.offset, end: m.offset + m.length, owner: undefined });
    }
    items.sort((a, b) => a.offset - b.offset);
    let reach = 0;
    const overlapping = items.some((x) => {
      const overlaps = x.offset < reach;
      reach = Math.max(reach, x.end);
      return overlaps;
    });
    if (overlapping) {
      for (const [i, e] of owners.entries()) {
        if (remaining.length === 0) break;
        const [extents, mapping] = maps[i]!;
        remaining = this.#takeExtents(e, extents, remaining);
        if (mapping.length) {
          const taken = take(remaining, mapping);
          this.#metadata += totalBytes(taken.hit);
          remaining = taken.rest;
        }
      }
      return remaining;
    }
    const rest: FsRange[] = [];
    let j = 0;
    let cur: FsRange | undefined = remaining[0];
    for (const item of items) {
      while (cur && cur.offset + cur.length <= item.offset) {
        rest.push(cur);
        cur = remaining[++j];
      }
      while (cur && cur.offset < item.end) {
        const curEnd: number = cur.offset + cur.length;
        const from = Math.max(cur.offset, item.offset);
        const to = Math.min(curEnd, item.end);
        if (cur.offset < from) rest.push({ offset: cur.offset, length: from - cur.offset });
        if (item.owner) {
          item.owner.changedBytes += to - from;
          if (this.options.collectExtents) (item.owner.held ??= []).push({ offset: from, length: to - from });
        } else this.#metadata += to - from;
        if (curEnd > to) {
          cur = { offset: to, length: curEnd - to };
          break;
        }
        cur = remaining[++j];
      }
    }
    if (cur) rest.push(cur);
    for (j++; j < remaining.length; j++) rest.push(remaining[j]!);
    return rest;
  }

  #takeExtents(e: Entry, extents: readonly Extent[], remaining: FsRange[]): FsRange[] {
    if (extents.length === 0) return remaining;
    const held = extents.map((x) => ({ offset: x.fsOffset, length: x.length }));
    if (!overlapsAny(remaining, held)) return remaining;
    const taken = take(remaining, held);
    e.changedBytes += totalBytes(taken.hit);
    if (this.options.collectExtents) (e.held ??= []).push(...taken.hit);
    return taken.rest;
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
    const changedDirs = (side: 'new' | 'old') => report.filter((e) => e[side]?.stat.type === 'dir').map((e) => e.id);
    // A rename, a move, a creation or a deletion always rewrites a directory, and every directory whose
    // bytes changed was compared. When none of them names other files in one snapshot than in the other,
    // a file present in both has the same path in both: the older tree is not read.
    const sameTree = !this.#namesChanged;
    const inBoth = (e: Entry) => e.old !== undefined && e.new !== undefined;
    const wantNew = new Set(report.filter((e) => e.new).map((e) => e.id));
    const wantOld = new Set(report.filter((e) => e.old && !(sameTree && inBoth(e))).map((e) => e.id));
    const [pathsNew, pathsOld] = await Promise.all([
      this.fsNew ? this.#resolve('new', this.fsNew, wantNew, changedDirs('new')) : new Map<FileId, string>(),
      this.fsOld ? this.#resolve('old', this.fsOld, wantOld, changedDirs('old')) : new Map<FileId, string>(),
    ]);
    for (const e of [...this.#entries.values(), ...this.#gone.values()]) {
      if (e.new) e.new.path = pathsNew.get(e.id);
      if (e.old) e.old.path = sameTree && inBoth(e) ? e.new!.path : pathsOld.get(e.id);
    }
  }

  /**
   * Paths of the wanted ids. The changed directories are read first (a new, deleted or renamed file is
   * named in one of them); then directories from the root, breadth first, until every wanted id and
   * every directory holding one has a path. A directory met twice (a cycle) is not read again.
   */
  async #resolve(side: 'new' | 'old', fs: Filesystem, wanted: Set<FileId>, changedDirs: FileId[]): Promise<Map<FileId, string>> {
    const signal = this.options.signal;
    const paths = new Map<FileId, string>([[fs.rootId, '']]);
    if (wanted.size === 0) return new Map();
    const parent = new Map<FileId, { dir: FileId; name: string }>();
    const readDir = (id: FileId) => this.#list(side, id);
    const changedListings = await mapLimit(changedDirs, PARALLEL_READS, readDir, signal);
    for (const [i, dir] of changedDirs.entries()) {
      for (const e of changedListings[i]!) if (wanted.has(e.id) && !parent.has(e.id)) parent.set(e.id, { dir, name: e.name });
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
        // The next directories of the queue are read many at a time, then taken in queue order (breadth first).
        const batch = queue.splice(0, PARALLEL_READS);
        const listings = await mapLimit(batch, PARALLEL_READS, readDir, signal);
        for (const [i, dir] of batch.entries()) {
          const entries = listings[i]!;
          const untyped = entries.filter((e) => !e.type);
          const types = await mapLimit(untyped, PARALLEL_READS, async (e) => (await this.#safe(() => fs.stat(e.id, signal), undefined))?.type, signal);
          const typeOf = new Map(untyped.map((e, k) => [e, types[k]]));
          for (const e of entries) {
            if (!paths.has(e.id)) paths.set(e.id, `${paths.get(dir)}/${e.name}`);
            const isDir = (e.type ?? typeOf.get(e)) === 'dir';
            if (isDir && !seen.has(e.id)) {
              seen.add(e.id);
              queue.push(e.id);
            }
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

/**
 * Reads in flight at once while the diff loads records, extents and directories: each read of a snapshot
 * is a round trip (docs/azure-behaviour.md#page-blobs), so latency, not bytes, is the cost when they wait
 * on each other. The cached reader bounds the raw requests under it.
 */
const PARALLEL_READS = 32;
/** Records fetched and loaded at a time: at most 16 MiB of 16 KiB cache granules per snapshot. */
const RECORDS_PER_BATCH = 1024;
/** Files whose extents the walk reads at a time. */
const WALK_BATCH = 512;
/** Files kept inside their record are at most an MFT record (1-4 KiB) or an inode; compared up to this size. */
const IN_RECORD_MAX = 64 * 1024;

type FileMap = readonly [extents: Extent[], mapping: FsRange[]];

interface Loaded {
  readonly sOld: FileStat | undefined;
  readonly sNew: FileStat | undefined;
  /** whether both snapshots hold the same record bytes; undefined when it is not the same file */
  readonly same: boolean | undefined;
  readonly dataInRecordChanged: boolean;
}

/**
 * `fn` over `items` with at most `limit` running at once; results in the items' order. Each worker takes
 * its own contiguous slice: items come sorted by where they lie on disk (inode numbers, directories in
 * order), so neighbours share the cached reader's granules, and workers spread over slices keep `limit`
 * different granules in flight instead of all waiting on the same one.
 */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>, signal?: AbortSignal): Promise<R[]> {
  const out = new Array<R>(items.length);
  const workers = Math.min(limit, items.length);
  const worker = async (w: number) => {
    const end = Math.floor(((w + 1) * items.length) / workers);
    for (let i = Math.floor((w * items.length) / workers); i < end; i++) {
      signal?.throwIfAborted();
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return out;
}

/**
 * The parts of the sorted, disjoint `remaining` that `ranges` cover, and the rest. Only the stretch of
 * `remaining` between the first and last of `ranges` is rebuilt: a diff with thousands of ranges is
 * handed to thousands of files one after the other, and each file holds few of them.
 */
function take(remaining: readonly FsRange[], ranges: readonly FsRange[]): { hit: FsRange[]; rest: FsRange[] } {
  const cover = union(ranges);
  if (cover.length === 0 || remaining.length === 0) return { hit: [], rest: [...remaining] };
  const start = cover[0]!.offset;
  const end = cover[cover.length - 1]!.offset + cover[cover.length - 1]!.length;
  let lo = 0;
  let hi = remaining.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (remaining[mid]!.offset + remaining[mid]!.length <= start) lo = mid + 1;
    else hi = mid;
  }
  const first = lo;
  hi = remaining.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (remaining[mid]!.offset < end) lo = mid + 1;
    else hi = mid;
  }
  const part = remaining.slice(first, lo);
  const hit = intersect(part, cover);
  return { hit, rest: [...remaining.slice(0, first), ...subtract(part, hit), ...remaining.slice(lo)] };
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
