/** Byte ranges of a page blob. Offsets and lengths are bytes; Azure pages are 512 bytes. */
export interface PageRange {
  /** First byte, a multiple of 512. */
  readonly offset: number;
  /** Length in bytes, a positive multiple of 512 (exact: a single page is 512, not 511). */
  readonly length: number;
}

export type DiffKind = 'changed' | 'cleared';

export interface DiffRange extends PageRange {
  readonly kind: DiffKind;
}

export interface SubscriptionInfo {
  readonly subscriptionId: string;
  readonly displayName: string;
  readonly tenantId?: string;
}

export interface DiskInfo {
  readonly id: string;
  readonly name: string;
  readonly resourceGroup: string;
  readonly subscriptionId: string;
  readonly location: string;
  readonly sizeBytes: number;
  readonly sku?: string;
  readonly uniqueId: string;
  readonly timeCreated?: string;
  readonly diskState?: string;
  readonly provisioningState?: string;
  readonly tags?: Record<string, string>;
}

export interface SnapshotInfo {
  readonly id: string;
  readonly name: string;
  readonly resourceGroup: string;
  readonly subscriptionId: string;
  readonly location: string;
  readonly incremental: boolean;
  readonly sizeBytes: number;
  readonly sku?: string;
  readonly timeCreated: string;
  readonly uniqueId: string;
  readonly provisioningState?: string;
  readonly diskState?: string;
  /** `incrementalSnapshotFamilyId`; both snapshots of a diff must share it. */
  readonly familyId?: string;
  readonly createOption?: string;
  readonly sourceResourceId?: string;
  /** The source disk's `uniqueId` at snapshot time. */
  readonly sourceUniqueId?: string;
  readonly completionPercent?: number;
  readonly copyCompletionError?: { readonly errorCode: string; readonly errorMessage: string };
  readonly tags?: Record<string, string>;
}

export interface StorageAccountInfo {
  readonly id: string;
  readonly name: string;
  readonly resourceGroup: string;
  readonly location: string;
  readonly blobEndpoint: string;
  readonly kind?: string;
  readonly sku?: string;
}
