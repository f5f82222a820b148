import crypto from 'node:crypto';
import https from 'node:https';
import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EmulatorContext } from './context';
import { CLEARED, diffRanges, firstEndingAfter, overwriteInPlace, PAGE, truncate, validRanges, type Extent, type RangeOut } from './extentMap';
import { readExtents } from './pageLog';
import { Crc64 } from './integrity';
import {
  afterWrite,
  checkConditions,
  checkOptionalLease,
  checkWriteLease,
  leaseHeaders,
  leaseOperation,
  leaseProperties,
  LeaseError,
  type Leasable,
} from './leases';
import { authenticate, authFailed, verifyManagedSas, type Need } from './blobAuth';
import { StorageError } from './storageError';
import type { AccessGrant, Container, ManagedDisk, ManagedSnapshot, PageBlob, StorageAccountState } from './state';

const MAX_PAGE_WRITE = 4 * 1024 * 1024;
const MAX_RANGES_PER_RESPONSE = 10_000;
const DEFAULT_VERSION = '2025-11-05';
const FOUR_TIB = 4 * 1024 ** 4;

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

export function sendStorageError(req: IncomingMessage, res: ServerResponse, err: StorageError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const requestId = crypto.randomUUID();
  if (err.status === 304) {
    // Azure's 304 carries the error code in a header and nothing else (docs/azure-behaviour.md#conditional-requests-and-leases).
    res.writeHead(304, {
      'x-ms-error-code': err.code,
      'x-ms-request-id': requestId,
      'x-ms-version': String(req.headers['x-ms-version'] ?? DEFAULT_VERSION),
      ...err.headers,
    });
    res.end();
    return;
  }
  const body =
    req.method === 'HEAD'
      ? ''
      : `<?xml version="1.0" encoding="utf-8"?><Error><Code>${err.code}</Code><Message>${xmlEscape(err.message)}\nRequestId:${requestId}\nTime:${new Date().toISOString()}</Message></Error>`;
  res.writeHead(err.status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    'x-ms-error-code': err.code,
    'x-ms-request-id': requestId,
    'x-ms-version': String(req.headers['x-ms-version'] ?? DEFAULT_VERSION),
    ...err.headers,
  });
  res.end(body);
}

/** The page blob a request addresses, whether in a storage account or behind a disk/snapshot SAS. */
interface BlobView {
  readonly key: string;
  readonly account: string;
  readonly managed: boolean;
  readonly writable: boolean;
  readonly size: number;
  readonly extents: Extent[];
  readonly etag: string;
  readonly lastModified: number;
  readonly created: number;
  readonly sequenceNumber: number;
  readonly contentType: string;
  readonly familyId?: string;
  readonly snapshot?: string;
  /** the blob whose lease governs this view (storage-account base blobs only) */
  readonly leased?: Leasable;
  /** a managed snapshot's blob reads as the completed incremental copy Azure made of it */
  readonly incrementalCopy?: { id: string; completed: number; destinationSnapshot: string };
  touch(): void;
}

function blobView(ctx: EmulatorContext, account: string, container: string, blob: PageBlob, snapshot?: string): BlobView {
  const key = `${account}/${container}/${blob.name}`;
  if (snapshot !== undefined) {
    const s = blob.snapshots.find((x) => x.snapshot === snapshot);
    if (!s) throw new StorageError(404, 'BlobNotFound', 'The specified blob does not exist.');
    return {
      key,
      account,
      managed: false,
      writable: false,
      size: s.size,
      extents: s.extents,
      etag: blob.etag,
      lastModified: s.created,
      created: blob.created,
      sequenceNumber: blob.sequenceNumber,
      contentType: blob.contentType,
      snapshot,
      touch() {},
    };
  }
  return {
    key,
    account,
    managed: false,
    writable: true,
    get size() {
      return blob.size;
    },
    get extents() {
      return blob.extents;
    },
    get etag() {
      return blob.etag;
    },
    get lastModified() {
      return blob.lastModified;
    },
    created: blob.created,
    get sequenceNumber() {
      return blob.sequenceNumber;
    },
    contentType: blob.contentType,
    leased: blob,
    touch() {
      blob.lastModified = ctx.now();
      blob.etag = `"0x${crypto.randomBytes(7).toString('hex').toUpperCase()}"`;
      afterWrite(blob, ctx.now());
      ctx.markDirty();
    },
  };
}

function managedView(ctx: EmulatorContext, grant: AccessGrant): BlobView {
  const key = grant.resourceId;
  if (grant.kind === 'snapshot') {
    const s = ctx.state.snapshots[grant.resourceId];
    if (!s) throw new StorageError(404, 'BlobNotFound', 'The specified blob does not exist.');
    return {
      key,
      account: grant.account,
      managed: true,
      writable: false,
      size: s.sizeBytes + 512,
      extents: s.extents,
      etag: `"0x${Buffer.from(s.uniqueId.slice(0, 7)).toString('hex').toUpperCase()}"`,
      lastModified: s.timeCreated,
      created: s.timeCreated,
      sequenceNumber: 0,
      contentType: 'application/octet-stream',
      familyId: s.familyId,
      snapshot: grant.snapshotTime,
      incrementalCopy: { id: s.uniqueId, completed: s.timeCreated, destinationSnapshot: grant.snapshotTime ?? new Date(s.timeCreated).toISOString() },
      touch() {},
    };
  }
  const d = ctx.state.disks[grant.resourceId];
  if (!d) throw new StorageError(404, 'BlobNotFound', 'The specified blob does not exist.');
  const disk: ManagedDisk = d;
  disk.blobEtag ??= newEtag();
  disk.blobLastModified ??= disk.timeCreated;
  return {
    key,
    account: grant.account,
    managed: true,
    writable: grant.access === 'Write',
    size: disk.sizeBytes + 512,
    get extents() {
      return disk.extents;
    },
    get etag() {
      return disk.blobEtag!;
    },
    get lastModified() {
      return disk.blobLastModified!;
    },
    created: disk.timeCreated,
    sequenceNumber: 0,
    contentType: 'application/octet-stream',
    familyId: disk.familyId,
    touch() {
      disk.blobEtag = newEtag();
      disk.blobLastModified = ctx.now();
      ctx.markDirty();
    },
  };
}

function parseRange(value: string | undefined): { start: number; end: number } | undefined {
  if (!value) return undefined;
  const m = /^bytes=(\d+)-(\d*)$/.exec(value.trim());
  if (!m) throw new StorageError(416, 'InvalidRange', 'The range specified is invalid for the current size of the resource.');
  return { start: Number(m[1]), end: m[2] === '' ? Number.MAX_SAFE_INTEGER : Number(m[2]) };
}

function pageRangeHeader(req: IncomingMessage): { start: number; end: number } {
  const r = parseRange(String(req.headers['x-ms-range'] ?? req.headers.range ?? ''));
  if (!r) throw new StorageError(400, 'MissingRequiredHeader', "An HTTP header that's mandatory for this request is not specified.");
  return r;
}

/** Azure: pages are 512 bytes; a page write starts at a multiple of 512 and ends at one less. */
function checkPageRange(r: { start: number; end: number }, size: number): void {
  if (r.start % PAGE !== 0 || (r.end + 1) % PAGE !== 0 || r.end < r.start || r.end >= size) {
    throw new StorageError(416, 'InvalidPageRange', 'The page range specified is invalid.');
  }
}

function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    req.resume();
    if (req.readableEnded) resolve();
    req.on('end', () => resolve());
    req.on('error', () => resolve());
    req.on('close', () => resolve());
  });
}

function snapshotTimestamp(ctx: EmulatorContext, taken: ReadonlySet<string>): string {
  let ms = ctx.now();
  for (;;) {
    const iso = new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z');
    if (!taken.has(iso)) return iso;
    ms += 1;
  }
}

// ---------------------------------------------------------------- operations

interface Operation {
  name: string;
  need: Need;
  blobLevel: boolean;
}

function classify(req: IncomingMessage, url: URL, hasContainer: boolean, hasBlob: boolean): Operation {
  const method = req.method ?? 'GET';
  const comp = url.searchParams.get('comp') ?? '';
  const restype = url.searchParams.get('restype') ?? '';
  if (!hasContainer) {
    if (method === 'GET' && comp === 'list') return { name: 'ListContainers', need: 'l', blobLevel: false };
    if (restype === 'account' && comp === 'properties') return { name: 'GetAccountInfo', need: 'r', blobLevel: false };
    if (restype === 'service' && comp === 'properties') return { name: 'GetServiceProperties', need: 'r', blobLevel: false };
    throw new StorageError(400, 'UnsupportedHttpVerb', "The resource doesn't support specified Http Verb.");
  }
  if (!hasBlob) {
    if (method === 'GET' && comp === 'list') return { name: 'ListBlobs', need: 'l', blobLevel: false };
    if (restype === 'container') {
      if (method === 'PUT' && !comp) return { name: 'CreateContainer', need: 'c', blobLevel: false };
      if (method === 'DELETE') return { name: 'DeleteContainer', need: 'd', blobLevel: false };
      if ((method === 'GET' || method === 'HEAD') && !comp) return { name: 'GetContainerProperties', need: 'r', blobLevel: false };
    }
    throw new StorageError(400, 'UnsupportedHttpVerb', "The resource doesn't support specified Http Verb.");
  }
  if (method === 'PUT') {
    if (comp === 'page') {
      if (String(req.headers['x-ms-page-write'] ?? '').toLowerCase() === 'clear') return { name: 'ClearPages', need: 'w', blobLevel: true };
      if (req.headers['x-ms-copy-source']) return { name: 'PutPageFromURL', need: 'w', blobLevel: true };
      return { name: 'PutPage', need: 'w', blobLevel: true };
    }
    if (comp === 'properties') return { name: 'SetBlobProperties', need: 'w', blobLevel: true };
    if (comp === 'metadata') return { name: 'SetBlobMetadata', need: 'w', blobLevel: true };
    if (comp === 'snapshot') return { name: 'SnapshotBlob', need: 'c', blobLevel: true };
    if (comp === 'lease') return { name: 'LeaseBlob', need: 'w', blobLevel: true };
    if (!comp) return { name: 'PutBlob', need: 'c', blobLevel: true };
  }
  if (method === 'GET' && comp === 'pagelist') {
    const diff = url.searchParams.has('prevsnapshot') || req.headers['x-ms-previous-snapshot-url'] !== undefined;
    return { name: diff ? 'GetPageRangesDiff' : 'GetPageRanges', need: 'r', blobLevel: true };
  }
  if (method === 'GET' && !comp) return { name: 'GetBlob', need: 'r', blobLevel: true };
  if (method === 'HEAD' && !comp) return { name: 'GetBlobProperties', need: 'r', blobLevel: true };
  if (method === 'DELETE' && !comp) return { name: 'DeleteBlob', need: 'd', blobLevel: true };
  throw new StorageError(400, 'UnsupportedHttpVerb', "The resource doesn't support specified Http Verb.");
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function handleBlobRequest(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const parts = url.pathname.split('/').slice(1);
  const accountName = decodeURIComponent(parts[0] ?? '');
  const containerName = decodeURIComponent(parts[1] ?? '');
  const blobName = parts.slice(2).map(decodeURIComponent).join('/');
  // Azure echoes the client's request id on every answer, errors included.
  const clientRequestId = req.headers['x-ms-client-request-id'];
  if (typeof clientRequestId === 'string' && clientRequestId.length <= 1024) res.setHeader('x-ms-client-request-id', clientRequestId);
  try {
    const op = classify(req, url, containerName !== '', blobName !== '');
    ctx.countRequest(op.name);
    const { grant, account } = authenticate(ctx, req, url, op, accountName, containerName, blobName);
    if (op.blobLevel) {
      const stop = await injectFaults(ctx, req, res, `${accountName}/${containerName}/${blobName}`, op);
      if (stop) return;
    }
    if (grant) await managedOperation(ctx, req, res, url, op, managedView(ctx, grant));
    else await accountOperation(ctx, req, res, url, op, account!, containerName, blobName);
  } catch (err) {
    if (err instanceof StorageError || err instanceof LeaseError) {
      await drainIfUnread(req);
      sendStorageError(req, res, err instanceof LeaseError ? new StorageError(err.status, err.code, err.message) : err);
    } else throw err;
  }
}

async function drainIfUnread(req: IncomingMessage): Promise<void> {
  if (!req.readableEnded && (req.method === 'PUT' || req.method === 'POST')) await drain(req);
}

function requestBytes(req: IncomingMessage, op: Operation): number {
  if (op.name === 'PutPage') return Number(req.headers['content-length'] ?? 0);
  if (op.name === 'PutPageFromURL' || op.name === 'GetBlob') {
    const r = parseRangeSafe(String(req.headers['x-ms-range'] ?? req.headers['x-ms-source-range'] ?? req.headers.range ?? ''));
    return r ? r.end - r.start + 1 : 0;
  }
  return 0;
}

function parseRangeSafe(v: string): { start: number; end: number } | undefined {
  try {
    const r = parseRange(v);
    return r && r.end !== Number.MAX_SAFE_INTEGER ? r : undefined;
  } catch {
    return undefined;
  }
}

/** Returns true when the request was consumed by a fault. */
async function injectFaults(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, blobKey: string, op: Operation): Promise<boolean> {
  const s = ctx.faults.settings;
  if (s.latency > 0) await sleep(s.latency);
  const cap = ctx.faults.overCap(blobKey, requestBytes(req, op));
  if (cap) {
    ctx.faults.count(cap);
    throw new StorageError(503, 'ServerBusy', cap === 'rps' ? 'Operations per second is over the blob limit.' : 'Ingress is over the blob limit.', {
      'retry-after': '1',
    });
  }
  const kind = ctx.faults.pick();
  if (!kind) return false;
  ctx.faults.count(kind);
  switch (kind) {
    case 'busy':
      throw new StorageError(503, 'ServerBusy', 'The server is currently unable to receive requests. Please retry your request.', { 'retry-after': '1' });
    case 'internal':
      if (ctx.faults.chance(0.5)) throw new StorageError(500, 'InternalError', 'The server encountered an internal error. Please retry the request.');
      throw new StorageError(500, 'OperationTimedOut', 'The operation could not be completed within the permitted time.', { 'retry-after': '1' });
    case 'sasexpiry':
      throw authFailed('Signed expiry time has to be after signed start time and the current time.');
    case 'reset':
      await drainIfUnread(req);
      res.socket?.destroy();
      return true;
    case 'stall':
      await sleep(s.stallms);
      res.socket?.destroy();
      return true;
  }
  return false;
}

// ---------------------------------------------------------------- account-level and container operations

function commonHeaders(req: IncomingMessage): Record<string, string> {
  return {
    'x-ms-request-id': crypto.randomUUID(),
    'x-ms-version': String(req.headers['x-ms-version'] ?? DEFAULT_VERSION),
    date: new Date().toUTCString(),
  };
}

function sendXml(req: IncomingMessage, res: ServerResponse, status: number, xml: string, extra: Record<string, string> = {}): void {
  const body = `<?xml version="1.0" encoding="utf-8"?>${xml}`;
  res.writeHead(status, { ...commonHeaders(req), 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

function sendEmpty(req: IncomingMessage, res: ServerResponse, status: number, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...commonHeaders(req), 'content-length': '0', ...extra });
  res.end();
}

function newEtag(): string {
  return `"0x${crypto.randomBytes(7).toString('hex').toUpperCase()}"`;
}

async function accountOperation(
  ctx: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  op: Operation,
  account: StorageAccountState,
  containerName: string,
  blobName: string,
): Promise<void> {
  const q = url.searchParams;
  switch (op.name) {
    case 'GetAccountInfo':
      return sendEmpty(req, res, 200, { 'x-ms-sku-name': 'Standard_LRS', 'x-ms-account-kind': 'StorageV2' });
    case 'GetServiceProperties':
      return sendXml(req, res, 200, '<StorageServiceProperties></StorageServiceProperties>');
    case 'ListContainers': {
      const prefix = q.get('prefix') ?? '';
      const items = Object.values(account.containers)
        .filter((c) => c.name.startsWith(prefix))
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map(
          (c) =>
            `<Container><Name>${xmlEscape(c.name)}</Name><Properties><Last-Modified>${httpDate(c.created)}</Last-Modified><Etag>${c.etag}</Etag><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><HasImmutabilityPolicy>false</HasImmutabilityPolicy><HasLegalHold>false</HasLegalHold></Properties></Container>`,
        )
        .join('');
      return sendXml(
        req,
        res,
        200,
        `<EnumerationResults ServiceEndpoint="${ctx.origin}/${account.name}/"><Prefix>${xmlEscape(prefix)}</Prefix><Containers>${items}</Containers><NextMarker/></EnumerationResults>`,
      );
    }
    case 'CreateContainer': {
      if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(containerName))
        throw new StorageError(400, 'InvalidResourceName', 'The specifed resource name contains invalid characters.');
      if (account.containers[containerName]) throw new StorageError(409, 'ContainerAlreadyExists', 'The specified container already exists.');
      const c: Container = { name: containerName, created: ctx.now(), etag: newEtag(), blobs: {} };
      account.containers[containerName] = c;
      ctx.markDirty();
      return sendEmpty(req, res, 201, { etag: c.etag, 'last-modified': httpDate(c.created) });
    }
  }
  const container = account.containers[containerName];
  if (!container) throw new StorageError(404, 'ContainerNotFound', 'The specified container does not exist.');
  switch (op.name) {
    case 'DeleteContainer':
      delete account.containers[containerName];
      ctx.markDirty();
      return sendEmpty(req, res, 202);
    case 'GetContainerProperties':
      return sendEmpty(req, res, 200, {
        etag: container.etag,
        'last-modified': httpDate(container.created),
        'x-ms-lease-status': 'unlocked',
        'x-ms-lease-state': 'available',
      });
    case 'ListBlobs':
      return listBlobs(ctx, req, res, url, account, container);
    case 'PutBlob':
      return putBlob(ctx, req, res, account, container, blobName);
  }
  const blob = container.blobs[blobName];
  if (!blob) throw new StorageError(404, 'BlobNotFound', 'The specified blob does not exist.');
  const snapshot = q.get('snapshot') ?? undefined;
  const now = ctx.now();
  if (snapshot === undefined) checkConditions(req, blob.etag, blob.lastModified);
  switch (op.name) {
    case 'DeleteBlob':
      if (snapshot === undefined) checkWriteLease(blob, req, now);
      return deleteBlob(ctx, req, res, container, blob, snapshot);
    case 'LeaseBlob': {
      if (snapshot !== undefined)
        throw new StorageError(400, 'InvalidQueryParameterValue', 'Value for one of the query parameters specified in the request URI is invalid.');
      const answer = leaseOperation(blob, req, now, () => crypto.randomUUID());
      ctx.markDirty();
      return sendEmpty(req, res, answer.status, { etag: blob.etag, 'last-modified': httpDate(blob.lastModified), ...answer.headers });
    }
    case 'SnapshotBlob': {
      // Snapshot Blob takes a lease id optionally; a wrong one is refused (docs/azure-behaviour.md#conditional-requests-and-leases).
      checkOptionalLease(blob, req, now);
      const taken = new Set(blob.snapshots.map((s) => s.snapshot));
      const ts = snapshotTimestamp(ctx, taken);
      // The snapshot keeps the base's metadata as it is now, or the request's x-ms-meta-* instead when any are
      // given (docs/azure-behaviour.md#blob-snapshots-as-protected-points).
      const given = metadataFrom(req);
      const metadata = Object.keys(given).length > 0 ? given : { ...blob.metadata };
      blob.snapshots.push({ snapshot: ts, size: blob.size, extents: blob.extents.slice(), created: ctx.now(), metadata });
      ctx.markDirty();
      return sendEmpty(req, res, 201, {
        'x-ms-snapshot': ts,
        etag: blob.etag,
        'last-modified': httpDate(blob.lastModified),
        'x-ms-request-server-encrypted': 'false',
      });
    }
    case 'SetBlobProperties': {
      if (snapshot) throw new StorageError(400, 'InvalidQueryParameterValue', 'Value for one of the query parameters specified in the request URI is invalid.');
      checkWriteLease(blob, req, now);
      const len = req.headers['x-ms-blob-content-length'];
      if (len !== undefined) {
        const size = Number(len);
        if (!Number.isSafeInteger(size) || size < 0 || size % PAGE !== 0) {
          throw new StorageError(400, 'InvalidHeaderValue', 'The value for one of the HTTP headers is not in the correct format.');
        }
        if (size < blob.size) blob.extents = truncate(blob.extents, size);
        blob.size = size;
      }
      const ct = req.headers['x-ms-blob-content-type'];
      if (typeof ct === 'string') blob.contentType = ct;
      blobView(ctx, account.name, container.name, blob).touch();
      return sendEmpty(req, res, 200, {
        etag: blob.etag,
        'last-modified': httpDate(blob.lastModified),
        'x-ms-blob-sequence-number': String(blob.sequenceNumber),
      });
    }
    case 'SetBlobMetadata': {
      checkWriteLease(blob, req, now);
      blob.metadata = metadataFrom(req);
      blobView(ctx, account.name, container.name, blob).touch();
      return sendEmpty(req, res, 200, { etag: blob.etag, 'last-modified': httpDate(blob.lastModified) });
    }
  }
  const view = blobView(ctx, account.name, container.name, blob, snapshot);
  if (snapshot !== undefined) checkConditions(req, view.etag, view.lastModified);
  if (op.need === 'r') {
    if (snapshot === undefined) checkOptionalLease(blob, req, now);
  } else if (snapshot === undefined) checkWriteLease(blob, req, now);
  if (op.name === 'GetBlobProperties' || op.name === 'GetBlob') {
    return readBlob(ctx, req, res, view, op.name === 'GetBlob', metadataOf(blob, snapshot));
  }
  if (op.name === 'GetPageRanges' || op.name === 'GetPageRangesDiff') {
    let prev: Extent[] | undefined;
    if (req.headers['x-ms-previous-snapshot-url'] !== undefined) {
      // Azure: the header is for managed-disk snapshots only (Get Page Ranges, REST reference).
      throw new StorageError(
        400,
        'UnsupportedHeaderForNonManagedDisksAccount',
        'The x-ms-previous-snapshot-url header is only supported for managed disk accounts.',
      );
    }
    const prevSnapshot = q.get('prevsnapshot');
    if (prevSnapshot) {
      const p = blob.snapshots.find((s) => s.snapshot === prevSnapshot);
      if (!p) throw new StorageError(409, 'PreviousSnapshotNotFound', 'The previous snapshot is not found.');
      if (view.snapshot && p.snapshot > view.snapshot)
        throw new StorageError(
          400,
          'PreviousSnapshotCannotBeNewer',
          'The prevsnapshot query parameter value cannot be newer than snapshot query parameter value.',
        );
      prev = p.extents;
    }
    return pageRanges(ctx, req, res, url, view, prev);
  }
  if (!view.writable)
    throw new StorageError(400, 'InvalidQueryParameterValue', 'Value for one of the query parameters specified in the request URI is invalid.');
  return pageWrite(ctx, req, res, op, view);
}

/** A blob's metadata, or a snapshot's own (docs/azure-behaviour.md#blob-snapshots-as-protected-points). */
function metadataOf(blob: PageBlob, snapshot: string | undefined): Record<string, string> {
  if (snapshot === undefined) return blob.metadata;
  // State saved before snapshots kept their own metadata: the base's is the best answer left.
  return blob.snapshots.find((s) => s.snapshot === snapshot)?.metadata ?? blob.metadata;
}

function metadataFrom(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (k.startsWith('x-ms-meta-') && typeof v === 'string') out[k.slice(10)] = v;
  return out;
}

async function putBlob(
  ctx: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  account: StorageAccountState,
  container: Container,
  name: string,
): Promise<void> {
  const type = String(req.headers['x-ms-blob-type'] ?? '');
  if (type !== 'PageBlob') {
    await drain(req);
    throw new StorageError(400, 'InvalidHeaderValue', 'Only page blobs are supported by this emulator (x-ms-blob-type: PageBlob).');
  }
  const size = Number(req.headers['x-ms-blob-content-length']);
  if (!Number.isSafeInteger(size) || size < 0 || size % PAGE !== 0 || size > 8 * 1024 ** 4) {
    throw new StorageError(400, 'InvalidHeaderValue', 'The value for one of the HTTP headers is not in the correct format.');
  }
  await drain(req);
  const existing = container.blobs[name];
  const now = ctx.now();
  if (existing) {
    if (req.headers['if-none-match'] === '*') throw new StorageError(409, 'BlobAlreadyExists', 'The specified blob already exists.');
    checkConditions(req, existing.etag, existing.lastModified);
    checkWriteLease(existing, req, now);
  } else if (req.headers['if-match'] !== undefined) {
    throw new StorageError(412, 'ConditionNotMet', 'The condition specified using HTTP conditional header(s) is not met.');
  } else if (req.headers['x-ms-lease-id']) {
    throw new StorageError(412, 'LeaseNotPresentWithBlobOperation', 'There is currently no lease on the blob.');
  }
  const blob: PageBlob = {
    name,
    size,
    extents: [],
    created: now,
    lastModified: now,
    etag: newEtag(),
    sequenceNumber: Number(req.headers['x-ms-blob-sequence-number'] ?? 0),
    contentType: String(req.headers['x-ms-blob-content-type'] ?? 'application/octet-stream'),
    metadata: metadataFrom(req),
    // Azure keeps the snapshots and the lease of an overwritten blob.
    snapshots: existing?.snapshots ?? [],
    lease: existing?.lease,
  };
  container.blobs[name] = blob;
  ctx.markDirty();
  void account;
  sendEmpty(req, res, 201, { etag: blob.etag, 'last-modified': httpDate(now), 'x-ms-request-server-encrypted': 'true' });
}

function deleteBlob(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, container: Container, blob: PageBlob, snapshot: string | undefined): void {
  const mode = String(req.headers['x-ms-delete-snapshots'] ?? '');
  if (snapshot) {
    const i = blob.snapshots.findIndex((s) => s.snapshot === snapshot);
    if (i < 0) throw new StorageError(404, 'BlobNotFound', 'The specified blob does not exist.');
    blob.snapshots.splice(i, 1);
  } else if (mode === 'only') {
    blob.snapshots = [];
  } else {
    if (blob.snapshots.length > 0 && mode !== 'include') {
      throw new StorageError(409, 'SnapshotsPresent', 'This operation is not permitted because the blob has snapshots.');
    }
    delete container.blobs[blob.name];
  }
  ctx.markDirty();
  sendEmpty(req, res, 202, { 'x-ms-delete-type-permanent': 'true' });
}

function listBlobs(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, url: URL, account: StorageAccountState, container: Container): void {
  const q = url.searchParams;
  const prefix = q.get('prefix') ?? '';
  const include = (q.get('include') ?? '').split(',');
  const withSnapshots = include.includes('snapshots');
  const withMetadata = include.includes('metadata');
  const max = Math.min(Number(q.get('maxresults') ?? 5000) || 5000, 5000);
  const marker = q.get('marker') ?? '';
  interface Row {
    sort: string;
    xml: string;
  }
  const rows: Row[] = [];
  const now = ctx.now();
  const leaseXml = (b: Leasable | undefined): string => {
    const p = b ? leaseProperties(b, now) : { status: 'unlocked', state: 'available', duration: undefined };
    return `<LeaseStatus>${p.status}</LeaseStatus><LeaseState>${p.state}</LeaseState>${p.duration ? `<LeaseDuration>${p.duration}</LeaseDuration>` : ''}`;
  };
  const props = (size: number, created: number, modified: number, etag: string, seq: number, ct: string, leased?: Leasable): string =>
    `<Properties><Creation-Time>${httpDate(created)}</Creation-Time><Last-Modified>${httpDate(modified)}</Last-Modified><Etag>${etag}</Etag><Content-Length>${size}</Content-Length><Content-Type>${xmlEscape(ct)}</Content-Type><x-ms-blob-sequence-number>${seq}</x-ms-blob-sequence-number><BlobType>PageBlob</BlobType>${leaseXml(leased)}<ServerEncrypted>true</ServerEncrypted></Properties>`;
  for (const b of Object.values(container.blobs)) {
    if (!b.name.startsWith(prefix)) continue;
    const metaXml = (m: Record<string, string>): string =>
      withMetadata
        ? `<Metadata>${Object.entries(m)
            .map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`)
            .join('')}</Metadata>`
        : '';
    const meta = metaXml(b.metadata);
    if (withSnapshots) {
      for (const s of b.snapshots) {
        rows.push({
          sort: `${b.name}\u0000${s.snapshot}`,
          xml: `<Blob><Name>${xmlEscape(b.name)}</Name><Snapshot>${s.snapshot}</Snapshot>${props(s.size, b.created, s.created, b.etag, b.sequenceNumber, b.contentType)}${metaXml(metadataOf(b, s.snapshot))}</Blob>`,
        });
      }
    }
    rows.push({
      sort: `${b.name}\u0000~`,
      xml: `<Blob><Name>${xmlEscape(b.name)}</Name>${props(b.size, b.created, b.lastModified, b.etag, b.sequenceNumber, b.contentType, b)}${meta}</Blob>`,
    });
  }
  rows.sort((a, b) => (a.sort < b.sort ? -1 : a.sort > b.sort ? 1 : 0));
  const from = marker ? rows.findIndex((r) => r.sort >= Buffer.from(marker, 'base64url').toString('utf8')) : 0;
  const page = from < 0 ? [] : rows.slice(from, from + max);
  const next = from >= 0 && from + max < rows.length ? Buffer.from(rows[from + max]!.sort, 'utf8').toString('base64url') : '';
  sendXml(
    req,
    res,
    200,
    `<EnumerationResults ServiceEndpoint="${ctx.origin}/${account.name}/" ContainerName="${xmlEscape(container.name)}"><Prefix>${xmlEscape(prefix)}</Prefix><MaxResults>${max}</MaxResults><Blobs>${page.map((r) => r.xml).join('')}</Blobs>${next ? `<NextMarker>${next}</NextMarker>` : '<NextMarker/>'}</EnumerationResults>`,
  );
}

// ---------------------------------------------------------------- page blob data

async function readBlob(
  ctx: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  view: BlobView,
  withBody: boolean,
  metadata: Record<string, string>,
): Promise<void> {
  const headers: Record<string, string> = {
    ...commonHeaders(req),
    'x-ms-blob-type': 'PageBlob',
    'content-type': view.contentType,
    etag: view.etag,
    'last-modified': httpDate(view.lastModified),
    'x-ms-creation-time': httpDate(view.created),
    'x-ms-blob-sequence-number': String(view.sequenceNumber),
    'accept-ranges': 'bytes',
    'x-ms-server-encrypted': 'true',
    ...(view.leased ? leaseHeaders(view.leased, ctx.now()) : { 'x-ms-lease-status': 'unlocked', 'x-ms-lease-state': 'available' }),
  };
  if (view.incrementalCopy) {
    // A managed snapshot's blob is the result of Azure's incremental copy (docs/azure-behaviour.md#page-blobs).
    const c = view.incrementalCopy;
    headers['x-ms-incremental-copy'] = 'true';
    headers['x-ms-copy-status'] = 'success';
    headers['x-ms-copy-id'] = c.id;
    headers['x-ms-copy-progress'] = `${view.size}/${view.size}`;
    headers['x-ms-copy-completion-time'] = httpDate(c.completed);
    headers['x-ms-copy-destination-snapshot'] = c.destinationSnapshot;
  }
  for (const [k, v] of Object.entries(metadata)) headers[`x-ms-meta-${k}`] = v;
  if (!withBody) {
    res.writeHead(200, { ...headers, 'content-length': String(view.size) });
    res.end();
    return;
  }
  const range = parseRange(String(req.headers['x-ms-range'] ?? req.headers.range ?? '') || undefined);
  let start = 0;
  let end = view.size;
  let status = 200;
  if (range) {
    if (range.start >= view.size) {
      throw new StorageError(416, 'InvalidRange', 'The range specified is invalid for the current size of the resource.', {
        'content-range': `bytes */${view.size}`,
      });
    }
    start = range.start;
    end = Math.min(view.size, range.end + 1);
    status = 206;
    headers['content-range'] = `bytes ${start}-${end - 1}/${view.size}`;
  }
  const extents = view.extents;
  const wantMd5 = String(req.headers['x-ms-range-get-content-md5'] ?? '').toLowerCase() === 'true';
  const wantCrc = String(req.headers['x-ms-range-get-content-crc64'] ?? '').toLowerCase() === 'true';
  if (wantMd5 || wantCrc) {
    // Azure hashes a range of at most 4 MiB on request; without a range or beyond 4 MiB it refuses
    // (docs/azure-behaviour.md#integrity-headers).
    if (!range || end - start > MAX_PAGE_WRITE) {
      throw new StorageError(
        400,
        'OutOfRangeInput',
        'The specified range is larger than the maximum allowed for a range read with a content hash (4 MiB), or no range was given.',
      );
    }
    const body = await readExtents(ctx.log, ctx.synthetic, extents, start, end, firstEndingAfter(extents, start));
    if (wantMd5) headers['content-md5'] = crypto.createHash('md5').update(body).digest('base64');
    else headers['x-ms-content-crc64'] = new Crc64().update(body).base64();
    res.writeHead(status, { ...headers, 'content-length': String(body.length) });
    ctx.countRead(view.key, body.length);
    res.end(body);
    return;
  }
  res.writeHead(status, { ...headers, 'content-length': String(end - start) });
  // Small chunks keep memory flat when hundreds of 4 MiB reads run at once.
  const CHUNK = 256 * 1024;
  for (let pos = start; pos < end; pos += CHUNK) {
    const to = Math.min(end, pos + CHUNK);
    const chunk = await readExtents(ctx.log, ctx.synthetic, extents, pos, to, firstEndingAfter(extents, pos));
    if (!res.write(chunk)) await writable(res);
    if (res.destroyed) return;
  }
  ctx.countRead(view.key, end - start);
  res.end();
}

/**
 * Waits until `res` takes more data or closes. Both listeners go once either fires: leaving the other one
 * behind piled a listener per paused chunk onto the socket's response (MaxListenersExceededWarning on
 * every read of 4 MiB or more).
 */
function writable(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function pageRanges(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, url: URL, view: BlobView, prev: Extent[] | undefined): void {
  const q = url.searchParams;
  const window = parseRange(String(req.headers['x-ms-range'] ?? req.headers.range ?? '') || undefined);
  if (window && window.start >= view.size) {
    // A window starting past the end is refused, not answered empty (docs/azure-behaviour.md#listing-page-ranges-and-diffs).
    throw new StorageError(416, 'InvalidRange', 'The range specified is invalid for the current size of the resource.');
  }
  let from = window ? window.start : 0;
  const to = window ? Math.min(view.size, window.end + 1) : view.size;
  if (window && (window.start % PAGE !== 0 || (window.end !== Number.MAX_SAFE_INTEGER && (window.end + 1) % PAGE !== 0))) {
    throw new StorageError(416, 'InvalidPageRange', 'The page range specified is invalid.');
  }
  const marker = q.get('marker');
  if (marker) {
    const m = /^v1:(\d+)$/.exec(Buffer.from(marker, 'base64url').toString('utf8'));
    if (!m) throw new StorageError(400, 'OutOfRangeInput', 'One of the request inputs is out of range.');
    from = Math.max(from, Number(m[1]));
  }
  const version = String(req.headers['x-ms-version'] ?? DEFAULT_VERSION);
  const asked = q.get('maxresults') ? Number(q.get('maxresults')) : undefined;
  // Azure pages Get Page Ranges at 10,000 ranges from 2020-10-02 on (REST reference, "marker").
  const limit = version >= '2020-10-02' ? Math.min(asked ?? MAX_RANGES_PER_RESPONSE, MAX_RANGES_PER_RESPONSE) : (asked ?? Infinity);
  // One range more than the page holds tells whether a NextMarker is due; the walk stops there.
  const want = limit === Infinity ? Infinity : limit + 1;
  const list: RangeOut[] = prev ? diffRanges(prev, view.extents, from, to, want) : validRanges(view.extents, from, to, want);
  let page = list.slice(0, limit);
  let next = list.length > limit ? Buffer.from(`v1:${list[limit]!.start}`).toString('base64url') : '';
  if (page.length > 0 && ctx.faults.chance(ctx.faults.settings.partialpage)) {
    // A listing that ran long: fewer ranges than asked, possibly none, and a marker where it stopped
    // (docs/azure-behaviour.md#listing-page-ranges-and-diffs). An answer with no ranges is given only
    // where the listing passed over empty pages, so following the markers always moves forward.
    // Half of the cuts that may leave no range do.
    const canBeEmpty = page[0]!.start > from;
    const keep = canBeEmpty && ctx.faults.chance(0.5) ? 0 : Math.max(ctx.faults.below(page.length), canBeEmpty ? 0 : 1);
    if (keep < page.length) {
      ctx.faults.count(keep === 0 ? 'partialpageEmpty' : 'partialpage');
      next = Buffer.from(`v1:${page[keep]!.start}`).toString('base64url');
      page = page.slice(0, keep);
    }
  }
  const xml = page
    .map((r) =>
      r.clear
        ? `<ClearRange><Start>${r.start}</Start><End>${r.end - 1}</End></ClearRange>`
        : `<PageRange><Start>${r.start}</Start><End>${r.end - 1}</End></PageRange>`,
    )
    .join('');
  sendXml(req, res, 200, `<PageList>${xml}${next ? `<NextMarker>${next}</NextMarker>` : ''}</PageList>`, {
    etag: view.etag,
    'last-modified': httpDate(view.lastModified),
    'x-ms-blob-content-length': String(view.size),
  });
}

async function pageWrite(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, op: Operation, view: BlobView): Promise<void> {
  const r = pageRangeHeader(req);
  checkPageRange(r, view.size);
  const length = r.end - r.start + 1;
  const integrity: Record<string, string> = {};
  if (op.name === 'ClearPages') {
    await drain(req);
    const token = ctx.state.clearCursor;
    ctx.state.clearCursor += length;
    overwriteInPlace(view.extents, r.start, r.end + 1, { src: CLEARED, delta: token - r.start });
    ctx.countClear(view.key, length);
  } else if (op.name === 'PutPage') {
    if (length > MAX_PAGE_WRITE) throw new StorageError(413, 'RequestBodyTooLarge', 'The request body is too large and exceeds the maximum permissible limit.');
    const declared = Number(req.headers['content-length'] ?? -1);
    if (declared !== length) throw new StorageError(400, 'InvalidHeaderValue', 'The value for one of the HTTP headers is not in the correct format.');
    // Integrity headers sent with the body are checked before the pages change (docs/azure-behaviour.md#integrity-headers).
    const md5Sent = typeof req.headers['content-md5'] === 'string' ? req.headers['content-md5'] : undefined;
    const crcSent = typeof req.headers['x-ms-content-crc64'] === 'string' ? req.headers['x-ms-content-crc64'] : undefined;
    const md5 = md5Sent !== undefined ? crypto.createHash('md5') : undefined;
    // Azure answers the CRC64 it computed whenever no Content-MD5 was sent.
    const crc = md5Sent === undefined || crcSent !== undefined ? new Crc64() : undefined;
    const { pos, received } = await ctx.log.appendStream(req, length, (c) => {
      md5?.update(c);
      crc?.update(c);
    });
    if (received !== length) throw new StorageError(400, 'InvalidHeaderValue', 'The value for one of the HTTP headers is not in the correct format.');
    if (md5 && md5.digest('base64') !== md5Sent) {
      throw new StorageError(400, 'Md5Mismatch', 'The MD5 value specified in the request did not match with the MD5 value calculated by the server.');
    }
    if (crc && crcSent !== undefined && crc.base64() !== crcSent) {
      throw new StorageError(400, 'Crc64Mismatch', 'The CRC64 value specified in the request did not match with the CRC64 value calculated by the server.');
    }
    if (md5Sent !== undefined) integrity['content-md5'] = md5Sent;
    else if (crc) integrity['x-ms-content-crc64'] = crc.base64();
    overwriteInPlace(view.extents, r.start, r.end + 1, { src: 0, delta: pos - r.start });
    ctx.countWrite(view.account, view.key, length);
  } else {
    await drain(req);
    if (length > MAX_PAGE_WRITE) throw new StorageError(413, 'RequestBodyTooLarge', 'The request body is too large and exceeds the maximum permissible limit.');
    const source = parseRange(String(req.headers['x-ms-source-range'] ?? ''));
    if (!source || source.end - source.start + 1 !== length) {
      throw new StorageError(400, 'InvalidHeaderValue', 'The value for one of the HTTP headers is not in the correct format.');
    }
    const copySource = String(req.headers['x-ms-copy-source']);
    if (isManagedSasUrl(copySource) && ctx.faults.chance(ctx.faults.settings.incrementalsource)) {
      // Azure can refuse a managed snapshot's SAS as a Put Page From URL source (docs/azure-behaviour.md#put-page-from-url-sources).
      ctx.faults.count('incrementalsource');
      throw new StorageError(409, 'CopySourceCannotBeIncrementalCopyBlob', 'Source blob of a copy operation cannot be non-snapshot incremental copy blob.');
    }
    const pos = await fetchSourceRange(ctx, copySource, source.start, source.end);
    overwriteInPlace(view.extents, r.start, r.end + 1, { src: 0, delta: pos - r.start });
    ctx.countWrite(view.account, view.key, length);
  }
  view.touch();
  sendEmpty(req, res, 201, {
    etag: view.etag,
    'last-modified': httpDate(ctx.now()),
    'x-ms-blob-sequence-number': String(view.sequenceNumber),
    // Clear Pages stores nothing, and Azure's answer to it has no encryption flag.
    ...(op.name === 'ClearPages' ? {} : { 'x-ms-request-server-encrypted': 'true' }),
    ...integrity,
  });
}

function isManagedSasUrl(source: string): boolean {
  try {
    return new URL(source).pathname.startsWith('/md-');
  } catch {
    return false;
  }
}

/** Put Page From URL: reads the source range over HTTPS like Azure does, straight into the page log. */
function fetchSourceRange(ctx: EmulatorContext, source: string, start: number, end: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let u: URL;
    try {
      u = new URL(source);
    } catch {
      reject(new StorageError(400, 'InvalidHeaderValue', 'The value for one of the HTTP headers is not in the correct format.'));
      return;
    }
    const length = end - start + 1;
    const lib = u.protocol === 'https:' ? https : http;
    const request = lib.request(
      u,
      {
        method: 'GET',
        headers: { 'x-ms-range': `bytes=${start}-${end}`, 'x-ms-version': '2021-08-06' },
        ca: u.protocol === 'https:' ? ctx.caPem : undefined,
        timeout: 120_000,
      },
      (response) => {
        const status = response.statusCode ?? 500;
        if (status !== 200 && status !== 206) {
          const code = String(response.headers['x-ms-error-code'] ?? 'Unknown');
          response.resume();
          reject(
            new StorageError(
              status >= 500 ? status : status === 404 ? 404 : 403,
              'CannotVerifyCopySource',
              `The source request failed with status ${status} (${code}).`,
            ),
          );
          return;
        }
        ctx.log
          .appendStream(response, length)
          .then(({ pos, received }) => {
            if (received !== length) reject(new StorageError(500, 'CannotVerifyCopySource', 'The source returned fewer bytes than requested.'));
            else resolve(pos);
          })
          .catch((e: unknown) => reject(e instanceof StorageError ? e : new StorageError(500, 'CannotVerifyCopySource', 'The source read failed.')));
      },
    );
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => reject(new StorageError(500, 'CannotVerifyCopySource', 'Could not read the copy source.')));
    request.end();
  });
}

// ---------------------------------------------------------------- managed disk and snapshot SAS

async function managedOperation(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, url: URL, op: Operation, view: BlobView): Promise<void> {
  checkConditions(req, view.etag, view.lastModified);
  if (op.name === 'GetBlob' || op.name === 'GetBlobProperties') return readBlob(ctx, req, res, view, op.name === 'GetBlob', {});
  if (op.name === 'GetPageRanges' || op.name === 'GetPageRangesDiff') {
    let prev: Extent[] | undefined;
    if (url.searchParams.has('prevsnapshot')) throw new StorageError(409, 'PreviousSnapshotNotFound', 'The previous snapshot is not found.');
    const header = req.headers['x-ms-previous-snapshot-url'];
    if (header !== undefined) prev = previousSnapshotExtents(ctx, String(header), view);
    return pageRanges(ctx, req, res, url, view, prev);
  }
  return pageWrite(ctx, req, res, op, view);
}

function previousSnapshotExtents(ctx: EmulatorContext, prevUrl: string, view: BlobView): Extent[] {
  let u: URL;
  try {
    u = new URL(prevUrl);
  } catch {
    throw new StorageError(400, 'InvalidHeaderValue', 'The value for one of the HTTP headers is not in the correct format.');
  }
  const parts = u.pathname.split('/').slice(1).map(decodeURIComponent);
  const grant = verifyManagedSas(ctx, u, parts[0] ?? '', parts[1] ?? '', parts.slice(2).join('/'));
  const prev = grant.kind === 'snapshot' ? ctx.state.snapshots[grant.resourceId] : undefined;
  if (!prev) throw new StorageError(409, 'PreviousSnapshotNotFound', 'The previous snapshot is not found.');
  if (!prev.familyId || prev.familyId !== view.familyId) {
    // Both snapshots must belong to one incremental snapshot family (docs/azure-behaviour.md#listing-page-ranges-and-diffs).
    throw new StorageError(
      409,
      'PreviousSnapshotOperationNotSupported',
      'The previous snapshot is not an earlier snapshot of the same incremental snapshot family.',
    );
  }
  const cur = view.size - 512;
  if (prev.sizeBytes > FOUR_TIB !== cur > FOUR_TIB) {
    throw new StorageError(
      409,
      'PreviousSnapshotOperationNotSupported',
      'The disk was resized across the 4 TB boundary between the two snapshots; a differential is not available. Copy the later snapshot in full.',
    );
  }
  if (view.lastModified < prev.timeCreated && view.managed && view.snapshot) {
    throw new StorageError(400, 'PreviousSnapshotCannotBeNewer', 'The previous snapshot cannot be newer than the snapshot.');
  }
  return prev.extents;
}

export function snapshotOf(ctx: EmulatorContext, id: string): ManagedSnapshot | undefined {
  return ctx.state.snapshots[id];
}
