import * as vscode from 'vscode';
import { formatBytes, formatDuration } from '../../core/format';
import { countOf, DEFAULT_CONTAINER, formatCopyProgress, PAGE_BLOB_TARGETS, previewDifferentialCopy } from '../../core/copy';
import type { SnapshotFamily } from '../../core/families';
import type { SnapshotInfo } from '../../core/model';
import { validateContainerName, validateResourceGroupName } from '../../core/names';
import { DiskDeltaError } from '../../core/errors';
import { normaliseRegion } from '../../core/copyTargets';
import { sameResourceId } from '../../core/resourceId';
import { pickFamily, pickSnapshot, pickStorageAccount, required } from '../pickers';
import type { DiskDeltaServices } from '../services';
import { DiskNode, FamilyNode, SnapshotNode, type DiskDeltaNode } from '../tree/items';

interface CopyTarget {
  readonly accountId: string;
  readonly accountName: string;
  readonly region: string;
  readonly container: string;
  readonly importKind: 'none' | 'snapshot' | 'disk';
}

async function askTarget(s: DiskDeltaServices, family: SnapshotFamily, title: string): Promise<CopyTarget> {
  const first = family.snapshots[0];
  if (!first) throw new DiskDeltaError('The family has no snapshots to copy.', 'NoSnapshots');
  const previous = s.copies.recordOf(first.familyId ?? family.id);
  let target: { id: string; name: string; location: string };
  if (previous && (await askReuse(previous.targetAccountName, previous.container, title))) {
    target = { id: previous.targetAccountId, name: previous.targetAccountName, location: previous.targetRegion };
  } else {
    const clients = await s.connection.clientsFor(first.subscriptionId);
    const accounts = await clients.compute.listStorageAccounts(first.subscriptionId);
    target = await pickStorageAccount(accounts, first.location, `${title}: target storage account`);
  }
  let container: string;
  if (previous && sameResourceId(target.id, previous.targetAccountId)) {
    container = previous.container;
    s.log.info(`${title}: container prompt skipped: using ${previous.container} in ${target.name}, where this family was copied before.`);
  } else {
    container = required(
      await vscode.window.showInputBox({
        title: `${title}: container`,
        prompt: `Container in ${target.name} for the copy (created when missing)`,
        value: DEFAULT_CONTAINER,
        validateInput: validateContainerName,
      }),
    );
  }
  const importKind = required(
    await vscode.window.showQuickPick(
      [
        { label: 'Page blob only', description: 'a VHD blob and a blob snapshot per copied snapshot', importKind: 'none' as const },
        { label: 'Import as managed snapshots', description: `usable for a restore in ${target.location}`, importKind: 'snapshot' as const },
        { label: 'Import as managed disks', description: `ready to attach in ${target.location}`, importKind: 'disk' as const },
      ],
      { title: `${title}: after copying` },
    ),
  ).importKind;
  return { accountId: target.id, accountName: target.name, region: target.location, container, importKind };
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

/**
 * Says what the copy will move - how many snapshots, about how many bytes (from the used and diff sizes already
 * known), how long at the per-blob limit - and asks to go on. Returns the expected bytes per snapshot, or
 * undefined when the user declined.
 */
async function confirmCopy(
  s: DiskDeltaServices,
  family: SnapshotFamily,
  upTo: SnapshotInfo,
  target: CopyTarget,
): Promise<{ expectedBytes: readonly (number | undefined)[] } | undefined> {
  const record = s.copies.recordOf(family.snapshots[0]?.familyId ?? family.id);
  const sameTarget = record && sameResourceId(record.targetAccountId, target.accountId) && record.container === target.container;
  const preview = previewDifferentialCopy(family.snapshots, {
    upTo: upTo.id,
    ...(sameTarget && record.lastCopiedSnapshotId ? { lastCopiedSnapshotId: record.lastCopiedSnapshotId } : {}),
    changedBytes: (older, newer) => s.usedSizes.get(older, newer),
  });
  // Nothing to move (as far as Disk Delta knows): the engine checks the target and says so.
  if (preview.snapshots.length === 0) return { expectedBytes: [] };
  const n = preview.snapshots.length;
  const names = n <= 4 ? preview.snapshots.map((x) => x.name).join(', ') : `${preview.snapshots[0]!.name} ... ${preview.snapshots[n - 1]!.name}`;
  const bytes =
    preview.unknownCount === 0
      ? `About ${formatBytes(preview.knownBytes)} to move.`
      : preview.unknownCount === n
        ? `At most ${formatBytes(preview.atMostBytes)} to move: the changed sizes are not known yet (Diff with Previous measures them), so each snapshot counts at the disk's size.`
        : `At least ${formatBytes(preview.knownBytes)} and at most ${formatBytes(preview.atMostBytes)} to move (sizes known for ${preview.expectedBytes.length - preview.unknownCount} of ${n}).`;
  const limit = `${formatBytes(PAGE_BLOB_TARGETS.bytesPerSecond)}/s and ${PAGE_BLOB_TARGETS.requestsPerSecond} requests/s`;
  const time =
    preview.unknownCount === 0
      ? `At the per-blob limit of ${limit}: about ${formatDuration(preview.secondsAtLimit * 1000)}.`
      : `At the per-blob limit of ${limit}: up to ${formatDuration(preview.secondsAtLimitAtMost * 1000)}.`;
  const detail = [`${names}${preview.base ? ` (${preview.snapshots[0]!.name} in full: the target holds nothing of this family yet)` : ''}.`, bytes, time].join(
    '\n',
  );
  const choice = await vscode.window.showInformationMessage(
    `Copy ${countOf(n, 'snapshot')} of ${family.sourceName} to ${target.accountName}/${target.container} (${target.region})?`,
    { modal: true, detail },
    'Copy',
  );
  return choice === 'Copy' ? { expectedBytes: preview.expectedBytes } : undefined;
}

async function copyWithConfirmation(s: DiskDeltaServices, family: SnapshotFamily, upTo: SnapshotInfo, title: string): Promise<void> {
  const target = await askTarget(s, family, title);
  const confirmed = await confirmCopy(s, family, upTo, target);
  if (!confirmed) return;
  await s.copies.runDifferential({
    family,
    upTo,
    accountId: target.accountId,
    container: target.container,
    importKind: target.importKind,
    createContainer: true,
    expectedBytes: confirmed.expectedBytes,
  });
  s.tree.redraw();
}

export async function copySnapshotCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  let snapshot: SnapshotInfo;
  let family: SnapshotFamily | undefined;
  if (node instanceof SnapshotNode) ({ snapshot, family } = node);
  else ({ snapshot, family } = await pickSnapshot(s.connection, s.catalogs, 'Copy Snapshot to Another Region', (x, f) => x.incremental && !!f));
  if (!family || !snapshot.incremental) {
    throw new DiskDeltaError(
      `${snapshot.name} is a full snapshot; only incremental snapshots can be copied by difference.`,
      'NotIncremental',
      'Choose an incremental snapshot.',
    );
  }
  await copyWithConfirmation(s, family, snapshot, `Copy ${snapshot.name}`);
}

export async function copyFamilyCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  const family =
    node instanceof FamilyNode
      ? node.family
      : node instanceof DiskNode && node.currentFamily
        ? node.currentFamily
        : await pickFamily(s.connection, s.catalogs, 'Copy Family to Another Region');
  const newest = family.snapshots[family.snapshots.length - 1];
  if (!newest) throw new DiskDeltaError('The family has no snapshots to copy.', 'NoSnapshots');
  await copyWithConfirmation(s, family, newest, `Copy ${family.sourceName}`);
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
    await vscode.window.showQuickPick([...choices.map((r) => ({ label: r })), { label: '$(edit) Another region...' }], {
      title: `Copy ${snapshot.name} with CopyStart: target region`,
    }),
  ).label;
  const targetRegion = region.startsWith('$(')
    ? required(
        await vscode.window.showInputBox({
          title: 'Target region',
          prompt: 'Azure region name, e.g. westus2',
          validateInput: (v) =>
            /^[a-z0-9]+$/.test(v)
              ? normaliseRegion(v) === normaliseRegion(snapshot.location)
                ? 'That is the source region.'
                : undefined
              : 'Use the region name, e.g. westus2.',
        }),
      )
    : region;
  const resourceGroup = required(
    await vscode.window.showInputBox({ title: 'Resource group for the copies', value: snapshot.resourceGroup, validateInput: validateResourceGroupName }),
  );
  const entry = s.activity.start('copy', `CopyStart ${snapshot.name} to ${targetRegion}`, {
    resourceId: snapshot.id,
    detail: `resource group ${resourceGroup}`,
  });
  const ended = await s.copies.runNative(family, snapshot, targetRegion, resourceGroup);
  if (ended.outcome === 'succeeded') entry.succeeded(ended.targetSnapshotId);
  else if (ended.outcome === 'cancelled') entry.cancelled();
  else entry.failed(ended.error);
  s.tree.redraw();
}

export async function resumeCopyCommand(s: DiskDeltaServices, familyId?: string): Promise<void> {
  const id =
    typeof familyId === 'string'
      ? familyId
      : required(
          await vscode.window.showQuickPick(
            s.copies
              .interrupted()
              .map((r) => ({ label: r.familyName, description: `to ${r.targetAccountName}/${r.container} (${r.targetRegion})`, id: r.familyId })),
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
  const familyId =
    node instanceof FamilyNode
      ? (node.family.snapshots[0]?.familyId ?? node.family.id)
      : active.length === 1
        ? active[0]!.familyId
        : required(
            await vscode.window.showQuickPick(
              active.map((a) => ({ label: a.title, id: a.familyId })),
              { title: 'Cancel Copy' },
            ),
          ).id;
  s.copies.cancel(familyId);
}

export async function showCopiesCommand(s: DiskDeltaServices): Promise<void> {
  const active = s.copies.activeCopies();
  const interrupted = s.copies.interrupted();
  const done = Object.values(s.copies.records).filter((r) => r.state === 'done' || r.state === 'failed');
  type Item = vscode.QuickPickItem & { action?: () => Promise<void> };
  const items: Item[] = [];
  if (active.length) items.push({ label: 'Running', kind: vscode.QuickPickItemKind.Separator });
  for (const a of active)
    items.push({
      label: `$(sync~spin) ${a.title}`,
      description: a.progress ? formatCopyProgress(a.progress) : 'starting',
      detail: 'Select to cancel',
      action: async () => void s.copies.cancel(a.familyId),
    });
  if (interrupted.length) items.push({ label: 'Interrupted', kind: vscode.QuickPickItemKind.Separator });
  for (const r of interrupted)
    items.push({
      label: `$(debug-pause) ${r.familyName}`,
      description: `to ${r.targetAccountName}/${r.container}`,
      detail: 'Select to resume',
      action: () => s.copies.resume(r.familyId),
    });
  if (done.length) items.push({ label: 'Finished', kind: vscode.QuickPickItemKind.Separator });
  for (const r of done)
    items.push({
      label: `${r.state === 'done' ? '$(check)' : '$(error)'} ${r.familyName}`,
      description: `to ${r.targetAccountName}/${r.container} (${r.targetRegion})`,
      detail: r.state === 'done' ? `last copied ${r.lastCopiedAt ?? ''}` : r.error,
    });
  if (!items.length) {
    void vscode.window.showInformationMessage('No copies yet. Right-click a snapshot and choose Copy Snapshot to Another Region.');
    return;
  }
  const pick = await vscode.window.showQuickPick(items, { title: 'Disk Delta Copies' });
  await pick?.action?.();
}
