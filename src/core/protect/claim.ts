/**
 * The claim on a family's work: a blob lease on a small lock blob beside the target blob, renewed while
 * the work runs and released at the end. Azure Storage is the coordination service; a runner that dies
 * loses its claim when the lease expires (docs/azure-behaviour.md#blob-leases-as-a-claim).
 */
import { shortHash } from '../copy/plan';
import type { DiskInfo } from '../model';
import type { HeldLease, Lease, BlobLocation } from './ports';
import type { StorageAccountInfo } from '../model';

/** Azure: a finite lease lasts 15 to 60 seconds (docs/azure-behaviour.md#blob-leases-as-a-claim). */
export const LEASE_SECONDS = 60;
/** Renewed well before it can expire, even when a renewal is slow or retried. */
export const RENEW_EVERY_MS = 15_000;

/**
 * The lock blob of a disk incarnation (disk id + uniqueId, which is what a snapshot family is), so the claim
 * exists before the family's first snapshot and target blob do. The lease is never taken on the target blob
 * itself: Azure then refuses every write to it that does not carry the lease id (docs/azure-behaviour.md#blob-leases-as-a-claim).
 */
export function lockBlobName(disk: Pick<DiskInfo, 'id' | 'name' | 'uniqueId'>): string {
  const name = disk.name.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 200);
  return `${name}-${shortHash(`${disk.id.toLowerCase()}|${disk.uniqueId.toLowerCase()}`)}.lock`;
}

export interface FamilyClaim {
  /** Aborted when a renewal fails: the claim may be lost, the work must stop. */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

/** Claims a disk's family for this runner, or answers undefined when another runner holds it. */
export async function claimFamily(
  lease: Lease,
  account: StorageAccountInfo,
  container: string,
  disk: Pick<DiskInfo, 'id' | 'name' | 'uniqueId'>,
  options: { signal?: AbortSignal; renewEveryMs?: number; onRenewFailed?: (error: unknown) => void } = {},
): Promise<FamilyClaim | undefined> {
  const lock: BlobLocation = { account, container, blobName: lockBlobName(disk) };
  const held: HeldLease | undefined = await lease.tryAcquire(lock, LEASE_SECONDS, { signal: options.signal });
  if (!held) return undefined;
  const lost = new AbortController();
  let renewing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    renewing = held.renew().catch((error: unknown) => {
      options.onRenewFailed?.(error);
      lost.abort(new DOMException('The claim on this disk was lost (lease renewal failed).', 'AbortError'));
    });
  }, options.renewEveryMs ?? RENEW_EVERY_MS);
  timer.unref();
  return {
    lost: lost.signal,
    release: async () => {
      clearInterval(timer);
      await renewing;
      await held.release();
    },
  };
}
