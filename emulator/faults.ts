/**
 * Fault injection on the page-blob data plane: the failures a copy engine meets at Azure's per-blob
 * scale targets (500 requests/s, 60 MiB/s; docs/azure-behaviour.md#scale-targets-of-one-page-blob).
 */
export interface FaultSettings {
  busy: number;
  internal: number;
  reset: number;
  stall: number;
  sasexpiry: number;
  latency: number;
  rps: number;
  mibps: number;
  stallms: number;
  seed: number;
  /** probability that a CopyStart ends with copyCompletionError */
  copyfail: number;
  /** probability that Put Page From URL from a disk/snapshot SAS is refused with 409 CopySourceCannotBeIncrementalCopyBlob */
  incrementalsource: number;
  /** probability that a Get Page Ranges answer is cut short (even to no ranges) with a NextMarker */
  partialpage: number;
  /** seconds a new CopyStart reports completionPercent 0 before it jumps to 100 (docs/azure-behaviour.md#copystart) */
  copystall: number;
  /** requests per minute each Microsoft.Compute operation group takes before 429 (docs/azure-behaviour.md#arm-throttling) */
  armthrottle: number;
}

export type FaultKind =
  | 'busy'
  | 'internal'
  | 'reset'
  | 'stall'
  | 'sasexpiry'
  | 'rps'
  | 'mibps'
  | 'copyfail'
  | 'incrementalsource'
  | 'partialpage'
  | 'partialpageEmpty'
  | 'copystall'
  | 'armthrottle';

export const NO_FAULTS: FaultSettings = {
  busy: 0,
  internal: 0,
  reset: 0,
  stall: 0,
  sasexpiry: 0,
  latency: 0,
  rps: 0,
  mibps: 0,
  stallms: 30_000,
  seed: 0,
  copyfail: 0,
  incrementalsource: 0,
  partialpage: 0,
  copystall: 0,
  armthrottle: 0,
};

const KEYS = Object.keys(NO_FAULTS) as (keyof FaultSettings)[];

export function parseFaultSpec(spec: string): FaultSettings {
  const out: FaultSettings = { ...NO_FAULTS };
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [k, v] = part.split('=');
    const key = (k ?? '').trim().toLowerCase() as keyof FaultSettings;
    const value = Number(v);
    if (!KEYS.includes(key) || v === undefined || !Number.isFinite(value) || value < 0) {
      throw new Error(`invalid fault setting "${part}" (keys: ${KEYS.join(', ')})`);
    }
    out[key] = value;
  }
  return out;
}

export function mergeFaults(current: FaultSettings, patch: Record<string, unknown>): FaultSettings {
  const out: FaultSettings = { ...NO_FAULTS, stallms: current.stallms, seed: current.seed };
  for (const [k, v] of Object.entries(patch)) {
    const key = k.toLowerCase() as keyof FaultSettings;
    if (!KEYS.includes(key) || typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`invalid fault setting "${k}"`);
    out[key] = v;
  }
  return out;
}

/** mulberry32: a small seeded PRNG so a fault run can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0 || 0x2545f491;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Window {
  second: number;
  requests: number;
  bytes: number;
}

export class FaultInjector {
  settings: FaultSettings;
  #random: () => number;
  readonly #windows = new Map<string, Window>();
  readonly injected: Record<string, number> = {};

  constructor(settings: FaultSettings) {
    this.settings = settings;
    this.#random = settings.seed ? seededRandom(settings.seed) : Math.random;
  }

  replace(settings: FaultSettings): void {
    this.settings = settings;
    this.#random = settings.seed ? seededRandom(settings.seed) : Math.random;
  }

  chance(p: number): boolean {
    return p > 0 && this.#random() < p;
  }

  /** A whole number in [0, n), from the same (seeded) sequence as the faults. */
  below(n: number): number {
    return Math.min(n - 1, Math.floor(this.#random() * n));
  }

  count(kind: FaultKind): void {
    this.injected[kind] = (this.injected[kind] ?? 0) + 1;
  }

  /** The random fault (if any) for one data-plane request, in a fixed order of precedence. */
  pick(): FaultKind | undefined {
    const s = this.settings;
    for (const kind of ['stall', 'reset', 'busy', 'internal', 'sasexpiry'] as const) {
      if (s[kind] > 0 && this.#random() < s[kind]) return kind;
    }
    return undefined;
  }

  /** Per-blob caps: true when this request goes beyond the blob's requests/s or MiB/s. */
  overCap(blobKey: string, bytes: number): 'rps' | 'mibps' | undefined {
    const { rps, mibps } = this.settings;
    if (!rps && !mibps) return undefined;
    const second = Math.floor(Date.now() / 1000);
    let w = this.#windows.get(blobKey);
    if (!w || w.second !== second) {
      w = { second, requests: 0, bytes: 0 };
      this.#windows.set(blobKey, w);
      if (this.#windows.size > 10_000) this.#windows.clear();
    }
    if (rps && w.requests + 1 > rps) return 'rps';
    if (mibps && w.bytes > 0 && w.bytes + bytes > mibps * 1024 * 1024) return 'mibps';
    w.requests += 1;
    w.bytes += bytes;
    return undefined;
  }
}
