/**
 * Read SAS grants on managed snapshots for the length of a copy: renewed before they expire, renewed when
 * Azure refuses one as expired, and always revoked at the end. A grant never revoked holds one of the
 * family's 5 SAS slots and blocks the snapshot ("Active SAS") — AZURE-FACTS "Access".
 */
import type { ComputeApi, DataPlane, PageSource } from '../ports';
import type { Secret } from '../secret';
import { backoffDelay, DEFAULT_RETRY_POLICY, sleep } from './retry';

/** Renew once this share of the grant's life is gone, leaving room for in-flight 4 MiB requests. */
const RENEW_AT = 0.75;

export class SasGrant {
  #url: Secret;
  #source: PageSource;
  #grantedAt: number;
  #generation = 0;
  #renewing: Promise<void> | undefined;
  #revoked = false;

  private constructor(
    readonly snapshotId: string,
    private readonly compute: ComputeApi,
    private readonly dataPlane: DataPlane,
    private readonly durationSeconds: number,
    private readonly now: () => number,
    url: Secret,
  ) {
    this.#url = url;
    this.#source = dataPlane.openSas(url);
    this.#grantedAt = now();
  }

  static async open(compute: ComputeApi, dataPlane: DataPlane, snapshotId: string, durationSeconds: number, now: () => number, signal?: AbortSignal): Promise<SasGrant> {
    const url = await compute.grantAccess(snapshotId, 'Read', durationSeconds, { signal });
    return new SasGrant(snapshotId, compute, dataPlane, durationSeconds, now, url);
  }

  get generation(): number {
    return this.#generation;
  }

  url(): Secret {
    return this.#url;
  }

  source(): PageSource {
    return this.#source;
  }

  /** Renews the grant when most of its life is gone; concurrent callers share one renewal. */
  async fresh(signal?: AbortSignal): Promise<void> {
    if (this.now() - this.#grantedAt >= this.durationSeconds * 1000 * RENEW_AT) await this.renew(this.#generation, signal);
  }

  /** Grants again unless someone already did since `seenGeneration` (many requests fail on one expiry). */
  async renew(seenGeneration: number, signal?: AbortSignal): Promise<void> {
    if (seenGeneration !== this.#generation) return;
    this.#renewing ??= (async () => {
      try {
        const url = await this.compute.grantAccess(this.snapshotId, 'Read', this.durationSeconds, { signal });
        this.#url = url;
        this.#source = this.dataPlane.openSas(url);
        this.#grantedAt = this.now();
        this.#generation += 1;
      } finally {
        this.#renewing = undefined;
      }
    })();
    await this.#renewing;
  }

  /**
   * endGetAccess, retried: it runs on success, failure and cancellation alike, so it ignores the copy's
   * AbortSignal. Throws only when every attempt failed.
   */
  async revoke(attempts = 5): Promise<void> {
    if (this.#revoked) return;
    await revokeAccess(this.compute, this.snapshotId, attempts);
    this.#revoked = true;
  }
}

/** endGetAccess with retries; also used for a grant whose request was cut short (Azure may have made it anyway). */
export async function revokeAccess(compute: ComputeApi, snapshotId: string, attempts = 5): Promise<void> {
  let last: unknown;
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    try {
      await compute.revokeAccess(snapshotId);
      return;
    } catch (error) {
      last = error;
      await sleep(backoffDelay({ ...DEFAULT_RETRY_POLICY, baseDelayMs: 200, maxDelayMs: 5000 }, attempt, undefined));
    }
  }
  throw last;
}
