import * as vscode from 'vscode';
import { findFamily, previousInFamily } from '../../core/families';
import type { SnapshotInfo } from '../../core/model';
import { DiskDeltaError } from '../../core/errors';
import { parseResourceId } from '../../core/resourceId';
import { pickSnapshot, required } from '../pickers';
import type { DiskDeltaServices } from '../services';
import { SnapshotNode, type DiskDeltaNode } from '../tree/items';
import { parseSnapshotUri, SNAPSHOT_SCHEME, SnapshotFileSystem, snapshotUri } from './provider';

let provider: SnapshotFileSystem | undefined;

/** Registers the read-only `disk-delta-snapshot:` file system (once per activation). */
export function registerSnapshotFileSystem(s: DiskDeltaServices): vscode.Disposable {
  const fs = new SnapshotFileSystem(s);
  provider = fs;
  // Closing a snapshot's folder gives its grant back at once rather than after the idle time.
  const folders = vscode.workspace.onDidChangeWorkspaceFolders((e) => {
    const still = new Set(
      (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === SNAPSHOT_SCHEME).map((f) => parseSnapshotUri(f.uri).snapshotId.toLowerCase()),
    );
    for (const removed of e.removed) {
      if (removed.uri.scheme !== SNAPSHOT_SCHEME) continue;
      const id = parseSnapshotUri(removed.uri).snapshotId;
      if (!still.has(id.toLowerCase())) void fs.forget(id).catch((error: unknown) => s.log.warn(`Snapshot files: closing ${id} failed: ${String(error)}`));
    }
  });
  return vscode.Disposable.from(vscode.workspace.registerFileSystemProvider(SNAPSHOT_SCHEME, fs, { isCaseSensitive: true, isReadonly: true }), folders, fs);
}

/**
 * Gives back every browsing grant before the extension host stops. Adding a folder to the workspace can
 * restart the extension host (vscode.d.ts, workspace.updateWorkspaceFolders; in code-server the window
 * reloads): a grant left to the old host would stay open, and the new host, finding the snapshot in
 * "Active SAS", would take it for someone else's and never revoke it.
 */
export async function closeSnapshotFileSystem(): Promise<void> {
  await provider?.closeAll();
}

function fileSystem(): SnapshotFileSystem {
  if (!provider) throw new DiskDeltaError('The snapshot file system is not ready.', 'NotActivated', 'Reload the window.');
  return provider;
}

/**
 * "Browse Files in Snapshot": adds the snapshot's filesystem to the Explorer as a read-only folder.
 * With several readable filesystems, the user picks one.
 */
export async function browseSnapshotFilesCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  const snapshot: SnapshotInfo =
    node instanceof SnapshotNode ? node.snapshot : (await pickSnapshot(s.connection, s.catalogs, 'Browse files in snapshot')).snapshot;
  const { disk } = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Reading the partitions of ${snapshot.name}...` },
    async () => (await fileSystem().browser(snapshot.id)).disk(),
  );
  const readable = disk.volumes.filter((v) => v.supported);
  if (readable.length === 0) {
    const why = disk.volumes.map((v) => `partition ${v.partition.index}: ${v.reason ?? v.type}`).join('; ');
    throw new DiskDeltaError(
      `${snapshot.name} holds no filesystem Disk Delta can read (${why}).`,
      'NoReadableFilesystem',
      'Its changes can still be seen as blocks with Diff.',
    );
  }
  let chosen = readable[0]!;
  if (readable.length > 1) {
    const pick = await vscode.window.showQuickPick(
      readable.map((v) => ({ label: `Partition ${v.partition.index}`, description: `${v.type}${v.label ? ` "${v.label}"` : ''}`, volume: v })),
      { title: `Which filesystem of ${snapshot.name}?` },
    );
    chosen = required(pick).volume;
  }
  const uri = snapshotUri(snapshot.id, chosen.partition.index);
  const name = `${snapshot.name} (${chosen.type}${chosen.label ? ` ${chosen.label}` : ''}, read-only)`;
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (!folders.some((f) => f.uri.toString() === uri.toString())) vscode.workspace.updateWorkspaceFolders(folders.length, 0, { uri, name });
  await vscode.commands.executeCommand('workbench.view.explorer');
}

/** "Compare with Previous Snapshot": VS Code's diff editor between the file in the previous snapshot of the family and in this one. */
export async function compareWithPreviousSnapshotCommand(s: DiskDeltaServices, uri?: vscode.Uri): Promise<void> {
  const target = uri ?? vscode.window.activeTextEditor?.document.uri;
  if (!target || target.scheme !== SNAPSHOT_SCHEME) {
    throw new DiskDeltaError('Choose a file inside a snapshot (Browse Files in Snapshot) first.', 'NotASnapshotFile');
  }
  const { snapshotId, partition, path } = parseSnapshotUri(target);
  const { subscriptionId } = parseResourceId(snapshotId);
  const catalog = await s.catalogs.get(subscriptionId);
  const family = findFamily(catalog, snapshotId);
  const previous = family ? previousInFamily(family, snapshotId) : undefined;
  if (!family || !previous) throw new DiskDeltaError('This snapshot has no earlier snapshot in its family.', 'NoPreviousSnapshot');
  const current = family.snapshots.find((x) => x.id.toLowerCase() === snapshotId.toLowerCase());
  const before = snapshotUri(previous.id, partition, path);
  let left = before;
  try {
    await fileSystem().stat(before);
  } catch {
    // The file did not exist yet: compare with an empty document.
    left = vscode.Uri.from({ scheme: 'untitled', path: `${path} (not in ${previous.name})` });
  }
  await vscode.commands.executeCommand('vscode.diff', left, target, `${path.split('/').pop()} (${previous.name} ↔ ${current?.name ?? 'snapshot'})`);
}
