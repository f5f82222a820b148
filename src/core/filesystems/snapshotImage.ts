import { withReadAccess, type ReadGrant } from '../access';
import { backoffDelay, BlobPacer, classifyError, DEFAULT_RETRY_POLICY, sleep } from '../copy/retry';
import { resolveSnapshot } from '../diff';
import type { SnapshotInfo } from '../model';
import type { ComputeApi, DataPlane, OperationOptions } from '../ports';
import { openDisk, type DiskImage } from './disk';
import { CachedBlockReader, type CachedReaderOptions, type RangeRead } from './reader';

const READ_ATTEMPTS = 6;

/**
 * Ranged reads of a granted snapshot SAS (Get Blob with a range, through the DataPlane's PageSource -
 * docs/azure-behaviour.md#page-blobs),
 * retried on transient errors and throttling, and granted again when the SAS expires or is refused as
 * expired - docs/azure-behaviour.md#access-sas-grants. With `pace`, reads leave evenly under the blob's
 * scale targets (docs/azure-behaviour.md#page-blobs): a long file read ahead would otherwise ask for more than
 * 60 MiB/s, meet 503s and wait out their Retry-After.
 */
export function grantRead(dataPlane: DataPlane, grant: ReadGrant, onRetry?: (reason: string) => void, pace?: ReadPace): RangeRead {
  const pacer = pace ? new BlobPacer(pace) : undefined;
  // One client for as long as the grant's URL stays the same (a client costs more to make than a read).
  let opened: { url: ReturnType<ReadGrant['url']>; source: ReturnType<DataPlane['openSas']> } | undefined;
  const source = () => {
    const url = grant.url();
    if (opened?.url !== url) opened = { url, source: dataPlane.openSas(url) };
    return opened.source;
  };
  return async (offset, length, signal) => {
    for (let attempt = 1; ; attempt++) {
      try {
        if (pacer) await sleep(pacer.reserve(length, Date.now()), signal);
        return await source().read(offset, length, { signal });
      } catch (error) {
        const c = classifyError(error);
        if (c.kind === 'aborted' || signal?.aborted || attempt >= READ_ATTEMPTS) throw error;
        if (c.kind === 'sasExpired') {
          onRetry?.('read access expired or was refused; granting it again');
          await grant.renew({ signal });
        } else if (c.kind === 'throttled' || c.kind === 'transient') {
          onRetry?.(`reading the snapshot failed (${c.code}); retrying`);
          await sleep(backoffDelay(DEFAULT_RETRY_POLICY, attempt, c.retryAfterMs), signal);
        } else {
          throw error;
        }
      }
    }
  };
}

export interface OpenedSnapshot {
  readonly snapshot: SnapshotInfo;
  readonly reader: CachedBlockReader;
  readonly disk: DiskImage;
}

/** Requests and bytes a second to read one snapshot at (the blob's scale targets, or under them). */
export interface ReadPace {
  readonly requestsPerSecond: number;
  readonly bytesPerSecond: number;
}

export interface SnapshotImageOptions extends OperationOptions {
  readonly sasDurationSeconds?: number;
  /** Reads are paced at this rate when given (none by default, as the copy engine's core). */
  readonly pace?: ReadPace;
  readonly reader?: CachedReaderOptions;
  readonly onRetry?: (reason: string) => void;
  readonly onRevoked?: (resourceId: string, error?: unknown) => void;
}

/** Reads a snapshot's image: the size is the disk's (the SAS blob's VHD footer is past it and never read). */
export function snapshotReader(dataPlane: DataPlane, snapshot: SnapshotInfo, grant: ReadGrant, options: SnapshotImageOptions = {}): CachedBlockReader {
  const reader = { ...(options.pace ? { targets: options.pace } : {}), ...options.reader };
  return new CachedBlockReader(snapshot.sizeBytes, grantRead(dataPlane, grant, options.onRetry, options.pace), reader);
}

/**
 * Grants read access on one snapshot, opens its partitions and filesystems, runs `body`, and always
 * revokes the grant it made (an open grant holds one of the family's SAS slots).
 */
export async function withSnapshotImage<T>(
  compute: ComputeApi,
  dataPlane: DataPlane,
  snapshotId: string,
  options: SnapshotImageOptions,
  body: (image: OpenedSnapshot) => Promise<T>,
): Promise<T> {
  const snapshot = await resolveSnapshot(compute, snapshotId, options);
  return withReadAccess(
    compute,
    [snapshot.id],
    {
      durationSeconds: options.sasDurationSeconds ?? 3600,
      signal: options.signal,
      onRevoked: options.onRevoked,
      alreadyGranted: new Set(snapshot.diskState === 'ActiveSAS' ? [snapshot.id] : []),
    },
    async ([grant]) => {
      const reader = snapshotReader(dataPlane, snapshot, grant!, options);
      const disk = await openDisk(reader, options.signal);
      return body({ snapshot, reader, disk });
    },
  );
}
