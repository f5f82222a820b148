/**
 * Read SAS grants on managed snapshots for the length of a copy: renewed before they expire, renewed when
 * Azure refuses one as expired, and always revoked at the end. A grant never revoked holds one of the
 * family's 5 SAS slots and blocks the snapshot ("Active SAS") — docs/azure-behaviour.md#access-sas-grants.
 */
import type { ComputeApi, DataPlane, PageSource } from '../ports';
import { isAbortError } from '../errors';
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

  static async open(
    compute: ComputeApi,
    dataPlane: DataPlane,
    snapshotId: string,
    durationSeconds: number,
    now: () => number,
    signal?: AbortSignal,
  ): Promise<SasGrant> {
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

/**
 * The read grants of one chain copy, by snapshot. A step's source stays granted for the next step, which
 * diffs against it, so each snapshot is granted once per copy, not twice. Grants no longer needed are revoked
 * in the background (endGetAccess is a long-running operation); `closeAll` revokes the rest, including grants
 * whose request was cut short (Azure may have made them anyway), and waits for every revocation.
 */
export class GrantPool {
  readonly #open = new Map<string, { readonly id: string; readonly grant: Promise<SasGrant> }>();
  /** Requested, not yet confirmed granted or refused. */
  readonly #unconfirmed = new Set<string>();
  readonly #revoking = new Set<Promise<void>>();
  #failed: string[] = [];
  #closed = false;

  constructor(
    private readonly compute: ComputeApi,
    private readonly dataPlane: DataPlane,
    private readonly durationSeconds: number,
    private readonly now: () => number,
    private readonly signal?: AbortSignal,
  ) {}

  /** The grant on a snapshot, requested on first use; callers asking at once share one request. */
  get(snapshotId: string): Promise<SasGrant> {
    // Nothing is granted once the copy has revoked everything (a late read-ahead must not leave a grant open).
    if (this.#closed) return Promise.reject(new DOMException('The copy has ended; no more grants are requested.', 'AbortError'));
    const key = snapshotId.toLowerCase();
    const open = this.#open.get(key);
    if (open) return open.grant;
    this.#unconfirmed.add(snapshotId);
    const grant = SasGrant.open(this.compute, this.dataPlane, snapshotId, this.durationSeconds, this.now, this.signal).then(
      (g) => {
        this.#unconfirmed.delete(snapshotId);
        return g;
      },
      (error: unknown) => {
        // Refused: nothing to revoke, unless the request was cut short (it may have been granted).
        if (!isAbortError(error) && !this.signal?.aborted) this.#unconfirmed.delete(snapshotId);
        if (this.#open.get(key)?.grant === grant) this.#open.delete(key);
        throw error;
      },
    );
    // Whoever awaits it sees a failure; the pool itself must not raise an unhandled rejection.
    grant.catch(() => undefined);
    this.#open.set(key, { id: snapshotId, grant });
    return grant;
  }

  /** Revokes the grant on a snapshot in the background (a no-op when there is none). */
  release(snapshotId: string): void {
    const key = snapshotId.toLowerCase();
    const open = this.#open.get(key);
    if (!open) return;
    this.#open.delete(key);
    this.#revoke(open);
  }

  /** Waits until the revocations started so far are over. */
  async idle(): Promise<void> {
    while (this.#revoking.size > 0) await Promise.allSettled([...this.#revoking]);
  }

  /** Revokes everything, refuses further grants, and waits; returns the snapshots whose grant could not be revoked. */
  async closeAll(): Promise<string[]> {
    this.#closed = true;
    const open = [...this.#open.values()];
    this.#open.clear();
    for (const o of open) this.#revoke(o);
    for (const id of [...this.#unconfirmed]) {
      this.#unconfirmed.delete(id);
      this.#track(revokeAccess(this.compute, id), id);
    }
    await this.idle();
    const failed = this.#failed;
    this.#failed = [];
    return failed;
  }

  #revoke(open: { readonly id: string; readonly grant: Promise<SasGrant> }): void {
    this.#track(
      open.grant.then(
        (g) => g.revoke(),
        // A refused request holds nothing; one cut short is in #unconfirmed and revoked by closeAll.
        () => undefined,
      ),
      open.id,
    );
  }

  #track(revocation: Promise<void>, snapshotId: string): void {
    const p: Promise<void> = revocation
      .catch(() => {
        this.#failed.push(snapshotId);
      })
      .finally(() => this.#revoking.delete(p));
    this.#revoking.add(p);
  }
}

/** What a copy says about grants it could not give back. */
export function revokeFailedMessage(snapshotIds: readonly string[]): string {
  return `Could not revoke read access on ${snapshotIds.join(', ')}; it expires by itself, or use Revoke Access.`;
}
