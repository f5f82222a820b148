/**
 * Retention, as the policy says it: which source snapshots and which target points go. Pure functions,
 * so the rules are tested apart from Azure.
 */
import { compareByCreation } from '../families';
import type { SnapshotInfo } from '../model';
import { sameResourceId } from '../resourceId';
import type { TargetPoint } from './ports';

/**
 * `source.keep` N: the N newest incremental snapshots of the family stay, and so does the newest copied one
 * (the next differential copy diffs from it) even when a failed copy left newer ones above it.
 */
export function sourceSnapshotsToPrune(family: readonly SnapshotInfo[], keep: number | undefined, lastCopiedId: string | undefined): SnapshotInfo[] {
  if (keep === undefined) return [];
  const sorted = [...family].sort(compareByCreation);
  const kept = new Set(sorted.slice(Math.max(0, sorted.length - keep)).map((s) => s.id.toLowerCase()));
  const lastCopiedIndex = lastCopiedId ? sorted.findIndex((s) => sameResourceId(s.id, lastCopiedId)) : -1;
  return sorted.filter((s, i) => !kept.has(s.id.toLowerCase()) && i !== lastCopiedIndex && (lastCopiedIndex < 0 || i < lastCopiedIndex));
}

/**
 * A point's time is its blob snapshot's: taken right after the copy, so never earlier than the source
 * snapshot (a point is kept a little longer, never pruned early). A blob snapshot is named by its time —
 * docs/azure-behaviour.md#blob-snapshots-as-protected-points.
 */
export function pointTime(p: TargetPoint): number {
  return Date.parse(p.snapshot);
}

/** An imported managed snapshot or disk of a family, with its creation time. */
export interface ImportedPoint {
  readonly id: string;
  readonly timeCreated: string;
}

/** The same rule for imported resources: beyond the N newest, or older than maxAge, never the newest. */
export function importsToPrune(imports: readonly ImportedPoint[], keep: number | undefined, maxAgeSeconds: number | undefined, now: Date): ImportedPoint[] {
  const asPoints = imports.map((i) => ({ snapshot: i.timeCreated, metadata: { id: i.id } }));
  return targetPointsToPrune(asPoints, keep, maxAgeSeconds, now).map((p) => ({ id: p.metadata.id, timeCreated: p.snapshot }));
}

/**
 * `target.keep` N and `maxAge`: points beyond the N newest, and points older than maxAge, go; the newest
 * point always stays. `now` is Azure's clock.
 */
export function targetPointsToPrune(points: readonly TargetPoint[], keep: number | undefined, maxAgeSeconds: number | undefined, now: Date): TargetPoint[] {
  const newestFirst = [...points].sort((a, b) => pointTime(b) - pointTime(a) || b.snapshot.localeCompare(a.snapshot));
  return newestFirst
    .filter((p, i) => {
      if (i === 0) return false;
      if (keep !== undefined && i >= keep) return true;
      return maxAgeSeconds !== undefined && (now.getTime() - pointTime(p)) / 1000 > maxAgeSeconds;
    })
    .reverse();
}
