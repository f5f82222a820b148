/**
 * One protection pass (`disk-delta protect run`): for each selected disk whose newest copied point is older
 * than its RPO by Azure's clock, take an incremental snapshot, copy the chain the target is behind by,
 * import and verify as the policy says, then prune both sides. Disks run in parallel under one request
 * budget; one disk's failure never stops the others; each disk's work is claimed with a blob lease.
 */
import * as path from 'node:path';
import { ChainCopy, defaultJournalPath, importName, TARGET_METADATA, targetBlobName, type ChainCopyResult, type VerifyMode } from '../copy';
import type { RetryPolicy } from '../copy/retry';
import { checkCreateAllowed, compareByCreation } from '../families';
import type { DiskInfo, SnapshotInfo, StorageAccountInfo } from '../model';
import { type ComputeApi, type DataPlane, type PageTarget, type TargetStore } from '../ports';
import { DiskDeltaError, isAbortError } from '../errors';
import { parseResourceId, resourceId, sameResourceId } from '../resourceId';
import { redact } from '../secret';
import { collectAll, resolveSku } from '../snapshots';
import { normaliseRegion } from '../copyTargets';
import { claimFamily } from './claim';
import type { PolicyFile, ProtectionPolicy } from './policy';
import type { ProtectionStorage, TargetPoint } from './ports';
import { importsToPrune, sourceSnapshotsToPrune, targetPointsToPrune, type ImportedPoint } from './retention';
import { inShard, selectDisks, type Shard } from './selection';
import { verifySample } from './verify';

export type DiskAction = 'copied' | 'upToDate' | 'busy' | 'failed';

/** One line of `protect run --json`. */
export interface DiskOutcome {
  readonly disk: string;
  readonly policy: string;
  readonly action: DiskAction;
  /** The incremental snapshot this run copied (or, when up to date / busy, the newest protected one). */
  readonly snapshot: string | null;
  readonly targetBlobSnapshotUrl: string | null;
  readonly importedResourceId: string | null;
  readonly bytesCopied: number;
  /** Age of the disk's newest protected point when its work ended, by Azure's clock; null when it has none. */
  readonly ageSeconds: number | null;
  readonly rpoSeconds: number;
  readonly withinRpo: boolean;
  readonly pruned: { readonly source: readonly string[]; readonly target: readonly string[] };
  readonly error: string | null;
}

export interface RunSummary {
  readonly disks: number;
  readonly copied: number;
  readonly upToDate: number;
  readonly busy: number;
  readonly failed: number;
  readonly withinRpo: number;
}

export interface ProtectEnvironment {
  readonly compute: ComputeApi;
  /** Reads (SDK retries). */
  readonly dataPlane: DataPlane;
  /** The copy engine's writes (one try; the engine retries). */
  readonly copyDataPlane: DataPlane;
  readonly storage: ProtectionStorage;
  readonly subscriptionId: string;
  /** Journals and local family locks live under `<stateDirectory>/copies`. */
  readonly stateDirectory: string;
  readonly signal?: AbortSignal;
  /** Requests in flight across all disks (default 64). */
  readonly requestBudget?: number;
  /** Disks worked on at once (default 4); each copy gets an equal share of the budget. */
  readonly parallelDisks?: number;
  readonly targetPace?: { readonly requestsPerSecond: number; readonly bytesPerSecond: number };
  readonly retry?: Partial<RetryPolicy>;
  /** Lease renewal period (tests shorten it). */
  readonly renewEveryMs?: number;
  readonly note?: (text: string) => void;
}

export interface RunOptions {
  readonly shard?: Shard;
  readonly dryRun?: boolean;
  /** Called as each disk ends (the CLI prints its line at once). */
  readonly onDisk?: (outcome: DiskOutcome) => void;
}

/** Azure's clock (the Date header of its latest answer). */
export function azureNow(compute: ComputeApi): Date {
  return compute.serverTime?.() ?? new Date();
}

/** A policy's disks, resolved against one listing of disks and snapshots per subscription. */
export interface PolicyScope {
  readonly policy: ProtectionPolicy;
  readonly disks: readonly DiskInfo[];
  /** Incremental snapshots of each selected disk's current family, oldest first, by disk id (lower-case). */
  readonly families: ReadonlyMap<string, SnapshotInfo[]>;
  readonly account?: StorageAccountInfo;
  /** Why the target cannot be used (every disk of the policy fails with it). */
  readonly targetProblem?: DiskDeltaError;
  /** The imported resources in the policy's import group, listed once on first use. */
  readonly imports?: (signal: AbortSignal | undefined) => Promise<{ id: string; timeCreated: string; family: string }[]>;
}

export function familyOf(snapshots: readonly SnapshotInfo[], disk: DiskInfo): SnapshotInfo[] {
  return snapshots
    .filter((s) => s.incremental && sameResourceId(s.sourceResourceId, disk.id) && (s.sourceUniqueId === undefined || s.sourceUniqueId === disk.uniqueId))
    .sort(compareByCreation);
}

/** Lists disks and snapshots once per subscription and resolves each policy's disks and target account. */
export async function resolveScopes(env: ProtectEnvironment, file: PolicyFile, shard?: Shard): Promise<PolicyScope[]> {
  const listings = new Map<string, Promise<{ disks: DiskInfo[]; snapshots: SnapshotInfo[] }>>();
  const listing = (sub: string) => {
    let l = listings.get(sub.toLowerCase());
    if (!l) {
      const options = { signal: env.signal };
      l = Promise.all([collectAll(env.compute.listDisks(sub, options)), collectAll(env.compute.listSnapshots(sub, options))]).then(([disks, snapshots]) => ({
        disks,
        snapshots,
      }));
      listings.set(sub.toLowerCase(), l);
    }
    return l;
  };
  const scopes: PolicyScope[] = [];
  for (const policy of file.policies) {
    const { disks, snapshots } = await listing(policy.disks.subscription ?? env.subscriptionId);
    const selected = selectDisks(policy, disks).filter((d) => inShard(d.id, shard));
    const families = new Map(selected.map((d) => [d.id.toLowerCase(), familyOf(snapshots, d)]));
    let account: StorageAccountInfo | undefined;
    let targetProblem: DiskDeltaError | undefined;
    try {
      const p = parseResourceId(policy.target.storageAccount);
      account = (await env.compute.listStorageAccounts(p.subscriptionId, { signal: env.signal })).find((a) =>
        sameResourceId(a.id, policy.target.storageAccount),
      );
      if (!account)
        targetProblem = new DiskDeltaError(
          `Storage account ${p.name} of policy ${policy.name} was not found.`,
          'TargetAccountNotFound',
          'Check target.storageAccount in the policy (az storage account list).',
        );
    } catch (error) {
      if (isAbortError(error)) throw error;
      targetProblem = error instanceof DiskDeltaError ? error : new DiskDeltaError(String(error), 'TargetAccountNotFound');
    }
    scopes.push({
      policy,
      disks: selected,
      families,
      ...(account ? { account } : {}),
      ...(targetProblem ? { targetProblem } : {}),
      ...(account ? { imports: importListing(env, policy, account) } : {}),
    });
  }
  return scopes;
}

function importListing(env: ProtectEnvironment, policy: ProtectionPolicy, account: StorageAccountInfo): NonNullable<PolicyScope['imports']> {
  let listed: Promise<{ id: string; timeCreated: string; family: string }[]> | undefined;
  return (signal) => {
    if (!listed) {
      const parts = parseResourceId(account.id);
      const group = (policy.target.resourceGroup ?? parts.resourceGroup).toLowerCase();
      const kind = policy.target.import;
      listed = (async () => {
        const listing = kind === 'disk' ? env.compute.listDisks(parts.subscriptionId, { signal }) : env.compute.listSnapshots(parts.subscriptionId, { signal });
        const out: { id: string; timeCreated: string; family: string }[] = [];
        for await (const r of listing as AsyncIterable<{ id: string; resourceGroup: string; timeCreated?: string; tags?: Record<string, string> }>) {
          const family = r.tags?.diskdelta_family;
          if (r.resourceGroup.toLowerCase() === group && family && r.timeCreated)
            out.push({ id: r.id, timeCreated: r.timeCreated, family: family.toLowerCase() });
        }
        return out;
      })();
      // A failed listing is retried by the next disk that needs it.
      listed.catch(() => (listed = undefined));
    }
    return listed;
  };
}

/** One line: Azure's storage messages carry RequestId and Time lines after the first. */
function errorText(error: unknown): string {
  const firstLine = (text: string) => text.split('\n')[0]!.trim();
  if (error instanceof DiskDeltaError) return redact(`${error.code}: ${firstLine(error.message)}${error.hint ? ` ${error.hint}` : ''}`);
  const e = error as { message?: string };
  return redact(firstLine(e.message ?? String(error)));
}

function ageOf(timeCreated: string | undefined, now: Date): number | null {
  if (!timeCreated) return null;
  const t = Date.parse(timeCreated);
  return Number.isNaN(t) ? null : Math.max(0, Math.round((now.getTime() - t) / 1000));
}

function verifyMode(policy: ProtectionPolicy): VerifyMode {
  // A sample is checked after the copy (verify.ts); the engine itself then verifies nothing.
  return policy.verify.mode === 'sample' ? 'none' : policy.verify.mode;
}

/** The point a snapshot name carries: `<disk>-dd-<UTC time>`, within Azure's 80 characters. */
export function pointName(disk: DiskInfo, at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${disk.name.slice(0, 80 - stamp.length - 4)}-dd-${stamp}`;
}

/** What the target blob says it holds. */
interface TargetState {
  readonly exists: boolean;
  readonly lastSnapshot?: string;
  readonly lastTimeCreated?: string;
  readonly lastBlobSnapshot?: string;
}

async function readTarget(blob: PageTarget, signal: AbortSignal | undefined): Promise<TargetState> {
  if (!(await blob.exists({ signal }))) return { exists: false };
  const m = await blob.getMetadata({ signal });
  return {
    exists: true,
    ...(m[TARGET_METADATA.lastSnapshot] ? { lastSnapshot: m[TARGET_METADATA.lastSnapshot] } : {}),
    ...(m[TARGET_METADATA.lastTimeCreated] ? { lastTimeCreated: m[TARGET_METADATA.lastTimeCreated] } : {}),
    ...(m[TARGET_METADATA.lastBlobSnapshot] ? { lastBlobSnapshot: m[TARGET_METADATA.lastBlobSnapshot] } : {}),
  };
}

/** The imported resource a point became (by the copy engine's naming), in the policy's import group. */
export function importedIdFor(policy: ProtectionPolicy, account: StorageAccountInfo, sourceSnapshotId: string): string | undefined {
  if (policy.target.import === 'none') return undefined;
  const parts = parseResourceId(account.id);
  const name = importName(sourceSnapshotId.split('/').pop() ?? sourceSnapshotId);
  return resourceId(
    parts.subscriptionId,
    policy.target.resourceGroup ?? parts.resourceGroup,
    'Microsoft.Compute',
    policy.target.import === 'disk' ? 'disks' : 'snapshots',
    name,
  );
}

class DiskWork {
  readonly #pruned = { source: [] as string[], target: [] as string[] };

  constructor(
    private readonly env: ProtectEnvironment,
    private readonly scope: PolicyScope,
    private readonly disk: DiskInfo,
    private readonly store: TargetStore,
    /** The same container for reads, with the SDK's retries. */
    private readonly reader: TargetStore,
    private readonly concurrency: number,
    private readonly dryRun: boolean,
  ) {}

  get policy(): ProtectionPolicy {
    return this.scope.policy;
  }

  #outcome(action: DiskAction, fields: Partial<DiskOutcome> & { ageSeconds: number | null }): DiskOutcome {
    return {
      disk: this.disk.id,
      policy: this.policy.name,
      action,
      snapshot: fields.snapshot ?? null,
      targetBlobSnapshotUrl: fields.targetBlobSnapshotUrl ?? null,
      importedResourceId: fields.importedResourceId ?? null,
      bytesCopied: fields.bytesCopied ?? 0,
      ageSeconds: fields.ageSeconds,
      rpoSeconds: this.policy.rpoSeconds,
      withinRpo: fields.ageSeconds !== null && fields.ageSeconds < this.policy.rpoSeconds,
      pruned: { source: [...this.#pruned.source], target: [...this.#pruned.target] },
      error: fields.error ?? null,
    };
  }

  #blobName(family: readonly SnapshotInfo[]): string | undefined {
    const first = family[0];
    return first?.familyId ? targetBlobName(first.familyId, this.disk.id, first.name) : undefined;
  }

  #pointUrl(blobName: string, blobSnapshot: string | undefined): string | null {
    return blobSnapshot ? this.store.blob(blobName).snapshotUrl(blobSnapshot) : null;
  }

  async run(): Promise<DiskOutcome> {
    const signal = this.env.signal;
    let family = this.scope.families.get(this.disk.id.toLowerCase()) ?? [];
    let blobName = this.#blobName(family);
    let state: TargetState = blobName ? await readTarget(this.reader.blob(blobName), signal) : { exists: false };
    const rpo = this.policy.rpoSeconds;
    const age = (): number | null => ageOf(state.lastTimeCreated, azureNow(this.env.compute));
    const current = age();
    const due = current === null || current >= rpo;
    if (this.dryRun) return this.#dryRun(family, blobName, state, due);
    if (!due && !(await this.#prunable(family, blobName, state))) {
      return this.#outcome('upToDate', {
        snapshot: state.lastSnapshot ?? null,
        targetBlobSnapshotUrl: blobName ? this.#pointUrl(blobName, state.lastBlobSnapshot) : null,
        ageSeconds: current,
      });
    }
    const claim = await claimFamily(this.env.storage, this.store.account, this.store.container, this.disk, {
      ...(signal ? { signal } : {}),
      ...(this.env.renewEveryMs ? { renewEveryMs: this.env.renewEveryMs } : {}),
      onRenewFailed: (e) => this.env.note?.(`${this.disk.name}: lease renewal failed: ${errorText(e)}`),
    });
    if (!claim) {
      return this.#outcome('busy', {
        snapshot: state.lastSnapshot ?? null,
        targetBlobSnapshotUrl: blobName ? this.#pointUrl(blobName, state.lastBlobSnapshot) : null,
        ageSeconds: current,
      });
    }
    const workSignal = signal ? AbortSignal.any([signal, claim.lost]) : claim.lost;
    try {
      // Another runner may have worked on this disk between our listing and our claim: a disk that had no
      // snapshot then may have its family and target blob now.
      if (!blobName) {
        family = familyOf(await collectAll(this.env.compute.listSnapshots(this.disk.subscriptionId, { signal: workSignal })), this.disk);
        blobName = this.#blobName(family);
      }
      if (blobName) state = await readTarget(this.reader.blob(blobName), workSignal);
      if (state.lastSnapshot && !family.some((s) => sameResourceId(s.id, state.lastSnapshot))) {
        family = familyOf(await collectAll(this.env.compute.listSnapshots(this.disk.subscriptionId, { signal: workSignal })), this.disk);
      }
      let copied: { point: SnapshotInfo; result: ChainCopyResult } | undefined;
      const nowAge = age();
      if (nowAge === null || nowAge >= rpo) {
        const point = await this.#pointToCopy(family, state, workSignal);
        if (!family.some((s) => sameResourceId(s.id, point.id))) family = [...family, point].sort(compareByCreation);
        blobName = this.#blobName(family)!;
        const result = await this.#copy(family, point, blobName, workSignal);
        if (result.status === 'cancelled') {
          throw workSignal.reason instanceof Error ? workSignal.reason : new DOMException('Cancelled', 'AbortError');
        }
        copied = { point, result };
        state = await readTarget(this.reader.blob(blobName), workSignal);
        if (this.policy.verify.mode === 'sample' && state.lastBlobSnapshot && result.summaries.length > 0) {
          const points = await this.env.storage.list({ account: this.store.account, container: this.store.container, blobName }, { signal: workSignal });
          const at = points.findIndex((p) => p.snapshot === state.lastBlobSnapshot);
          const check = await verifySample(
            this.env.compute,
            this.env.dataPlane,
            this.reader.blob(blobName),
            point.id,
            state.lastBlobSnapshot,
            at > 0 ? points[at - 1]!.snapshot : undefined,
            this.policy.verify.percent,
            workSignal,
          );
          this.env.note?.(`${this.disk.name}: sampled verification compared ${check.comparedBytes} bytes in ${check.pieces} pieces: they match`);
        }
      }
      const created = (copied?.result.summaries ?? []).flatMap((x) => (x.importedResourceId ? [x.importedResourceId] : []));
      await this.#prune(family, blobName, state, workSignal, created);
      const last = copied?.result.summaries[copied.result.summaries.length - 1];
      return this.#outcome(copied ? 'copied' : 'upToDate', {
        snapshot: state.lastSnapshot ?? null,
        targetBlobSnapshotUrl: blobName ? this.#pointUrl(blobName, state.lastBlobSnapshot) : null,
        importedResourceId: last?.importedResourceId ?? null,
        bytesCopied: copied ? copied.result.summaries.reduce((n, s) => n + s.bytesCopied, 0) : 0,
        ageSeconds: age(),
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      const lost = claim.lost.aborted ? 'The claim on this disk was lost (its lease could not be renewed); another runner may take it over. ' : '';
      return this.#outcome('failed', { snapshot: state.lastSnapshot ?? null, ageSeconds: age(), error: lost + errorText(this.#explain(error)) });
    } finally {
      await claim.release().catch((e: unknown) => this.env.note?.(`${this.disk.name}: releasing the lease failed (it expires by itself): ${errorText(e)}`));
    }
  }

  /**
   * A missing import group, said plainly. Azure refuses the import with 404 ResourceGroupNotFound
   * (docs/azure-behaviour.md#resource-groups) only after the copy and its blob snapshot are done: the journal
   * keeps them, so the next run with the group in place imports that point without copying it again.
   */
  #explain(error: unknown): unknown {
    // By its code, not its class: the Azure layer may be a bundle of its own, with its own copy of the class.
    const e = error as { code?: unknown; statusCode?: number } | undefined;
    if (e?.code !== 'ResourceGroupNotFound' || this.policy.target.import === 'none') return error;
    const account = parseResourceId(this.store.account.id);
    const group = this.policy.target.resourceGroup ?? account.resourceGroup;
    return new DiskDeltaError(
      `The resource group ${group} for the imported ${this.policy.target.import}s does not exist in subscription ${account.subscriptionId}. ` +
        `The copied point stays in ${this.store.account.name}/${this.store.container}; the next run imports it.`,
      'ResourceGroupNotFound',
      `Create the group (az group create --name ${group} --location ${this.store.account.location}) or set target.resourceGroup to one that exists.`,
      e.statusCode,
    );
  }

  /** The newest snapshot not yet copied when it is still within the RPO (an interrupted run's), else a new one. */
  async #pointToCopy(family: readonly SnapshotInfo[], state: TargetState, signal: AbortSignal): Promise<SnapshotInfo> {
    const newest = family[family.length - 1];
    const now = azureNow(this.env.compute);
    const newestAge = ageOf(newest?.timeCreated, now);
    const copiedAt = state.lastTimeCreated ? Date.parse(state.lastTimeCreated) : -Infinity;
    if (
      newest &&
      !sameResourceId(newest.id, state.lastSnapshot) &&
      Date.parse(newest.timeCreated) > copiedAt &&
      newestAge !== null &&
      newestAge < this.policy.rpoSeconds
    ) {
      return newest;
    }
    // Azure: 7 incremental snapshots per disk per 5 minutes, 500 per disk — docs/azure-behaviour.md#limits.
    const check = checkCreateAllowed(family, now);
    if (!check.ok) throw check.error;
    return this.env.compute.createSnapshot(
      {
        subscriptionId: this.disk.subscriptionId,
        resourceGroup: this.disk.resourceGroup,
        name: pointName(this.disk, now),
        location: this.disk.location,
        incremental: true,
        createOption: 'Copy',
        sourceResourceId: this.disk.id,
        sku: resolveSku('auto', this.disk.location),
        tags: { diskdelta_policy: this.policy.name },
      },
      { signal },
    );
  }

  async #copy(family: readonly SnapshotInfo[], point: SnapshotInfo, blobName: string, signal: AbortSignal): Promise<ChainCopyResult> {
    const familyId = point.familyId ?? family[0]!.familyId!;
    const target = this.store.blob(blobName);
    return new ChainCopy(this.env.compute, this.env.copyDataPlane).run({
      snapshots: family,
      upTo: point.id,
      store: this.store,
      blobName,
      verify: verifyMode(this.policy),
      import: { kind: this.policy.target.import, ...(this.policy.target.resourceGroup ? { resourceGroup: this.policy.target.resourceGroup } : {}) },
      journalFile: defaultJournalPath(this.env.stateDirectory, familyId, target.displayUrl),
      lockDirectory: path.join(this.env.stateDirectory, 'copies'),
      createContainer: this.policy.target.defaultContainer,
      concurrency: this.concurrency,
      ...(this.env.targetPace ? { targetPace: this.env.targetPace } : {}),
      ...(this.env.retry ? { retry: this.env.retry } : {}),
      signal,
      onNotice: (n) => this.env.note?.(`${this.disk.name}: ${n.code}: ${n.message}`),
    });
  }

  async #targetPlan(blobName: string | undefined, signal: AbortSignal | undefined): Promise<TargetPoint[]> {
    const r = this.policy.retention;
    if (!blobName || (r.targetKeep === undefined && r.targetMaxAgeSeconds === undefined)) return [];
    const points = await this.env.storage.list({ account: this.store.account, container: this.store.container, blobName }, { signal });
    return targetPointsToPrune(points, r.targetKeep, r.targetMaxAgeSeconds, azureNow(this.env.compute));
  }

  async #prunable(family: readonly SnapshotInfo[], blobName: string | undefined, state: TargetState): Promise<boolean> {
    if (sourceSnapshotsToPrune(family, this.policy.retention.sourceKeep, state.lastSnapshot).length > 0 && state.lastSnapshot) return true;
    return (await this.#targetPlan(blobName, this.env.signal)).length > 0;
  }

  /**
   * This family's imported snapshots or disks (tagged by the copy engine with their family), from one listing
   * of the target subscription per policy and run, plus what this run imported for the disk.
   */
  async #imports(familyId: string | undefined, created: readonly string[], signal: AbortSignal): Promise<ImportedPoint[]> {
    const kind = this.policy.target.import;
    if (kind === 'none' || !familyId) return [];
    const all = await this.scope.imports!(signal);
    const mine = all.filter((r) => r.family === familyId.toLowerCase()).map(({ id, timeCreated }) => ({ id, timeCreated }));
    for (const id of created) {
      if (mine.some((m) => sameResourceId(m.id, id))) continue;
      const r = kind === 'disk' ? await this.env.compute.getDisk(id, { signal }) : await this.env.compute.getSnapshot(id, { signal });
      if (r?.timeCreated) mine.push({ id: r.id, timeCreated: r.timeCreated });
    }
    return mine;
  }

  async #prune(
    family: readonly SnapshotInfo[],
    blobName: string | undefined,
    state: TargetState,
    signal: AbortSignal,
    created: readonly string[] = [],
  ): Promise<void> {
    // Without a copied point there is no base to keep safe: nothing is pruned until the first copy is done.
    if (state.lastSnapshot) {
      for (const s of sourceSnapshotsToPrune(family, this.policy.retention.sourceKeep, state.lastSnapshot)) {
        await this.env.compute.deleteSnapshot(s.id, { signal });
        this.#pruned.source.push(s.id);
      }
    }
    const r = this.policy.retention;
    if (r.targetKeep === undefined && r.targetMaxAgeSeconds === undefined) return;
    for (const i of importsToPrune(
      await this.#imports(family[0]?.familyId, created, signal),
      r.targetKeep,
      r.targetMaxAgeSeconds,
      azureNow(this.env.compute),
    )) {
      if (this.policy.target.import === 'disk') await this.env.compute.deleteDisk(i.id, { signal });
      else await this.env.compute.deleteSnapshot(i.id, { signal });
      this.#pruned.target.push(i.id);
    }
    for (const p of await this.#targetPlan(blobName, signal)) {
      await this.env.storage.delete({ account: this.store.account, container: this.store.container, blobName: blobName! }, p.snapshot, { signal });
      this.#pruned.target.push(this.#pointUrl(blobName!, p.snapshot)!);
    }
  }

  async #dryRun(family: readonly SnapshotInfo[], blobName: string | undefined, state: TargetState, due: boolean): Promise<DiskOutcome> {
    for (const s of sourceSnapshotsToPrune(family, this.policy.retention.sourceKeep, state.lastSnapshot))
      if (state.lastSnapshot) this.#pruned.source.push(s.id);
    for (const p of await this.#targetPlan(blobName, this.env.signal)) this.#pruned.target.push(this.#pointUrl(blobName!, p.snapshot)!);
    return this.#outcome(due ? 'copied' : 'upToDate', {
      snapshot: state.lastSnapshot ?? null,
      targetBlobSnapshotUrl: blobName ? this.#pointUrl(blobName, state.lastBlobSnapshot) : null,
      ageSeconds: ageOf(state.lastTimeCreated, azureNow(this.env.compute)),
    });
  }
}

/** Runs `worker` over `items`, at most `limit` at once. */
async function pool<T>(items: readonly T[], limit: number, worker: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await worker(item);
    }
  });
  await Promise.all(runners);
}

export function summarise(outcomes: readonly DiskOutcome[]): RunSummary {
  const count = (a: DiskAction) => outcomes.filter((o) => o.action === a).length;
  return {
    disks: outcomes.length,
    copied: count('copied'),
    upToDate: count('upToDate'),
    busy: count('busy'),
    failed: count('failed'),
    withinRpo: outcomes.filter((o) => o.withinRpo).length,
  };
}

/** One pass over every policy of the file. Resolves with one outcome per (policy, disk), in the order they ended. */
export async function runProtection(
  env: ProtectEnvironment,
  file: PolicyFile,
  options: RunOptions = {},
): Promise<{ outcomes: DiskOutcome[]; summary: RunSummary }> {
  const scopes = await resolveScopes(env, file, options.shard);
  const budget = env.requestBudget ?? 64;
  const parallel = Math.max(1, Math.min(env.parallelDisks ?? 4, budget));
  const concurrency = Math.max(1, Math.floor(budget / parallel));
  const outcomes: DiskOutcome[] = [];
  const report = (o: DiskOutcome) => {
    outcomes.push(o);
    options.onDisk?.(o);
  };
  const jobs: { scope: PolicyScope; disk: DiskInfo; store: Promise<{ store: TargetStore; reader: TargetStore }> }[] = [];
  for (const scope of scopes) {
    const store = prepareStore(env, scope, options.dryRun === true);
    // Settled here so a target problem is reported per disk, never as an unhandled rejection.
    store.catch(() => undefined);
    for (const disk of scope.disks) jobs.push({ scope, disk, store });
  }
  await pool(jobs, parallel, async ({ scope, disk, store }) => {
    const failed = (error: unknown): DiskOutcome => ({
      disk: disk.id,
      policy: scope.policy.name,
      action: 'failed',
      snapshot: null,
      targetBlobSnapshotUrl: null,
      importedResourceId: null,
      bytesCopied: 0,
      ageSeconds: null,
      rpoSeconds: scope.policy.rpoSeconds,
      withinRpo: false,
      pruned: { source: [], target: [] },
      error: errorText(error),
    });
    try {
      if (scope.account && normaliseRegion(scope.account.location) === normaliseRegion(disk.location)) {
        throw new DiskDeltaError(
          `Storage account ${scope.account.name} is in ${scope.account.location}, the disk's own region.`,
          'TargetInSourceRegion',
          'Point target.storageAccount at an account in another region.',
        );
      }
      const { store: writer, reader } = await store;
      const work = new DiskWork(env, scope, disk, writer, reader, concurrency, options.dryRun === true);
      report(await work.run());
    } catch (error) {
      if (env.signal?.aborted) throw error;
      report(failed(error));
    }
  });
  return { outcomes, summary: summarise(outcomes) };
}

/** The policy's target container, created when the policy names none and it is missing (as `copy` does). */
async function prepareStore(env: ProtectEnvironment, scope: PolicyScope, dryRun: boolean): Promise<{ store: TargetStore; reader: TargetStore }> {
  if (scope.targetProblem || !scope.account) throw scope.targetProblem ?? new DiskDeltaError('No target storage account.', 'TargetAccountNotFound');
  const store = await env.copyDataPlane.targetStore(scope.account, scope.policy.target.container);
  const reader = await env.dataPlane.targetStore(scope.account, scope.policy.target.container);
  if (!(await reader.containerExists({ signal: env.signal }))) {
    if (!scope.policy.target.defaultContainer) {
      throw new DiskDeltaError(
        `The container ${scope.policy.target.container} does not exist in ${scope.account.name}.`,
        'ContainerNotFound',
        'Create it, or leave target.container out to use disk-delta, which is created when missing.',
      );
    }
    if (!dryRun) await reader.createContainer({ signal: env.signal });
  }
  return { store, reader };
}
