/**
 * Snapshot families and their rules: grouping, ordering, the source disk's fate, the create limits, and
 * which pairs can be diffed.
 */
import type { DiskInfo, SnapshotInfo } from './model';
import { DiskDeltaError } from './errors';

/** What became of the disk a family was taken from. */
export type SourceDiskState =
  /** The disk exists and is the one the snapshots were taken from. */
  | 'present'
  /** No disk with the source id exists any more; the snapshots outlive it. */
  | 'deleted'
  /** A disk with the same id exists but has another `uniqueId`: it was deleted and created again. */
  | 'recreated'
  /** No disk list was given, or the source is not a disk (e.g. a CopyStart copy of a snapshot). */
  | 'unknown';

export interface SnapshotFamily {
  /** `incrementalSnapshotFamilyId` when Azure reports it, else `<sourceResourceId lower-cased>|<sourceUniqueId>`. */
  readonly id: string;
  readonly sourceResourceId?: string;
  readonly sourceUniqueId?: string;
  /** The last segment of the source id (the disk's name), for display. */
  readonly sourceName: string;
  /** Incremental snapshots only, oldest first (by `timeCreated`, then name). */
  readonly snapshots: readonly SnapshotInfo[];
  readonly sourceDiskState: SourceDiskState;
  /** The source disk when `sourceDiskState` is `present`. */
  readonly disk?: DiskInfo;
}

export interface SnapshotCatalog {
  readonly families: readonly SnapshotFamily[];
  /** Full (non-incremental) snapshots, oldest first: they belong to no family and cannot be diffed. */
  readonly fullSnapshots: readonly SnapshotInfo[];
}

function lower(s: string | undefined): string | undefined {
  return s === undefined ? undefined : s.toLowerCase();
}

/** ARM resource ids compare case-insensitively — Azure Resource Manager: resource ids and group names are case-insensitive. */
function sameId(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

function compositeKey(s: SnapshotInfo): string {
  return `${lower(s.sourceResourceId) ?? '?'}|${lower(s.sourceUniqueId) ?? '?'}`;
}

function timeOf(s: SnapshotInfo): number {
  const t = Date.parse(s.timeCreated);
  return Number.isNaN(t) ? 0 : t;
}

/** Oldest first; equal times fall back to the name so the order is stable across listings. */
export function compareByCreation(a: SnapshotInfo, b: SnapshotInfo): number {
  return timeOf(a) - timeOf(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

function lastSegment(id: string | undefined): string {
  if (!id) return '(unknown source)';
  const parts = id.split('/').filter(Boolean);
  return parts[parts.length - 1] ?? id;
}

function isDiskId(id: string | undefined): boolean {
  return id !== undefined && /\/providers\/microsoft\.compute\/disks\/[^/]+\/?$/i.test(id);
}

/**
 * True when Azure would treat both snapshots as one family.
 * Azure: a family = incremental snapshots with the same sourceResourceId AND sourceUniqueId; a diff needs one incrementalSnapshotFamilyId — docs/azure-behaviour.md#incremental-snapshots.
 */
export function sameFamily(a: SnapshotInfo, b: SnapshotInfo): boolean {
  if (a.familyId !== undefined && b.familyId !== undefined) return sameId(a.familyId, b.familyId);
  if (!sameId(a.sourceResourceId, b.sourceResourceId)) return false;
  if (a.sourceUniqueId !== undefined && b.sourceUniqueId !== undefined) return sameId(a.sourceUniqueId, b.sourceUniqueId);
  return true;
}

/**
 * Groups snapshots into families (incremental ones) and a separate list of full snapshots.
 * Pass `disks` (every disk of the subscriptions the snapshots came from) to mark families whose disk was
 * deleted or re-created; without it, every family's `sourceDiskState` is `unknown`.
 */
export function groupFamilies(snapshots: Iterable<SnapshotInfo>, disks?: Iterable<DiskInfo>): SnapshotCatalog {
  const full: SnapshotInfo[] = [];
  const incremental: SnapshotInfo[] = [];
  for (const s of snapshots) (s.incremental ? incremental : full).push(s);

  // Azure's family id wins; snapshots without one join the family whose members share their source.
  const byKey = new Map<string, SnapshotInfo[]>();
  const familyOfComposite = new Map<string, string>();
  for (const s of incremental) {
    if (s.familyId === undefined) continue;
    const key = s.familyId.toLowerCase();
    familyOfComposite.set(compositeKey(s), key);
    push(byKey, key, s);
  }
  for (const s of incremental) {
    if (s.familyId !== undefined) continue;
    const composite = compositeKey(s);
    push(byKey, familyOfComposite.get(composite) ?? composite, s);
  }

  const diskById = new Map<string, DiskInfo>();
  if (disks) for (const d of disks) diskById.set(d.id.toLowerCase(), d);

  const families: SnapshotFamily[] = [];
  for (const [key, members] of byKey) {
    members.sort(compareByCreation);
    // The source as the newest snapshot names it: that is the disk a new snapshot would extend.
    const source = [...members].reverse().find((m) => m.sourceResourceId !== undefined) ?? members[members.length - 1];
    const sourceResourceId = source.sourceResourceId;
    const sourceUniqueId = source.sourceUniqueId;
    const familyId = members.find((m) => m.familyId !== undefined)?.familyId;
    let sourceDiskState: SourceDiskState = 'unknown';
    let disk: DiskInfo | undefined;
    if (disks && isDiskId(sourceResourceId)) {
      const found = diskById.get(sourceResourceId!.toLowerCase());
      if (!found) sourceDiskState = 'deleted';
      else if (sourceUniqueId !== undefined && !sameId(found.uniqueId, sourceUniqueId)) sourceDiskState = 'recreated';
      else {
        sourceDiskState = 'present';
        disk = found;
      }
    }
    families.push({
      id: familyId ?? key,
      sourceResourceId,
      sourceUniqueId,
      sourceName: lastSegment(sourceResourceId),
      snapshots: members,
      sourceDiskState,
      ...(disk ? { disk } : {}),
    });
  }
  // Stable display order: by source name, then by the family's first snapshot.
  families.sort((a, b) => a.sourceName.toLowerCase().localeCompare(b.sourceName.toLowerCase()) || compareByCreation(a.snapshots[0], b.snapshots[0]));
  full.sort(compareByCreation);
  return { families, fullSnapshots: full };
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** The family holding a snapshot (by id, case-insensitive). */
export function findFamily(catalog: SnapshotCatalog, snapshotId: string): SnapshotFamily | undefined {
  return catalog.families.find((f) => f.snapshots.some((s) => sameId(s.id, snapshotId)));
}

/** The snapshot taken just before this one in its family, or undefined for the first. */
export function previousInFamily(family: SnapshotFamily, snapshotId: string): SnapshotInfo | undefined {
  const i = family.snapshots.findIndex((s) => sameId(s.id, snapshotId));
  return i > 0 ? family.snapshots[i - 1] : undefined;
}

/** Azure: 7 incremental snapshots per disk per 5 minutes — docs/azure-behaviour.md#limits. */
export const SNAPSHOTS_PER_WINDOW = 7;
export const SNAPSHOT_WINDOW_MS = 5 * 60 * 1000;
/** Azure: 500 incremental snapshots per disk at any one time (older docs said 200) — docs/azure-behaviour.md#limits. */
export const MAX_SNAPSHOTS_PER_DISK = 500;

export type CreateCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'RateLimit'; readonly nextAllowedAt: Date; readonly error: DiskDeltaError }
  | { readonly ok: false; readonly reason: 'CountLimit'; readonly error: DiskDeltaError };

/**
 * Preflight for a new incremental snapshot of a disk, given the disk's existing incremental snapshots
 * (its family's). The count limit is reported first: waiting does not lift it.
 */
export function checkCreateAllowed(existing: readonly SnapshotInfo[], now: Date): CreateCheck {
  const incremental = existing.filter((s) => s.incremental);
  if (incremental.length >= MAX_SNAPSHOTS_PER_DISK) {
    return {
      ok: false,
      reason: 'CountLimit',
      error: new DiskDeltaError(
        `This disk already has ${incremental.length} incremental snapshots; Azure allows at most ${MAX_SNAPSHOTS_PER_DISK} per disk.`,
        'CountLimit',
        'Delete old snapshots of this disk (or copy them elsewhere first), then try again.',
      ),
    };
  }
  const windowStart = now.getTime() - SNAPSHOT_WINDOW_MS;
  const recent = incremental
    .map(timeOf)
    .filter((t) => t > windowStart && t <= now.getTime())
    .sort((a, b) => a - b);
  if (recent.length >= SNAPSHOTS_PER_WINDOW) {
    // A new one fits once enough of the recent ones have aged out of the 5-minute window.
    const nextAllowedAt = new Date(recent[recent.length - SNAPSHOTS_PER_WINDOW] + SNAPSHOT_WINDOW_MS);
    return {
      ok: false,
      reason: 'RateLimit',
      nextAllowedAt,
      error: new DiskDeltaError(
        `This disk already has ${recent.length} incremental snapshots from the last 5 minutes; Azure allows ${SNAPSHOTS_PER_WINDOW} per 5 minutes.`,
        'RateLimit',
        `Try again after ${nextAllowedAt.toISOString()}.`,
      ),
    };
  }
  return { ok: true };
}

/** Azure: the 4 TB resize boundary is 4 TiB (4096 GiB) of disk size — docs/azure-behaviour.md#limits. */
export const RESIZE_BOUNDARY_BYTES = 4096 * 1024 ** 3;

/** True when one snapshot is at most 4 TiB and the other larger: Azure refuses a diff across that resize. */
export function crossesResizeBoundary(a: SnapshotInfo, b: SnapshotInfo): boolean {
  return a.sizeBytes > RESIZE_BOUNDARY_BYTES !== b.sizeBytes > RESIZE_BOUNDARY_BYTES;
}

export type DiffPairCheck =
  { readonly ok: true; readonly older: SnapshotInfo; readonly newer: SnapshotInfo } | { readonly ok: false; readonly error: DiskDeltaError };

/** Checks that two snapshots can be diffed and puts them in order, older first. */
export function validateDiffPair(a: SnapshotInfo, b: SnapshotInfo): DiffPairCheck {
  if (sameId(a.id, b.id)) {
    return fail(`"${a.name}" was chosen twice.`, 'SameSnapshot', 'Choose two different snapshots of the same disk.');
  }
  const full = [a, b].find((s) => !s.incremental);
  if (full) {
    return fail(
      `"${full.name}" is a full snapshot; only incremental snapshots can be diffed.`,
      'NotIncremental',
      'Choose two incremental snapshots of the same disk.',
    );
  }
  if (!sameFamily(a, b)) {
    return fail(
      `"${a.name}" and "${b.name}" belong to different snapshot families (different disks, or the disk was re-created in between).`,
      'DifferentFamilies',
      'Choose two incremental snapshots taken from the same disk, without the disk being deleted in between.',
    );
  }
  const [older, newer] = compareByCreation(a, b) <= 0 ? [a, b] : [b, a];
  if (crossesResizeBoundary(older, newer)) {
    return fail(
      `The disk was resized across the 4 TiB boundary between "${older.name}" and "${newer.name}"; Azure cannot diff across it.`,
      'ResizeBoundary',
      `Take a full copy of "${newer.name}", then diff later snapshots from it.`,
    );
  }
  return { ok: true, older, newer };
}

/** `validateDiffPair` for callers that prefer an exception. */
export function assertDiffPair(a: SnapshotInfo, b: SnapshotInfo): { older: SnapshotInfo; newer: SnapshotInfo } {
  const check = validateDiffPair(a, b);
  if (!check.ok) throw check.error;
  return { older: check.older, newer: check.newer };
}

function fail(message: string, code: string, hint: string): DiffPairCheck {
  return { ok: false, error: new DiskDeltaError(message, code, hint) };
}
