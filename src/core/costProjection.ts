/**
 * A family's storage over time and its projected monthly bill, on the source side (incremental
 * snapshots) and on the target side of a differential copy (a page blob and its blob snapshots).
 *
 * Source: each incremental snapshot is billed for its used size - the first for its allocated bytes,
 * each later one for the bytes changed since the previous (docs/azure-behaviour.md#billing). After
 * snapshot i the family holds the sum of used sizes up to i.
 *
 * Target: the copy writes the first snapshot's allocated pages to the base blob, then each later
 * snapshot's changed pages, taking a blob snapshot after each. A page blob and its snapshots are billed
 * for their unique pages (docs/azure-behaviour.md#blob-snapshot-billing): the first copy's pages plus
 * every page rewritten after a blob snapshot - the same diffs the source is billed for. So the target
 * holds about the sum of used sizes of the snapshots copied so far: the base blob's share is the first
 * snapshot's pages, the blob snapshots' share the later changes. It is an estimate: pages rewritten
 * twice between two copies count once on each side alike, and cleared pages are not counted.
 */
import { GiB } from './cost';

export interface CostPoint {
  readonly snapshotId: string;
  readonly name: string;
  /** ISO creation time. */
  readonly time: string;
  /** Used size of this snapshot; undefined when unknown (not listed). */
  readonly usedBytes: number | undefined;
  /** Bytes the family's snapshots up to this one are billed for (unknown used sizes count as 0). */
  readonly sourceBytes: number;
  /** Projected monthly bill of the source at this point. */
  readonly sourceMonthly: number;
  /** Bytes the copy target holds at this point, when this snapshot has been copied; else undefined. */
  readonly targetBytes: number | undefined;
  readonly targetMonthly: number | undefined;
}

export interface FamilyCostProjection {
  readonly points: readonly CostPoint[];
  readonly pricePerGiBMonth: number;
  readonly currency: string;
  readonly sourceMonthly: number;
  /** Undefined when the family has no copy target. */
  readonly target?: {
    readonly baseBlobBytes: number;
    readonly blobSnapshotBytes: number;
    readonly monthly: number;
    /** Name of the last snapshot the target holds. */
    readonly upTo: string;
  };
  /** Snapshots whose used size is unknown (their share is missing from the totals). */
  readonly unknown: number;
}

export interface CostInput {
  readonly snapshots: readonly { readonly id: string; readonly name: string; readonly timeCreated: string }[];
  /** Used size per snapshot id (lower-case ids). */
  readonly usedBytes: ReadonlyMap<string, number>;
  readonly pricePerGiBMonth: number;
  readonly currency: string;
  /** The last snapshot the copy target holds (its id), when the family is copied. */
  readonly copiedUpTo?: string;
}

export function projectFamilyCost(input: CostInput): FamilyCostProjection {
  const price = Math.max(0, input.pricePerGiBMonth);
  const monthly = (bytes: number) => (bytes / GiB) * price;
  const ordered = [...input.snapshots].sort((a, b) => Date.parse(a.timeCreated) - Date.parse(b.timeCreated));
  const copiedIndex = input.copiedUpTo ? ordered.findIndex((s) => s.id.toLowerCase() === input.copiedUpTo!.toLowerCase()) : -1;
  let source = 0;
  let unknown = 0;
  let base = 0;
  let later = 0;
  const points: CostPoint[] = ordered.map((s, i) => {
    const used = input.usedBytes.get(s.id.toLowerCase());
    if (used === undefined) unknown++;
    source += used ?? 0;
    if (i <= copiedIndex) {
      if (i === 0) base += used ?? 0;
      else later += used ?? 0;
    }
    const copied = i <= copiedIndex;
    return {
      snapshotId: s.id,
      name: s.name,
      time: s.timeCreated,
      usedBytes: used,
      sourceBytes: source,
      sourceMonthly: monthly(source),
      targetBytes: copied ? base + later : undefined,
      targetMonthly: copied ? monthly(base + later) : undefined,
    };
  });
  return {
    points,
    pricePerGiBMonth: price,
    currency: input.currency,
    sourceMonthly: monthly(source),
    ...(copiedIndex >= 0
      ? { target: { baseBlobBytes: base, blobSnapshotBytes: later, monthly: monthly(base + later), upTo: ordered[copiedIndex]!.name } }
      : {}),
    unknown,
  };
}
