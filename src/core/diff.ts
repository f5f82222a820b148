import { withReadAccess, type ReadGrant } from './access';
import { assertDiffPair } from './families';
import type { DiffRange, SnapshotInfo } from './model';
import { AdjacentMerger, offsetWindows } from './pageRanges';
import { backoffDelay, classifyError, DEFAULT_RETRY_POLICY, sleep } from './copy/retry';
import { type ByteWindow, type ComputeApi, type DataPlane, type OperationOptions } from './ports';
import { DiskDeltaError } from './errors';

/** Size of one listing window: small enough that a fragmented window answers quickly, large enough for few calls. */
export const DIFF_WINDOW_BYTES = 64 * 1024 ** 3;
const WINDOW_ATTEMPTS = 6;

export interface DiffOptions extends OperationOptions {
  readonly sasDurationSeconds?: number;
  readonly windowBytes?: number;
  readonly onRevoked?: (resourceId: string, error?: unknown) => void;
  /** Called when a listing window is retried (transient error or renewed SAS), for logs. */
  readonly onRetry?: (reason: string) => void;
}

/** An open diff between two snapshots of one family: SAS granted on both until the scope ends. */
export interface SnapshotDiff {
  readonly older: SnapshotInfo;
  readonly newer: SnapshotInfo;
  /** Bytes of the disk address space (the VHD footer excluded). */
  readonly diskSizeBytes: number;
  /** Changed and cleared ranges in offset order, adjacent ones merged, exact lengths, streamed window by window. */
  ranges(window?: ByteWindow, options?: OperationOptions): AsyncIterable<DiffRange>;
  /** The read grants on both snapshots, for reading their contents (the file-level diff). */
  readonly grants: { readonly older: ReadGrant; readonly newer: ReadGrant };
}

export async function resolveSnapshot(compute: ComputeApi, id: string, options?: OperationOptions): Promise<SnapshotInfo> {
  const s = await compute.getSnapshot(id, options);
  if (!s) {
    throw new DiskDeltaError(`Snapshot ${id} was not found.`, 'SnapshotNotFound', 'Check the id (az snapshot list) or refresh the list.');
  }
  return s;
}

/**
 * Opens a diff between two snapshots (either order), runs `body` with it, and always revokes the SAS
 * grants made for it. Refuses pairs Azure cannot diff (different families, full snapshots, a resize
 * across the 4 TB boundary) before any grant.
 */
export async function withSnapshotDiff<T>(
  compute: ComputeApi,
  dataPlane: DataPlane,
  fromId: string,
  toId: string,
  options: DiffOptions,
  body: (diff: SnapshotDiff) => Promise<T>,
): Promise<T> {
  const [a, b] = await Promise.all([resolveSnapshot(compute, fromId, options), resolveSnapshot(compute, toId, options)]);
  const { older, newer } = assertDiffPair(a, b);
  return withReadAccess(
    compute,
    [older.id, newer.id],
    {
      durationSeconds: options.sasDurationSeconds ?? 3600,
      signal: options.signal,
      onRevoked: options.onRevoked,
      alreadyGranted: new Set([older, newer].filter((s) => s.diskState === 'ActiveSAS').map((s) => s.id)),
    },
    async ([olderGrant, newerGrant]) => {
      const diff = new GrantedDiff(dataPlane, older, newer, olderGrant!, newerGrant!, options);
      return body(diff);
    },
  );
}

class GrantedDiff implements SnapshotDiff {
  readonly diskSizeBytes: number;
  readonly grants: { readonly older: ReadGrant; readonly newer: ReadGrant };
  constructor(
    private readonly dataPlane: DataPlane,
    readonly older: SnapshotInfo,
    readonly newer: SnapshotInfo,
    private readonly olderGrant: ReadGrant,
    private readonly newerGrant: ReadGrant,
    private readonly options: DiffOptions,
  ) {
    this.diskSizeBytes = newer.sizeBytes;
    this.grants = { older: olderGrant, newer: newerGrant };
  }

  ranges(window?: ByteWindow, options?: OperationOptions): AsyncIterable<DiffRange> {
    const w = window ?? { offset: 0, length: this.diskSizeBytes };
    return this.#windows(w, options?.signal ?? this.options.signal);
  }

  /**
   * Window after window, each retried from where it stopped on transient errors and on an expired SAS
   * (renewed), adjacent ranges merged across answers and windows. One generator for all of it: each of a
   * million ranges passes through as few async layers as possible.
   */
  async *#windows(whole: ByteWindow, signal: AbortSignal | undefined): AsyncIterable<DiffRange> {
    const windowBytes = this.options.windowBytes ?? DIFF_WINDOW_BYTES;
    const merger = new AdjacentMerger<DiffRange>();
    for (const rel of offsetWindows(whole.length, windowBytes)) {
      const end = whole.offset + rel.offset + rel.length;
      let position = whole.offset + rel.offset;
      for (let attempt = 1; ; attempt++) {
        try {
          const newer = this.dataPlane.openSas(this.newerGrant.url());
          const older = this.dataPlane.openSas(this.olderGrant.url());
          for await (const r of newer.listDiff(older, { offset: position, length: end - position }, { signal })) {
            position = Math.max(position, r.offset + r.length);
            const done = merger.push(r);
            if (done) yield done;
          }
          break;
        } catch (error) {
          await this.#beforeRetry(error, attempt, signal);
        }
      }
    }
    const last = merger.finish();
    if (last) yield last;
  }

  /** Rethrows what is not worth another try; otherwise renews the grants or waits, as the error asks. */
  async #beforeRetry(error: unknown, attempt: number, signal: AbortSignal | undefined): Promise<void> {
    const c = classifyError(error);
    if (c.kind === 'aborted' || signal?.aborted || attempt >= WINDOW_ATTEMPTS) throw error;
    if (c.kind === 'sasExpired') {
      this.options.onRetry?.('read access expired or was refused; granting it again');
      await this.olderGrant.renew({ signal });
      await this.newerGrant.renew({ signal });
    } else if (c.kind === 'throttled' || c.kind === 'transient') {
      this.options.onRetry?.(`listing changed ranges failed (${c.code}); retrying`);
      await sleep(backoffDelay(DEFAULT_RETRY_POLICY, attempt, c.retryAfterMs), signal);
    } else {
      throw error;
    }
  }
}
