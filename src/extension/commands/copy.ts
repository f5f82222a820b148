import * as vscode from 'vscode';
import type { SnapshotFamily } from '../../core/families';
import type { SnapshotInfo } from '../../core/model';
import { validateContainerName, validateResourceGroupName } from '../../core/names';
import { DiskDeltaError } from '../../core/ports';
import { normaliseRegion } from '../../core/copyTargets';
import { progressMessage } from '../copyJobs';
import { pickFamily, pickSnapshot, pickStorageAccount, required } from '../pickers';
import type { DiskDeltaServices } from '../services';
import { DiskNode, FamilyNode, SnapshotNode, type DiskDeltaNode } from '../tree/items';

const DEFAULT_CONTAINER = 'disk-delta';

async function askTarget(s: DiskDeltaServices, family: SnapshotFamily, title: string) {
  const first = family.snapshots[0];
  if (!first) throw new DiskDeltaError('The family has no snapshots to copy.', 'NoSnapshots');
  const clients = await s.connection.clientsFor(first.subscriptionId);
  const accounts = await clients.compute.listStorageAccounts(first.subscriptionId);
  const previous = s.copies.recordOf(first.familyId ?? family.id);
  const account = previous && (await askReuse(previous.targetAccount.name, previous.container, title)) ? previous.targetAccount : await pickStorageAccount(accounts, first.location, `${title}: target storage account`);
  const container =
    previous && account.id === previous.targetAccount.id
      ? previous.container
      : required(
          await vscode.window.showInputBox({
            title: `${title}: container`,
            prompt: `Container in ${account.name} for the copy (created when missing)`,
            value: DEFAULT_CONTAINER,
            validateInput: validateContainerName,
          }),
        );
  const importKind = required(
    await vscode.window.showQuickPick(
      [
        { label: 'Page blob only', description: 'a VHD blob and a blob snapshot per copied snapshot', importKind: 'none' as const },
        { label: 'Import as managed snapshots', description: `usable for a restore in ${account.location}`, importKind: 'snapshot' as const },
        { label: 'Import as managed disks', description: `ready to attach in ${account.location}`, importKind: 'disk' as const },
      ],
      { title: `${title}: after copying` },
    ),
  ).importKind;
  return { account, container, importKind };
}

async function askReuse(accountName: string, container: string, title: string): Promise<boolean> {
  const pick = await vscode.window.showQuickPick(
    [
      { label: `$(history) ${accountName}/${container}`, description: 'where this family was copied before (only the changes move)', reuse: true },
      { label: '$(add) Another storage account...', reuse: false },
    ],
    { title: `${title}: target` },
  );
  return required(pick).reuse;
}

export async function copySnapshotCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  let snapshot: SnapshotInfo;
  let family: SnapshotFamily | undefined;
  if (node instanceof SnapshotNode) ({ snapshot, family } = node);
  else ({ snapshot, family } = await pickSnapshot(s.connection, s.catalogs, 'Copy Snapshot to Another Region', (x, f) => x.incremental && !!f));
  if (!family || !snapshot.incremental) {
    throw new DiskDeltaError(`${snapshot.name} is a full snapshot; only incremental snapshots can be copied by difference.`, 'NotIncremental', 'Choose an incremental snapshot.');
  }
  const target = await askTarget(s, family, `Copy ${snapshot.name}`);
  await s.copies.runDifferential({ family, upTo: snapshot, ...target, createContainer: true });
  s.tree.redraw();
}

export async function copyFamilyCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  const family =
    node instanceof FamilyNode ? node.family : node instanceof DiskNode && node.currentFamily ? node.currentFamily : await pickFamily(s.connection, s.catalogs, 'Copy Family to Another Region');
  const target = await askTarget(s, family, `Copy ${family.sourceName}`);
  await s.copies.runDifferential({ family, ...target, createContainer: true });
  s.tree.redraw();
}

export async function copyNativeCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  let snapshot: SnapshotInfo;
  let family: SnapshotFamily | undefined;
  if (node instanceof SnapshotNode) ({ snapshot, family } = node);
  else ({ snapshot, family } = await pickSnapshot(s.connection, s.catalogs, 'Copy with Azure CopyStart', (x, f) => x.incremental && !!f));
  if (!family) throw new DiskDeltaError('CopyStart copies incremental snapshots only.', 'NotIncremental');
  const clients = await s.connection.clientsFor(snapshot.subscriptionId);
  const regions = new Set<string>();
  if (s.connection.emulator) for (const a of s.connection.emulator.storageAccounts) regions.add(a.region);
  for (const a of await clients.compute.listStorageAccounts(snapshot.subscriptionId)) regions.add(a.location);
  const choices = [...regions].filter((r) => normaliseRegion(r) !== normaliseRegion(snapshot.location));
  const region = required(
    await vscode.window.showQuickPick(
      [...choices.map((r) => ({ label: r })), { label: '$(edit) Another region...' }],
      { title: `Copy ${snapshot.name} with CopyStart: target region` },
    ),
  ).label;
  const targetRegion =
    region.startsWith('$(')
      ? required(await vscode.window.showInputBox({ title: 'Target region', prompt: 'Azure region name, e.g. westus2', validateInput: (v) => (/^[a-z0-9]+$/.test(v) ? (normaliseRegion(v) === normaliseRegion(snapshot.location) ? 'That is the source region.' : undefined) : 'Use the region name, e.g. westus2.') }))
      : region;
  const resourceGroup = required(
    await vscode.window.showInputBox({ title: 'Resource group for the copies', value: snapshot.resourceGroup, validateInput: validateResourceGroupName }),
  );
  await s.copies.runNative(family, snapshot, targetRegion, resourceGroup);
  s.tree.redraw();
}

export async function resumeCopyCommand(s: DiskDeltaServices, familyId?: string): Promise<void> {
  const id =
    typeof familyId === 'string'
      ? familyId
      : required(
          await vscode.window.showQuickPick(
            s.copies.interrupted().map((r) => ({ label: r.familyName, description: `to ${r.targetAccount.name}/${r.container} (${r.targetAccount.location})`, id: r.familyId })),
            { title: 'Resume Interrupted Copy', placeHolder: s.copies.interrupted().length ? 'Choose a copy to resume' : 'No interrupted copy' },
          ),
        ).id;
  await s.copies.resume(id);
  s.tree.redraw();
}

export async function cancelCopyCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  const active = s.copies.activeCopies();
  if (active.length === 0) {
    void vscode.window.showInformationMessage('No copy is running.');
    return;
  }
  const familyId = node instanceof FamilyNode ? (node.family.snapshots[0]?.familyId ?? node.family.id) : active.length === 1 ? active[0]!.familyId : required(await vscode.window.showQuickPick(active.map((a) => ({ label: a.title, id: a.familyId })), { title: 'Cancel Copy' })).id;
  s.copies.cancel(familyId);
}

export async function showCopiesCommand(s: DiskDeltaServices): Promise<void> {
  const active = s.copies.activeCopies();
  const interrupted = s.copies.interrupted();
  const done = Object.values(s.copies.records).filter((r) => r.state === 'done' || r.state === 'failed');
  type Item = vscode.QuickPickItem & { action?: () => Promise<void> };
  const items: Item[] = [];
  if (active.length) items.push({ label: 'Running', kind: vscode.QuickPickItemKind.Separator });
  for (const a of active) items.push({ label: `$(sync~spin) ${a.title}`, description: a.progress ? progressMessage(a.progress) : 'starting', detail: 'Select to cancel', action: async () => void s.copies.cancel(a.familyId) });
  if (interrupted.length) items.push({ label: 'Interrupted', kind: vscode.QuickPickItemKind.Separator });
  for (const r of interrupted) items.push({ label: `$(debug-pause) ${r.familyName}`, description: `to ${r.targetAccount.name}/${r.container}`, detail: 'Select to resume', action: () => s.copies.resume(r.familyId) });
  if (done.length) items.push({ label: 'Finished', kind: vscode.QuickPickItemKind.Separator });
  for (const r of done) items.push({ label: `${r.state === 'done' ? '$(check)' : '$(error)'} ${r.familyName}`, description: `to ${r.targetAccount.name}/${r.container} (${r.targetAccount.location})`, detail: r.state === 'done' ? `last copied ${r.lastCopiedAt ?? ''}` : r.error });
  if (!items.length) {
    void vscode.window.showInformationMessage('No copies yet. Right-click a snapshot and choose Copy Snapshot to Another Region.');
    return;
  }
  const pick = await vscode.window.showQuickPick(items, { title: 'Disk Delta Copies' });
  await pick?.action?.();
}
