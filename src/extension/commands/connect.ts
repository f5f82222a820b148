import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { DiskDeltaServices } from '../services';

/** Connection files worth offering: the one `npm start` writes in an open Disk Delta checkout. */
function defaultConnectionFiles(): string[] {
  return (vscode.workspace.workspaceFolders ?? []).map((f) => path.join(f.uri.fsPath, '.cache', 'start', 'emulator-connection.json'));
}

export async function connectEmulator(s: DiskDeltaServices, file?: string): Promise<void> {
  let chosen = typeof file === 'string' ? file : undefined;
  if (!chosen) {
    const found = defaultConnectionFiles().filter((f) => existsSync(f));
    const items: (vscode.QuickPickItem & { file?: string })[] = [
      ...found.map((f) => ({ label: '$(plug) Emulator started by npm start', description: f, file: f })),
      { label: '$(folder-opened) Browse for a connection file...' },
    ];
    const pick = found.length
      ? await vscode.window.showQuickPick(items, { title: 'Connect to Local Emulator', placeHolder: 'The emulator writes a connection file when it starts' })
      : items[items.length - 1];
    if (!pick) return;
    chosen = pick.file;
    if (!chosen) {
      const uris = await vscode.window.showOpenDialog({
        title: 'Emulator connection file',
        canSelectMany: false,
        filters: { 'Connection file': ['json'] },
        openLabel: 'Connect',
      });
      if (!uris?.length) return;
      chosen = uris[0]!.fsPath;
    }
  }
  await s.connection.connectEmulator(chosen);
  void vscode.window.showInformationMessage('Disk Delta is showing the local emulator.');
}

/** Writes the shared Azure subscription filter (the same setting as the Azure Resources extension). */
export async function selectSubscriptions(s: DiskDeltaServices): Promise<void> {
  const all = await s.connection.subscriptions(false);
  const selected = new Set((await s.connection.subscriptions(true)).map((x) => x.subscriptionId));
  const picks = await vscode.window.showQuickPick(
    all.map((x) => ({ label: x.name, description: x.subscriptionId, picked: selected.has(x.subscriptionId), sub: x })),
    { title: 'Subscriptions shown by Disk Delta', canPickMany: true },
  );
  if (!picks) return;
  const config = vscode.workspace.getConfiguration('azureResourceGroups');
  await config.update(
    'selectedSubscriptions',
    picks.map((p) => `${p.sub.tenantId ?? ''}/${p.sub.subscriptionId}`),
    vscode.ConfigurationTarget.Global,
  );
  s.tree.refresh();
}
