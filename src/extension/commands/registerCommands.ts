import * as vscode from 'vscode';
import { showFailure } from '../errors';
import type { DiskDeltaServices } from '../services';
import { connectEmulator, selectSubscriptions } from './connect';
import { cancelCopyCommand, copyFamilyCommand, copyNativeCommand, copySnapshotCommand, resumeCopyCommand, showCopiesCommand } from './copy';
import { showCostCommand } from '../cost/costPanel';
import { copyNameCommand, copyResourceIdCommand, editTagsCommand, openInPortalCommand, revealResourceCommand, viewPropertiesCommand } from './resource';
import { diffSnapshotsCommand, diffWithPreviousCommand } from './diff';
import { browseSnapshotFilesCommand, compareWithPreviousSnapshotCommand } from '../snapshotFs';
import { runDiagnosticsCommand } from './doctor';
import {
  createFullSnapshotCommand,
  createSnapshotCommand,
  deleteSnapshotCommand,
  restoreDiskCommand,
  revokeAccessCommand,
  showExportCommand,
} from './snapshots';

type Handler = (s: DiskDeltaServices, ...args: never[]) => Promise<void> | void;

/** Every command in one place; each failure becomes one message with the error code and a link to the log. */
const COMMANDS: Record<string, [title: string, handler: Handler]> = {
  'diskDelta.signIn': ['Sign in to Azure', (s) => s.connection.signIn()],
  'diskDelta.signOut': ['Sign out', (s) => s.connection.signOut()],
  'diskDelta.signInToTenant': ['Sign in to directory', (s, tenantId: string) => s.connection.signInToTenant(tenantId)],
  'diskDelta.connectEmulator': ['Connect to the local emulator', (s, file?: string) => connectEmulator(s, file)],
  'diskDelta.disconnect': ['Disconnect', (s) => s.connection.disconnect()],
  'diskDelta.selectSubscriptions': ['Select subscriptions', (s) => selectSubscriptions(s)],
  'diskDelta.refresh': ['Refresh', (s) => s.tree.refresh()],
  'diskDelta.showMore': ['Show more', (s, key: string) => s.tree.showMore(key)],
  'diskDelta.showLog': ['Show log', (s) => s.log.show()],
  'diskDelta.runDiagnostics': ['Run diagnostics', runDiagnosticsCommand],
  'diskDelta.createSnapshot': ['Create snapshot', createSnapshotCommand],
  'diskDelta.diffWithPrevious': ['Diff with previous', diffWithPreviousCommand],
  'diskDelta.diffSnapshots': ['Diff snapshots', diffSnapshotsCommand],
  'diskDelta.browseSnapshotFiles': ['Browse files in snapshot', browseSnapshotFilesCommand],
  'diskDelta.compareWithPreviousSnapshot': ['Compare with previous snapshot', compareWithPreviousSnapshotCommand],
  'diskDelta.copySnapshot': ['Copy snapshot', copySnapshotCommand],
  'diskDelta.copyFamily': ['Copy family', copyFamilyCommand],
  'diskDelta.copyNative': ['CopyStart', copyNativeCommand],
  'diskDelta.resumeCopy': ['Resume copy', resumeCopyCommand],
  'diskDelta.cancelCopy': ['Cancel copy', cancelCopyCommand],
  'diskDelta.showCopies': ['Show copies', showCopiesCommand],
  'diskDelta.restoreDisk': ['Restore disk', restoreDiskCommand],
  'diskDelta.createFullSnapshot': ['Create full snapshot', createFullSnapshotCommand],
  'diskDelta.deleteSnapshot': ['Delete snapshot', deleteSnapshotCommand],
  'diskDelta.revokeAccess': ['Revoke access', revokeAccessCommand],
  'diskDelta.showAzCommand': ['Show as az command', (s, node?: never) => showExportCommand(s, 'az', node)],
  'diskDelta.showArmTemplate': ['Show as ARM template', (s, node?: never) => showExportCommand(s, 'arm', node)],
  'diskDelta.openInPortal': ['Open in Portal', openInPortalCommand],
  'diskDelta.copyResourceId': ['Copy Resource ID', copyResourceIdCommand],
  'diskDelta.copyName': ['Copy Name', copyNameCommand],
  'diskDelta.viewProperties': ['View Properties', viewPropertiesCommand],
  'diskDelta.editTags': ['Edit Tags', editTagsCommand],
  'diskDelta.revealResource': ['Reveal', revealResourceCommand],
  'diskDelta.clearActivity': ['Clear Activity', (s) => s.activity.clear()],
  'diskDelta.showCost': ['Show Cost', showCostCommand],
};

export function registerCommands(s: DiskDeltaServices): vscode.Disposable[] {
  return Object.entries(COMMANDS).map(([id, [title, handler]]) =>
    vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        s.log.debug(`Command ${id}`);
        await (handler as (s: DiskDeltaServices, ...a: unknown[]) => Promise<void> | void)(s, ...args);
      } catch (error) {
        await showFailure(s.log, title, error);
      }
    }),
  );
}
