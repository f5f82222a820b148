/**
 * Azure's own cross-region copy: a snapshot in the target region with createOption CopyStart, polled to
 * completionPercent 100 or copyCompletionError — docs/azure-behaviour.md#copystart.
 */
import type { SnapshotInfo } from '../model';
import type { ComputeApi } from '../ports';
import { DiskDeltaError, isAbortError } from '../errors';
import { parseResourceId, resourceId } from '../resourceId';
import { validateFamily } from './chain';
import type { NoticeListener, ProgressListener } from './progress';
import { ProgressMeter } from './progress';
import { abortError, backoffDelay, classifyError, DEFAULT_RETRY_POLICY, sleep } from './retry';
import { formatDuration } from '../format';

/**
 * Where one CopyStart stands. Azure reports `completionPercent` 0 for minutes and then jumps to 100
 * (docs/azure-behaviour.md#copystart): 0 is shown as "queued", with the time waited so far, not as a stall.
 */
export interface NativeCopyStatus {
  readonly snapshotIndex: number;
  readonly snapshotCount: number;
  readonly sourceName: string;
  readonly targetSnapshotId: string;
  readonly state: 'starting' | 'queued' | 'copying' | 'done';
  readonly percent: number;
  /** Since this snapshot's copy was started (or found running) by this run. */
  readonly elapsedSeconds: number;
}

/** One line for people: "[1/3] snap-1: queued, 0% · 4m 10s". */
export function describeNativeStatus(s: NativeCopyStatus): string {
  const what = s.state === 'starting' ? 'starting CopyStart' : s.state === 'done' ? 'copied, 100%' : `${s.state}, ${Math.round(s.percent)}%`;
  return `[${s.snapshotIndex + 1}/${s.snapshotCount}] ${s.sourceName}: ${what} · ${formatDuration(s.elapsedSeconds * 1000)}`;
}

export interface NativeCopyRequest {
  /** Incremental snapshots of one family; copied in creation order, one at a time (Azure allows one per disk). */
  readonly snapshots: readonly SnapshotInfo[];
  readonly targetRegion: string;
  readonly targetResourceGroup: string;
  /** Defaults to the source snapshot's subscription. */
  readonly targetSubscriptionId?: string;
  /** Defaults to the source snapshot's name (names are per resource group, so the same name is fine). */
  readonly name?: (source: SnapshotInfo) => string;
  readonly pollIntervalMs?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressListener;
  readonly onNotice?: NoticeListener;
  /** Called after every poll (the percentage Azure reports, the time waited). */
  readonly onStatus?: (status: NativeCopyStatus) => void;
  readonly now?: () => number;
}

export interface NativeCopyStep {
  readonly sourceSnapshotId: string;
  readonly targetSnapshotId: string;
  /** True when the target snapshot already existed complete. */
  readonly alreadyCopied: boolean;
  readonly seconds: number;
}

export interface NativeCopyResult {
  readonly status: 'completed' | 'cancelled';
  readonly steps: readonly NativeCopyStep[];
}

export class NativeCopy {
  constructor(private readonly compute: ComputeApi) {}

  async run(request: NativeCopyRequest): Promise<NativeCopyResult> {
    const { sorted } = validateFamily(request.snapshots);
    const now = request.now ?? Date.now;
    const steps: NativeCopyStep[] = [];
    const poll = request.pollIntervalMs ?? 10_000;
    try {
      for (let i = 0; i < sorted.length; i += 1) {
        const source = sorted[i]!;
        const meter = new ProgressMeter(i, sorted.length, request.onProgress, now);
        meter.bytesTotal = source.sizeBytes;
        meter.bytesTotalIsEstimate = false;
        const parts = parseResourceId(source.id);
        const subscriptionId = request.targetSubscriptionId ?? parts.subscriptionId;
        const name = request.name?.(source) ?? source.name;
        const targetId = resourceId(subscriptionId, request.targetResourceGroup, 'Microsoft.Compute', 'snapshots', name);
        meter.emit('copying');
        const status = (state: NativeCopyStatus['state'], percent: number): void =>
          request.onStatus?.({
            snapshotIndex: i,
            snapshotCount: sorted.length,
            sourceName: source.name,
            targetSnapshotId: targetId,
            state,
            percent,
            elapsedSeconds: meter.seconds(),
          });
        status('starting', 0);
        let state = await this.#get(targetId, request.signal, meter);
        const alreadyCopied = state !== undefined && (state.completionPercent ?? 0) >= 100 && !state.copyCompletionError;
        if (state === undefined) {
          meter.requests += 1;
          state = await this.compute.beginCreateSnapshot(
            {
              subscriptionId,
              resourceGroup: request.targetResourceGroup,
              name,
              location: request.targetRegion,
              incremental: true,
              createOption: 'CopyStart',
              sourceResourceId: source.id,
            },
            { signal: request.signal },
          );
        }
        // No time-out: a copy may be queued for a long time; only the user stops waiting (and the copy goes on).
        while (state && !state.copyCompletionError && (state.completionPercent ?? 0) < 100 && state.provisioningState !== 'Failed') {
          const percent = state.completionPercent ?? 0;
          meter.bytesDone = Math.round((source.sizeBytes * percent) / 100);
          meter.emit();
          status(percent > 0 ? 'copying' : 'queued', percent);
          await sleep(poll, request.signal);
          state = await this.#get(targetId, request.signal, meter);
        }
        if (!state)
          throw new DiskDeltaError(`The copy of ${source.name} to ${request.targetRegion} disappeared while it ran.`, 'CopyStartLost', 'Start the copy again.');
        if (state.copyCompletionError || state.provisioningState === 'Failed') {
          const e = state.copyCompletionError;
          throw new DiskDeltaError(
            `Azure could not copy ${source.name} to ${request.targetRegion}: ${e ? `${e.errorCode}: ${e.errorMessage}` : 'provisioning failed'}.`,
            e?.errorCode ?? 'CopyStartFailed',
            'Delete the failed target snapshot and start the copy again.',
          );
        }
        meter.bytesDone = source.sizeBytes;
        meter.emit('done');
        status('done', 100);
        steps.push({ sourceSnapshotId: source.id, targetSnapshotId: state.id || targetId, alreadyCopied, seconds: meter.seconds() });
      }
      return { status: 'completed', steps };
    } catch (error) {
      if (isAbortError(error) || request.signal?.aborted) {
        request.onNotice?.({
          snapshotIndex: steps.length,
          code: 'NativeCopyContinues',
          message: 'Stopped following the copy; Azure goes on copying the snapshot already started in the target region.',
        });
        return { status: 'cancelled', steps };
      }
      throw error;
    }
  }

  async #get(id: string, signal: AbortSignal | undefined, meter: ProgressMeter): Promise<SnapshotInfo | undefined> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await this.compute.getSnapshot(id, { signal });
      } catch (error) {
        const c = classifyError(error);
        if (c.kind === 'aborted' || signal?.aborted) throw abortError();
        // Throttling (429 with Retry-After) only delays the next poll: waiting is what the user asked for.
        if (c.kind !== 'throttled' && (c.kind !== 'transient' || attempt >= DEFAULT_RETRY_POLICY.maxRetries)) throw error;
        meter.retries += 1;
        await sleep(backoffDelay(DEFAULT_RETRY_POLICY, attempt, c.retryAfterMs), signal);
      }
    }
  }
}
