/**
 * The metadata Disk Delta keeps on the target blob and on each blob snapshot it takes: which family the blob
 * holds, the last snapshot recorded in it, and the snapshot a step is writing until it is recorded. The chain
 * reads it to decide what is left to copy, the executor writes it, and the CLI and protection read the last
 * recorded point from it.
 */
import type { CopyPlan } from './plan';

/** Metadata Disk Delta writes on the target blob and its snapshots (Azure lower-cases metadata names). */
export const TARGET_METADATA = {
  version: 'diskdelta_version',
  family: 'diskdelta_family',
  sourceDisk: 'diskdelta_sourcedisk',
  lastSnapshot: 'diskdelta_lastsnapshot',
  lastUniqueId: 'diskdelta_lastuniqueid',
  lastTimeCreated: 'diskdelta_lasttimecreated',
  lastSizeBytes: 'diskdelta_lastsizebytes',
  lastBlobSnapshot: 'diskdelta_lastblobsnapshot',
  snapshot: 'diskdelta_snapshot',
  uniqueId: 'diskdelta_uniqueid',
  timeCreated: 'diskdelta_timecreated',
  mode: 'diskdelta_mode',
  /** The snapshot a step is writing into the blob until it is recorded; a re-run for another snapshot must not diff over it. */
  inProgress: 'diskdelta_inprogress',
} as const;

/** Metadata of a target blob created for a family's base copy, marked as holding `plan.source` in progress. */
export function createdMetadata(plan: CopyPlan, sourceDiskId: string | undefined): Record<string, string> {
  return {
    [TARGET_METADATA.version]: '1',
    [TARGET_METADATA.family]: plan.familyId,
    ...(sourceDiskId ? { [TARGET_METADATA.sourceDisk]: sourceDiskId } : {}),
    [TARGET_METADATA.inProgress]: plan.source.id,
  };
}

/** The blob's metadata with `sourceId` marked as the snapshot being written. */
export function markedInProgress(metadata: Record<string, string>, sourceId: string): Record<string, string> {
  return { ...metadata, [TARGET_METADATA.inProgress]: sourceId };
}

/** The snapshot being written, if a step has not been recorded yet. */
export function inProgressSnapshot(metadata: Record<string, string>): string | undefined {
  return metadata[TARGET_METADATA.inProgress];
}

/** Metadata of the blob snapshot that records one step: which source snapshot it holds and how it was copied. */
export function snapshotMetadata(plan: CopyPlan): Record<string, string> {
  return {
    [TARGET_METADATA.version]: '1',
    [TARGET_METADATA.family]: plan.familyId,
    [TARGET_METADATA.snapshot]: plan.source.id,
    [TARGET_METADATA.uniqueId]: plan.source.uniqueId,
    [TARGET_METADATA.timeCreated]: plan.source.timeCreated,
    [TARGET_METADATA.mode]: plan.mode,
  };
}

/**
 * The blob's metadata once a step is recorded: the step's snapshot becomes the last one, the in-progress mark
 * is cleared, or moved to `nextSourceId` when the next step starts right away (saving it a metadata write).
 */
export function recordedMetadata(
  existing: Record<string, string>,
  plan: CopyPlan,
  blobSnapshot: string,
  sourceDiskId: string | undefined,
  nextSourceId: string | undefined,
): Record<string, string> {
  const { [TARGET_METADATA.inProgress]: _done, ...rest } = existing;
  return {
    ...rest,
    ...(nextSourceId ? { [TARGET_METADATA.inProgress]: nextSourceId } : {}),
    [TARGET_METADATA.version]: '1',
    [TARGET_METADATA.family]: plan.familyId,
    ...(sourceDiskId ? { [TARGET_METADATA.sourceDisk]: sourceDiskId } : {}),
    [TARGET_METADATA.lastSnapshot]: plan.source.id,
    [TARGET_METADATA.lastUniqueId]: plan.source.uniqueId,
    [TARGET_METADATA.lastTimeCreated]: plan.source.timeCreated,
    [TARGET_METADATA.lastSizeBytes]: String(plan.source.sizeBytes),
    [TARGET_METADATA.lastBlobSnapshot]: blobSnapshot,
  };
}

/** The last step recorded in a target blob's metadata, as far as it says. */
export interface RecordedPoint {
  readonly family?: string;
  readonly lastSnapshot?: string;
  readonly lastUniqueId?: string;
  readonly lastTimeCreated?: string;
  readonly lastSizeBytes?: number;
  /** The blob snapshot that holds the last recorded step (a point-in-time copy). */
  readonly lastBlobSnapshot?: string;
}

/** Reads the last recorded step out of a target blob's metadata. */
export function recordedPoint(metadata: Record<string, string>): RecordedPoint {
  const m = metadata;
  const size = m[TARGET_METADATA.lastSizeBytes];
  return {
    ...(m[TARGET_METADATA.family] ? { family: m[TARGET_METADATA.family] } : {}),
    ...(m[TARGET_METADATA.lastSnapshot] ? { lastSnapshot: m[TARGET_METADATA.lastSnapshot] } : {}),
    ...(m[TARGET_METADATA.lastUniqueId] ? { lastUniqueId: m[TARGET_METADATA.lastUniqueId] } : {}),
    ...(m[TARGET_METADATA.lastTimeCreated] ? { lastTimeCreated: m[TARGET_METADATA.lastTimeCreated] } : {}),
    ...(size !== undefined && size !== '' ? { lastSizeBytes: Number(size) } : {}),
    ...(m[TARGET_METADATA.lastBlobSnapshot] ? { lastBlobSnapshot: m[TARGET_METADATA.lastBlobSnapshot] } : {}),
  };
}
