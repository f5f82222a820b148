/**
 * One way to start a copy, for the CLI and VS Code alike: what a differential copy writes to (account, container,
 * blob name), where its journal and family lock live, how it is paced, what it will move (for a confirmation), and
 * the CopyStart alternative. The front ends only ask and show.
 */
import * as path from 'node:path';
import type { SnapshotInfo, StorageAccountInfo } from '../model';
import { normaliseRegion, resolveTargetAccount } from '../copyTargets';
import { validateContainerName } from '../names';
import { MAX_PUT_PAGES } from '../pageRanges';
import type { ComputeApi, DataPlane, OperationOptions, TargetStore } from '../ports';
import { DiskDeltaError } from '../errors';
import { sameResourceId } from '../resourceId';
import type { ChainCopyResult } from './chain';
import { ChainCopy, validateFamily } from './chain';
import { CopyFailedError } from './executor';
import { defaultJournalPath } from './journal';
import type { NativeCopyResult, NativeCopyStatus } from './native';
import { NativeCopy } from './native';
import type { ImportOptions, VerifyMode } from './plan';
import { targetBlobName, VHD_FOOTER_BYTES } from './plan';
import type { NoticeListener, ProgressListener } from './progress';
import { secondsAtBlobLimit } from './progress';
import { AZURE_TARGET_PACE, classifyError, PAGE_BLOB_TARGETS } from './retry';

/** The container a copy goes to when none is named; it is created when missing (a named one must exist). */
export const DEFAULT_CONTAINER = 'disk-delta';

export interface CopyPorts {
  readonly compute: ComputeApi;
  readonly dataPlane: DataPlane;
}

export interface DifferentialCopyOptions {
  /** The family's incremental snapshots (any order). */
  readonly snapshots: readonly SnapshotInfo[];
  /** Copy up to and including this snapshot; the newest when omitted. */
  readonly upTo?: string;
  /**
   * The target storage account's resource id. Its blob endpoint is looked up now, never remembered: an endpoint
   * saved with a copy goes stale (a moved emulator, a re-created account).
   */
  readonly targetAccountId: string;
  /** Defaults to DEFAULT_CONTAINER. */
  readonly container?: string;
  /** Create the container when missing; defaults to true for the default container only. */
  readonly createContainer?: boolean;
  /** Where journals (`<dir>/copies/*.jsonl`) and family locks (`<dir>/copies`) live: one directory per user. */
  readonly stateDirectory: string;
  /** Overrides the journal file (the CLI's --journal); locks stay in the state directory so two copies always meet. */
  readonly journalFile?: string;
  readonly verify?: VerifyMode;
  readonly import?: ImportOptions;
  readonly concurrency?: number;
  readonly maxChunkBytes?: number;
  readonly sasDurationSeconds?: number;
  /** Requests and bytes per second the copy paces itself to; defaults to just under a page blob's scale targets. */
  readonly targetPace?: { readonly requestsPerSecond: number; readonly bytesPerSecond: number };
}

export interface CopyEvents {
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressListener;
  readonly onNotice?: NoticeListener;
}

/** A differential copy whose target is known and reachable by name; nothing has been written yet. */
export interface PreparedDifferentialCopy {
  readonly familyId: string;
  /** With the blob endpoint as it is now. */
  readonly account: StorageAccountInfo;
  readonly container: string;
  readonly blobName: string;
  readonly store: TargetStore;
  readonly journalFile: string;
  /** The target blob's URL (never with a SAS). */
  readonly targetBlobUrl: string;
  /** The snapshot the copy brings the target up to. */
  readonly upTo: SnapshotInfo;
  run(events?: CopyEvents): Promise<ChainCopyResult>;
}

/**
 * Resolves the target account (its current endpoint, and that it is in another region than the source), names the
 * target blob, journal and lock directory. Makes no request to the target's data plane.
 */
export async function prepareDifferentialCopy(ports: CopyPorts, o: DifferentialCopyOptions, options?: OperationOptions): Promise<PreparedDifferentialCopy> {
  const { familyId, sorted } = validateFamily(o.snapshots);
  const first = sorted[0]!;
  const upTo = o.upTo ? sorted.find((s) => sameResourceId(s.id, o.upTo)) : sorted[sorted.length - 1]!;
  if (!upTo)
    throw new DiskDeltaError(
      `Snapshot ${o.upTo} is not one of this family's snapshots.`,
      'UnknownSnapshot',
      'Refresh the list and pick a snapshot of this disk.',
    );
  const container = o.container ?? DEFAULT_CONTAINER;
  const problem = validateContainerName(container);
  if (problem) throw new DiskDeltaError(problem, 'InvalidName');
  let account: StorageAccountInfo;
  try {
    account = await resolveTargetAccount(ports.compute, o.targetAccountId, first.location, options);
  } catch (error) {
    throw unreachableTarget(error) ?? error;
  }
  const store = await ports.dataPlane.targetStore(account, container);
  const blobName = targetBlobName(familyId, first.sourceResourceId, first.name);
  const targetBlobUrl = store.blob(blobName).displayUrl;
  const copyDirectory = path.join(o.stateDirectory, 'copies');
  const journalFile = o.journalFile ?? defaultJournalPath(o.stateDirectory, familyId, targetBlobUrl);
  return {
    familyId,
    account,
    container,
    blobName,
    store,
    journalFile,
    targetBlobUrl,
    upTo,
    run: async (events = {}) => {
      try {
        return await new ChainCopy(ports.compute, ports.dataPlane).run({
          snapshots: sorted,
          upTo: upTo.id,
          store,
          blobName,
          verify: o.verify ?? 'changed',
          import: o.import ?? { kind: 'none' },
          journalFile,
          lockDirectory: copyDirectory,
          createContainer: o.createContainer ?? o.container === undefined,
          ...(o.concurrency ? { concurrency: o.concurrency } : {}),
          ...(o.maxChunkBytes ? { maxChunkBytes: o.maxChunkBytes } : {}),
          ...(o.sasDurationSeconds ? { sasDurationSeconds: o.sasDurationSeconds } : {}),
          targetPace: o.targetPace ?? AZURE_TARGET_PACE,
          ...events,
        });
      } catch (error) {
        throw unreachableTarget(error, account) ?? error;
      }
    },
  };
}

/**
 * A refused connection, an unknown host or an untrusted certificate ends a copy within seconds (retry.ts does not
 * retry them); this says which endpoint it was and what to do about it.
 */
export function unreachableTarget(error: unknown, account?: StorageAccountInfo): DiskDeltaError | undefined {
  const codes = error instanceof CopyFailedError ? error.failures.map((f) => classifyError({ code: f.code })) : [classifyError(error)];
  const hit = codes.find((c) => c.kind === 'unreachable');
  if (!hit) return undefined;
  const message = error instanceof Error ? error.message : String(error);
  let host = '';
  try {
    if (account) host = new URL(account.blobEndpoint).host;
  } catch {
    // an endpoint that is not a URL is reported as it is
  }
  const target = account !== undefined && host !== '' && message.includes(host.split(':')[0]!);
  const what =
    hit.code === 'ENOTFOUND' ? 'its name does not resolve' : hit.code === 'ECONNREFUSED' ? 'the connection was refused' : 'its TLS certificate is not trusted';
  return new DiskDeltaError(
    target
      ? `Storage account ${account.name} cannot be reached at ${account.blobEndpoint}: ${what} (${hit.code}).`
      : `An endpoint the copy needs cannot be reached: ${what} (${message}).`,
    'TargetUnreachable',
    target
      ? 'Check that the account still exists and that this machine can reach it (network, firewall, proxy, private endpoint); with the local emulator, check that it runs and that Disk Delta uses its current connection file. Then copy again: it continues where it stopped.'
      : 'Check the network connection (and, with the local emulator, that it runs), then copy again: it continues where it stopped.',
  );
}

/** What a copy will move, told before it starts. */
export interface CopyPreview {
  /** The snapshots the copy writes, oldest first. */
  readonly snapshots: readonly SnapshotInfo[];
  /** The first of them is copied whole (nothing of the family is in the target yet). */
  readonly base: boolean;
  /** Per snapshot, the bytes it moves when known (the used size / diff size), else undefined. */
  readonly expectedBytes: readonly (number | undefined)[];
  /** The sum of the known sizes. */
  readonly knownBytes: number;
  /** How many sizes are not known. */
  readonly unknownCount: number;
  /** Known sizes plus, for the others, the disk's size: what the copy moves at most. */
  readonly atMostBytes: number;
  /** Seconds at one page blob's scale targets for the known bytes (a lower bound when some are unknown), and at most. */
  readonly secondsAtLimit: number;
  readonly secondsAtLimitAtMost: number;
}

/**
 * What copying `snapshots` up to `upTo` onto a target that holds `lastCopiedSnapshotId` (or nothing) moves:
 * `changedBytes(older, newer)` gives a known diff size (older undefined: the first snapshot's used size).
 */
export function previewDifferentialCopy(
  snapshots: readonly SnapshotInfo[],
  o: { upTo?: string; lastCopiedSnapshotId?: string; changedBytes: (older: SnapshotInfo | undefined, newer: SnapshotInfo) => number | undefined },
): CopyPreview {
  const { sorted } = validateFamily(snapshots);
  const last = o.upTo ? sorted.findIndex((s) => sameResourceId(s.id, o.upTo)) : sorted.length - 1;
  const held = o.lastCopiedSnapshotId ? sorted.findIndex((s) => sameResourceId(s.id, o.lastCopiedSnapshotId)) : -1;
  const todo = sorted.slice(held + 1, (last < 0 ? sorted.length - 1 : last) + 1);
  const base = held < 0;
  const expectedBytes = todo.map((s, i) => {
    const older = i === 0 ? (base ? undefined : sorted[held]) : todo[i - 1];
    return o.changedBytes(older, s);
  });
  const knownBytes = expectedBytes.reduce<number>((n, b) => n + (b ?? 0), 0);
  const atMostBytes = expectedBytes.reduce<number>((n, b, i) => n + (b ?? todo[i]!.sizeBytes + VHD_FOOTER_BYTES), 0);
  // At least one request per 4 MiB written (more when the changes are scattered).
  const seconds = (bytes: number): number => secondsAtBlobLimit(bytes, Math.ceil(bytes / MAX_PUT_PAGES), PAGE_BLOB_TARGETS);
  return {
    snapshots: todo,
    base,
    expectedBytes,
    knownBytes,
    unknownCount: expectedBytes.filter((b) => b === undefined).length,
    atMostBytes,
    secondsAtLimit: seconds(knownBytes),
    secondsAtLimitAtMost: seconds(atMostBytes),
  };
}

/** The name of the CopyStart copy of a snapshot in another region: `<snapshot>-<region>`, within Azure's 80 characters. */
export function nativeCopyName(snapshot: Pick<SnapshotInfo, 'name'>, targetRegion: string): string {
  return `${snapshot.name}-${targetRegion}`.slice(0, 80);
}

export interface NativeCopyOptions extends CopyEvents {
  readonly snapshots: readonly SnapshotInfo[];
  /** Copy up to and including this snapshot (by creation time); all when omitted. */
  readonly upTo?: SnapshotInfo;
  readonly targetRegion: string;
  /** Defaults to the source snapshots' resource group. */
  readonly targetResourceGroup?: string;
  /** Azure's CopyStart takes minutes and is polled every 10 s; the emulator's finishes in seconds. */
  readonly pollIntervalMs?: number;
  /** Each poll's state: "queued" at 0% for minutes, then copying, then done (docs/azure-behaviour.md#copystart). */
  readonly onStatus?: (status: NativeCopyStatus) => void;
}

/** Azure's own CopyStart, in creation order, each followed to 100%. */
export async function runNativeCopy(compute: ComputeApi, o: NativeCopyOptions): Promise<NativeCopyResult> {
  const upTo = o.upTo;
  const snapshots = upTo ? o.snapshots.filter((s) => Date.parse(s.timeCreated) <= Date.parse(upTo.timeCreated)) : o.snapshots;
  const first = snapshots[0];
  if (first && normaliseRegion(first.location) === normaliseRegion(o.targetRegion)) {
    throw new DiskDeltaError(`The snapshots are already in ${o.targetRegion}.`, 'TargetInSourceRegion', 'Choose another target region.');
  }
  return new NativeCopy(compute).run({
    snapshots,
    targetRegion: o.targetRegion,
    targetResourceGroup: o.targetResourceGroup ?? first?.resourceGroup ?? '',
    name: (s) => nativeCopyName(s, o.targetRegion),
    ...(o.pollIntervalMs !== undefined ? { pollIntervalMs: o.pollIntervalMs } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.onNotice ? { onNotice: o.onNotice } : {}),
    ...(o.onStatus ? { onStatus: o.onStatus } : {}),
  });
}
