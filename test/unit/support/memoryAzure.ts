/**
 * In-memory stand-ins for Azure behind the core ports (managed snapshots with SAS grants, page blobs in a
 * storage account), with fault injection and request counters. They model Azure, not the copy engine.
 */
import type { DiffRange, DiskInfo, PageRange, SnapshotInfo, StorageAccountInfo, SubscriptionInfo } from '../../../src/core/model';
import type {
  ByteWindow,
  ComputeApi,
  CreateDiskRequest,
  CreateSnapshotRequest,
  DataPlane,
  OperationOptions,
  PageSource,
  PageTarget,
  TargetStore,
} from '../../../src/core/ports';
import { DiskDeltaError } from '../../../src/core/errors';
import { Secret } from '../../../src/core/secret';
import { seededRandom } from '../../../emulator/faults';

export { seededRandom };

const PAGE = 512;

/** Sparse page storage: only written pages exist (what Get Page Ranges reports). */
export class PageStore {
  readonly pages = new Map<number, Uint8Array>();
  #sorted: number[] | undefined;

  constructor(public size: number) {}

  clone(size = this.size): PageStore {
    const c = new PageStore(size);
    for (const [k, v] of this.pages) if ((k + 1) * PAGE <= size) c.pages.set(k, v.slice());
    return c;
  }

  resize(size: number): void {
    this.size = size;
    for (const k of [...this.pages.keys()]) if ((k + 1) * PAGE > size) this.pages.delete(k);
    this.#sorted = undefined;
  }

  #check(offset: number, length: number): void {
    if (offset % PAGE !== 0 || length % PAGE !== 0 || length <= 0 || offset + length > this.size) {
      throw new DiskDeltaError(`Invalid page range ${offset}+${length} for a blob of ${this.size}.`, 'InvalidPageRange', undefined, 416);
    }
  }

  write(offset: number, data: Uint8Array): void {
    this.#check(offset, data.length);
    for (let i = 0; i < data.length; i += PAGE) this.pages.set((offset + i) / PAGE, data.slice(i, i + PAGE));
    this.#sorted = undefined;
  }

  clear(offset: number, length: number): void {
    this.#check(offset, length);
    for (let p = offset / PAGE; p < (offset + length) / PAGE; p += 1) this.pages.delete(p);
    this.#sorted = undefined;
  }

  read(offset: number, length: number): Uint8Array {
    if (offset < 0 || offset + length > this.size) throw new DiskDeltaError('Read past the end of the blob.', 'InvalidRange', undefined, 416);
    const out = new Uint8Array(length);
    const first = Math.floor(offset / PAGE);
    const last = Math.floor((offset + length - 1) / PAGE);
    for (let p = first; p <= last; p += 1) {
      const page = this.pages.get(p);
      if (!page) continue;
      const pageStart = p * PAGE;
      const from = Math.max(offset, pageStart);
      const to = Math.min(offset + length, pageStart + PAGE);
      out.set(page.subarray(from - pageStart, to - pageStart), from - offset);
    }
    return out;
  }

  sortedPages(): number[] {
    this.#sorted ??= [...this.pages.keys()].sort((a, b) => a - b);
    return this.#sorted;
  }

  /** A new array after every change, so cached diffs can tell they are stale. */
  get version(): number[] {
    return this.sortedPages();
  }

  ranges(window: ByteWindow): PageRange[] {
    const pages = this.sortedPages();
    const out: PageRange[] = [];
    for (let i = firstAtOrAfter(pages, window.offset / PAGE); i < pages.length; i += 1) {
      const start = pages[i]! * PAGE;
      if (start >= window.offset + window.length) break;
      const last = out[out.length - 1];
      if (last && last.offset + last.length === start) out[out.length - 1] = { offset: last.offset, length: last.length + PAGE };
      else out.push({ offset: start, length: PAGE });
    }
    return out;
  }
}

function firstAtOrAfter(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const diffCache = new WeakMap<PageStore, WeakMap<PageStore, { newer: number[]; older: number[]; ranges: DiffRange[] }>>();

/** Pages differing between two stores: changed where the newer has a page the older lacks or holds other bytes, cleared where only the older has one. */
export function diffStores(newer: PageStore, older: PageStore, window: ByteWindow): DiffRange[] {
  let byOlder = diffCache.get(newer);
  if (!byOlder) diffCache.set(newer, (byOlder = new WeakMap()));
  let cached = byOlder.get(older);
  if (!cached || cached.newer !== newer.version || cached.older !== older.version) {
    cached = { newer: newer.version, older: older.version, ranges: wholeDiff(newer, older) };
    byOlder.set(older, cached);
  }
  const out: DiffRange[] = [];
  const all = cached.ranges;
  let lo = 0;
  let hi = all.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (all[mid]!.offset + all[mid]!.length <= window.offset) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < all.length && all[i]!.offset < window.offset + window.length; i += 1) {
    const r = all[i]!;
    const start = Math.max(r.offset, window.offset);
    const end = Math.min(r.offset + r.length, window.offset + window.length);
    out.push({ offset: start, length: end - start, kind: r.kind });
  }
  return out;
}

function wholeDiff(newer: PageStore, older: PageStore): DiffRange[] {
  const keys = new Set([...newer.pages.keys(), ...older.pages.keys()]);
  const sorted = [...keys].sort((a, b) => a - b);
  const out: DiffRange[] = [];
  for (const p of sorted) {
    const start = p * PAGE;
    const n = newer.pages.get(p);
    const o = older.pages.get(p);
    let kind: DiffRange['kind'] | undefined;
    if (n && (!o || !sameBytes(n, o))) kind = 'changed';
    else if (!n && o) kind = 'cleared';
    if (!kind) continue;
    const last = out[out.length - 1];
    if (last && last.kind === kind && last.offset + last.length === start) out[out.length - 1] = { ...last, length: last.length + PAGE };
    else out.push({ offset: start, length: PAGE, kind });
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

/** True when both stores read the same over their whole size (sparse: compares the union of written pages). */
export function sameContent(a: PageStore, b: PageStore): boolean {
  if (a.size !== b.size) return false;
  const zero = new Uint8Array(PAGE);
  for (const p of new Set([...a.pages.keys(), ...b.pages.keys()])) {
    if (!sameBytes(a.pages.get(p) ?? zero, b.pages.get(p) ?? zero)) return false;
  }
  return true;
}

export type FaultKind = 'busy' | 'internal' | 'reset' | 'stall' | 'sasExpiry';

export interface FaultPlan {
  readonly rate: number;
  readonly kinds: readonly FaultKind[];
  readonly retryAfterMs?: number;
}

interface Grant {
  readonly token: string;
  readonly snapshotId: string;
  readonly expiresAt: number;
  revoked: boolean;
}

interface StoredSnapshot {
  info: SnapshotInfo;
  store?: PageStore;
}

export interface WriteRecord {
  readonly blob: string;
  readonly kind: 'fromUrl' | 'put' | 'clear';
  readonly offset: number;
  readonly length: number;
}

export const FAKE_ACCOUNT: StorageAccountInfo = {
  id: '/subscriptions/sub-1/resourceGroups/rg-dr/providers/Microsoft.Storage/storageAccounts/drwest',
  name: 'drwest',
  resourceGroup: 'rg-dr',
  location: 'westus',
  blobEndpoint: 'https://drwest.blob.test/',
};

/** A source disk that can be written, resized and snapshotted, giving Azure-shaped snapshots. */
export class FakeDisk {
  readonly store: PageStore;
  readonly id: string;
  #snapshots = 0;

  constructor(
    private readonly azure: MemoryAzure,
    readonly name: string,
    sizeBytes: number,
    readonly uniqueId = `uid-${name}`,
  ) {
    this.store = new PageStore(sizeBytes);
    this.id = `/subscriptions/sub-1/resourceGroups/rg-prod/providers/Microsoft.Compute/disks/${name}`;
  }

  get sizeBytes(): number {
    return this.store.size;
  }

  /** Writes `length` bytes of a deterministic pattern derived from `seed`. */
  write(offset: number, length: number, seed: number): void {
    const words = new Uint32Array(length / 4);
    let x = (seed * 2654435761) >>> 0 || 1;
    for (let i = 0; i < words.length; i += 1) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x >>> 0;
    }
    this.store.write(offset, new Uint8Array(words.buffer));
  }

  clear(offset: number, length: number): void {
    this.store.clear(offset, length);
  }

  resize(sizeBytes: number): void {
    this.store.resize(sizeBytes);
  }

  snapshot(name = `${this.name}-s${this.#snapshots + 1}`): SnapshotInfo {
    this.#snapshots += 1;
    const store = this.store.clone(this.sizeBytes + PAGE);
    // Azure serves a fixed VHD footer in the last 512 bytes of a disk or snapshot SAS.
    const footer = new Uint8Array(PAGE);
    footer.set(new TextEncoder().encode('conectix'));
    footer.set(new TextEncoder().encode(this.uniqueId).slice(0, 64), 68);
    store.write(this.sizeBytes, footer);
    const info: SnapshotInfo = {
      id: `/subscriptions/sub-1/resourceGroups/rg-prod/providers/Microsoft.Compute/snapshots/${name}`,
      name,
      resourceGroup: 'rg-prod',
      subscriptionId: 'sub-1',
      location: 'eastus',
      incremental: true,
      sizeBytes: this.sizeBytes,
      timeCreated: new Date(Date.UTC(2026, 0, 1, 0, this.#snapshots)).toISOString(),
      uniqueId: `snap-uid-${name}-${this.#snapshots}`,
      provisioningState: 'Succeeded',
      familyId: `family-${this.uniqueId}`,
      createOption: 'Copy',
      sourceResourceId: this.id,
      sourceUniqueId: this.uniqueId,
    };
    this.azure.addSnapshot(info, store);
    return info;
  }
}

export interface MemoryAzureOptions {
  readonly faults?: FaultPlan;
  readonly seed?: number;
  /** Put Page From URL answers 409 CopySourceCannotBeIncrementalCopyBlob for every source. */
  readonly refuseFromUrl?: boolean;
  /** Called after every successful target write (e.g. to cancel a copy part-way). */
  readonly afterWrite?: (record: WriteRecord) => void;
  /** Called once a target's Snapshot Blob or Set Blob Metadata has taken effect, before it answers (a kill's moment). */
  readonly afterCall?: (call: 'snapshot' | 'setMetadata', blob: FakeBlob) => void;
  /** Milliseconds a fault-free request takes (lets requests overlap). */
  readonly latencyMs?: number;
  /** Stalls never settle, even when aborted (an adapter that ignores its signal). */
  readonly stallIgnoresSignal?: boolean;
  /** Target writes beyond this many at once are answered 503 ServerBusy with Retry-After (a blob at its scale target). */
  readonly maxConcurrentWrites?: number;
}

/** The fake Azure: ComputeApi and DataPlane over in-memory snapshots and page blobs. */
export class MemoryAzure {
  readonly snapshots = new Map<string, StoredSnapshot>();
  readonly grants = new Map<string, Grant>();
  readonly blobs = new Map<string, FakeBlob>();
  readonly containers = new Set<string>(['copies']);
  readonly writes: WriteRecord[] = [];
  readonly imports: Array<CreateSnapshotRequest | CreateDiskRequest> = [];
  readonly faultsInjected = new Map<FaultKind, number>();
  writesInFlight = 0;
  peakWritesInFlight = 0;
  throttled = 0;
  grantCalls = 0;
  revokeCalls = 0;
  /** Data-plane calls other than page reads and writes, in the order they were made. */
  readonly calls: string[] = [];
  /** Most snapshots holding an unrevoked grant at one time (Azure allows 5 per family). */
  maxGrantedSnapshots = 0;
  expiredRefusals = 0;
  clock = 0;
  readonly random: () => number;
  readonly compute: ComputeApi;
  readonly dataPlane: DataPlane;
  #tokens = 0;

  constructor(public options: MemoryAzureOptions = {}) {
    this.random = seededRandom(options.seed ?? 1);
    this.compute = new FakeCompute(this);
    this.dataPlane = new FakeDataPlane(this);
  }

  now = (): number => this.clock;

  disk(name: string, sizeBytes: number): FakeDisk {
    return new FakeDisk(this, name, sizeBytes);
  }

  addSnapshot(info: SnapshotInfo, store?: PageStore): void {
    this.snapshots.set(info.id.toLowerCase(), { info, store });
  }

  activeGrants(): Grant[] {
    return [...this.grants.values()].filter((g) => !g.revoked && g.expiresAt > this.clock);
  }

  issueGrant(snapshotId: string, durationSeconds: number): Secret {
    const s = this.snapshots.get(snapshotId.toLowerCase());
    if (!s?.store) throw new DiskDeltaError(`Snapshot ${snapshotId} not found.`, 'ResourceNotFound', undefined, 404);
    this.grantCalls += 1;
    this.#tokens += 1;
    const token = `tok${this.#tokens}x${Math.floor(this.random() * 1e9)}`;
    this.grants.set(token, { token, snapshotId: snapshotId.toLowerCase(), expiresAt: this.clock + durationSeconds * 1000, revoked: false });
    this.maxGrantedSnapshots = Math.max(this.maxGrantedSnapshots, new Set(this.activeGrants().map((g) => g.snapshotId)).size);
    return new Secret(`https://md-fake.blob.test/${s.info.name}/abcd?sv=2020-10-02&sr=b&sp=r&sig=${token}`);
  }

  /** The snapshot store a SAS URL reads, or a 403 like Azure's for a revoked or expired SAS. */
  resolveSas(url: Secret): PageStore {
    const token = /[?&]sig=([^&]+)/.exec(url.reveal())?.[1] ?? '';
    const grant = this.grants.get(token);
    if (!grant || grant.revoked || grant.expiresAt <= this.clock) {
      this.expiredRefusals += 1;
      throw new DiskDeltaError('Server failed to authenticate the request.', 'AuthenticationFailed', undefined, 403);
    }
    return this.snapshots.get(grant.snapshotId)!.store!;
  }

  expireSas(url: Secret): void {
    const token = /[?&]sig=([^&]+)/.exec(url.reveal())?.[1] ?? '';
    const grant = this.grants.get(token);
    if (grant) grant.revoked = true;
  }

  /** Latency and, at the configured rate, one injected fault. `sas` is the source a request reads, for SAS expiry. */
  async request(signal: AbortSignal | undefined, sas?: Secret): Promise<void> {
    if (signal?.aborted) throw new DOMException('aborted', 'AbortError');
    const faults = this.options.faults;
    if (faults && this.random() < faults.rate) {
      const kind = faults.kinds[Math.floor(this.random() * faults.kinds.length)]!;
      this.faultsInjected.set(kind, (this.faultsInjected.get(kind) ?? 0) + 1);
      switch (kind) {
        case 'busy': {
          const e = new DiskDeltaError('The server is busy.', 'ServerBusy', undefined, 503);
          e.retryAfterMs = faults.retryAfterMs ?? 1;
          throw e;
        }
        case 'internal':
          throw new DiskDeltaError('Operation could not be completed within the specified time.', 'OperationTimedOut', undefined, 500);
        case 'reset':
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        case 'stall':
          await new Promise<never>((_resolve, reject) => {
            if (!this.options.stallIgnoresSignal) signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')), { once: true });
          });
          break;
        case 'sasExpiry':
          if (sas) {
            this.expireSas(sas);
            this.expiredRefusals += 1;
            throw new DiskDeltaError('Server failed to authenticate the request.', 'CannotVerifyCopySource', undefined, 403);
          }
          break;
      }
    }
    if (this.options.latencyMs) await new Promise((resolve) => setTimeout(resolve, this.options.latencyMs));
    if (signal?.aborted) throw new DOMException('aborted', 'AbortError');
  }

  recordWrite(record: WriteRecord): void {
    this.writes.push(record);
    this.options.afterWrite?.(record);
  }
}

class FakeCompute implements ComputeApi {
  constructor(private readonly azure: MemoryAzure) {}

  async listSubscriptions(): Promise<SubscriptionInfo[]> {
    return [{ subscriptionId: 'sub-1', displayName: 'Test' }];
  }
  async *listDisks(): AsyncIterable<DiskInfo> {}
  async *listSnapshots(): AsyncIterable<SnapshotInfo> {
    for (const s of this.azure.snapshots.values()) yield s.info;
  }
  async getDisk(): Promise<DiskInfo | undefined> {
    return undefined;
  }
  async getSnapshot(id: string): Promise<SnapshotInfo | undefined> {
    const s = this.azure.snapshots.get(id.toLowerCase());
    if (!s) return undefined;
    // CopyStart progresses a little on every look.
    if (s.info.createOption === 'CopyStart' && (s.info.completionPercent ?? 0) < 100 && !s.info.copyCompletionError) {
      s.info = { ...s.info, completionPercent: Math.min(100, (s.info.completionPercent ?? 0) + 40) };
    }
    return s.info;
  }
  async createSnapshot(request: CreateSnapshotRequest): Promise<SnapshotInfo> {
    if (request.createOption !== 'Import') throw new DiskDeltaError('Only Import is modelled.', 'NotModelled');
    this.azure.imports.push(request);
    const info: SnapshotInfo = {
      id: `/subscriptions/${request.subscriptionId}/resourceGroups/${request.resourceGroup}/providers/Microsoft.Compute/snapshots/${request.name}`,
      name: request.name,
      resourceGroup: request.resourceGroup,
      subscriptionId: request.subscriptionId,
      location: request.location,
      incremental: request.incremental,
      sizeBytes: 0,
      timeCreated: new Date().toISOString(),
      uniqueId: `imported-${request.name}`,
      provisioningState: 'Succeeded',
    };
    this.azure.addSnapshot(info);
    return info;
  }
  async beginCreateSnapshot(request: CreateSnapshotRequest): Promise<SnapshotInfo> {
    const source = this.azure.snapshots.get((request.sourceResourceId ?? '').toLowerCase());
    if (!source) throw new DiskDeltaError('Source not found.', 'ResourceNotFound', undefined, 404);
    const failing = source.info.tags?.failCopy;
    const info: SnapshotInfo = {
      id: `/subscriptions/${request.subscriptionId}/resourceGroups/${request.resourceGroup}/providers/Microsoft.Compute/snapshots/${request.name}`,
      name: request.name,
      resourceGroup: request.resourceGroup,
      subscriptionId: request.subscriptionId,
      location: request.location,
      incremental: true,
      sizeBytes: source.info.sizeBytes,
      timeCreated: new Date().toISOString(),
      uniqueId: `copy-${request.name}`,
      provisioningState: 'Succeeded',
      createOption: 'CopyStart',
      sourceResourceId: request.sourceResourceId,
      completionPercent: 0,
      ...(failing ? { copyCompletionError: { errorCode: 'CopySourceNotFound', errorMessage: failing } } : {}),
    };
    this.azure.addSnapshot(info);
    return info;
  }
  async createDisk(request: CreateDiskRequest): Promise<DiskInfo> {
    this.azure.imports.push(request);
    return {
      id: `/subscriptions/${request.subscriptionId}/resourceGroups/${request.resourceGroup}/providers/Microsoft.Compute/disks/${request.name}`,
      name: request.name,
      resourceGroup: request.resourceGroup,
      subscriptionId: request.subscriptionId,
      location: request.location,
      sizeBytes: 0,
      uniqueId: `disk-${request.name}`,
    };
  }
  async deleteSnapshot(id: string): Promise<void> {
    this.azure.snapshots.delete(id.toLowerCase());
  }
  async deleteDisk(): Promise<void> {}
  async grantAccess(id: string, _access: 'Read' | 'Write', durationSeconds: number): Promise<Secret> {
    return this.azure.issueGrant(id, durationSeconds);
  }
  async revokeAccess(id: string): Promise<void> {
    this.azure.revokeCalls += 1;
    for (const g of this.azure.grants.values()) if (g.snapshotId === id.toLowerCase()) g.revoked = true;
  }
  async listStorageAccounts(): Promise<StorageAccountInfo[]> {
    return [FAKE_ACCOUNT];
  }
}

class FakeSasSource implements PageSource {
  constructor(
    private readonly azure: MemoryAzure,
    readonly url: Secret,
  ) {}
  async size(options?: OperationOptions): Promise<number> {
    await this.azure.request(options?.signal);
    return this.azure.resolveSas(this.url).size;
  }
  async *listRanges(window: ByteWindow, options?: OperationOptions): AsyncIterable<PageRange> {
    await this.azure.request(options?.signal, this.url);
    yield* this.azure.resolveSas(this.url).ranges(window);
  }
  async *listDiff(previous: PageSource, window: ByteWindow, options?: OperationOptions): AsyncIterable<DiffRange> {
    this.azure.calls.push('listDiff');
    await this.azure.request(options?.signal, this.url);
    const older = this.azure.resolveSas(previous.readUrl());
    yield* diffStores(this.azure.resolveSas(this.url), older, window);
  }
  async read(offset: number, length: number, options?: OperationOptions): Promise<Uint8Array> {
    await this.azure.request(options?.signal, this.url);
    return this.azure.resolveSas(this.url).read(offset, length);
  }
  readUrl(): Secret {
    return this.url;
  }
}

/** A page blob in the fake storage account, with its blob snapshots. */
export class FakeBlob implements PageTarget {
  store: PageStore | undefined;
  metadata: Record<string, string> = {};
  readonly blobSnapshots = new Map<string, { store: PageStore; metadata: Record<string, string> }>();
  /** Writes to these byte offsets store flipped bytes (to prove verification catches it). */
  corruptAt = new Set<number>();
  #snapshotCount = 0;

  constructor(
    private readonly azure: MemoryAzure,
    readonly name: string,
  ) {}

  get displayUrl(): string {
    return `${FAKE_ACCOUNT.blobEndpoint}copies/${this.name}`;
  }

  #blob(): PageStore {
    if (!this.store) throw new DiskDeltaError('The specified blob does not exist.', 'BlobNotFound', undefined, 404);
    return this.store;
  }

  async size(options?: OperationOptions): Promise<number> {
    this.azure.calls.push('size');
    await this.azure.request(options?.signal);
    return this.#blob().size;
  }
  async *listRanges(window: ByteWindow, options?: OperationOptions): AsyncIterable<PageRange> {
    await this.azure.request(options?.signal);
    yield* this.#blob().ranges(window);
  }
  // eslint-disable-next-line require-yield
  async *listDiff(): AsyncIterable<DiffRange> {
    throw new DiskDeltaError('Not modelled.', 'NotModelled');
  }
  async read(offset: number, length: number, options?: OperationOptions): Promise<Uint8Array> {
    await this.azure.request(options?.signal);
    return this.#blob().read(offset, length);
  }
  readUrl(): Secret {
    return new Secret(`${this.displayUrl}?sig=target`);
  }
  async exists(options?: OperationOptions): Promise<boolean> {
    this.azure.calls.push('exists');
    await this.azure.request(options?.signal);
    return this.store !== undefined;
  }
  async getMetadata(options?: OperationOptions): Promise<Record<string, string>> {
    this.azure.calls.push('getMetadata');
    await this.azure.request(options?.signal);
    this.#blob();
    return { ...this.metadata };
  }
  async create(sizeBytes: number, metadata: Record<string, string>, options?: OperationOptions): Promise<void> {
    await this.azure.request(options?.signal);
    this.store = new PageStore(sizeBytes);
    this.metadata = { ...metadata };
  }
  async setMetadata(metadata: Record<string, string>, options?: OperationOptions): Promise<void> {
    this.azure.calls.push('setMetadata');
    await this.azure.request(options?.signal);
    this.#blob();
    this.metadata = { ...metadata };
    this.azure.options.afterCall?.('setMetadata', this);
  }
  async resize(sizeBytes: number, options?: OperationOptions): Promise<void> {
    await this.azure.request(options?.signal);
    this.#blob().resize(sizeBytes);
  }
  #store(offset: number, data: Uint8Array, kind: WriteRecord['kind']): void {
    if (data.length > 4 * 1024 * 1024) throw new DiskDeltaError('Put Page writes at most 4 MiB.', 'InvalidHeaderValue', undefined, 400);
    if (this.corruptAt.has(offset)) data = data.map((b) => b ^ 0xff);
    this.#blob().write(offset, data);
    this.azure.recordWrite({ blob: this.name, kind, offset, length: data.length });
  }
  async putPagesFromUrl(source: Secret, sourceOffset: number, targetOffset: number, length: number, options?: OperationOptions): Promise<void> {
    const cap = this.azure.options.maxConcurrentWrites;
    if (cap !== undefined && this.azure.writesInFlight >= cap) {
      this.azure.throttled += 1;
      const e = new DiskDeltaError('Operations per second is over the account limit.', 'ServerBusy', undefined, 503);
      e.retryAfterMs = 2;
      throw e;
    }
    this.azure.writesInFlight += 1;
    this.azure.peakWritesInFlight = Math.max(this.azure.peakWritesInFlight, this.azure.writesInFlight);
    try {
      await this.#putFromUrl(source, sourceOffset, targetOffset, length, options);
    } finally {
      this.azure.writesInFlight -= 1;
    }
  }
  async #putFromUrl(source: Secret, sourceOffset: number, targetOffset: number, length: number, options?: OperationOptions): Promise<void> {
    await this.azure.request(options?.signal, source);
    if (this.azure.options.refuseFromUrl) {
      throw new DiskDeltaError('The source blob cannot be an incremental copy blob.', 'CopySourceCannotBeIncrementalCopyBlob', undefined, 409);
    }
    const data = this.azure.resolveSas(source).read(sourceOffset, length);
    this.#store(targetOffset, data, 'fromUrl');
  }
  async putPages(targetOffset: number, data: Uint8Array, options?: OperationOptions): Promise<void> {
    await this.azure.request(options?.signal);
    this.#store(targetOffset, data, 'put');
  }
  async clearPages(offset: number, length: number, options?: OperationOptions): Promise<void> {
    await this.azure.request(options?.signal);
    this.#blob().clear(offset, length);
    this.azure.recordWrite({ blob: this.name, kind: 'clear', offset, length });
  }
  async snapshot(metadata: Record<string, string>, options?: OperationOptions): Promise<string> {
    this.azure.calls.push('snapshot');
    await this.azure.request(options?.signal);
    this.#snapshotCount += 1;
    const ts = new Date(Date.UTC(2026, 1, 1, 0, 0, this.#snapshotCount)).toISOString().replace('Z', '0000Z');
    this.blobSnapshots.set(ts, { store: this.#blob().clone(), metadata: { ...metadata } });
    this.azure.options.afterCall?.('snapshot', this);
    return ts;
  }
  snapshotSource(snapshot: string): PageSource {
    const snap = this.blobSnapshots.get(snapshot);
    const azure = this.azure;
    return {
      size: async () => snap!.store.size,
      listRanges: async function* (window: ByteWindow) {
        yield* snap!.store.ranges(window);
      },
      listDiff: async function* () {
        yield* [] as DiffRange[];
      },
      read: async (offset: number, length: number) => {
        await azure.request(undefined);
        return snap!.store.read(offset, length);
      },
      readUrl: () => new Secret(`${this.snapshotUrl(snapshot)}&sig=x`),
    };
  }
  snapshotUrl(snapshot: string): string {
    return `${this.displayUrl}?snapshot=${encodeURIComponent(snapshot)}`;
  }
}

class FakeStore implements TargetStore {
  readonly account = FAKE_ACCOUNT;
  constructor(
    private readonly azure: MemoryAzure,
    readonly container: string,
  ) {}
  async containerExists(): Promise<boolean> {
    return this.azure.containers.has(this.container);
  }
  async createContainer(): Promise<void> {
    this.azure.containers.add(this.container);
  }
  blob(name: string): FakeBlob {
    let b = this.azure.blobs.get(name);
    if (!b) {
      b = new FakeBlob(this.azure, name);
      this.azure.blobs.set(name, b);
    }
    return b;
  }
}

class FakeDataPlane implements DataPlane {
  constructor(private readonly azure: MemoryAzure) {}
  openSas(url: Secret): PageSource {
    return new FakeSasSource(this.azure, url);
  }
  openWritableSas(): PageTarget {
    throw new DiskDeltaError('Not modelled.', 'NotModelled');
  }
  async targetStore(_account: StorageAccountInfo, container: string): Promise<FakeStore> {
    return new FakeStore(this.azure, container);
  }
}

export function targetStore(azure: MemoryAzure, container = 'copies'): FakeStore {
  return new FakeStore(azure, container);
}

export function snapshotStore(azure: MemoryAzure, snapshot: SnapshotInfo): PageStore {
  return azure.snapshots.get(snapshot.id.toLowerCase())!.store!;
}
