/**
 * `protect status`: per disk, its newest protected point against the RPO, the points kept on each side, and
 * their bytes and estimated monthly cost. Reads only: no grant, no lease, no write.
 */
import { TARGET_METADATA, targetBlobName } from '../copy';
import { estimateCost } from '../cost';
import type { DiskInfo, SnapshotInfo } from '../model';
import { type PageSource, type PageTarget } from '../ports';
import { isAbortError } from '../errors';
import type { PolicyFile } from './policy';
import { azureNow, resolveScopes, type ProtectEnvironment } from './run';
import type { Shard } from './selection';

export interface StatusLine {
  readonly disk: string;
  readonly policy: string;
  readonly newestPoint: { readonly snapshot: string; readonly timeCreated: string } | null;
  readonly ageSeconds: number | null;
  readonly rpoSeconds: number;
  readonly withinRpo: boolean;
  /** Incremental snapshots of the disk's current family. */
  readonly sourcePoints: number;
  /** Blob snapshots of the target blob. */
  readonly targetPoints: number;
  /** Used size of the source points, estimated from their copies (what each newest copied point added). */
  readonly sourceUsedBytes: number;
  /** Bytes the target points hold: the oldest point's allocated bytes plus each later point's changed bytes. */
  readonly targetBytes: number;
  readonly monthlyCost: { readonly source: number; readonly target: number; readonly currency: string };
  readonly error?: string;
}

export interface Prices {
  /** Per GiB-month of incremental snapshot storage (Standard HDD). */
  readonly sourcePerGiBMonth: number;
  /** Per GiB-month of page blob storage in the target account. */
  readonly targetPerGiBMonth: number;
  readonly currency: string;
}

/** List prices (USD, pay-as-you-go, 2025) of incremental snapshots and of standard page blobs: estimates only. */
export const DEFAULT_PRICES: Prices = { sourcePerGiBMonth: 0.05, targetPerGiBMonth: 0.045, currency: 'USD' };

async function sum(ranges: AsyncIterable<{ length: number; kind?: string }>): Promise<number> {
  let n = 0;
  for await (const r of ranges) if (r.kind !== 'cleared') n += r.length;
  return n;
}

/** Bytes each blob snapshot adds over the one before it (the first: everything it holds), oldest first. */
async function pointBytes(blob: PageTarget, snapshots: readonly string[], signal: AbortSignal | undefined): Promise<number[]> {
  if (snapshots.length === 0) return [];
  const size = await blob.size({ signal });
  const window = { offset: 0, length: size };
  const out: number[] = [];
  let previous: PageSource | undefined;
  for (const s of snapshots) {
    const source = blob.snapshotSource(s);
    out.push(await sum(previous ? source.listDiff(previous, window, { signal }) : source.listRanges(window, { signal })));
    previous = source;
  }
  return out;
}

export async function protectionStatus(env: ProtectEnvironment, file: PolicyFile, options: { shard?: Shard; prices?: Prices } = {}): Promise<StatusLine[]> {
  const prices = options.prices ?? DEFAULT_PRICES;
  const scopes = await resolveScopes(env, file, options.shard);
  const lines: StatusLine[] = [];
  for (const scope of scopes) {
    const reader = scope.account ? await env.dataPlane.targetStore(scope.account, scope.policy.target.container) : undefined;
    for (const disk of scope.disks) {
      const family: SnapshotInfo[] = scope.families.get(disk.id.toLowerCase()) ?? [];
      lines.push(await diskStatus(env, scope.policy.name, scope.policy.rpoSeconds, disk, family, reader, scope.account, prices));
    }
  }
  return lines;
}

async function diskStatus(
  env: ProtectEnvironment,
  policy: string,
  rpoSeconds: number,
  disk: DiskInfo,
  family: readonly SnapshotInfo[],
  reader: Awaited<ReturnType<ProtectEnvironment['dataPlane']['targetStore']>> | undefined,
  account: { name: string; id: string; resourceGroup: string; location: string; blobEndpoint: string } | undefined,
  prices: Prices,
): Promise<StatusLine> {
  const empty = (error?: string): StatusLine => ({
    disk: disk.id,
    policy,
    newestPoint: null,
    ageSeconds: null,
    rpoSeconds,
    withinRpo: false,
    sourcePoints: family.length,
    targetPoints: 0,
    sourceUsedBytes: 0,
    targetBytes: 0,
    monthlyCost: { source: 0, target: 0, currency: prices.currency },
    ...(error ? { error } : {}),
  });
  const first = family[0];
  if (!reader || !account || !first?.familyId) return empty(reader && account ? undefined : 'The target storage account was not found.');
  const blobName = targetBlobName(first.familyId, disk.id, first.name);
  const blob = reader.blob(blobName);
  try {
    if (!(await blob.exists({ signal: env.signal }))) return empty();
    const metadata = await blob.getMetadata({ signal: env.signal });
    const points = await env.storage.list({ account: reader.account, container: reader.container, blobName }, { signal: env.signal });
    const bytes = await pointBytes(
      blob,
      points.map((p) => p.snapshot),
      env.signal,
    );
    const targetBytes = bytes.reduce((a, b) => a + b, 0);
    // The newest source points are the newest copied ones: their used sizes are what their copies added.
    const sourceUsedBytes = bytes.slice(Math.max(0, bytes.length - family.length)).reduce((a, b) => a + b, 0);
    const snapshot = metadata[TARGET_METADATA.lastSnapshot];
    const timeCreated = metadata[TARGET_METADATA.lastTimeCreated];
    const now = azureNow(env.compute);
    const ageSeconds = timeCreated ? Math.max(0, Math.round((now.getTime() - Date.parse(timeCreated)) / 1000)) : null;
    return {
      disk: disk.id,
      policy,
      newestPoint: snapshot && timeCreated ? { snapshot, timeCreated } : null,
      ageSeconds,
      rpoSeconds,
      withinRpo: ageSeconds !== null && ageSeconds < rpoSeconds,
      sourcePoints: family.length,
      targetPoints: points.length,
      sourceUsedBytes,
      targetBytes,
      monthlyCost: {
        source: round(estimateCost(sourceUsedBytes, prices.sourcePerGiBMonth, now).monthlyCost),
        target: round(estimateCost(targetBytes, prices.targetPerGiBMonth, now).monthlyCost),
        currency: prices.currency,
      },
    };
  } catch (error) {
    if (isAbortError(error)) throw error;
    return empty((error as Error).message);
  }
}

function round(n: number): number {
  return Math.round(n * 10_000) / 10_000;
}

export type RpoBadge = 'within' | 'atRisk' | 'breached';

/** At risk from three quarters of the RPO on: a scheduler running every quarter has one more chance. */
export const AT_RISK_FRACTION = 0.75;

/** The badge of a disk's newest protected point: none, or as old as the RPO, is breached. */
export function rpoBadge(ageSeconds: number | null, rpoSeconds: number): RpoBadge {
  if (ageSeconds === null || ageSeconds >= rpoSeconds) return 'breached';
  return ageSeconds >= rpoSeconds * AT_RISK_FRACTION ? 'atRisk' : 'within';
}
