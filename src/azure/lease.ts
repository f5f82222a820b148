/**
 * Continuous protection's storage needs, over @azure/storage-blob: blob leases on lock blobs (Lease Blob:
 * acquire, renew, release - never break) and the blob snapshots of a target blob (list, delete).
 */
import type { TokenCredential } from '@azure/core-auth';
import type { Agent } from 'node:https';
import { BlobServiceClient, newPipeline, Pipeline, StorageSharedKeyCredential, type ContainerClient, type RequestPolicyFactory } from '@azure/storage-blob';
import type { BlobLocation, HeldLease, ProtectionStorage, TargetPoint } from '../core/protect/ports';
import type { OperationOptions } from '../core/ports';
import { DiskDeltaError } from '../core/errors';
import { azureCall, toDiskDeltaError } from './errors';

export interface ProtectionStorageOptions {
  readonly agent?: Agent;
  readonly accountKeys?: ReadonlyMap<string, string>;
  readonly tokenCredential?: TokenCredential;
}

function statusOf(error: unknown): number | undefined {
  const e = error as { statusCode?: number; response?: { status?: number } };
  return e.statusCode ?? e.response?.status;
}

function codeOf(error: unknown): string | undefined {
  const e = error as { code?: string; details?: { errorCode?: string } };
  return e.details?.errorCode ?? e.code;
}

export class BlobProtectionStorage implements ProtectionStorage {
  readonly #containers = new Map<string, ContainerClient>();

  constructor(private readonly options: ProtectionStorageOptions) {}

  #container(location: BlobLocation): ContainerClient {
    const key = `${location.account.blobEndpoint}|${location.container}`;
    let client = this.#containers.get(key);
    if (!client) {
      const accountKey = this.options.accountKeys?.get(location.account.name);
      const credential = accountKey ? new StorageSharedKeyCredential(location.account.name, accountKey) : this.options.tokenCredential;
      if (!credential)
        throw new DiskDeltaError(
          `No credential for storage account ${location.account.name}.`,
          'NoStorageCredential',
          'Sign in again or check your access to the account.',
        );
      let pipeline = newPipeline(credential, {
        retryOptions: { maxTries: 4, tryTimeoutInMs: 20_000, retryDelayInMs: 500, maxRetryDelayInMs: 10_000 },
        userAgentOptions: { userAgentPrefix: 'disk-delta' },
      });
      const agent = this.options.agent;
      if (agent && credential instanceof StorageSharedKeyCredential) {
        // The emulator's CA is trusted through its own agent, chosen per request by a request policy.
        const useAgent: RequestPolicyFactory = { create: (next) => ({ sendRequest: (request) => ((request.agent = agent), next.sendRequest(request)) }) };
        pipeline = new Pipeline([useAgent, credential], pipeline.options);
      }
      client = new BlobServiceClient(location.account.blobEndpoint, pipeline).getContainerClient(location.container);
      this.#containers.set(key, client);
    }
    return client;
  }

  async tryAcquire(lock: BlobLocation, durationSeconds: number, options?: OperationOptions): Promise<HeldLease | undefined> {
    const blob = this.#container(lock).getPageBlobClient(lock.blobName);
    const abortSignal = options?.signal;
    if (!(await azureCall('Checking the lock blob', () => blob.exists({ abortSignal })))) {
      try {
        // An empty page blob; another runner creating it at the same moment is fine.
        await blob.create(0, { abortSignal, metadata: { diskdelta_lock: '1' } });
      } catch (error) {
        // 412 LeaseIdMissing: it exists already and someone holds its lease.
        if (statusOf(error) !== 409 && statusOf(error) !== 412) throw toDiskDeltaError(error, 'Creating the lock blob');
      }
    }
    const leases = blob.getBlobLeaseClient();
    try {
      await leases.acquireLease(durationSeconds, { abortSignal });
    } catch (error) {
      // 409 LeaseAlreadyPresent: a live lease of another runner (an expired one is simply taken over).
      if (statusOf(error) === 409 || codeOf(error) === 'LeaseAlreadyPresent') return undefined;
      throw toDiskDeltaError(error, 'Acquiring the lease on the lock blob');
    }
    return {
      leaseId: leases.leaseId,
      renew: async (o) => {
        await azureCall('Renewing the lease', () => leases.renewLease({ abortSignal: o?.signal }));
      },
      release: async (o) => {
        await azureCall('Releasing the lease', () => leases.releaseLease({ abortSignal: o?.signal }));
      },
    };
  }

  async list(location: BlobLocation, options?: OperationOptions): Promise<TargetPoint[]> {
    const container = this.#container(location);
    const points: TargetPoint[] = [];
    try {
      for await (const item of container.listBlobsFlat({
        prefix: location.blobName,
        includeSnapshots: true,
        includeMetadata: true,
        abortSignal: options?.signal,
      })) {
        if (item.name !== location.blobName || !item.snapshot) continue;
        points.push({ snapshot: item.snapshot, metadata: { ...(item.metadata ?? {}) } });
      }
    } catch (error) {
      if (statusOf(error) === 404) return [];
      throw toDiskDeltaError(error, 'Listing the target points');
    }
    return points.sort((a, b) => Date.parse(a.snapshot) - Date.parse(b.snapshot) || a.snapshot.localeCompare(b.snapshot));
  }

  async delete(location: BlobLocation, snapshot: string, options?: OperationOptions): Promise<void> {
    const blob = this.#container(location).getBlobClient(location.blobName).withSnapshot(snapshot);
    try {
      await blob.delete({ abortSignal: options?.signal });
    } catch (error) {
      if (statusOf(error) === 404) return;
      throw toDiskDeltaError(error, 'Deleting a target point');
    }
  }
}
