/** What a user does with snapshots, apart from diffs and copies: list, create, restore, delete, revoke. */
import { checkCreateAllowed, groupFamilies, type SnapshotCatalog } from './families';
import type { DiskInfo, SnapshotInfo } from './model';
import { assertValidName } from './names';
import { type ComputeApi, type OperationOptions } from './ports';
import { DiskDeltaError } from './errors';
import { parseResourceId, resourceId, sameResourceId } from './resourceId';

export type SkuChoice = 'auto' | 'Standard_ZRS' | 'Standard_LRS';

/**
 * Regions with zone-redundant storage for managed disks and snapshots. Incremental snapshots live on
 * Standard HDD; ZRS is the default where the region has it, else LRS — docs/azure-behaviour.md#incremental-snapshots.
 */
const ZRS_REGIONS = new Set([
  'australiaeast',
  'brazilsouth',
  'canadacentral',
  'centralindia',
  'centralus',
  'chinanorth3',
  'eastasia',
  'eastus',
  'eastus2',
  'francecentral',
  'germanywestcentral',
  'israelcentral',
  'italynorth',
  'japaneast',
  'koreacentral',
  'mexicocentral',
  'newzealandnorth',
  'northeurope',
  'norwayeast',
  'polandcentral',
  'qatarcentral',
  'southafricanorth',
  'southcentralus',
  'southeastasia',
  'spaincentral',
  'swedencentral',
  'switzerlandnorth',
  'uaenorth',
  'uksouth',
  'westeurope',
  'westus2',
  'westus3',
]);

export function regionHasZrs(location: string): boolean {
  return ZRS_REGIONS.has(location.toLowerCase().replace(/\s+/g, ''));
}

export function resolveSku(choice: SkuChoice | string | undefined, location: string): 'Standard_ZRS' | 'Standard_LRS' {
  if (choice === 'Standard_ZRS' || choice === 'Standard_LRS') return choice;
  if (choice && choice !== 'auto') {
    throw new DiskDeltaError(`"${choice}" is not a snapshot SKU.`, 'InvalidSku', 'Use Standard_ZRS, Standard_LRS or auto.');
  }
  return regionHasZrs(location) ? 'Standard_ZRS' : 'Standard_LRS';
}

export async function collectAll<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Every disk and snapshot of a subscription, snapshots grouped into families (paging followed to the end). */
export async function loadCatalog(compute: ComputeApi, subscriptionId: string, options?: OperationOptions): Promise<SnapshotCatalog & { disks: DiskInfo[] }> {
  const [disks, snapshots] = await Promise.all([
    collectAll(compute.listDisks(subscriptionId, options)),
    collectAll(compute.listSnapshots(subscriptionId, options)),
  ]);
  return { ...groupFamilies(snapshots, disks), disks };
}

export async function resolveDisk(compute: ComputeApi, id: string, options?: OperationOptions): Promise<DiskInfo> {
  const disk = await compute.getDisk(id, options);
  if (!disk) throw new DiskDeltaError(`Disk ${id} was not found.`, 'DiskNotFound', 'Check the id or refresh the list.');
  return disk;
}

/** The incremental snapshots of the disk's current incarnation (same id and uniqueId). */
export async function snapshotsOfDisk(compute: ComputeApi, disk: DiskInfo, options?: OperationOptions): Promise<SnapshotInfo[]> {
  const out: SnapshotInfo[] = [];
  for await (const s of compute.listSnapshots(disk.subscriptionId, options)) {
    if (s.incremental && sameResourceId(s.sourceResourceId, disk.id) && s.sourceUniqueId === disk.uniqueId) out.push(s);
  }
  return out;
}

export interface CreateSnapshotParams {
  readonly diskId: string;
  readonly name: string;
  readonly sku?: SkuChoice | string;
  readonly tags?: Record<string, string>;
  /** Defaults to the disk's resource group. */
  readonly resourceGroup?: string;
  readonly now?: Date;
}

/**
 * Creates an incremental snapshot after checking, before any write, the name and the limits
 * (7 per disk per 5 minutes, 500 per disk).
 */
export async function createIncrementalSnapshot(compute: ComputeApi, params: CreateSnapshotParams, options?: OperationOptions): Promise<SnapshotInfo> {
  assertValidName('snapshot', params.name);
  const disk = await resolveDisk(compute, params.diskId, options);
  // Azure counts the 5-minute window by its own clock; the listing just brought its Date header.
  const existing = await snapshotsOfDisk(compute, disk, options);
  const check = checkCreateAllowed(existing, params.now ?? compute.serverTime?.() ?? new Date());
  if (!check.ok) throw check.error;
  return compute.createSnapshot(
    {
      subscriptionId: disk.subscriptionId,
      resourceGroup: params.resourceGroup ?? disk.resourceGroup,
      name: params.name,
      location: disk.location,
      incremental: true,
      createOption: 'Copy',
      sourceResourceId: disk.id,
      sku: resolveSku(params.sku, disk.location),
      ...(params.tags && Object.keys(params.tags).length ? { tags: params.tags } : {}),
    },
    options,
  );
}

export interface RestoreParams {
  readonly snapshotId: string;
  readonly name: string;
  readonly resourceGroup?: string;
  readonly sku?: string;
  readonly tags?: Record<string, string>;
}

/** Restores a managed disk from a snapshot (createOption Copy), in the snapshot's region. */
export async function restoreDisk(compute: ComputeApi, params: RestoreParams, options?: OperationOptions): Promise<DiskInfo> {
  assertValidName('disk', params.name);
  if (params.resourceGroup) assertValidName('resourceGroup', params.resourceGroup);
  const snapshot = await requireSnapshot(compute, params.snapshotId, options);
  const target = resourceId(snapshot.subscriptionId, params.resourceGroup ?? snapshot.resourceGroup, 'Microsoft.Compute', 'disks', params.name);
  if (await compute.getDisk(target, options)) {
    throw new DiskDeltaError(
      `A disk named ${params.name} already exists in ${params.resourceGroup ?? snapshot.resourceGroup}.`,
      'DiskExists',
      'Choose another name.',
    );
  }
  return compute.createDisk(
    {
      subscriptionId: snapshot.subscriptionId,
      resourceGroup: params.resourceGroup ?? snapshot.resourceGroup,
      name: params.name,
      location: snapshot.location,
      createOption: 'Copy',
      sourceResourceId: snapshot.id,
      ...(params.sku ? { sku: params.sku } : {}),
      ...(params.tags ? { tags: params.tags } : {}),
    },
    options,
  );
}

export interface FullSnapshotParams {
  readonly snapshotId: string;
  readonly name: string;
  readonly resourceGroup?: string;
  readonly sku?: SkuChoice | string;
}

/** A full (non-incremental) snapshot made from an incremental one: the way past a 4 TB boundary resize. */
export async function createFullSnapshot(compute: ComputeApi, params: FullSnapshotParams, options?: OperationOptions): Promise<SnapshotInfo> {
  assertValidName('snapshot', params.name);
  const source = await requireSnapshot(compute, params.snapshotId, options);
  return compute.createSnapshot(
    {
      subscriptionId: source.subscriptionId,
      resourceGroup: params.resourceGroup ?? source.resourceGroup,
      name: params.name,
      location: source.location,
      incremental: false,
      createOption: 'Copy',
      sourceResourceId: source.id,
      sku: params.sku && params.sku !== 'auto' ? params.sku : 'Standard_LRS',
    },
    options,
  );
}

export async function requireSnapshot(compute: ComputeApi, id: string, options?: OperationOptions): Promise<SnapshotInfo> {
  parseResourceId(id);
  const s = await compute.getSnapshot(id, options);
  if (!s) throw new DiskDeltaError(`Snapshot ${id} was not found.`, 'SnapshotNotFound', 'Check the id or refresh the list.');
  return s;
}

export async function deleteSnapshot(compute: ComputeApi, id: string, options?: OperationOptions): Promise<void> {
  await requireSnapshot(compute, id, options);
  await compute.deleteSnapshot(id, options);
}

/** Ends any SAS grant on a disk or snapshot (endGetAccess; harmless when none is open). */
export async function revokeAccess(compute: ComputeApi, id: string, options?: OperationOptions): Promise<void> {
  const p = parseResourceId(id);
  const kind = p.type.toLowerCase();
  if (kind === 'snapshots') await requireSnapshot(compute, id, options);
  else if (kind === 'disks') await resolveDisk(compute, id, options);
  else throw new DiskDeltaError(`${id} is neither a disk nor a snapshot.`, 'InvalidResourceId');
  await compute.revokeAccess(id, options);
}
