/**
 * Resources named by id or by name. An ARM id is taken as it is (after checking its type); a name is
 * looked up in the subscription, or only in one resource group when one is given. Azure compares
 * resource names and group names case-insensitively — docs/azure-behaviour.md#resource-names.
 */
import type { SnapshotCatalog } from './families';
import type { DiskInfo } from './model';
import { validateDiskName, validateResourceGroupName, validateSnapshotName, validateStorageAccountName } from './names';
import { type ComputeApi, type OperationOptions } from './ports';
import { DiskDeltaError } from './errors';
import { parseResourceId, resourceId } from './resourceId';
import { collectAll, loadCatalog } from './snapshots';

export type NamedKind = 'disk' | 'snapshot' | 'storageAccount';

/** Where names are looked up. */
export interface NameScope {
  readonly subscriptionId: string;
  /** Only this resource group (`-g`). */
  readonly resourceGroup?: string;
}

/** Something with an id, a name and a resource group: a disk, a snapshot, a storage account. */
export interface NamedResource {
  readonly id: string;
  readonly name: string;
  readonly resourceGroup: string;
}

const LABEL: Record<NamedKind, string> = { disk: 'disk', snapshot: 'snapshot', storageAccount: 'storage account' };
const TYPE: Record<NamedKind, { provider: string; type: string }> = {
  disk: { provider: 'Microsoft.Compute', type: 'disks' },
  snapshot: { provider: 'Microsoft.Compute', type: 'snapshots' },
  storageAccount: { provider: 'Microsoft.Storage', type: 'storageAccounts' },
};
const VALIDATE: Record<NamedKind, (name: string) => string | undefined> = {
  disk: validateDiskName,
  snapshot: validateSnapshotName,
  storageAccount: validateStorageAccountName,
};

export type ResourceRef = { readonly id: string } | { readonly name: string };

/** An ARM id starts with `/`; anything else is a name. */
export function looksLikeId(ref: string): boolean {
  return ref.trim().startsWith('/');
}

/**
 * Tells an id from a name without calling Azure. A string that is neither a well-formed id nor a valid
 * name of any of `kinds` is refused (`InvalidResourceId`), and so is an id of another type.
 */
export function classifyRef(ref: string, kinds: readonly NamedKind[]): ResourceRef {
  const what = kinds.map((k) => LABEL[k]).join(' or ');
  if (looksLikeId(ref)) {
    const parts = parseResourceId(ref);
    const ok = kinds.some((k) => parts.provider.toLowerCase() === TYPE[k].provider.toLowerCase() && parts.type.toLowerCase() === TYPE[k].type.toLowerCase());
    if (!ok) {
      throw new DiskDeltaError(`${ref} is a ${parts.provider}/${parts.type} id, not a ${what} id.`, 'InvalidResourceId', `Pass a ${what} id or name.`);
    }
    return { id: ref.trim().replace(/\/+$/, '') };
  }
  const problems = kinds.map((k) => VALIDATE[k](ref));
  if (problems.every((p) => p !== undefined)) {
    throw new DiskDeltaError(
      `"${ref}" is neither a ${what} id nor a valid ${what} name: ${problems[0]}`,
      'InvalidResourceId',
      `Pass a full id such as /subscriptions/<sub>/resourceGroups/<rg>/providers/${TYPE[kinds[0]!].provider}/${TYPE[kinds[0]!].type}/<name>, or the ${what}'s name.`,
    );
  }
  return { name: ref };
}

function checkResourceGroup(resourceGroup: string | undefined): void {
  if (resourceGroup === undefined) return;
  const problem = validateResourceGroupName(resourceGroup);
  if (problem)
    throw new DiskDeltaError(`"${resourceGroup}" is not a valid resource group name: ${problem}`, 'InvalidName', 'Check the -g/--resource-group value.');
}

/**
 * The one resource called `name` among `candidates` (in `scope.resourceGroup` when given). None: `NotFound`
 * (exit 1). Several: `AmbiguousName` with every candidate's id, so the user can pass one.
 */
export function pickByName<T extends NamedResource>(kind: NamedKind | string, name: string, candidates: Iterable<T>, scope: NameScope): T {
  const label = (LABEL as Record<string, string>)[kind] ?? kind;
  const lower = name.toLowerCase();
  const group = scope.resourceGroup?.toLowerCase();
  const matches = [...candidates].filter((c) => c.name.toLowerCase() === lower && (group === undefined || c.resourceGroup.toLowerCase() === group));
  if (matches.length === 1) return matches[0]!;
  const where = scope.resourceGroup ? `resource group ${scope.resourceGroup}` : `subscription ${scope.subscriptionId}`;
  if (matches.length === 0) {
    const code = kind === 'disk' ? 'DiskNotFound' : kind === 'snapshot' ? 'SnapshotNotFound' : kind === 'storageAccount' ? 'TargetAccountNotFound' : 'NotFound';
    throw new DiskDeltaError(
      `No ${label} named ${name} in ${where}.`,
      code,
      `Check the name (disk-delta families lists disks and snapshots), or pass the full id.`,
    );
  }
  const ids = matches.map((m) => m.id).sort();
  throw new DiskDeltaError(
    `${matches.length} ${label}s are named ${name} in ${where}: ${ids.join(', ')}.`,
    'AmbiguousName',
    'Pass -g <resource group> to choose one, or pass its full id.',
  );
}

/** A disk's id, from its id or its name. */
export async function resolveDiskRef(compute: ComputeApi, ref: string, scope: NameScope, options?: OperationOptions): Promise<string> {
  return resolveRef(compute, ref, ['disk'], scope, options);
}

/** A snapshot's id, from its id or its name. */
export async function resolveSnapshotRef(compute: ComputeApi, ref: string, scope: NameScope, options?: OperationOptions): Promise<string> {
  return resolveRef(compute, ref, ['snapshot'], scope, options);
}

/** A storage account's id, from its id (taken as given) or its name. */
export async function resolveStorageAccountRef(compute: ComputeApi, ref: string, scope: NameScope, options?: OperationOptions): Promise<string> {
  // The copy checks an id's type itself, with its own message; only a name is resolved here.
  if (looksLikeId(ref)) return ref;
  return resolveRef(compute, ref, ['storageAccount'], scope, options);
}

/**
 * The id of a disk or a snapshot (a name is looked up among both; one of each with that name is
 * ambiguous).
 */
export async function resolveRef(compute: ComputeApi, ref: string, kinds: readonly NamedKind[], scope: NameScope, options?: OperationOptions): Promise<string> {
  const r = classifyRef(ref, kinds);
  if ('id' in r) return r.id;
  checkResourceGroup(scope.resourceGroup);
  const kind = kinds.length === 1 ? kinds[0]! : kinds.map((k) => LABEL[k]).join(' or ');
  // With a resource group, a disk or snapshot is one GET on its would-be id instead of a listing.
  if (scope.resourceGroup && !kinds.includes('storageAccount')) {
    const found: NamedResource[] = [];
    for (const k of kinds) {
      const id = resourceId(scope.subscriptionId, scope.resourceGroup, TYPE[k].provider, TYPE[k].type, r.name);
      const item = k === 'disk' ? await compute.getDisk(id, options) : await compute.getSnapshot(id, options);
      if (item) found.push(item);
    }
    return pickByName(kind, r.name, found, scope).id;
  }
  const candidates: NamedResource[] = [];
  if (kinds.includes('disk')) candidates.push(...(await collectAll(compute.listDisks(scope.subscriptionId, options))));
  if (kinds.includes('snapshot')) candidates.push(...(await collectAll(compute.listSnapshots(scope.subscriptionId, options))));
  if (kinds.includes('storageAccount')) candidates.push(...(await compute.listStorageAccounts(scope.subscriptionId, options)));
  return pickByName(kind, r.name, candidates, scope).id;
}

/**
 * The disk a family was taken from, by id or by name, among the subscription's disks and the sources of
 * its snapshot families (so a deleted disk's name still names its snapshots). Pure: works on a catalog
 * the caller loaded.
 */
export function resolveSourceDisk(catalog: SnapshotCatalog & { readonly disks: readonly DiskInfo[] }, ref: string, scope: NameScope): string {
  const r = classifyRef(ref, ['disk']);
  if ('id' in r) return r.id;
  checkResourceGroup(scope.resourceGroup);
  const sources = new Map<string, NamedResource>();
  for (const d of catalog.disks) sources.set(d.id.toLowerCase(), d);
  for (const f of catalog.families) {
    if (!f.sourceResourceId || sources.has(f.sourceResourceId.toLowerCase())) continue;
    try {
      const p = parseResourceId(f.sourceResourceId);
      sources.set(f.sourceResourceId.toLowerCase(), { id: f.sourceResourceId, name: p.name, resourceGroup: p.resourceGroup });
    } catch {
      // A source that is not an ARM id has no name to match.
    }
  }
  return pickByName('disk', r.name, sources.values(), scope).id;
}

/**
 * What `--family` names: a family id or a disk id, as given, or the name of a disk that has (or had)
 * incremental snapshots, resolved to its id. A deleted and re-created disk has several families under
 * one id: the copy then asks for the family id, as it does when given that id.
 */
export async function resolveFamilyRef(compute: ComputeApi, ref: string, scope: NameScope, options?: OperationOptions): Promise<string> {
  if (looksLikeId(ref)) return ref;
  const catalog = await loadCatalog(compute, scope.subscriptionId, options);
  const byId = catalog.families.find((f) => f.id.toLowerCase() === ref.toLowerCase());
  if (byId) return byId.id;
  return resolveSourceDisk(catalog, ref, scope);
}
