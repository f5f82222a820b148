/** Errors an operation can meet, as values a user can act on. */
export class DiskDeltaError extends Error {
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
  }
}

export function isAbortError(error: unknown): boolean {
  return (
    typeof error === 'object' && error !== null && ((error as { name?: string }).name === 'AbortError' || (error as { code?: string }).code === 'ABORT_ERR')
  );
}
