/**
 * Brings a target blob up to date with a snapshot family: reads what the blob says it already holds
 * (metadata Disk Delta wrote), then copies every later snapshot in creation order, one `CopyPlan` each.
 */
import type { SnapshotInfo } from '../model';
import type { ComputeApi, DataPlane, TargetStore } from '../ports';
import { DiskDeltaError, isAbortError } from '../errors';
import { sameResourceId } from '../resourceId';
import type { CopyExecutorOptions, SnapshotCopyResult, StepPrefetch } from './executor';
import { CopyExecutor } from './executor';
import { GrantPool, revokeFailedMessage } from './grants';
import { CopyJournal, FamilyLock } from './journal';
import type { CopyPlan, ImportOptions, SnapshotRef, VerifyMode } from './plan';
import { chooseMode, DEFAULT_WINDOW_BYTES, snapshotRef, targetBlobName, VHD_FOOTER_BYTES } from './plan';
import { MAX_PUT_PAGES } from '../pageRanges';
import type { SnapshotCopySummary } from './progress';
import { TARGET_METADATA } from './targetMetadata';
import * as path from 'node:path';

export interface ChainCopyRequest extends CopyExecutorOptions {
  /** The family's incremental snapshots (any order; they are sorted by creation time). */
  readonly snapshots: readonly SnapshotInfo[];
  /** Copy just this snapshot: a base copy if the target is empty, else one diff from the target's last. */
  readonly only?: string;
  /** Copy the chain up to and including this snapshot. */
  readonly upTo?: string;
  readonly store: TargetStore;
  /** Defaults to `<disk-name>-<family-short-hash>.vhd`. */
  readonly blobName?: string;
  readonly verify?: VerifyMode;
  readonly import?: ImportOptions;
  /** The journal file of this copy (`--journal`, or `defaultJournalPath(...)`). */
  readonly journalFile: string;
  /** Where family locks live; defaults to the journal's directory. Use one directory per user. */
  readonly lockDirectory?: string;
  /** Create the container when it is missing (otherwise that is an error). */
  readonly createContainer?: boolean;
  readonly windowBytes?: number;
  readonly maxChunkBytes?: number;
}

export interface ChainCopyResult {
  /** `upToDate`: the target already held everything asked for; nothing was written. */
  readonly status: 'completed' | 'upToDate' | 'cancelled';
  readonly targetBlobUrl: string;
  readonly steps: readonly SnapshotCopyResult[];
  /** One per snapshot copied, in order (what `disk-delta copy --json` prints). */
  readonly summaries: readonly SnapshotCopySummary[];
}

function byCreation(a: SnapshotInfo, b: SnapshotInfo): number {
  return Date.parse(a.timeCreated) - Date.parse(b.timeCreated) || a.name.localeCompare(b.name);
}

export function validateFamily(snapshots: readonly SnapshotInfo[]): { familyId: string; sorted: SnapshotInfo[] } {
  if (snapshots.length === 0) throw new DiskDeltaError('There are no snapshots to copy.', 'NoSnapshots', 'Create an incremental snapshot of the disk first.');
  const notIncremental = snapshots.find((s) => !s.incremental);
  if (notIncremental) {
    throw new DiskDeltaError(
      `${notIncremental.name} is a full snapshot; only incremental snapshots can be copied by difference.`,
      'NotIncremental',
      'Pick an incremental snapshot of the disk.',
    );
  }
  const familyId = snapshots[0]!.familyId;
  if (!familyId)
    throw new DiskDeltaError(`${snapshots[0]!.name} has no incremental snapshot family id.`, 'NoFamily', 'Refresh the snapshot list and try again.');
  const stranger = snapshots.find((s) => s.familyId?.toLowerCase() !== familyId.toLowerCase());
  if (stranger) {
    throw new DiskDeltaError(
      `${stranger.name} belongs to another snapshot family than ${snapshots[0]!.name}.`,
      'DifferentFamilies',
      'Copy the snapshots of one disk at a time.',
    );
  }
  const notReady = snapshots.find((s) => s.provisioningState !== undefined && s.provisioningState !== 'Succeeded');
  if (notReady)
    throw new DiskDeltaError(
      `${notReady.name} is ${notReady.provisioningState}, not ready to copy.`,
      'SnapshotNotReady',
      'Wait until it has finished creating.',
    );
  return { familyId, sorted: [...snapshots].sort(byCreation) };
}

export class ChainCopy {
  constructor(
    private readonly compute: ComputeApi,
    private readonly dataPlane: DataPlane,
  ) {}

  /**
   * Copies what the target lacks. Cancellation (request.signal) ends with status `cancelled`, not an error;
   * the journal lets the next run continue. Failures throw a `DiskDeltaError` (CopyFailedError lists every
   * failed page operation).
   */
  async run(request: ChainCopyRequest): Promise<ChainCopyResult> {
    const { familyId, sorted } = validateFamily(request.snapshots);
    const store = request.store;
    const blobName = request.blobName ?? targetBlobName(familyId, sorted[0]!.sourceResourceId, sorted[0]!.name);
    const target = store.blob(blobName);
    const lock = await FamilyLock.acquire(request.lockDirectory ?? path.dirname(request.journalFile), familyId);
    const steps: SnapshotCopyResult[] = [];
    const result = (status: ChainCopyResult['status']): ChainCopyResult => ({
      status,
      targetBlobUrl: target.displayUrl,
      steps,
      summaries: steps.map((s) => s.summary),
    });
    let journal: CopyJournal | undefined;
    const executor = new CopyExecutor(this.compute, request);
    const grants = new GrantPool(this.compute, this.dataPlane, request.sasDurationSeconds ?? 3600, request.now ?? Date.now, request.signal);
    // This step's grants and operations, requested during the step before; and the next step's.
    let ahead: StepPrefetch | undefined;
    let upcoming: StepPrefetch | undefined;
    try {
      if (!(await executor.call((signal) => store.containerExists({ signal })))) {
        if (!request.createContainer) {
          throw new DiskDeltaError(
            `The container ${store.container} does not exist in ${store.account.name}.`,
            'ContainerNotFound',
            'Create the container first, or copy to the default container, which is created when missing.',
          );
        }
        await executor.call((signal) => store.createContainer({ signal }));
      }
      const exists = await executor.call((signal) => target.exists({ signal }));
      const metadata = exists ? await executor.call((signal) => target.getMetadata({ signal })) : {};
      if (exists && metadata[TARGET_METADATA.family]?.toLowerCase() !== familyId.toLowerCase()) {
        throw new DiskDeltaError(
          metadata[TARGET_METADATA.family]
            ? `The target blob ${target.displayUrl} holds a copy of another snapshot family (${metadata[TARGET_METADATA.family]}).`
            : `The target blob ${target.displayUrl} exists but was not written by Disk Delta; it is not ours to overwrite.`,
          'TargetNotOurs',
          'Pick another container or blob name, or delete that blob yourself if it is no longer needed.',
        );
      }
      const { previous, previousExists, todo } = this.#whatToCopy(sorted, metadata, request);
      if (todo.length === 0) return result('upToDate');

      const opened = await CopyJournal.open(request.journalFile, familyId, target.displayUrl);
      journal = opened.journal;
      for (const w of opened.warnings) request.onNotice?.({ snapshotIndex: 0, code: 'JournalTornLine', message: w });

      const planFor = (i: number, prev: SnapshotRef | undefined, prevExists: boolean): CopyPlan => {
        const source = snapshotRef(todo[i]!);
        const { mode, fullReason } = chooseMode(prev, source, prevExists, i === 0 ? metadata[TARGET_METADATA.inProgress] : undefined);
        return {
          familyId,
          source,
          previous: mode === 'base' ? undefined : prev,
          mode,
          fullReason,
          target: { accountId: store.account.id, container: store.container, blobName, displayUrl: target.displayUrl },
          blobSizeBytes: source.sizeBytes + VHD_FOOTER_BYTES,
          verify: request.verify ?? 'changed',
          import: request.import ?? { kind: 'none' },
          windowBytes: request.windowBytes ?? DEFAULT_WINDOW_BYTES,
          maxChunkBytes: request.maxChunkBytes ?? MAX_PUT_PAGES,
        };
      };

      // Each step's grants and diff listing are requested while the step before it copies: the copy goes
      // from one snapshot's last write to the next one's first with only the blob snapshot and its record between.
      let plan = planFor(0, previous, previousExists);
      for (let i = 0; i < todo.length; i += 1) {
        const nextPlan = i + 1 < todo.length ? planFor(i + 1, plan.source, true) : undefined;
        let next: StepPrefetch | undefined;
        const startNext = (): void => {
          if (nextPlan && !next) upcoming = next = executor.prefetch(nextPlan, grants, i + 1, todo.length);
        };
        steps.push(
          await executor.runStep({
            plan,
            target,
            account: store.account,
            journal,
            snapshotIndex: i,
            snapshotCount: todo.length,
            sourceDiskId: todo[i]!.sourceResourceId,
            grants,
            ...(ahead ? { prefetched: ahead } : {}),
            keepSource: nextPlan !== undefined,
            onGranted: startNext,
            ...(nextPlan ? { nextSourceId: () => (next?.ready ? nextPlan.source.id : undefined) } : {}),
          }),
        );
        ahead?.close();
        ahead = upcoming;
        upcoming = undefined;
        if (nextPlan) plan = nextPlan;
      }
      return result('completed');
    } catch (error) {
      if (isAbortError(error) || request.signal?.aborted) return result('cancelled');
      throw error;
    } finally {
      ahead?.close();
      upcoming?.close();
      // Normally empty by now (each step revokes what it is done with); after a failure, the safety net.
      const unrevoked = await grants.closeAll();
      if (unrevoked.length > 0) {
        request.onNotice?.({ snapshotIndex: Math.max(0, steps.length - 1), code: 'RevokeFailed', message: revokeFailedMessage(unrevoked) });
      }
      await journal?.close();
      await lock.release();
    }
  }

  #whatToCopy(
    sorted: SnapshotInfo[],
    metadata: Record<string, string>,
    request: ChainCopyRequest,
  ): { previous: SnapshotRef | undefined; previousExists: boolean; todo: SnapshotInfo[] } {
    const lastId = metadata[TARGET_METADATA.lastSnapshot];
    let previous: SnapshotRef | undefined;
    let previousExists = false;
    let after = -1;
    if (lastId) {
      const index = sorted.findIndex((s) => sameResourceId(s.id, lastId));
      const lastTime = metadata[TARGET_METADATA.lastTimeCreated] ?? '';
      if (index >= 0) {
        if (sorted[index]!.uniqueId !== metadata[TARGET_METADATA.lastUniqueId]) {
          throw new DiskDeltaError(
            `The target says it holds ${sorted[index]!.name}, but that snapshot has since been deleted and created again.`,
            'TargetRecordMismatch',
            'Copy to a new blob name; the existing copy is of an older snapshot with the same name.',
          );
        }
        previous = snapshotRef(sorted[index]!);
        previousExists = true;
        after = index;
      } else {
        previous = {
          id: lastId,
          name: lastId.split('/').pop() ?? lastId,
          uniqueId: metadata[TARGET_METADATA.lastUniqueId] ?? '',
          timeCreated: lastTime,
          sizeBytes: Number(metadata[TARGET_METADATA.lastSizeBytes] ?? 0),
        };
        after = sorted.findLastIndex((s) => Date.parse(s.timeCreated) <= Date.parse(lastTime));
      }
    }
    const find = (id: string): number => {
      const i = sorted.findIndex((s) => sameResourceId(s.id, id));
      if (i < 0)
        throw new DiskDeltaError(
          `Snapshot ${id} is not one of this family's snapshots.`,
          'UnknownSnapshot',
          'Refresh the list and pick a snapshot of this disk.',
        );
      return i;
    };
    if (request.only) {
      const i = find(request.only);
      return { previous, previousExists, todo: i > after ? [sorted[i]!] : [] };
    }
    const last = request.upTo ? find(request.upTo) : sorted.length - 1;
    return { previous, previousExists, todo: sorted.slice(after + 1, last + 1) };
  }
}
