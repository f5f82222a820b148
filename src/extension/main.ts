import * as vscode from 'vscode';
import { Log } from './log';

let log: Log | undefined;

/** Thin on purpose: everything is wired in activation.ts, and a failure there is shown, not swallowed. */
export async function activate(context: vscode.ExtensionContext): Promise<void> {
  log = new Log();
  context.subscriptions.push(log);
  try {
    const { activateDiskDelta } = await import('./activation');
    await activateDiskDelta(context, log);
  } catch (error) {
    log.error('Disk Delta failed to activate:', error);
    const choice = await vscode.window.showErrorMessage(`Disk Delta failed to activate: ${error instanceof Error ? error.message : String(error)}`, 'Show Log');
    if (choice === 'Show Log') log.show();
    throw error;
  }
}

/** VS Code waits for the promise: read grants still held are revoked before the extension host stops. */
export async function deactivate(): Promise<void> {
  log = undefined;
  const { closeSnapshotFileSystem } = await import('./snapshotFs');
  await closeSnapshotFileSystem();
}
