/**
 * Blob-service authentication as Azure checks it: Shared Key (the account key signing the canonical request),
 * account and service SAS (the account key signing the SAS fields), and the disk/snapshot access SAS that
 * grantAccess hands out (signed for one grant, read-only or writable, for page-blob operations only).
 */
import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { EmulatorContext } from './context';
import type { AccessGrant, StorageAccountState } from './state';
import { StorageError } from './storageError';

/** The permission an operation needs: read, write, delete, list, create. */
export type Need = 'r' | 'w' | 'd' | 'l' | 'c';

/** What authentication looks at in an operation. */
export interface AuthorizedOperation {
  readonly name: string;
  readonly need: Need;
  readonly blobLevel: boolean;
}

/** Who a request acts as: a disk/snapshot grant (`md-` accounts) or a storage account. */
export interface Authenticated {
  readonly grant?: AccessGrant;
  readonly account?: StorageAccountState;
}

/** Page-blob operations a disk or snapshot access SAS allows. */
const MANAGED_OPERATIONS = ['PutPage', 'PutPageFromURL', 'ClearPages', 'GetPageRanges', 'GetPageRangesDiff', 'GetBlob', 'GetBlobProperties'];

/** Authenticates and authorizes one request, or throws the StorageError Azure answers with. */
export function authenticate(
  ctx: EmulatorContext,
  req: IncomingMessage,
  url: URL,
  op: AuthorizedOperation,
  accountName: string,
  containerName: string,
  blobName: string,
): Authenticated {
  if (accountName.startsWith('md-')) {
    const grant = verifyManagedSas(ctx, url, accountName, containerName, blobName);
    if (op.need !== 'r' && grant.access !== 'Write') {
      throw new StorageError(403, 'AuthorizationPermissionMismatch', 'This request is not authorized to perform this operation using this permission.');
    }
    if (!op.blobLevel || !MANAGED_OPERATIONS.includes(op.name)) {
      throw new StorageError(403, 'AuthorizationPermissionMismatch', 'This request is not authorized to perform this operation using this permission.');
    }
    return { grant };
  }
  const account = ctx.state.accounts[accountName];
  if (!account) throw new StorageError(404, 'ResourceNotFound', 'The specified resource does not exist.');
  const authorization = req.headers.authorization;
  if (authorization) verifySharedKey(req, url, account, authorization);
  else if (url.searchParams.has('sig')) {
    const sp = verifySas(ctx, url, account, containerName, blobName);
    if (!permits(sp, op.need)) {
      throw new StorageError(403, 'AuthorizationPermissionMismatch', 'This request is not authorized to perform this operation using this permission.');
    }
  } else if (op.blobLevel) {
    // Azure hides blobs of private containers from anonymous requests behind a 404.
    throw new StorageError(404, 'ResourceNotFound', 'The specified resource does not exist.');
  } else
    throw new StorageError(
      401,
      'NoAuthenticationInformation',
      'Server failed to authenticate the request. Please refer to the information in the www-authenticate header.',
    );
  return { account };
}

function hmac(key: string, text: string): string {
  return crypto.createHmac('sha256', Buffer.from(key, 'base64')).update(text, 'utf8').digest('base64');
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

const AUTH_FAILED = 'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.';

export function authFailed(detail?: string): StorageError {
  return new StorageError(403, 'AuthenticationFailed', detail ? `${AUTH_FAILED}\n${detail}` : AUTH_FAILED);
}

/** Shared Key, as the storage SDK signs it; path-style URLs carry the account twice in the canonical resource. */
function verifySharedKey(req: IncomingMessage, url: URL, account: StorageAccountState, authorization: string): void {
  const m = /^SharedKey ([^:]+):(.+)$/.exec(authorization);
  if (!m || m[1] !== account.name) throw authFailed();
  const h = (name: string): string => {
    const v = req.headers[name];
    const s = Array.isArray(v) ? v.join(',') : (v ?? '');
    return name === 'content-length' && s === '0' ? '' : s;
  };
  const msHeaders = Object.keys(req.headers)
    .filter((k) => k.startsWith('x-ms-'))
    .sort()
    .map((k) => `${k}:${h(k).trim()}\n`)
    .join('');
  const queries = [...url.searchParams.keys()].map((k) => k.toLowerCase());
  const uniq = [...new Set(queries)].sort();
  const queryPart = uniq.map((k) => `\n${k}:${url.searchParams.getAll(k).join(',')}`).join('');
  const rawPath = url.pathname;
  const withoutAccount = rawPath.startsWith(`/${account.name}`) ? rawPath.slice(account.name.length + 1) || '/' : rawPath;
  const head = [
    req.method ?? 'GET',
    h('content-language'),
    h('content-encoding'),
    h('content-length'),
    h('content-md5'),
    h('content-type'),
    h('date'),
    h('if-modified-since'),
    h('if-match'),
    h('if-none-match'),
    h('if-unmodified-since'),
    h('range'),
  ].join('\n');
  for (const p of [rawPath, withoutAccount]) {
    const toSign = `${head}\n${msHeaders}/${account.name}${p}${queryPart}`;
    if (safeEqual(hmac(account.key, toSign), m[2]!)) return;
  }
  throw authFailed('The MAC signature found in the HTTP request is not the same as any computed signature.');
}

function verifySas(ctx: EmulatorContext, url: URL, account: StorageAccountState, container: string, blob: string): string {
  const q = url.searchParams;
  const sig = q.get('sig') ?? '';
  const sv = q.get('sv') ?? '';
  const se = q.get('se') ?? '';
  const st = q.get('st') ?? '';
  const sp = q.get('sp') ?? '';
  let toSign: string;
  if (q.has('ss') || q.has('srt')) {
    toSign = [
      account.name,
      sp,
      q.get('ss') ?? '',
      q.get('srt') ?? '',
      st,
      se,
      q.get('sip') ?? '',
      q.get('spr') ?? '',
      sv,
      ...(sv >= '2020-12-06' ? [q.get('ses') ?? ''] : []),
      '',
    ].join('\n');
  } else {
    const sr = q.get('sr') ?? '';
    const resource = sr === 'c' ? `/blob/${account.name}/${container}` : `/blob/${account.name}/${container}/${blob}`;
    toSign = [
      sp,
      st,
      se,
      resource,
      q.get('si') ?? '',
      q.get('sip') ?? '',
      q.get('spr') ?? '',
      sv,
      sr,
      q.get('snapshot') ?? '',
      q.get('ses') ?? '',
      q.get('rscc') ?? '',
      q.get('rscd') ?? '',
      q.get('rsce') ?? '',
      q.get('rscl') ?? '',
      q.get('rsct') ?? '',
    ].join('\n');
  }
  if (!safeEqual(hmac(account.key, toSign), sig)) throw authFailed('Signature did not match.');
  const now = ctx.now();
  if (!se || Date.parse(se) < now) throw authFailed(`Signed expiry time [${se}] must be after signed start time and the current time.`);
  if (st && Date.parse(st) > now + 15 * 60_000) throw authFailed('Signature not valid in the specified time frame.');
  return sp;
}

/** The disk/snapshot SAS signs the grant id, the path and, for a snapshot, its `snapshot` parameter. */
export function managedSasSignature(grant: AccessGrant, sv: string, sr: string): string {
  const toSign = [grant.account, grant.container, 'abcd', grant.snapshotTime ?? '', grant.id, sv, sr].join('\n');
  return hmac(grant.key, toSign);
}

export function verifyManagedSas(ctx: EmulatorContext, url: URL, account: string, container: string, blob: string): AccessGrant {
  const q = url.searchParams;
  const grant = ctx.state.grants[q.get('si') ?? ''];
  if (!grant || grant.account !== account || grant.container !== container || blob !== 'abcd') {
    throw authFailed('The specified signed identifier does not exist.');
  }
  const snapshot = q.get('snapshot') ?? '';
  const expected = managedSasSignature({ ...grant, snapshotTime: snapshot || undefined }, q.get('sv') ?? '', q.get('sr') ?? '');
  if (!safeEqual(expected, q.get('sig') ?? '') || (grant.snapshotTime ?? '') !== snapshot) throw authFailed('Signature did not match.');
  if (grant.expiresAt <= ctx.now()) throw authFailed('Signature not valid in the specified time frame.');
  return grant;
}

function permits(sp: string, need: Need): boolean {
  if (need === 'c') return sp.includes('c') || sp.includes('w');
  return sp.includes(need);
}
