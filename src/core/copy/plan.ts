/**
 * What one snapshot copy does, and the stream of page operations that does it. The plan itself is a few
 * fields; its ranges are listed window by window, merged and chunked as they are consumed, so memory stays
 * bounded for a 32 TiB disk with millions of ranges.
 */
import { createHash } from 'node:crypto';
import type { DiffRange, PageRange, SnapshotInfo } from '../model';
import { chunkStream, clipRange, iterateChunks, MAX_PUT_PAGES, mergeAdjacentStream, offsetWindows, PAGE, rangeEnd } from '../pageRanges';
import type { ByteWindow } from '../ports';
import { DiskDeltaError } from '../errors';

/** The fixed VHD footer after the disk's bytes — docs/azure-behaviour.md#page-blobs: a disk SAS is diskSizeBytes + 512. */
export const VHD_FOOTER_BYTES = 512;
export const DEFAULT_WINDOW_BYTES = 64 * 1024 * 1024 * 1024;
const TIB = 1024 ** 4;
/** Azure: no diff across a resize that crosses the 4 TB boundary — docs/azure-behaviour.md#limits. */
export const FOUR_TIB = 4 * TIB;
/** Azure: a page blob holds at most 8 TiB — docs/azure-behaviour.md#page-blobs. */
export const MAX_PAGE_BLOB_BYTES = 8 * TIB;

export type CopyMode = 'base' | 'delta' | 'full';
export type FullCopyReason = 'resize4TiB' | 'previousMissing' | 'interruptedOtherCopy';
/** `sample:<percent>`: hash a seeded random share of the changed ranges (sample.ts). */
export type VerifyMode = 'changed' | 'full' | 'none' | `sample:${number}`;

export interface ImportOptions {
  readonly kind: 'none' | 'snapshot' | 'disk';
  /** Resource group for the imported resource; defaults to the storage account's. */
  readonly resourceGroup?: string;
  /** Name of the imported resource; defaults to `<source snapshot name>-copy`. */
  readonly name?: (source: SnapshotRef) => string;
}

/** The fields of a managed snapshot a copy depends on (nothing secret). */
export interface SnapshotRef {
  readonly id: string;
  readonly name: string;
  readonly uniqueId: string;
  readonly timeCreated: string;
  readonly sizeBytes: number;
}

export interface CopyTargetRef {
  readonly accountId: string;
  readonly container: string;
  readonly blobName: string;
  /** Blob URL without SAS. */
  readonly displayUrl: string;
}

export interface CopyPlan {
  readonly familyId: string;
  readonly source: SnapshotRef;
  /** The last snapshot already on the target; undefined for a base copy. */
  readonly previous?: SnapshotRef;
  readonly mode: CopyMode;
  readonly fullReason?: FullCopyReason;
  readonly target: CopyTargetRef;
  /** diskSizeBytes + 512: the VHD footer lives in the last 512 bytes and is copied too. */
  readonly blobSizeBytes: number;
  readonly verify: VerifyMode;
  readonly import: ImportOptions;
  readonly windowBytes: number;
  readonly maxChunkBytes: number;
}

/** One request of a copy: Put Page From URL of a chunk, or Clear Pages of a merged cleared range. */
export interface PageOp extends PageRange {
  readonly op: 'write' | 'clear';
}

export function snapshotRef(s: SnapshotInfo): SnapshotRef {
  return { id: s.id, name: s.name, uniqueId: s.uniqueId, timeCreated: s.timeCreated, sizeBytes: s.sizeBytes };
}

export function shortHash(text: string, chars = 8): string {
  return createHash('sha256').update(text).digest('hex').slice(0, chars);
}

/**
 * A stable target blob name per family: `<disk-name>-<family-short-hash>.vhd`. The disk name comes from the
 * snapshots' source disk id (snapshots outlive their disk, the id stays on them).
 */
export function targetBlobName(familyId: string, sourceDiskId: string | undefined, fallbackName: string): string {
  const diskName = (sourceDiskId?.split('/').filter(Boolean).pop() ?? fallbackName).replace(/[^A-Za-z0-9._-]/g, '-');
  return `${diskName.slice(0, 200)}-${shortHash(familyId.toLowerCase())}.vhd`;
}

/** True when a diff between the two sizes would cross the 4 TB boundary (Azure refuses it). */
export function crossesFourTiBBoundary(previousBytes: number, sourceBytes: number): boolean {
  return previousBytes <= FOUR_TIB !== sourceBytes <= FOUR_TIB;
}

/**
 * Base, delta or full. `unfinishedSourceId` is the snapshot an interrupted earlier run was writing into the
 * target (its metadata says so): if that is another snapshot, the blob may hold pages of it that no diff
 * from `previous` would overwrite, so only a full copy is safe.
 */
export function chooseMode(
  previous: SnapshotRef | undefined,
  source: SnapshotRef,
  previousStillExists: boolean,
  unfinishedSourceId?: string,
): { mode: CopyMode; fullReason?: FullCopyReason } {
  if (unfinishedSourceId && unfinishedSourceId.toLowerCase() !== source.id.toLowerCase()) return { mode: 'full', fullReason: 'interruptedOtherCopy' };
  if (!previous) return { mode: 'base' };
  if (!previousStillExists) return { mode: 'full', fullReason: 'previousMissing' };
  if (crossesFourTiBBoundary(previous.sizeBytes, source.sizeBytes)) return { mode: 'full', fullReason: 'resize4TiB' };
  return { mode: 'delta' };
}

/** What identifies a plan in a journal: if any of it changes, recorded chunks no longer line up. */
export function planId(plan: CopyPlan): string {
  return shortHash(
    JSON.stringify([
      plan.familyId.toLowerCase(),
      plan.source.id.toLowerCase(),
      plan.source.uniqueId,
      plan.previous?.id.toLowerCase() ?? '',
      plan.previous?.uniqueId ?? '',
      plan.mode,
      plan.target.displayUrl,
      plan.blobSizeBytes,
      plan.windowBytes,
      plan.maxChunkBytes,
    ]),
    24,
  );
}

export function validatePlanShape(plan: CopyPlan): void {
  if (plan.maxChunkBytes <= 0 || plan.maxChunkBytes > MAX_PUT_PAGES || plan.maxChunkBytes % PAGE !== 0) {
    throw new DiskDeltaError(`Chunk size ${plan.maxChunkBytes} must be a multiple of 512 bytes and at most 4 MiB.`, 'InvalidChunkSize');
  }
  if (plan.windowBytes <= 0 || plan.windowBytes % PAGE !== 0) {
    throw new DiskDeltaError(`Listing window ${plan.windowBytes} must be a positive multiple of 512 bytes.`, 'InvalidWindow');
  }
  if (plan.blobSizeBytes > MAX_PAGE_BLOB_BYTES) {
    throw new DiskDeltaError(
      `The disk is ${Math.round(plan.source.sizeBytes / TIB)} TiB; a page blob holds at most 8 TiB.`,
      'DiskTooLargeForBlob',
      'Copy this disk with Azure CopyStart (disk-delta copy --native) instead.',
    );
  }
}

/** Lists one window's ranges; called again with a narrower window to resume after a failure. */
export type WindowLister<T extends PageRange> = (window: ByteWindow) => AsyncIterable<T>;

/**
 * Every window's ranges concatenated, each clipped to its window so an adapter returning a straddling
 * range cannot make it appear twice; a merged stream downstream joins the pieces of a range that spans a
 * window boundary, so no extra request is made for it.
 */
export async function* windowedRanges<T extends PageRange>(size: number, windowBytes: number, list: WindowLister<T>): AsyncGenerator<T, void, undefined> {
  for (const window of offsetWindows(size, windowBytes)) {
    for await (const r of list(window)) {
      const clipped = clipRange(r, window);
      if (clipped) yield clipped;
    }
  }
}

/** Plain page ranges (base / full copy) as write operations, merged and chunked at range start + k * chunk. */
export async function* writeOps(ranges: AsyncIterable<PageRange>, maxChunkBytes: number): AsyncGenerator<PageOp, void, undefined> {
  for await (const c of chunkStream(mergeAdjacentStream(ranges), maxChunkBytes)) yield { offset: c.offset, length: c.length, op: 'write' };
}

/**
 * A diff as operations: changed ranges merged and chunked into Put Page From URL calls, cleared ranges
 * merged into one Clear Pages each (Azure: a clear may span the whole blob — Put Page REST docs).
 */
export async function* diffOps(ranges: AsyncIterable<DiffRange>, maxChunkBytes: number): AsyncGenerator<PageOp, void, undefined> {
  for await (const r of mergeAdjacentStream(ranges)) {
    if (r.kind === 'cleared') yield { offset: r.offset, length: r.length, op: 'clear' };
    else for (const c of iterateChunks(r, maxChunkBytes)) yield { offset: c.offset, length: c.length, op: 'write' };
  }
}

/** Union of two offset-ordered range streams, merged, as one offset-ordered stream (for a whole-disk verify). */
export async function* unionStream(a: AsyncIterable<PageRange>, b: AsyncIterable<PageRange>): AsyncGenerator<PageRange, void, undefined> {
  const ia = a[Symbol.asyncIterator]();
  const ib = b[Symbol.asyncIterator]();
  let na = await ia.next();
  let nb = await ib.next();
  async function* interleave(): AsyncGenerator<PageRange, void, undefined> {
    while (!na.done || !nb.done) {
      if (nb.done || (!na.done && na.value.offset <= nb.value.offset)) {
        yield { offset: (na.value as PageRange).offset, length: (na.value as PageRange).length };
        na = await ia.next();
      } else {
        yield { offset: nb.value.offset, length: nb.value.length };
        nb = await ib.next();
      }
    }
  }
  yield* mergeAdjacentStream(interleave());
}

export function describeRange(r: PageRange): string {
  return `${r.offset}-${rangeEnd(r) - 1} (${r.length} bytes)`;
}
