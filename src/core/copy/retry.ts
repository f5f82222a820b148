/**
 * How a data-plane request is retried: error classification, backoff honouring Retry-After, per-request
 * timeouts and an AIMD concurrency limit that keeps a copy near the target blob's request-rate cap.
 */
import { DiskDeltaError, isAbortError } from '../errors';

export type ErrorClass =
  /** The caller cancelled: stop, not an error. */
  | 'aborted'
  /** The target is at its limit (503 ServerBusy, 429, 500 OperationTimedOut): back off and lower concurrency. */
  | 'throttled'
  /** A transient fault (500 InternalError, 502/504, resets, timeouts): retry with backoff. */
  | 'transient'
  /** The source SAS was refused, most likely expired: grant again, then retry. */
  | 'sasExpired'
  /** Put Page From URL refused this source: read and Put Page instead. */
  | 'sourceRefused'
  /**
   * The endpoint cannot be reached at all (connection refused, unknown host, a certificate not trusted):
   * retrying for minutes does not change that, so it is reported at once.
   */
  | 'unreachable'
  /** Anything else: retrying will not help. */
  | 'fatal';

export interface ClassifiedError {
  readonly kind: ErrorClass;
  readonly code: string;
  readonly statusCode?: number;
  readonly retryAfterMs?: number;
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'NetworkError',
  'REQUEST_SEND_ERROR',
  'RequestTimeout',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/**
 * Node's codes for an endpoint that is not there (nothing listens, the name does not resolve) or whose TLS
 * certificate is not trusted. A storage endpoint that refuses connections is not busy: it is gone or wrong.
 */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Azure storage answers these when a blob or account is past its scale target — docs/azure-behaviour.md#page-blobs. */
const THROTTLE_CODES = new Set(['ServerBusy', 'OperationTimedOut', 'TooManyRequests']);

/** 403 codes that mean "this SAS no longer works"; Put Page From URL reports the source's 403 as CannotVerifyCopySource. */
const SAS_CODES = new Set(['AuthenticationFailed', 'CannotVerifyCopySource']);

interface ErrorShape {
  code?: unknown;
  statusCode?: unknown;
  retryAfterMs?: unknown;
  cause?: unknown;
}

function networkCode(error: unknown, codes: ReadonlySet<string>, depth = 0): string | undefined {
  if (typeof error !== 'object' || error === null || depth > 3) return undefined;
  const code = (error as ErrorShape).code;
  if (typeof code === 'string' && codes.has(code)) return code;
  return networkCode((error as ErrorShape).cause, codes, depth + 1);
}

/** The adapters keep Node's code (ECONNREFUSED) or only its message ("connect ECONNREFUSED 127.0.0.1:443"). */
function unreachableCode(error: unknown): string | undefined {
  const direct = networkCode(error, UNREACHABLE_CODES);
  if (direct) return direct;
  const message = error instanceof Error ? error.message : '';
  const code = (error as ErrorShape | null)?.code;
  if (code !== undefined && code !== 'NetworkError' && code !== 'REQUEST_SEND_ERROR' && code !== 'Unknown') return undefined;
  return [...UNREACHABLE_CODES].find((c) => message.includes(c));
}

/**
 * Reads what the adapters put on a `DiskDeltaError` (statusCode, code, retryAfterMs) - or on a raw Node
 * network error - and says what to do about it.
 */
export function classifyError(error: unknown): ClassifiedError {
  if (isAbortError(error)) return { kind: 'aborted', code: 'Aborted' };
  const e = (typeof error === 'object' && error !== null ? error : {}) as ErrorShape;
  const code = typeof e.code === 'string' ? e.code : 'Unknown';
  const statusCode = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  const retryAfterMs = typeof e.retryAfterMs === 'number' && Number.isFinite(e.retryAfterMs) && e.retryAfterMs >= 0 ? e.retryAfterMs : undefined;
  const base = { code, statusCode, retryAfterMs };
  if (statusCode === 503 || statusCode === 429 || THROTTLE_CODES.has(code)) return { kind: 'throttled', ...base };
  if (statusCode === 403 && SAS_CODES.has(code)) return { kind: 'sasExpired', ...base };
  if (statusCode === 409 && code === 'CopySourceCannotBeIncrementalCopyBlob') return { kind: 'sourceRefused', ...base };
  if (statusCode === 500 || statusCode === 502 || statusCode === 504 || statusCode === 408) return { kind: 'transient', ...base };
  const unreachable = statusCode === undefined ? unreachableCode(error) : undefined;
  if (unreachable) return { kind: 'unreachable', ...base, code: unreachable };
  const net = networkCode(error, NETWORK_CODES);
  if (net) return { kind: 'transient', ...base, code: net };
  return { kind: 'fatal', ...base };
}

export interface RetryPolicy {
  /** Attempts after the first one. */
  readonly maxRetries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** A Retry-After longer than this is capped (a stuck server should not park the copy for an hour). */
  readonly maxRetryAfterMs: number;
  /** Per-request timeout: a stalled request is aborted and retried. */
  readonly requestTimeoutMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 10,
  baseDelayMs: 250,
  maxDelayMs: 30_000,
  maxRetryAfterMs: 60_000,
  requestTimeoutMs: 20_000,
};

/** Exponential backoff with full jitter; a Retry-After from Azure is a floor, not a suggestion. */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterMs: number | undefined, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt, 20));
  const jittered = exp / 2 + random() * (exp / 2);
  if (retryAfterMs === undefined) return jittered;
  return Math.min(policy.maxRetryAfterMs, retryAfterMs) + random() * Math.min(policy.baseDelayMs, 1000);
}

/**
 * A 403 AuthenticationFailed on a request that carries no grant of ours (the target, by key or token) is
 * tried again a couple of times: the credential hands out a fresh token on the next try, and a one-off
 * refusal must not end a copy of hours (issue 9: faults include SAS expiry on any request).
 */
export const AUTH_RETRIES = 2;

/** What an operation's failure allows besides throttling and transient faults, which are always retried. */
export interface RetryScope {
  /** SAS grants the operation carries: when one is refused as expired, they are renewed and the call retried. */
  readonly grants: number;
  /** Retries of a refused SAS or token when the operation carries no grant to renew (0: such a refusal is final). */
  readonly authRetries: number;
}

/** Data-plane requests: a refusal without a grant of ours is retried `AUTH_RETRIES` times. */
export function dataPlaneScope(grants: number): RetryScope {
  return { grants, authRetries: AUTH_RETRIES };
}

/** ARM calls carry no SAS: only throttling and transient faults are retried. */
export const ARM_SCOPE: RetryScope = { grants: 0, authRetries: 0 };

export type RetryDecision =
  /** The caller cancelled: end with an AbortError. */
  | { readonly action: 'abort' }
  /** Retrying will not help, or the retries are spent: the error stands. */
  | { readonly action: 'fail' }
  /** Try again after `delayMs`, renewing the operation's SAS grants first when `renewSas`. */
  | { readonly action: 'retry'; readonly renewSas: boolean; readonly delayMs: number };

/**
 * The one decision every retried operation of the copy makes after a failed attempt: classify the error,
 * then abort, give up, or back off (honouring Retry-After) and try again, with fresh SAS grants when the
 * old ones were refused. `attempt` counts the retries already made for this operation.
 */
export function retryDecision(
  failure: ClassifiedError,
  attempt: number,
  policy: RetryPolicy,
  scope: RetryScope,
  signal: AbortSignal | undefined,
  random: () => number = Math.random,
): RetryDecision {
  if (failure.kind === 'aborted' || signal?.aborted) return { action: 'abort' };
  const sasRefused = failure.kind === 'sasExpired';
  const retryable = failure.kind === 'throttled' || failure.kind === 'transient' || (sasRefused && (scope.grants > 0 || attempt < scope.authRetries));
  if (!retryable || attempt >= policy.maxRetries) return { action: 'fail' };
  return { action: 'retry', renewSas: sasRefused && scope.grants > 0, delayMs: backoffDelay(policy, attempt, failure.retryAfterMs, random) };
}

export function abortError(): Error {
  return new DOMException('The copy was cancelled.', 'AbortError');
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}

/** setTimeout as a promise that rejects with an AbortError as soon as the signal fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `op` with its own AbortSignal that fires on the caller's cancellation or after `timeoutMs`. The
 * call is also raced against the timer, so an adapter that ignores its signal cannot hang the copy; such
 * an abandoned call is handed to `abandon` so the caller can wait for it to settle before moving on.
 */
export async function withTimeout<T>(
  op: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  abandon: (pending: Promise<unknown>) => void,
): Promise<T> {
  throwIfAborted(signal);
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(abortError());
  signal?.addEventListener('abort', onAbort, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const call = op(controller.signal);
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const err = new DiskDeltaError(`The request made no progress for ${Math.round(timeoutMs / 1000)} s and was abandoned.`, 'RequestTimeout');
      controller.abort(err);
      reject(err);
    }, timeoutMs);
  });
  const cancelled = new Promise<never>((_resolve, reject) => {
    controller.signal.addEventListener('abort', () => reject(signal?.aborted ? abortError() : (controller.signal.reason as Error)), { once: true });
  });
  try {
    return await Promise.race([call, timeout, cancelled]);
  } catch (error) {
    if (controller.signal.aborted) abandon(call.catch(() => undefined));
    throw error;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    timeout.catch(() => undefined);
    cancelled.catch(() => undefined);
  }
}

/**
 * Additive-increase / multiplicative-decrease concurrency: halve on throttling (at most once per
 * "generation" of requests, like TCP once per round trip), grow by one per window of successes, so a
 * copy settles just under a page blob's ~500 requests/s and 60 MiB/s — docs/azure-behaviour.md#page-blobs.
 */
export class AdaptiveConcurrency {
  #limit: number;
  #inFlight = 0;
  #epoch = 0;
  readonly #waiters: Array<() => void> = [];
  throttleEvents = 0;

  constructor(
    readonly max: number,
    readonly min = 1,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new DiskDeltaError(`Concurrency must be a whole number of at least 1 (got ${max}).`, 'InvalidConcurrency');
    this.#limit = max;
  }

  get limit(): number {
    return Math.max(this.min, Math.floor(this.#limit));
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Waits for a free slot; the returned ticket identifies the generation the request started in. */
  async acquire(signal?: AbortSignal): Promise<number> {
    while (this.#inFlight >= this.limit) {
      throwIfAborted(signal);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = (): void => {
          const i = this.#waiters.indexOf(wake);
          if (i >= 0) this.#waiters.splice(i, 1);
          resolve();
        };
        this.#waiters.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    throwIfAborted(signal);
    this.#inFlight += 1;
    return this.#epoch;
  }

  release(ticket: number, outcome: 'success' | 'throttled' | 'other'): void {
    this.#inFlight -= 1;
    if (outcome === 'success') {
      this.#limit = Math.min(this.max, this.#limit + 1 / Math.max(1, this.#limit));
    } else if (outcome === 'throttled' && ticket === this.#epoch) {
      this.#epoch += 1;
      this.throttleEvents += 1;
      this.#limit = Math.max(this.min, this.#limit / 2);
    }
    this.#wake();
  }

  #wake(): void {
    let free = this.limit - this.#inFlight;
    while (free > 0 && this.#waiters.length > 0) {
      this.#waiters.shift()!();
      free -= 1;
    }
  }
}

/**
 * Azure's scale targets for one standard page blob: 500 requests/s and 60 MiB/s; beyond them it answers
 * 503 ServerBusy — docs/azure-behaviour.md#page-blobs. A copy writes into one base blob, so these bound it.
 */
export const PAGE_BLOB_TARGETS = { requestsPerSecond: 500, bytesPerSecond: 60 * 1024 * 1024 } as const;

/** What copies to Azure (and the emulator, which models the same targets) are paced at: 95% of the targets. */
export const AZURE_TARGET_PACE = {
  requestsPerSecond: PAGE_BLOB_TARGETS.requestsPerSecond * 0.95,
  bytesPerSecond: PAGE_BLOB_TARGETS.bytesPerSecond * 0.95,
} as const;

/**
 * Paces requests into one blob just under its scale targets (generic cell rate algorithm, one per
 * dimension): running into the 503s and waiting out their Retry-After costs far more than arriving
 * evenly. The AIMD limiter still backs off if the real limit is lower.
 */
export class BlobPacer {
  #requestsAt = 0;
  #bytesAt = 0;
  readonly #msPerRequest: number;
  readonly #msPerByte: number;

  constructor(
    rate: { readonly requestsPerSecond: number; readonly bytesPerSecond: number },
    /** How far ahead of the even schedule a burst may run, ms. */
    private readonly toleranceMs = 20,
  ) {
    this.#msPerRequest = 1000 / rate.requestsPerSecond;
    this.#msPerByte = 1000 / rate.bytesPerSecond;
  }

  /** Reserves a request of `bytes` and returns how long to wait before sending it (ms). */
  reserve(bytes: number, now: number): number {
    const requestStart = Math.max(this.#requestsAt, now - this.toleranceMs);
    const bytesStart = Math.max(this.#bytesAt, now - this.toleranceMs);
    this.#requestsAt = requestStart + this.#msPerRequest;
    this.#bytesAt = bytesStart + bytes * this.#msPerByte;
    return Math.max(0, requestStart - now, bytesStart - now);
  }
}
