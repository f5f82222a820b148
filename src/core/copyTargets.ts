/** Resolving what a copy command names (a family, a disk, a snapshot, a storage account) into engine inputs. */
import { compareByCreation, groupFamilies, type SnapshotFamily } from './families';
import type { SnapshotInfo, StorageAccountInfo } from './model';
import { type ComputeApi, type OperationOptions } from './ports';
import { DiskDeltaError } from './errors';
import { parseResourceId, sameResourceId } from './resourceId';
import { collectAll } from './snapshots';

export interface CopySource {
  readonly family: SnapshotFamily;
  /** The family's incremental snapshots, oldest first. */
  readonly snapshots: readonly SnapshotInfo[];
  /** When one snapshot was named: copy up to and including it. */
  readonly upTo?: SnapshotInfo;
}

/**
 * `--family` takes a disk id (its current family) or a family id; `--snapshot` a snapshot id (its
 * family, up to that snapshot).
 */
export async function resolveCopySource(
  compute: ComputeApi,
  subscriptionId: string,
  ref: { family?: string; snapshot?: string },
  options?: OperationOptions,
): Promise<CopySource> {
  if (!ref.family && !ref.snapshot) {
    throw new DiskDeltaError('Name what to copy.', 'MissingSource', 'Pass --family <disk id or family id> or --snapshot <snapshot id>.');
  }
  const [snapshots, disks] = await Promise.all([
    collectAll(compute.listSnapshots(subscriptionId, options)),
    collectAll(compute.listDisks(subscriptionId, options)),
  ]);
  const catalog = groupFamilies(snapshots, disks);
  if (ref.snapshot) {
    const id = ref.snapshot;
    parseResourceId(id);
    const snapshot = snapshots.find((s) => sameResourceId(s.id, id));
    if (!snapshot) throw new DiskDeltaError(`Snapshot ${id} was not found.`, 'SnapshotNotFound', 'Check the id, or list snapshots with `disk-delta families`.');
    if (!snapshot.incremental) {
      throw new DiskDeltaError(
        `${snapshot.name} is a full snapshot; only incremental snapshots can be copied by difference.`,
        'NotIncremental',
        'Copy an incremental snapshot, or use az snapshot create --copy-start for a full one.',
      );
    }
    const family = catalog.families.find((f) => f.snapshots.some((s) => sameResourceId(s.id, id)))!;
    return { family, snapshots: [...family.snapshots].sort(compareByCreation), upTo: snapshot };
  }
  const ref2 = ref.family!;
  const byFamilyId = catalog.families.find((f) => f.id.toLowerCase() === ref2.toLowerCase());
  if (byFamilyId) return { family: byFamilyId, snapshots: [...byFamilyId.snapshots].sort(compareByCreation) };
  const disk = disks.find((d) => sameResourceId(d.id, ref2));
  const candidates = catalog.families.filter((f) => sameResourceId(f.sourceResourceId, ref2));
  const family = disk ? candidates.find((f) => f.sourceUniqueId === disk.uniqueId) : candidates.length === 1 ? candidates[0] : undefined;
  if (!family) {
    throw new DiskDeltaError(
      candidates.length > 1 ? `The deleted disk ${ref2} had ${candidates.length} snapshot families.` : `No snapshot family matches ${ref2}.`,
      candidates.length > 1 ? 'AmbiguousFamily' : 'FamilyNotFound',
      candidates.length > 1
        ? 'Pass the family id (from `disk-delta families --json`).'
        : 'Pass a disk id with incremental snapshots, or a family id from `disk-delta families`.',
    );
  }
  return { family, snapshots: [...family.snapshots].sort(compareByCreation) };
}

/** The storage account a differential copy writes to; it must be in another region than the source. */
export async function resolveTargetAccount(
  compute: ComputeApi,
  accountId: string,
  sourceRegion: string,
  options?: OperationOptions,
): Promise<StorageAccountInfo> {
  const p = parseResourceId(accountId);
  if (p.provider.toLowerCase() !== 'microsoft.storage' || p.type.toLowerCase() !== 'storageaccounts') {
    throw new DiskDeltaError(
      `${accountId} is not a storage account id.`,
      'InvalidTargetAccount',
      'Pass /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<name>.',
    );
  }
  const accounts = await compute.listStorageAccounts(p.subscriptionId, options);
  const account = accounts.find((a) => sameResourceId(a.id, accountId));
  if (!account) throw new DiskDeltaError(`Storage account ${p.name} was not found.`, 'TargetAccountNotFound', 'Check the id (az storage account list).');
  if (normaliseRegion(account.location) === normaliseRegion(sourceRegion)) {
    throw new DiskDeltaError(
      `Storage account ${account.name} is in ${account.location}, the source's own region.`,
      'TargetInSourceRegion',
      'A cross-region copy needs a storage account in another region.',
    );
  }
  return account;
}

export function normaliseRegion(region: string): string {
  return region.toLowerCase().replace(/[\s_-]/g, '');
}
