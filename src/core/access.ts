import type { ComputeApi, OperationOptions } from './ports';
import type { Secret } from './secret';

function isDefiniteRefusal(error: unknown): boolean {
  const status = (error as { statusCode?: number }).statusCode;
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

export interface ReadGrant {
  readonly resourceId: string;
  /** The current SAS; replaced by `renew()`. */
  url(): Secret;
  /** Grants again (a SAS about to expire, or refused as expired) and returns the new URL. */
  renew(options?: OperationOptions): Promise<Secret>;
}

export interface AccessOptions extends OperationOptions {
  readonly durationSeconds: number;
  /** Called after each revoke with the resource id and the error, if any (revocation is best effort but logged). */
  readonly onRevoked?: (resourceId: string, error?: unknown) => void;
  /**
   * Resources that already had an open grant before this operation (diskState ActiveSAS): someone
   * else's. Revoking them would end that grant too (endGetAccess ends every SAS of a resource), so
   * they are left as they were.
   */
  readonly alreadyGranted?: ReadonlySet<string>;
}

/**
 * Grants read access on each resource, runs `body`, and revokes every grant it made whatever happens
 * (success, failure or cancellation). A grant left open holds one of the family's 5 SAS slots and
 * blocks the disk ("Active SAS") — docs/azure-behaviour.md#access-sas-grants.
 */
export async function withReadAccess<T>(
  compute: ComputeApi,
  resourceIds: readonly string[],
  options: AccessOptions,
  body: (grants: ReadGrant[]) => Promise<T>,
): Promise<T> {
  const attempted: string[] = [];
  try {
    const grants: ReadGrant[] = [];
    for (const id of resourceIds) {
      let current: Secret;
      try {
        current = await compute.grantAccess(id, 'Read', options.durationSeconds, { signal: options.signal });
      } catch (error) {
        // A grant Azure refused outright was never made: revoking it would end someone else's grant
        // on the same resource. One whose answer was lost (timeout, 5xx, cancel) may exist: revoke it.
        if (!isDefiniteRefusal(error)) attempted.push(id);
        throw error;
      }
      attempted.push(id);
      grants.push({
        resourceId: id,
        url: () => current,
        renew: async (o) => {
          current = await compute.grantAccess(id, 'Read', options.durationSeconds, { signal: o?.signal ?? options.signal });
          return current;
        },
      });
    }
    return await body(grants);
  } finally {
    // Revoke without the caller's signal: a cancelled operation must still give its grants back.
    for (const id of attempted.reverse()) {
      if (options.alreadyGranted?.has(id)) {
        options.onRevoked?.(id, new Error('left open: it had a grant before this operation'));
        continue;
      }
      try {
        await compute.revokeAccess(id);
        options.onRevoked?.(id);
      } catch (error) {
        options.onRevoked?.(id, error);
      }
    }
  }
}
