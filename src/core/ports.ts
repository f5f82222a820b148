/**
 * The small interfaces the core is written against. `src/azure` implements them over the Azure SDKs
 * (and so over the emulator, which speaks the same REST); core tests may implement them in memory.
 */
import type { DiffRange, DiskInfo, PageRange, SnapshotInfo, StorageAccountInfo, SubscriptionInfo } from './model';
import type { Secret } from './secret';

export interface CreateSnapshotRequest {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  readonly location: string;
  readonly incremental: boolean;
  /** What the snapshot is made from: `Copy` of a disk or snapshot, `CopyStart` across regions, `Import` of a blob. */
  readonly createOption: 'Copy' | 'CopyStart' | 'Import';
  /** Disk or snapshot id for Copy / CopyStart. */
  readonly sourceResourceId?: string;
  /** Blob or blob-snapshot URL for Import (no SAS: the storage account is named by id). */
  readonly sourceUri?: string;
  readonly storageAccountId?: string;
  readonly sku?: 'Standard_ZRS' | 'Standard_LRS' | string;
  readonly tags?: Record<string, string>;
}

export interface CreateDiskRequest {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly name: string;
  readonly location: string;
  readonly createOption: 'Copy' | 'Import' | 'Upload' | 'Empty';
  readonly sourceResourceId?: string;
  readonly sourceUri?: string;
  readonly storageAccountId?: string;
  readonly diskSizeGB?: number;
  readonly uploadSizeBytes?: number;
  readonly sku?: string;
  readonly tags?: Record<string, string>;
}

export interface OperationOptions {
  readonly signal?: AbortSignal;
  /** Called as a long-running operation makes progress (0..100 where Azure reports it). */
  readonly onProgress?: (percent: number | undefined) => void;
}

/** Microsoft.Compute (and the few Microsoft.Storage / subscription reads the product needs). */
export interface ComputeApi {
  /**
   * Azure's clock, as the Date header of its latest response gave it (the local clock until one has
   * come, or while the two agree within a couple of seconds). Limits Azure counts by time, such as 7
   * snapshots per 5 minutes, are checked against it.
   */
  serverTime?(): Date;
  listSubscriptions(options?: OperationOptions): Promise<SubscriptionInfo[]>;
  listDisks(subscriptionId: string, options?: OperationOptions): AsyncIterable<DiskInfo>;
  listSnapshots(subscriptionId: string, options?: OperationOptions): AsyncIterable<SnapshotInfo>;
  getDisk(id: string, options?: OperationOptions): Promise<DiskInfo | undefined>;
  getSnapshot(id: string, options?: OperationOptions): Promise<SnapshotInfo | undefined>;
  createSnapshot(request: CreateSnapshotRequest, options?: OperationOptions): Promise<SnapshotInfo>;
  /** Starts a long-running create and returns once Azure accepted it (CopyStart progress is polled with getSnapshot). */
  beginCreateSnapshot(request: CreateSnapshotRequest, options?: OperationOptions): Promise<SnapshotInfo>;
  createDisk(request: CreateDiskRequest, options?: OperationOptions): Promise<DiskInfo>;
  deleteSnapshot(id: string, options?: OperationOptions): Promise<void>;
  deleteDisk(id: string, options?: OperationOptions): Promise<void>;
  /** beginGetAccess on a disk or snapshot; the SAS URL comes back as a Secret. */
  grantAccess(id: string, access: 'Read' | 'Write', durationSeconds: number, options?: OperationOptions): Promise<Secret>;
  /** endGetAccess; idempotent. */
  revokeAccess(id: string, options?: OperationOptions): Promise<void>;
  listStorageAccounts(subscriptionId: string, options?: OperationOptions): Promise<StorageAccountInfo[]>;
  /**
   * The resource's ARM JSON as Azure returns it to a GET (a disk, snapshot or storage account);
   * undefined when it does not exist. Never carries a SAS or key: GET returns neither.
   */
  getResource?(id: string, options?: OperationOptions): Promise<Record<string, unknown> | undefined>;
  /** Replaces the tags of a disk or snapshot (PATCH); returns the tags Azure kept. */
  updateTags?(id: string, tags: Record<string, string>, options?: OperationOptions): Promise<Record<string, string>>;
}

/** A window of a page blob's address space, [offset, offset + length). */
export interface ByteWindow {
  readonly offset: number;
  readonly length: number;
}

/** Read side of a page blob: a disk or snapshot SAS, or a blob (snapshot) in a storage account. */
export interface PageSource {
  /** Size of the blob in bytes (for a disk or snapshot SAS: diskSizeBytes + 512, the VHD footer included). */
  size(options?: OperationOptions): Promise<number>;
  /** Allocated ranges in the window, in offset order, exact lengths, following every page of results. */
  listRanges(window: ByteWindow, options?: OperationOptions): AsyncIterable<PageRange>;
  /** Ranges changed or cleared since `previous` (same family), in offset order, exact lengths. */
  listDiff(previous: PageSource, window: ByteWindow, options?: OperationOptions): AsyncIterable<DiffRange>;
  read(offset: number, length: number, options?: OperationOptions): Promise<Uint8Array>;
  /** The URL a target can fetch from with Put Page From URL. Secret: it carries a SAS. */
  readUrl(): Secret;
}

/** Write side: the page blob in the target region that the copy keeps up to date. */
export interface PageTarget extends PageSource {
  /** The blob URL without any SAS, for display and journals. */
  readonly displayUrl: string;
  exists(options?: OperationOptions): Promise<boolean>;
  /** Metadata written by Disk Delta on the blob; used to refuse a blob that is not ours. */
  getMetadata(options?: OperationOptions): Promise<Record<string, string>>;
  create(sizeBytes: number, metadata: Record<string, string>, options?: OperationOptions): Promise<void>;
  setMetadata(metadata: Record<string, string>, options?: OperationOptions): Promise<void>;
  resize(sizeBytes: number, options?: OperationOptions): Promise<void>;
  /** Put Page From URL: copies [sourceOffset, +length) of source to [targetOffset, +length). length <= 4 MiB, 512-aligned. */
  putPagesFromUrl(source: Secret, sourceOffset: number, targetOffset: number, length: number, options?: OperationOptions): Promise<void>;
  /** Put Page with a body (used where Put Page From URL is refused by the source). */
  putPages(targetOffset: number, data: Uint8Array, options?: OperationOptions): Promise<void>;
  clearPages(offset: number, length: number, options?: OperationOptions): Promise<void>;
  /** Snapshot Blob; returns the snapshot timestamp. */
  snapshot(metadata: Record<string, string>, options?: OperationOptions): Promise<string>;
  /** A reader over one of this blob's snapshots. */
  snapshotSource(snapshot: string): PageSource;
  /** URL of a blob snapshot without SAS (what Import takes, with the storage account id). */
  snapshotUrl(snapshot: string): string;
}

/** Where copy targets live: a container in a storage account. */
export interface TargetStore {
  readonly account: StorageAccountInfo;
  readonly container: string;
  containerExists(options?: OperationOptions): Promise<boolean>;
  createContainer(options?: OperationOptions): Promise<void>;
  blob(name: string): PageTarget;
}

/** Opens data-plane readers over SAS URLs granted by ComputeApi.grantAccess. */
export interface DataPlane {
  openSas(url: Secret): PageSource;
  openWritableSas(url: Secret): PageTarget;
  targetStore(account: StorageAccountInfo, container: string): Promise<TargetStore>;
}
