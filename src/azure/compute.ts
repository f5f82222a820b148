import type { AbortSignalLike } from '@azure/abort-controller';
import type { TokenCredential } from '@azure/core-auth';
import { createDefaultHttpClient, createPipelineRequest, type HttpClient, type PipelinePolicy } from '@azure/core-rest-pipeline';
import { ComputeManagementClient, type Disk, type Snapshot } from '@azure/arm-compute';
import { StorageManagementClient } from '@azure/arm-storage';
import { SubscriptionClient } from '@azure/arm-resources-subscriptions';
import type { DiskInfo, SnapshotInfo, StorageAccountInfo, SubscriptionInfo } from '../core/model';
import type { ComputeApi, CreateDiskRequest, CreateSnapshotRequest, OperationOptions } from '../core/ports';
import { DiskDeltaError } from '../core/errors';
import { parseResourceId } from '../core/resourceId';
import { Secret } from '../core/secret';
import { azureCall, toDiskDeltaError } from './errors';

export interface ArmConnectionOptions {
  readonly credential: TokenCredential;
  /** ARM endpoint; Azure public cloud when omitted. */
  readonly endpoint?: string;
  readonly httpClient?: HttpClient;
  /** Polling interval for long-running operations, ms. */
  readonly pollIntervalMs?: number;
  readonly userAgentPrefix?: string;
  /** Token scope for ARM (`<arm endpoint>/.default`); the public cloud's when omitted. */
  readonly credentialScope?: string;
  /** Blob endpoint suffix of the cloud (core.windows.net when omitted), for accounts ARM lists without endpoints. */
  readonly storageEndpointSuffix?: string;
}

function rgOf(id: string): string {
  return parseResourceId(id).resourceGroup;
}

export function toDiskInfo(d: Disk): DiskInfo {
  const p = parseResourceId(d.id!);
  return {
    id: d.id!,
    name: d.name ?? p.name,
    resourceGroup: p.resourceGroup,
    subscriptionId: p.subscriptionId,
    location: d.location,
    sizeBytes: d.diskSizeBytes ?? (d.diskSizeGB ?? 0) * 1024 ** 3,
    sku: d.sku?.name,
    uniqueId: d.uniqueId ?? '',
    timeCreated: d.timeCreated?.toISOString(),
    diskState: d.diskState,
    provisioningState: d.provisioningState,
    tags: d.tags,
  };
}

export function toSnapshotInfo(s: Snapshot): SnapshotInfo {
  const p = parseResourceId(s.id!);
  return {
    id: s.id!,
    name: s.name ?? p.name,
    resourceGroup: p.resourceGroup,
    subscriptionId: p.subscriptionId,
    location: s.location,
    incremental: s.incremental === true,
    sizeBytes: s.diskSizeBytes ?? (s.diskSizeGB ?? 0) * 1024 ** 3,
    sku: s.sku?.name,
    timeCreated: (s.timeCreated ?? new Date(0)).toISOString(),
    uniqueId: s.uniqueId ?? '',
    provisioningState: s.provisioningState,
    diskState: s.diskState,
    familyId: s.incrementalSnapshotFamilyId,
    createOption: s.creationData?.createOption,
    sourceResourceId: s.creationData?.sourceResourceId,
    sourceUniqueId: s.creationData?.sourceUniqueId,
    completionPercent: s.completionPercent,
    copyCompletionError: s.copyCompletionError
      ? { errorCode: String(s.copyCompletionError.errorCode), errorMessage: s.copyCompletionError.errorMessage }
      : undefined,
    tags: s.tags,
  };
}

/**
 * How far the server's clock is ahead of ours, from a Date header (whole seconds, so the true time lies
 * up to a second after it). Differences within the header's resolution and transit count as none.
 */
export function clockSkew(headerMs: number, localMs: number): number {
  const skew = headerMs + 500 - localMs;
  return Math.abs(skew) <= 2000 ? 0 : skew;
}

/**
 * Retries of every ARM call (listing pages, gets, creates, grants and the pollers' status reads). The
 * pipeline's throttling strategy waits exactly what a 429's `Retry-After` says, without a cap, but its
 * retries share one count with the exponential strategy (3 by default), which a throttling window of
 * Microsoft.Compute (counted per 3 and per 30 minutes, docs/azure-behaviour.md#arm-throttling) outlasts.
 * Raising that count would also make a network failure take minutes to surface, so the count stays small
 * and `throttlePatience` (outside the retry policy) waits out further 429s on its own.
 */
export const ARM_RETRY_OPTIONS = { maxRetries: 4 } as const;
/**
 * How long one call keeps waiting out 429s after the retry policy gave up: the 3-minute window twice over.
 * A count of rounds is not enough: every caller refused by an empty bucket is told the same `Retry-After`,
 * they come back together and one of them gets the request the bucket refilled, so a caller can lose round
 * after round while others pass. A time budget, and a spread on the wait, make that a matter of seconds.
 */
export const THROTTLE_PATIENCE_MS = 6 * 60_000;
const MAX_RETRY_AFTER_MS = 5 * 60_000;

function retryAfterMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** The wait before sending a throttled call again: its `Retry-After` (10 s if none, 5 minutes at most) plus up to half of it again, at random. */
export function throttleWaitMs(retryAfter: string | undefined, random = Math.random()): number {
  const base = Math.min(MAX_RETRY_AFTER_MS, Math.max(1000, retryAfterMs(retryAfter) ?? 10_000));
  return Math.round(base * (1 + 0.5 * random));
}

function wait(ms: number, signal: AbortSignalLike | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DOMException('The operation was aborted.', 'AbortError'));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new DOMException('The operation was aborted.', 'AbortError'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A 429 that outlived the retry policy is waited out (see throttleWaitMs) and sent again, for up to THROTTLE_PATIENCE_MS. */
export function throttlePatience(patienceMs = THROTTLE_PATIENCE_MS): PipelinePolicy {
  return {
    name: 'diskDeltaThrottlePatience',
    sendRequest: async (request, next) => {
      const started = Date.now();
      for (;;) {
        const response = await next(request);
        if (response.status !== 429) return response;
        const ms = throttleWaitMs(response.headers.get('retry-after'));
        if (Date.now() + ms - started > patienceMs) return response;
        await wait(ms, request.abortSignal);
      }
    },
  };
}

/**
 * A long-running operation that failed inside (status `Failed`) reaches us from core-lro as a plain Error
 * "The long-running operation has failed. <code>. <message>": the code is recovered so that callers can
 * tell, for instance, an Import of a blob that is not a VHD (`BadRequest`, docs/azure-behaviour.md#import-and-upload).
 */
export function operationFailure(error: unknown, context: string): unknown {
  const message = (error as { message?: unknown })?.message;
  if (typeof message !== 'string' || (error as { statusCode?: unknown }).statusCode !== undefined) return error;
  const m = /^The long-running operation has failed\. ([A-Za-z][\w.]*)\. ([\s\S]*)$/.exec(message);
  if (!m) return error;
  const code = m[1]!;
  const hint =
    code === 'BadRequest' && /conectix/.test(m[2]!)
      ? "The blob must be a fixed VHD: a whole number of MiB plus a 512-byte footer. Copy the source disk's footer too, then import again."
      : 'See the message for what Azure refused; the resource was not created or changed.';
  return new DiskDeltaError(`${context}: ${m[2]!.trim()}`, code, hint, 400);
}

async function lroCall<T>(context: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const failure = operationFailure(error, context);
    if (failure instanceof DiskDeltaError) throw failure;
    throw toDiskDeltaError(error, context);
  }
}

/** ComputeApi over @azure/arm-compute (plus the storage-account and subscription reads it needs). */
export class ArmCompute implements ComputeApi {
  readonly #options: ArmConnectionOptions;
  readonly #compute = new Map<string, ComputeManagementClient>();
  readonly #storage = new Map<string, StorageManagementClient>();
  /** Server clock minus local clock, from the latest response's Date header. */
  #skewMs = 0;
  /** Reads the Date header of every ARM response. */
  readonly #serverClock: PipelinePolicy = {
    name: 'diskDeltaServerClock',
    sendRequest: async (request, next) => {
      const response = await next(request);
      const date = Date.parse(response.headers.get('date') ?? '');
      if (!Number.isNaN(date)) this.#skewMs = clockSkew(date, Date.now());
      return response;
    },
  };

  readonly #httpClient: HttpClient;

  constructor(options: ArmConnectionOptions) {
    this.#options = options;
    this.#httpClient = options.httpClient ?? createDefaultHttpClient();
  }

  serverTime(): Date {
    return new Date(Date.now() + this.#skewMs);
  }

  #clientOptions() {
    return {
      ...(this.#options.endpoint ? { endpoint: this.#options.endpoint } : {}),
      ...(this.#options.httpClient ? { httpClient: this.#options.httpClient } : {}),
      // Sovereign clouds need their own ARM scope: the clients default to the public cloud's (docs/azure-behaviour.md#sovereign-clouds).
      ...(this.#options.credentialScope ? { credentialScopes: [this.#options.credentialScope], credentials: { scopes: [this.#options.credentialScope] } } : {}),
      userAgentOptions: { userAgentPrefix: this.#options.userAgentPrefix ?? 'disk-delta' },
      retryOptions: ARM_RETRY_OPTIONS,
      additionalPolicies: [
        { policy: throttlePatience(), position: 'perCall' as const },
        { policy: this.#serverClock, position: 'perRetry' as const },
      ],
    };
  }

  #computeFor(subscriptionId: string): ComputeManagementClient {
    let c = this.#compute.get(subscriptionId);
    if (!c) {
      c = new ComputeManagementClient(this.#options.credential, subscriptionId, this.#clientOptions());
      this.#compute.set(subscriptionId, c);
    }
    return c;
  }

  #storageFor(subscriptionId: string): StorageManagementClient {
    let c = this.#storage.get(subscriptionId);
    if (!c) {
      c = new StorageManagementClient(this.#options.credential, subscriptionId, this.#clientOptions());
      this.#storage.set(subscriptionId, c);
    }
    return c;
  }

  #lro(options?: OperationOptions) {
    return {
      abortSignal: options?.signal,
      updateIntervalInMs: this.#options.pollIntervalMs ?? 2000,
    };
  }

  async listSubscriptions(options?: OperationOptions): Promise<SubscriptionInfo[]> {
    return azureCall('Listing subscriptions', async () => {
      const client = new SubscriptionClient(this.#options.credential, this.#clientOptions());
      const out: SubscriptionInfo[] = [];
      for await (const s of client.subscriptions.list({ abortSignal: options?.signal })) {
        if (!s.subscriptionId) continue;
        out.push({ subscriptionId: s.subscriptionId, displayName: s.displayName ?? s.subscriptionId, tenantId: s.tenantId });
      }
      return out;
    });
  }

  async *listDisks(subscriptionId: string, options?: OperationOptions): AsyncIterable<DiskInfo> {
    const pages = this.#computeFor(subscriptionId).disks.list({ abortSignal: options?.signal }).byPage();
    for (;;) {
      const page = await azureCall('Listing disks', () => pages.next());
      if (page.done) return;
      for (const d of page.value) yield toDiskInfo(d);
    }
  }

  async *listSnapshots(subscriptionId: string, options?: OperationOptions): AsyncIterable<SnapshotInfo> {
    const pages = this.#computeFor(subscriptionId).snapshots.list({ abortSignal: options?.signal }).byPage();
    for (;;) {
      const page = await azureCall('Listing snapshots', () => pages.next());
      if (page.done) return;
      for (const s of page.value) yield toSnapshotInfo(s);
    }
  }

  async getDisk(id: string, options?: OperationOptions): Promise<DiskInfo | undefined> {
    const p = parseResourceId(id);
    try {
      return toDiskInfo(await this.#computeFor(p.subscriptionId).disks.get(p.resourceGroup, p.name, { abortSignal: options?.signal }));
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      return azureCall(`Reading disk ${p.name}`, () => Promise.reject(error));
    }
  }

  async getSnapshot(id: string, options?: OperationOptions): Promise<SnapshotInfo | undefined> {
    const p = parseResourceId(id);
    try {
      return toSnapshotInfo(await this.#computeFor(p.subscriptionId).snapshots.get(p.resourceGroup, p.name, { abortSignal: options?.signal }));
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      return azureCall(`Reading snapshot ${p.name}`, () => Promise.reject(error));
    }
  }

  #snapshotBody(r: CreateSnapshotRequest): Snapshot {
    return {
      location: r.location,
      ...(r.sku ? { sku: { name: r.sku as 'Standard_LRS' } } : {}),
      ...(r.tags ? { tags: r.tags } : {}),
      incremental: r.incremental,
      creationData: {
        createOption: r.createOption,
        ...(r.sourceResourceId ? { sourceResourceId: r.sourceResourceId } : {}),
        ...(r.sourceUri ? { sourceUri: r.sourceUri } : {}),
        ...(r.storageAccountId ? { storageAccountId: r.storageAccountId } : {}),
      },
    };
  }

  async createSnapshot(r: CreateSnapshotRequest, options?: OperationOptions): Promise<SnapshotInfo> {
    return lroCall(`Creating snapshot ${r.name}`, async () =>
      toSnapshotInfo(await this.#computeFor(r.subscriptionId).snapshots.createOrUpdate(r.resourceGroup, r.name, this.#snapshotBody(r), this.#lro(options))),
    );
  }

  async beginCreateSnapshot(r: CreateSnapshotRequest, options?: OperationOptions): Promise<SnapshotInfo> {
    return lroCall(`Starting snapshot ${r.name}`, async () => {
      // The create PUT answers 202 and its operation succeeds within seconds, also for CopyStart, whose copy
      // goes on afterwards (docs/azure-behaviour.md#copystart): wait for the operation, not for the copy.
      const poller = await this.#computeFor(r.subscriptionId).snapshots.beginCreateOrUpdate(r.resourceGroup, r.name, this.#snapshotBody(r), this.#lro(options));
      const result = await poller.pollUntilDone({ abortSignal: options?.signal });
      if (result?.id) return toSnapshotInfo(result);
      const s = await this.getSnapshot(
        `/subscriptions/${r.subscriptionId}/resourceGroups/${r.resourceGroup}/providers/Microsoft.Compute/snapshots/${r.name}`,
        options,
      );
      if (!s) throw new DiskDeltaError(`Snapshot ${r.name} was accepted but cannot be read back.`, 'NotFound');
      return s;
    });
  }

  async createDisk(r: CreateDiskRequest, options?: OperationOptions): Promise<DiskInfo> {
    const body: Disk = {
      location: r.location,
      ...(r.sku ? { sku: { name: r.sku as 'Standard_LRS' } } : {}),
      ...(r.tags ? { tags: r.tags } : {}),
      ...(r.diskSizeGB ? { diskSizeGB: r.diskSizeGB } : {}),
      creationData: {
        createOption: r.createOption,
        ...(r.sourceResourceId ? { sourceResourceId: r.sourceResourceId } : {}),
        ...(r.sourceUri ? { sourceUri: r.sourceUri } : {}),
        ...(r.storageAccountId ? { storageAccountId: r.storageAccountId } : {}),
        ...(r.uploadSizeBytes ? { uploadSizeBytes: r.uploadSizeBytes } : {}),
      },
    };
    return lroCall(`Creating disk ${r.name}`, async () =>
      toDiskInfo(await this.#computeFor(r.subscriptionId).disks.createOrUpdate(r.resourceGroup, r.name, body, this.#lro(options))),
    );
  }

  async deleteSnapshot(id: string, options?: OperationOptions): Promise<void> {
    const p = parseResourceId(id);
    await lroCall(`Deleting snapshot ${p.name}`, () => this.#computeFor(p.subscriptionId).snapshots.delete(p.resourceGroup, p.name, this.#lro(options)));
  }

  async deleteDisk(id: string, options?: OperationOptions): Promise<void> {
    const p = parseResourceId(id);
    await lroCall(`Deleting disk ${p.name}`, () => this.#computeFor(p.subscriptionId).disks.delete(p.resourceGroup, p.name, this.#lro(options)));
  }

  async grantAccess(id: string, access: 'Read' | 'Write', durationSeconds: number, options?: OperationOptions): Promise<Secret> {
    const p = parseResourceId(id);
    const ops = p.type.toLowerCase() === 'disks' ? this.#computeFor(p.subscriptionId).disks : this.#computeFor(p.subscriptionId).snapshots;
    const result = await lroCall(`Granting ${access} access to ${p.name}`, () =>
      ops.grantAccess(p.resourceGroup, p.name, { access, durationInSeconds: Math.round(durationSeconds) }, this.#lro(options)),
    );
    if (!result.accessSAS) throw new DiskDeltaError(`Azure granted access to ${p.name} but returned no SAS.`, 'NoAccessSas');
    return new Secret(result.accessSAS);
  }

  async revokeAccess(id: string, options?: OperationOptions): Promise<void> {
    const p = parseResourceId(id);
    const ops = p.type.toLowerCase() === 'disks' ? this.#computeFor(p.subscriptionId).disks : this.#computeFor(p.subscriptionId).snapshots;
    await lroCall(`Revoking access to ${p.name}`, () => ops.revokeAccess(p.resourceGroup, p.name, this.#lro(options)));
  }

  /**
   * A GET of any ARM path (providers, permissions) through the same pipeline as every other call:
   * authentication, retries on 429 with Retry-After, the server clock. Returns the parsed JSON body.
   */
  async armGet(subscriptionId: string, pathAndQuery: string, options?: OperationOptions): Promise<unknown> {
    const endpoint = (this.#options.endpoint ?? 'https://management.azure.com').replace(/\/+$/, '');
    const response = await azureCall(`Reading ${pathAndQuery.split('?')[0]}`, () =>
      this.#computeFor(subscriptionId).pipeline.sendRequest(
        this.#httpClient,
        createPipelineRequest({ url: `${endpoint}${pathAndQuery}`, method: 'GET', abortSignal: options?.signal }),
      ),
    );
    let body: unknown;
    try {
      body = response.bodyAsText ? JSON.parse(response.bodyAsText) : undefined;
    } catch {
      body = undefined;
    }
    if (response.status >= 400) {
      const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new DiskDeltaError(
        `Reading ${pathAndQuery.split('?')[0]}: ${error?.message ?? `HTTP ${response.status}`}`,
        error?.code ?? `Http${response.status}`,
        undefined,
        response.status,
      );
    }
    return body;
  }

  /** Disks and snapshots of one resource group, counted (a list call, for diagnostics). */
  async countResourceGroup(subscriptionId: string, resourceGroup: string, options?: OperationOptions): Promise<{ disks: number; snapshots: number }> {
    const client = this.#computeFor(subscriptionId);
    return azureCall(`Listing resource group ${resourceGroup}`, async () => {
      let disks = 0;
      let snapshots = 0;
      for await (const page of client.disks.listByResourceGroup(resourceGroup, { abortSignal: options?.signal }).byPage()) disks += page.length;
      for await (const page of client.snapshots.listByResourceGroup(resourceGroup, { abortSignal: options?.signal }).byPage()) snapshots += page.length;
      return { disks, snapshots };
    });
  }

  async getResource(id: string, options?: OperationOptions): Promise<Record<string, unknown> | undefined> {
    const p = parseResourceId(id);
    const type = `${p.provider}/${p.type}`.toLowerCase();
    let body: string | undefined;
    const onResponse = (raw: { bodyAsText?: string | null }) => {
      body = raw.bodyAsText ?? undefined;
    };
    const base = { abortSignal: options?.signal, onResponse };
    try {
      await azureCall(`Reading ${p.name}`, async () => {
        if (type === 'microsoft.compute/disks') await this.#computeFor(p.subscriptionId).disks.get(p.resourceGroup, p.name, base);
        else if (type === 'microsoft.compute/snapshots') await this.#computeFor(p.subscriptionId).snapshots.get(p.resourceGroup, p.name, base);
        else if (type === 'microsoft.storage/storageaccounts')
          await this.#storageFor(p.subscriptionId).storageAccounts.getProperties(p.resourceGroup, p.name, base);
        else
          throw new DiskDeltaError(
            `Disk Delta cannot read resources of type ${p.provider}/${p.type}.`,
            'UnsupportedResourceType',
            'Open it in the portal instead.',
          );
      });
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw error;
    }
    return body ? (JSON.parse(body) as Record<string, unknown>) : undefined;
  }

  async updateTags(id: string, tags: Record<string, string>, options?: OperationOptions): Promise<Record<string, string>> {
    const p = parseResourceId(id);
    const isDisk = p.type.toLowerCase() === 'disks';
    return azureCall(`Updating the tags of ${p.name}`, async () => {
      const c = this.#computeFor(p.subscriptionId);
      const updated = isDisk
        ? await c.disks.update(p.resourceGroup, p.name, { tags }, this.#lro(options))
        : await c.snapshots.update(p.resourceGroup, p.name, { tags }, this.#lro(options));
      // An update answered 202 ends with an operation status that may carry no resource: read it back.
      if (updated?.tags) return updated.tags;
      const after = isDisk ? await this.getDisk(id, options) : await this.getSnapshot(id, options);
      return after?.tags ?? {};
    });
  }

  async listStorageAccounts(subscriptionId: string, options?: OperationOptions): Promise<StorageAccountInfo[]> {
    return azureCall('Listing storage accounts', async () => {
      const out: StorageAccountInfo[] = [];
      for await (const a of this.#storageFor(subscriptionId).storageAccounts.list({ abortSignal: options?.signal })) {
        if (!a.id || !a.name) continue;
        out.push({
          id: a.id,
          name: a.name,
          resourceGroup: rgOf(a.id),
          location: a.location,
          blobEndpoint: a.primaryEndpoints?.blob ?? `https://${a.name}.blob.${this.#options.storageEndpointSuffix ?? 'core.windows.net'}/`,
          kind: a.kind,
          sku: a.sku?.name,
        });
      }
      return out;
    });
  }
}
