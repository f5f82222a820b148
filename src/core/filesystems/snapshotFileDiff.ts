import { withSnapshotDiff, type DiffOptions } from '../diff';
import type { DiffRange } from '../model';
import type { ComputeApi, DataPlane } from '../ports';
import { openDisk } from './disk';
import { sharedUnchanged, type CachedReaderOptions } from './reader';
import { AZURE_TARGET_PACE } from '../copy';
import { fileDiff, type FileChange, type FileDiff } from './fileDiff';
import { snapshotReader, type SnapshotImageOptions } from './snapshotImage';

/** What `disk-delta diff --files --json` prints. */
export interface SnapshotFileDiff {
  readonly from: string;
  readonly to: string;
  readonly filesystems: FileDiff['filesystems'];
  readonly files: FileChange[];
  readonly unattributed: FileDiff['unattributed'];
  /** Bytes of the block diff (changed + cleared), which files and unattributed add up to. */
  readonly diffBytes: number;
  /** Bytes read from the two snapshots to answer. */
  readonly bytesRead: number;
  readonly work: FileDiff['work'];
  /** With `collectExtents`: each file's changed ranges on the disk. */
  readonly extents?: FileDiff['extents'];
}

/**
 * How a file diff reads each snapshot: it asks for many small pieces (records, directory blocks) far
 * apart, so requests, not bytes, are its cost. More of them in flight, and small cache granules, so that
 * a record read to find the changed files is still cached when it is compared (reads are paced under
 * each blob's targets by default).
 */
const FILE_DIFF_READER: CachedReaderOptions = { concurrency: 16, granuleBytes: 16 * 1024 };

/**
 * The file-level diff of two snapshots of one family, in either order: changes are read from `fromId`
 * to `toId` (from a newer to an older snapshot, an added file shows as deleted). Both grants are given
 * back whatever happens.
 */
export async function snapshotFileDiff(
  compute: ComputeApi,
  dataPlane: DataPlane,
  fromId: string,
  toId: string,
  options: DiffOptions & SnapshotImageOptions & { onNote?: (text: string) => void; collectExtents?: boolean },
): Promise<SnapshotFileDiff> {
  return withSnapshotDiff(compute, dataPlane, fromId, toId, options, async (diff) => {
    const ranges: DiffRange[] = [];
    let diffBytes = 0;
    for await (const r of diff.ranges()) {
      ranges.push(r);
      diffBytes += r.length;
    }
    const readOptions = { ...options, pace: options.pace ?? AZURE_TARGET_PACE, reader: { ...FILE_DIFF_READER, ...options.reader } };
    const olderReader = snapshotReader(dataPlane, diff.older, diff.grants.older, readOptions);
    const newerReader = snapshotReader(dataPlane, diff.newer, diff.grants.newer, readOptions);
    // What the diff leaves alone is the same in both snapshots: either one serves it.
    const [olderView, newerView] = sharedUnchanged(olderReader, newerReader, ranges);
    const [olderDisk, newerDisk] = await Promise.all([openDisk(olderView, options.signal), openDisk(newerView, options.signal)]);
    const older = { reader: olderView, disk: olderDisk };
    const newer = { reader: newerView, disk: newerDisk };
    const toIsNewer = diff.newer.id.toLowerCase() === toId.toLowerCase() || diff.older.id.toLowerCase() === fromId.toLowerCase();
    const [a, b] = toIsNewer ? [older, newer] : [newer, older];
    const result = await fileDiff(a, b, ranges, { signal: options.signal, onProgress: options.onNote, collectExtents: options.collectExtents });
    return {
      from: (toIsNewer ? diff.older : diff.newer).id,
      to: (toIsNewer ? diff.newer : diff.older).id,
      filesystems: result.filesystems,
      files: result.files,
      unattributed: result.unattributed,
      diffBytes,
      bytesRead: olderReader.stats.bytesRead + newerReader.stats.bytesRead,
      work: result.work,
      ...(result.extents ? { extents: result.extents } : {}),
    };
  });
}
