/**
 * Marks Disk Delta's errors across bundles: the Azure layer is a bundle of its own (loaded on first use),
 * with its own copy of this class, so `instanceof` alone would not know its errors from any other.
 */
const BRAND = Symbol.for('disk-delta.error');

/** Errors an operation can meet, as values a user can act on. */
export class DiskDeltaError extends Error {
  /** An error made by any bundle's DiskDeltaError is one; subclasses keep the usual prototype check. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== DiskDeltaError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  /** How long Azure asked to wait before retrying (`Retry-After`), when it said. */
  retryAfterMs?: number;
  constructor(
    message: string,
    /** Azure error code or one of Disk Delta's own (e.g. `DifferentFamilies`). */
    readonly code: string,
    /** What to do next, one sentence. */
    readonly hint?: string,
    readonly statusCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DiskDeltaError';
    Object.defineProperty(this, BRAND, { value: true });
  }
}

export function isAbortError(error: unknown): boolean {
  return (
    typeof error === 'object' && error !== null && ((error as { name?: string }).name === 'AbortError' || (error as { code?: string }).code === 'ABORT_ERR')
  );
}
