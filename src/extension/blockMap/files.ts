/**
 * The Files panel's content from a file-level diff (the one `disk-delta diff --files` prints): files
 * ranked by changed bytes, capped, each with its changed extents on the disk capped too. Free of
 * `vscode` so that it is tested in plain node.
 */
import type { SnapshotFileDiff } from '../../core/filesystems/snapshotFileDiff';
import { MAX_FILES, type ChangedFile, type FilesMessage } from '../../shared/blockMapProtocol';
import { capExtents } from '../../shared/fileCells';

/** Why no file can be named, from the filesystems the diff found; undefined when at least one was read. */
export function unreadableReason(filesystems: SnapshotFileDiff['filesystems']): string | undefined {
  if (filesystems.some((v) => v.supported)) return undefined;
  if (filesystems.length === 0) return 'No partition table or filesystem was found on this disk.';
  const why = filesystems.map((v) => `partition ${v.partition} (${v.type}): ${v.reason ?? 'not readable'}`).join('; ');
  return `No filesystem on this disk can be read, so changes are shown as blocks only. ${why}.`;
}

/** The `files` message for a finished file diff. */
export function filesMessage(diff: Pick<SnapshotFileDiff, 'filesystems' | 'files' | 'extents'>): FilesMessage {
  const reason = unreadableReason(diff.filesystems);
  if (reason !== undefined) return { type: 'files', state: 'unavailable', reason, files: [], total: 0 };
  const ranked = [...diff.files].sort((a, b) => b.changedBytes - a.changedBytes || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const files = ranked.slice(0, MAX_FILES).map((f): ChangedFile => {
    const { extents, coarse } = capExtents(diff.extents?.get(f) ?? []);
    return {
      path: f.path,
      change: f.change,
      ...(f.previousPath !== undefined ? { previousPath: f.previousPath } : {}),
      changedBytes: f.changedBytes,
      partition: f.partition,
      dir: f.type === 'dir',
      extents,
      ...(coarse ? { coarse: true } : {}),
    };
  });
  return { type: 'files', state: 'ready', files, total: diff.files.length };
}
