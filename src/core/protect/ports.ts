/**
 * What continuous protection needs from the target storage account beyond the copy engine's `TargetStore`:
 * a lease to claim a family's work across machines, and the blob snapshots (points) of a target blob.
 * `src/azure/lease.ts` implements both with @azure/storage-blob.
 */
import type { StorageAccountInfo } from '../model';
import type { OperationOptions } from '../ports';

/** Where a lock or target blob lives. */
export interface BlobLocation {
  readonly account: StorageAccountInfo;
  readonly container: string;
  readonly blobName: string;
}

/** A held lease: renew it before it expires, release it when done. */
export interface HeldLease {
  readonly leaseId: string;
  renew(options?: OperationOptions): Promise<void>;
  release(options?: OperationOptions): Promise<void>;
}

/**
 * Blob leases (Azure's Lease Blob). `tryAcquire` creates the (empty) lock blob when it is missing and
 * answers undefined when someone else holds a lease that has not expired; it never breaks one.
 */
export interface Lease {
  tryAcquire(lock: BlobLocation, durationSeconds: number, options?: OperationOptions): Promise<HeldLease | undefined>;
}

/** A blob snapshot of a target blob: one protected point in the target region. */
export interface TargetPoint {
  /** The snapshot timestamp (Azure's `snapshot` query value). */
  readonly snapshot: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface TargetPoints {
  /** Blob snapshots of one blob, oldest first (empty when the blob does not exist). */
  list(blob: BlobLocation, options?: OperationOptions): Promise<TargetPoint[]>;
  /** Deletes one blob snapshot (already gone is fine). */
  delete(blob: BlobLocation, snapshot: string, options?: OperationOptions): Promise<void>;
}

export interface ProtectionStorage extends Lease, TargetPoints {}
