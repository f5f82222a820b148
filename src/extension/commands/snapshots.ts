import * as vscode from 'vscode';
import {
  azDiskCreateFromSnapshot,
  azSnapshotCreate,
  armDiskTemplate,
  armSnapshotTemplate,
  formatArmTemplate,
  fullSnapshotRequest,
  restoreDiskRequest,
} from '../../core/exportCommands';
import { checkCreateAllowed, type SnapshotFamily } from '../../core/families';
import type { DiskInfo, SnapshotInfo } from '../../core/model';
import { suggestRestoredDiskName, suggestSnapshotName, validateDiskName, validateResourceGroupName, validateSnapshotName } from '../../core/names';
import type { CreateSnapshotRequest } from '../../core/ports';
import { createFullSnapshot, createIncrementalSnapshot, deleteSnapshot, regionHasZrs, resolveSku, restoreDisk, revokeAccess } from '../../core/snapshots';
import { PickCancelled, pickDisk, pickSnapshot, required } from '../pickers';
import { withCancellableProgress } from '../progress';
import type { DiskDeltaServices } from '../services';
import { settings } from '../settings';
import { DiskNode, FamilyNode, SnapshotNode, type DiskDeltaNode } from '../tree/items';
import { familiesOf } from '../tree/snapshotTree';

export function parseTagsInput(text: string): Record<string, string> | string {
  const tags: Record<string, string> = {};
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) return `"${part}" is not key=value.`;
    const key = part.slice(0, i).trim();
    if (/[<>%&\\?/]/.test(key) || key.length > 512) return `Tag name "${key}" has a character Azure does not allow (< > % & \\ ? /) or is too long.`;
    tags[key] = part.slice(i + 1).trim();
  }
  return tags;
}

async function diskFrom(s: DiskDeltaServices, node: DiskDeltaNode | undefined, title: string): Promise<DiskInfo> {
  if (node instanceof DiskNode) return node.disk;
  return pickDisk(s.connection, s.catalogs, title);
}

async function snapshotFrom(
  s: DiskDeltaServices,
  node: DiskDeltaNode | undefined,
  title: string,
  filter?: (x: SnapshotInfo, f: SnapshotFamily | undefined) => boolean,
): Promise<{ snapshot: SnapshotInfo; family?: SnapshotFamily }> {
  if (node instanceof SnapshotNode) return { snapshot: node.snapshot, family: node.family };
  return pickSnapshot(s.connection, s.catalogs, title, filter);
}

export interface CreateSnapshotChoice {
  readonly disk: DiskInfo;
  readonly request: CreateSnapshotRequest;
}

/** The create dialog: limits checked against the listing first, the name validated as it is typed. Makes no call. */
async function askCreateSnapshot(s: DiskDeltaServices, disk: DiskInfo): Promise<CreateSnapshotChoice> {
  const catalog = await s.catalogs.get(disk.subscriptionId);
  const current = familiesOf(disk, catalog.families).find((f) => f.sourceUniqueId === disk.uniqueId);
  // Azure counts the 5-minute window by its own clock, as the listing's responses gave it.
  const check = checkCreateAllowed(current?.snapshots ?? [], (await s.connection.clientsFor(disk.subscriptionId)).compute.serverTime?.() ?? new Date());
  if (!check.ok) throw check.error;
  const taken = new Set(
    [...catalog.families.flatMap((f) => f.snapshots), ...catalog.fullSnapshots]
      .filter((x) => x.resourceGroup.toLowerCase() === disk.resourceGroup.toLowerCase())
      .map((x) => x.name.toLowerCase()),
  );
  const name = required(
    await vscode.window.showInputBox({
      title: `Create Incremental Snapshot of ${disk.name} (1/3)`,
      prompt: 'Snapshot name',
      value: suggestSnapshotName(disk.name, new Date()),
      validateInput: (value) =>
        validateSnapshotName(value) ?? (taken.has(value.toLowerCase()) ? `A snapshot named ${value} already exists in ${disk.resourceGroup}.` : undefined),
    }),
  );
  const zrs = regionHasZrs(disk.location);
  const preferred = resolveSku(settings.defaultSku(), disk.location);
  const skuItems = [
    { label: 'Standard_ZRS', description: zrs ? 'zone-redundant (recommended)' : `not offered in ${disk.location}`, sku: 'Standard_ZRS' as const },
    { label: 'Standard_LRS', description: zrs ? 'locally redundant' : 'locally redundant (recommended here)', sku: 'Standard_LRS' as const },
  ].filter((i) => zrs || i.sku === 'Standard_LRS');
  skuItems.sort((a, b) => Number(b.sku === preferred) - Number(a.sku === preferred));
  const sku = required(
    await vscode.window.showQuickPick(skuItems, { title: `Create Incremental Snapshot of ${disk.name} (2/3)`, placeHolder: 'Snapshot storage' }),
  ).sku;
  const tagText = required(
    await vscode.window.showInputBox({
      title: `Create Incremental Snapshot of ${disk.name} (3/3)`,
      prompt: 'Tags (optional): key=value, key=value',
      value: '',
      validateInput: (v) => {
        const r = parseTagsInput(v);
        return typeof r === 'string' ? r : undefined;
      },
    }),
  );
  const tags = parseTagsInput(tagText) as Record<string, string>;
  return {
    disk,
    request: {
      subscriptionId: disk.subscriptionId,
      resourceGroup: disk.resourceGroup,
      name,
      location: disk.location,
      incremental: true,
      createOption: 'Copy',
      sourceResourceId: disk.id,
      sku,
      ...(Object.keys(tags).length ? { tags } : {}),
    },
  };
}

export async function createSnapshotCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  const disk = await diskFrom(s, node, 'Create Incremental Snapshot');
  const { request } = await askCreateSnapshot(s, disk);
  const clients = await s.connection.clientsFor(disk.subscriptionId);
  const created = await s.activity.track('create', `Create snapshot ${request.name}`, { resourceId: disk.id, detail: `of ${disk.name}` }, () =>
    withCancellableProgress(`Creating snapshot ${request.name}`, (_report, signal) =>
      createIncrementalSnapshot(clients.compute, { diskId: disk.id, name: request.name, sku: request.sku, tags: request.tags }, { signal }),
    ),
  );
  s.log.info(`Created incremental snapshot ${created.id}`);
  s.catalogs.invalidate(disk.subscriptionId);
  const choice = await vscode.window.showInformationMessage(`Created incremental snapshot ${created.name}.`, 'Show as az Command', 'Show as ARM Template');
  if (choice === 'Show as az Command') await openText(azSnapshotCreate(request, { multiline: true }), 'shellscript');
  if (choice === 'Show as ARM Template') await openText(formatArmTemplate(armSnapshotTemplate(request)), 'json');
}

async function openText(content: string, language: string): Promise<void> {
  const doc = await vscode.workspace.openTextDocument({ content, language });
  await vscode.window.showTextDocument(doc, { preview: false });
}

/** "Show as az command" / "Show as ARM template": for a disk, creating a snapshot; for a snapshot, restoring a disk. */
export async function showExportCommand(s: DiskDeltaServices, format: 'az' | 'arm', node?: DiskDeltaNode): Promise<void> {
  let target: 'create' | 'restore';
  if (node instanceof DiskNode) target = 'create';
  else if (node instanceof SnapshotNode) target = 'restore';
  else {
    const pick = required(
      await vscode.window.showQuickPick(
        [
          { label: 'Create an incremental snapshot of a disk', target: 'create' as const },
          { label: 'Restore a disk from a snapshot', target: 'restore' as const },
        ],
        { title: format === 'az' ? 'Show as az Command' : 'Show as ARM Template' },
      ),
    );
    target = pick.target;
  }
  if (target === 'create') {
    const disk = await diskFrom(s, node, 'Snapshot which disk?');
    const { request } = await askCreateSnapshot(s, disk);
    await openText(
      format === 'az' ? azSnapshotCreate(request, { multiline: true }) : formatArmTemplate(armSnapshotTemplate(request)),
      format === 'az' ? 'shellscript' : 'json',
    );
    return;
  }
  const { snapshot } = await snapshotFrom(s, node, 'Restore from which snapshot?');
  const choice = await askRestore(snapshot);
  const request = restoreDiskRequest(snapshot, choice);
  await openText(
    format === 'az' ? azDiskCreateFromSnapshot(request, { multiline: true }) : formatArmTemplate(armDiskTemplate(request)),
    format === 'az' ? 'shellscript' : 'json',
  );
}

async function askRestore(snapshot: SnapshotInfo): Promise<{ name: string; resourceGroup: string }> {
  const name = required(
    await vscode.window.showInputBox({
      title: `Restore Disk from ${snapshot.name} (1/2)`,
      prompt: 'Name of the new disk',
      value: suggestRestoredDiskName(snapshot.name),
      validateInput: validateDiskName,
    }),
  );
  const resourceGroup = required(
    await vscode.window.showInputBox({
      title: `Restore Disk from ${snapshot.name} (2/2)`,
      prompt: 'Resource group of the new disk',
      value: snapshot.resourceGroup,
      validateInput: validateResourceGroupName,
    }),
  );
  return { name, resourceGroup };
}

export async function restoreDiskCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  const { snapshot } = await snapshotFrom(s, node, 'Restore Disk from Snapshot');
  const choice = await askRestore(snapshot);
  const clients = await s.connection.clientsFor(snapshot.subscriptionId);
  const disk = await s.activity.track('restore', `Restore disk ${choice.name}`, { resourceId: snapshot.id, detail: `from ${snapshot.name}` }, () =>
    withCancellableProgress(`Restoring disk ${choice.name} from ${snapshot.name}`, (_r, signal) =>
      restoreDisk(clients.compute, { snapshotId: snapshot.id, name: choice.name, resourceGroup: choice.resourceGroup }, { signal }),
    ),
  );
  s.log.info(`Restored disk ${disk.id} from ${snapshot.id}`);
  s.catalogs.invalidate(snapshot.subscriptionId);
  void vscode.window.showInformationMessage(`Disk ${disk.name} restored from ${snapshot.name}.`);
}

export async function createFullSnapshotCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  const { snapshot } = await snapshotFrom(s, node, 'Create Full Snapshot', (x) => x.incremental);
  const name = required(
    await vscode.window.showInputBox({
      title: `Create Full Snapshot from ${snapshot.name}`,
      prompt: 'Name of the full snapshot',
      value: suggestSnapshotName(snapshot.name.replace(/-incr-\d{8}-\d{4}$/, ''), new Date(), 'full'),
      validateInput: validateSnapshotName,
    }),
  );
  const clients = await s.connection.clientsFor(snapshot.subscriptionId);
  const request = fullSnapshotRequest(snapshot, { name });
  const created = await s.activity.track('create', `Create full snapshot ${name}`, { resourceId: snapshot.id, detail: `from ${snapshot.name}` }, () =>
    withCancellableProgress(`Creating full snapshot ${name}`, (_r, signal) =>
      createFullSnapshot(clients.compute, { snapshotId: snapshot.id, name, resourceGroup: request.resourceGroup }, { signal }),
    ),
  );
  s.log.info(`Created full snapshot ${created.id} from ${snapshot.id}`);
  s.catalogs.invalidate(snapshot.subscriptionId);
  void vscode.window.showInformationMessage(`Full snapshot ${created.name} created.`);
}

export async function deleteSnapshotCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  const { snapshot, family } = await snapshotFrom(s, node, 'Delete Snapshot');
  const copyWarning = family ? s.copies.deleteWarning(family, snapshot) : undefined;
  const detail = [
    `${snapshot.id}`,
    copyWarning ?? '',
    snapshot.incremental ? 'Later incremental snapshots of the family stay restorable.' : '',
    'This cannot be undone.',
  ]
    .filter(Boolean)
    .join('\n\n');
  const ok = await vscode.window.showWarningMessage(`Delete snapshot ${snapshot.name}?`, { modal: true, detail }, 'Delete');
  if (ok !== 'Delete') throw new PickCancelled();
  const clients = await s.connection.clientsFor(snapshot.subscriptionId);
  await s.activity.track('delete', `Delete snapshot ${snapshot.name}`, { detail: snapshot.resourceGroup }, () =>
    withCancellableProgress(`Deleting snapshot ${snapshot.name}`, (_r, signal) => deleteSnapshot(clients.compute, snapshot.id, { signal }), {
      cancellable: false,
    }),
  );
  s.log.info(`Deleted snapshot ${snapshot.id}`);
  s.catalogs.invalidate(snapshot.subscriptionId);
}

export async function revokeAccessCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  let id: string;
  let name: string;
  let subscriptionId: string;
  if (node instanceof DiskNode) ({ id, name, subscriptionId } = node.disk);
  else {
    const { snapshot } = await snapshotFrom(s, node, 'Revoke Access', (x) => x.diskState === 'ActiveSAS');
    ({ id, name, subscriptionId } = snapshot);
  }
  if (s.copies.isUsing(id)) {
    const go = await vscode.window.showWarningMessage(
      `A running copy is reading ${name}. Revoking its access makes the copy re-grant or fail.`,
      { modal: true },
      'Revoke Anyway',
    );
    if (go !== 'Revoke Anyway') throw new PickCancelled();
  }
  const clients = await s.connection.clientsFor(subscriptionId);
  await s.activity.track('revoke', `Revoke access to ${name}`, { resourceId: id }, () =>
    withCancellableProgress(`Revoking access to ${name}`, (_r, signal) => revokeAccess(clients.compute, id, { signal }), { cancellable: false }),
  );
  s.log.info(`Revoked access on ${id}`);
  s.catalogs.invalidate(subscriptionId);
  void vscode.window.showInformationMessage(`Access to ${name} revoked.`);
}

/** A family node or its snapshots' ids, for commands that accept either. */
export function familyOf(node: DiskDeltaNode | undefined): SnapshotFamily | undefined {
  if (node instanceof FamilyNode) return node.family;
  if (node instanceof SnapshotNode) return node.family;
  if (node instanceof DiskNode) return node.currentFamily;
  return undefined;
}
