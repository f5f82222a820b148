/**
 * Microsoft.Compute's request buckets (docs/azure-behaviour.md#arm-throttling): each operation group has a
 * 3-minute and a 30-minute allowance, reported on every answer in `x-ms-ratelimit-remaining-resource`;
 * an empty bucket answers 429 with `Retry-After`. The emulator reports the counts always and refuses only
 * under the fault `armthrottle=<requests per minute>`, when each group's bucket holds that many requests
 * (operation-status reads fifty times as many) and refills at that rate.
 */

/** Operation groups as Azure names them in the header (recorded in azure-sdk-for-net, see docs). */
export type ArmOperationGroup = 'GetDisk' | 'LowCostGet' | 'GetOperation' | 'CreateUpdateDisks' | 'DeleteDisks' | 'HighCostSnapshotCreateHydrate';

/** Azure's default allowances per 3 minutes, as the recordings show them (remaining count + 1). */
const DEFAULT_3MIN: Record<ArmOperationGroup, number> = {
  GetDisk: 15_000,
  LowCostGet: 15_000,
  GetOperation: 50_000,
  CreateUpdateDisks: 1_000,
  DeleteDisks: 1_000,
  HighCostSnapshotCreateHydrate: 1_000,
};
/** The 30-minute allowance is eight times the 3-minute one in the recordings (999 / 7999). */
const THIRTY_MIN_FACTOR = 8;
const THREE_MINUTES = 180_000;
const THIRTY_MINUTES = 1_800_000;

interface Bucket {
  tokens: number;
  refilledAt: number;
  windowStart30: number;
  used30: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** The header value: `Microsoft.Compute/<group>3Min;<n>,Microsoft.Compute/<group>30Min;<n>`. */
  readonly remaining: string;
  /** Seconds until a request would be taken again (when refused). */
  readonly retryAfterSeconds: number;
  readonly group: ArmOperationGroup;
}

export class ArmRateLimits {
  readonly #buckets = new Map<string, Bucket>();
  #perMinute = 0;

  /** Called on every throttled request: `armthrottle` requests per minute, 0 for Azure's defaults without refusals. */
  configure(perMinute: number): void {
    if (perMinute === this.#perMinute) return;
    this.#perMinute = perMinute;
    this.#buckets.clear();
  }

  /** Full buckets again (whenever the fault settings are replaced). */
  reset(): void {
    this.#buckets.clear();
  }

  take(group: ArmOperationGroup, now = Date.now()): RateDecision {
    const enforced = this.#perMinute > 0;
    // Under the fault every group takes the given rate, except operation-status reads, which Azure allows
    // fifty times as often as snapshot creates (50,000 against 1,000 per 3 minutes): pollers are throttled last.
    const capacity = enforced
      ? this.#perMinute * (group === 'GetOperation' ? DEFAULT_3MIN.GetOperation / DEFAULT_3MIN.HighCostSnapshotCreateHydrate : 1)
      : DEFAULT_3MIN[group];
    // Refill per millisecond: the enforced bucket refills its capacity each minute, the default one each 3 minutes.
    const rate = capacity / (enforced ? 60_000 : THREE_MINUTES);
    let b = this.#buckets.get(group);
    if (!b) {
      b = { tokens: capacity, refilledAt: now, windowStart30: now, used30: 0 };
      this.#buckets.set(group, b);
    }
    b.tokens = Math.min(capacity, b.tokens + (now - b.refilledAt) * rate);
    b.refilledAt = now;
    if (now - b.windowStart30 >= THIRTY_MINUTES) {
      b.windowStart30 = now;
      b.used30 = 0;
    }
    const thirtyCapacity = capacity * THIRTY_MIN_FACTOR;
    const header = (): string =>
      `Microsoft.Compute/${group}3Min;${Math.max(0, Math.floor(b.tokens))},Microsoft.Compute/${group}30Min;${Math.max(0, thirtyCapacity - b.used30)}`;
    if (b.tokens < 1) {
      if (!enforced) {
        // Without the fault nothing is refused; the count just stays at zero.
        b.used30 += 1;
        return { allowed: true, remaining: header(), retryAfterSeconds: 0, group };
      }
      const retryAfterSeconds = Math.max(1, Math.ceil((1 - b.tokens) / rate / 1000));
      return { allowed: false, remaining: header(), retryAfterSeconds, group };
    }
    b.tokens -= 1;
    b.used30 += 1;
    return { allowed: true, remaining: header(), retryAfterSeconds: 0, group };
  }
}
