import * as vscode from 'vscode';
import { formatBytes } from '../core/format';
import type { SnapshotFamily } from '../core/families';
import type { DiskInfo, SnapshotInfo, StorageAccountInfo } from '../core/model';
import { DiskDeltaError } from '../core/errors';
import type { CatalogCache, SubscriptionCatalog } from './catalog';
import type { Connection } from './connection';
import { relativeTime } from './format';

export class PickCancelled extends Error {
  override readonly name = 'AbortError';
  constructor() {
    super('Cancelled');
  }
}

/** Throws PickCancelled (treated as a cancellation, not an error) when the user dismissed a picker. */
export function required<T>(value: T | undefined): T {
  if (value === undefined) throw new PickCancelled();
  return value;
}

async function allCatalogs(connection: Connection, catalogs: CatalogCache): Promise<SubscriptionCatalog[]> {
  const subs = await connection.subscriptions();
  if (subs.length === 0) {
    throw new DiskDeltaError('Nothing to choose from: not connected.', 'NotConnected', 'Sign in to Azure or connect to the local emulator first.');
  }
  return Promise.all(subs.map((s) => catalogs.get(s.subscriptionId)));
}

export async function pickDisk(connection: Connection, catalogs: CatalogCache, title: string): Promise<DiskInfo> {
  const disks = (await allCatalogs(connection, catalogs)).flatMap((c) => c.disks);
  const item = await vscode.window.showQuickPick(
    disks.map((d) => ({ label: d.name, description: `${d.resourceGroup} · ${d.location} · ${formatBytes(d.sizeBytes)}`, disk: d })),
    { title, placeHolder: 'Choose a disk', matchOnDescription: true },
  );
  return required(item).disk;
}

export async function pickSnapshot(
  connection: Connection,
  catalogs: CatalogCache,
  title: string,
  filter: (s: SnapshotInfo, family: SnapshotFamily | undefined) => boolean = () => true,
): Promise<{ snapshot: SnapshotInfo; family?: SnapshotFamily }> {
  const items: (vscode.QuickPickItem & { snapshot?: SnapshotInfo; family?: SnapshotFamily })[] = [];
  for (const c of await allCatalogs(connection, catalogs)) {
    for (const f of c.families) {
      const snaps = f.snapshots.filter((s) => filter(s, f));
      if (!snaps.length) continue;
      items.push({ label: f.sourceName, kind: vscode.QuickPickItemKind.Separator });
      for (const s of [...snaps].reverse()) {
        items.push({ label: s.name, description: `${relativeTime(s.timeCreated)} · ${s.location}`, detail: s.id, snapshot: s, family: f });
      }
    }
    const full = c.fullSnapshots.filter((s) => filter(s, undefined));
    if (full.length) {
      items.push({ label: 'Full snapshots', kind: vscode.QuickPickItemKind.Separator });
      for (const s of full) items.push({ label: s.name, description: `${relativeTime(s.timeCreated)} · ${s.location}`, snapshot: s });
    }
  }
  if (!items.some((i) => i.snapshot)) throw new DiskDeltaError('No snapshot fits this command.', 'NoSnapshot', 'Create an incremental snapshot first.');
  const item = required(await vscode.window.showQuickPick(items, { title, placeHolder: 'Choose a snapshot', matchOnDescription: true }));
  return { snapshot: item.snapshot!, family: item.family };
}

export async function pickFamily(connection: Connection, catalogs: CatalogCache, title: string): Promise<SnapshotFamily> {
  const families = (await allCatalogs(connection, catalogs)).flatMap((c) => c.families);
  const item = required(
    await vscode.window.showQuickPick(
      families.map((f) => ({ label: f.sourceName, description: `${f.snapshots.length} snapshots · ${f.sourceDiskState}`, detail: f.id, family: f })),
      { title, placeHolder: 'Choose a snapshot family' },
    ),
  );
  return item.family;
}

export async function pickStorageAccount(accounts: readonly StorageAccountInfo[], sourceRegion: string, title: string): Promise<StorageAccountInfo> {
  const others = accounts.filter((a) => a.location.toLowerCase() !== sourceRegion.toLowerCase());
  if (!others.length) {
    throw new DiskDeltaError(
      `No storage account outside ${sourceRegion} is available as a copy target.`,
      'NoTargetAccount',
      'Create a storage account (Standard, general-purpose v2) in the target region first.',
    );
  }
  const item = required(
    await vscode.window.showQuickPick(
      others.map((a) => ({ label: a.name, description: `${a.location} · ${a.resourceGroup}${a.sku ? ` · ${a.sku}` : ''}`, account: a })),
      { title, placeHolder: `Target storage account (another region than ${sourceRegion})` },
    ),
  );
  return item.account;
}
