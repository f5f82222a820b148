import * as vscode from 'vscode';
import { ActivityLog } from './activity/activityLog';
import { ActivityTreeProvider } from './activity/activityTree';
import { recordCopies } from './activity/copyActivity';
import { CatalogCache } from './catalog';
import { registerDiffRestore } from './commands/diff';
import { registerCommands } from './commands/registerCommands';
import { registerProtection } from './protection';
import { registerSnapshotFileSystem } from './snapshotFs';
import { registerResourceViews } from './commands/resource';
import { Connection } from './connection';
import { CopyJobs } from './copyJobs';
import { showFailure } from './errors';
import type { Log } from './log';
import type { DiskDeltaServices } from './services';
import { settings } from './settings';
import { SnapshotTreeProvider } from './tree/snapshotTree';
import { UsedSizeCache } from './usedSizes';

/** Wires the services, the tree and the commands. Azure SDKs are not loaded here: only on first use. */
export async function activateDiskDelta(context: vscode.ExtensionContext, log: Log): Promise<DiskDeltaServices> {
  const connection = new Connection(context, log);
  const catalogs = new CatalogCache(connection);
  const usedSizes = new UsedSizeCache(context.globalState);
  const copies = new CopyJobs(context, log, connection, catalogs);
  const tree = new SnapshotTreeProvider(
    connection,
    catalogs,
    {
      usedBytes: (older, newer) => usedSizes.get(older, newer),
      copyStatus: (family) => copies.statusOf(family),
      pricePerGiBMonth: () => settings.pricePerGiBMonth(),
      currency: () => settings.currency(),
    },
    log,
  );
  const activity = new ActivityLog(context.globalStorageUri.fsPath, log);
  const view = vscode.window.createTreeView('diskDelta.snapshots', { treeDataProvider: tree, showCollapseAll: true, canSelectMany: true });
  copies.revealFamily = async (familyId) => {
    if (!(await tree.revealFamily(view, familyId))) await vscode.commands.executeCommand('diskDelta.snapshots.focus');
  };
  const services: DiskDeltaServices = { context, log, connection, catalogs, tree, usedSizes, copies, activity, snapshotsView: view };
  const activityTree = new ActivityTreeProvider(activity);
  const describeView = () => {
    view.description = connection.kind === 'emulator' ? 'Local emulator' : undefined;
    view.message = connection.kind === 'emulator' ? `Showing the Disk Delta local emulator (${connection.emulator?.armEndpoint ?? ''}), not Azure.` : undefined;
  };
  context.subscriptions.push(
    connection,
    catalogs,
    copies,
    tree,
    view,
    connection.onDidChange(describeView),
    copies.onDidChange((familyId) => tree.redrawFamily(familyId)),
    activity,
    activityTree,
    vscode.window.registerTreeDataProvider('diskDelta.activity', activityTree),
    recordCopies(copies, activity),
    ...registerCommands(services),
    ...registerResourceViews(services),
    registerDiffRestore(services),
    ...registerProtection(services),
    registerSnapshotFileSystem(services),
  );
  await vscode.commands.executeCommand('setContext', 'diskDelta.connection', 'none');
  try {
    await connection.initialise();
  } catch (error) {
    await showFailure(log, 'Connecting', error);
  }
  describeView();
  offerResume(services);
  log.info(`Disk Delta activated (${connection.kind === 'none' ? 'not connected' : connection.kind}).`);
  return services;
}

/** A copy cut short by a closed window or a crash is offered again at start-up; its journal makes it continue. */
function offerResume(s: DiskDeltaServices): void {
  const pending = s.copies.interrupted();
  if (!pending.length || s.connection.kind === 'none') return;
  const names = pending.map((r) => r.familyName).join(', ');
  void vscode.window.showInformationMessage(`An interrupted copy of ${names} can be resumed where it stopped.`, 'Resume', 'Not Now').then((choice) => {
    if (choice === 'Resume') void vscode.commands.executeCommand('diskDelta.resumeCopy', pending.length === 1 ? pending[0]!.familyId : undefined);
  });
}
