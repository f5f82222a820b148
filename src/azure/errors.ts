import { DiskDeltaError, isAbortError } from '../core/errors';
import { redact } from '../core/secret';

interface SdkErrorLike {
  name?: string;
  message?: string;
  code?: string;
  statusCode?: number;
  details?: { errorCode?: string; error?: { code?: string; message?: string } };
  response?: { headers?: { get?(name: string): string | undefined }; status?: number; bodyAsText?: string | null };
}

/** Hints for Azure error codes a user meets; the message itself comes from Azure. */
const HINTS: Record<string, string> = {
  AuthenticationFailed: 'The SAS or key was refused or has expired; run the command again to get a fresh grant.',
  AuthorizationFailed: 'Your account lacks permission for this operation; ask for the Disk Snapshot Contributor or Contributor role.',
  ResourceNotFound: 'Refresh the list: the resource may have been deleted.',
  NotFound: 'Refresh the list: the resource may have been deleted.',
  BlobNotFound: 'The blob does not exist (yet); check the account and container.',
  ContainerNotFound: 'Create the container first or pick another one.',
  ResourceGroupNotFound: 'Create the resource group first (az group create) or pick one that exists.',
  OperationNotAllowed: "Azure refused the operation in the resource's current state; see the message for the limit or state involved.",
  TooManyRequests: 'Azure is throttling requests; wait a moment and try again.',
  ServerBusy: 'Azure storage is busy; the operation will be retried.',
  InvalidPageRange: 'Page ranges must be 512-byte aligned and at most 4 MiB per request.',
  SnapshotCountExceeded: 'Delete old snapshots of this disk before creating more.',
};

/** Turns anything the SDKs throw into a DiskDeltaError whose text is safe to show and log. */
export function toDiskDeltaError(error: unknown, context?: string): DiskDeltaError | Error {
  if (error instanceof DiskDeltaError) return error;
  if (isAbortError(error)) return error as Error;
  const e = (error ?? {}) as SdkErrorLike;
  let code = e.details?.errorCode ?? e.details?.error?.code ?? e.code ?? 'Unknown';
  let message = e.details?.error?.message ?? e.message ?? String(error);
  if ((!message || message === 'Unknown' || /^Unexpected status code/.test(message)) && e.response?.bodyAsText) {
    const m = /<Code>([^<]+)<\/Code>\s*<Message>([^<]+)/.exec(e.response.bodyAsText);
    if (m) {
      code = m[1]!;
      message = m[2]!.split('\n')[0]!;
    }
  }
  const statusCode = e.statusCode ?? e.response?.status;
  if (code === 'REQUEST_SEND_ERROR' || code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'ECONNREFUSED') {
    code = code === 'REQUEST_SEND_ERROR' ? 'NetworkError' : code;
  }
  const retryAfter = e.response?.headers?.get?.('retry-after');
  const err = new DiskDeltaError(redact(context ? `${context}: ${message}` : message), code, HINTS[code], statusCode, { cause: undefined });
  if (retryAfter !== undefined) {
    const seconds = Number(retryAfter);
    (err as DiskDeltaError & { retryAfterMs?: number }).retryAfterMs = Number.isFinite(seconds)
      ? seconds * 1000
      : Math.max(0, Date.parse(retryAfter) - Date.now());
  }
  return err;
}

/** Runs an SDK call and converts its failure. */
export async function azureCall<T>(context: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toDiskDeltaError(error, context);
  }
}
