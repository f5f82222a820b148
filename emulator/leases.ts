/**
 * Blob leases and conditional headers, as the Blob service applies them
 * (docs/azure-behaviour.md#conditional-requests-and-leases).
 *
 * A lease is kept on the blob as a small record; its state (available, leased, expired, breaking,
 * broken) is computed from that record and the emulator's clock, so moving the clock
 * (`POST /emulator/clock`) expires leases and ends break periods as time passing would.
 */
import type { IncomingMessage } from 'node:http';

export class LeaseError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface LeaseRecord {
  id: string;
  /** seconds; -1 = infinite */
  duration: number;
  /** end of a fixed-duration lease (emulator clock, ms) */
  expiresAt?: number;
  /** end of the break period of a lease being broken (emulator clock, ms) */
  breakEndsAt?: number;
}

export type LeaseState = 'available' | 'leased' | 'expired' | 'breaking' | 'broken';

/** What a blob with a lease looks like to this module. */
export interface Leasable {
  lease?: LeaseRecord;
}

export function leaseState(blob: Leasable, now: number): LeaseState {
  const l = blob.lease;
  if (!l) return 'available';
  if (l.breakEndsAt !== undefined) return now >= l.breakEndsAt ? 'broken' : 'breaking';
  if (l.duration > 0 && l.expiresAt !== undefined && now >= l.expiresAt) return 'expired';
  return 'leased';
}

function isActive(state: LeaseState): boolean {
  return state === 'leased' || state === 'breaking';
}

/** The lease headers of Get Blob / Get Blob Properties (and the XML of List Blobs). */
export function leaseProperties(blob: Leasable, now: number): { status: 'locked' | 'unlocked'; state: LeaseState; duration?: 'infinite' | 'fixed' } {
  const state = leaseState(blob, now);
  const status = isActive(state) ? 'locked' : 'unlocked';
  const duration = state === 'leased' ? (blob.lease!.duration < 0 ? 'infinite' : 'fixed') : undefined;
  return { status, state, duration };
}

export function leaseHeaders(blob: Leasable, now: number): Record<string, string> {
  const p = leaseProperties(blob, now);
  return { 'x-ms-lease-status': p.status, 'x-ms-lease-state': p.state, ...(p.duration ? { 'x-ms-lease-duration': p.duration } : {}) };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function invalidHeader(name: string): LeaseError {
  return new LeaseError(400, 'InvalidHeaderValue', `The value for one of the HTTP headers is not in the correct format. (${name})`);
}

const NOT_PRESENT_LEASE_OP = (): LeaseError => new LeaseError(409, 'LeaseNotPresentWithLeaseOperation', 'There is currently no lease on the blob.');
const MISMATCH_LEASE_OP = (): LeaseError =>
  new LeaseError(409, 'LeaseIdMismatchWithLeaseOperation', 'The lease ID specified did not match the lease ID for the blob.');

/**
 * Before a write, a metadata change, a resize or a delete: an active lease needs its id; an id sent
 * where there is no active lease is refused too (Lease Blob, REST reference).
 */
export function checkWriteLease(blob: Leasable, req: IncomingMessage, now: number): void {
  const given = header(req, 'x-ms-lease-id');
  const state = leaseState(blob, now);
  if (isActive(state)) {
    if (given === undefined || given === '') {
      throw new LeaseError(412, 'LeaseIdMissing', 'There is currently a lease on the blob and no lease ID was specified in the request.');
    }
    if (given.toLowerCase() !== blob.lease!.id.toLowerCase()) {
      throw new LeaseError(412, 'LeaseIdMismatchWithBlobOperation', 'The lease ID specified did not match the lease ID for the blob.');
    }
    return;
  }
  if (given !== undefined && given !== '') {
    if (state === 'expired') throw new LeaseError(412, 'LeaseLost', 'A lease ID was specified, but the lease for the blob has expired.');
    throw new LeaseError(412, 'LeaseNotPresentWithBlobOperation', 'There is currently no lease on the blob.');
  }
}

/** Reads and Snapshot Blob take a lease id optionally: when sent, it must be the active lease's. */
export function checkOptionalLease(blob: Leasable, req: IncomingMessage, now: number): void {
  const given = header(req, 'x-ms-lease-id');
  if (given === undefined || given === '') return;
  checkWriteLease(blob, req, now);
}

/** A write to a blob whose lease has expired ends that lease: it can no longer be renewed. */
export function afterWrite(blob: Leasable, now: number): void {
  if (leaseState(blob, now) === 'expired') delete blob.lease;
}

export interface LeaseAnswer {
  status: number;
  headers: Record<string, string>;
}

/** Lease Blob (`comp=lease`): acquire 201, renew/change/release 200, break 202. */
export function leaseOperation(blob: Leasable, req: IncomingMessage, now: number, newId: () => string): LeaseAnswer {
  const action = (header(req, 'x-ms-lease-action') ?? '').toLowerCase();
  const given = header(req, 'x-ms-lease-id');
  const proposed = header(req, 'x-ms-proposed-lease-id');
  const state = leaseState(blob, now);
  const current = blob.lease;
  const same = (id: string | undefined): boolean => id !== undefined && current !== undefined && id.toLowerCase() === current.id.toLowerCase();
  switch (action) {
    case 'acquire': {
      const raw = header(req, 'x-ms-lease-duration');
      const duration = Number(raw);
      if (raw === undefined || !Number.isInteger(duration) || !(duration === -1 || (duration >= 15 && duration <= 60)))
        throw invalidHeader('x-ms-lease-duration');
      if (proposed !== undefined && !GUID.test(proposed)) throw invalidHeader('x-ms-proposed-lease-id');
      if (state === 'leased' && !same(proposed)) throw new LeaseError(409, 'LeaseAlreadyPresent', 'There is already a lease present.');
      if (state === 'breaking') {
        if (same(proposed)) {
          throw new LeaseError(
            409,
            'LeaseIsBreakingAndCannotBeAcquired',
            'The lease ID matched, but the lease is currently in breaking state and cannot be acquired until it is broken.',
          );
        }
        throw new LeaseError(409, 'LeaseAlreadyPresent', 'There is already a lease present.');
      }
      const id = proposed ?? newId();
      blob.lease = { id, duration, expiresAt: duration > 0 ? now + duration * 1000 : undefined };
      return { status: 201, headers: { 'x-ms-lease-id': id } };
    }
    case 'renew': {
      if (!given) throw new LeaseError(400, 'MissingRequiredHeader', "An HTTP header that's mandatory for this request is not specified. (x-ms-lease-id)");
      if (state === 'available') throw NOT_PRESENT_LEASE_OP();
      if (!same(given)) throw MISMATCH_LEASE_OP();
      if (state === 'breaking')
        throw new LeaseError(
          409,
          'LeaseIsBreakingAndCannotBeChanged',
          'The lease ID matched, but the lease is currently in breaking state and cannot be changed.',
        );
      if (state === 'broken')
        throw new LeaseError(409, 'LeaseIsBrokenAndCannotBeRenewed', 'The lease ID matched, but the lease has been broken explicitly and cannot be renewed.');
      current!.expiresAt = current!.duration > 0 ? now + current!.duration * 1000 : undefined;
      return { status: 200, headers: { 'x-ms-lease-id': current!.id } };
    }
    case 'change': {
      if (!given) throw new LeaseError(400, 'MissingRequiredHeader', "An HTTP header that's mandatory for this request is not specified. (x-ms-lease-id)");
      if (proposed === undefined)
        throw new LeaseError(400, 'MissingRequiredHeader', "An HTTP header that's mandatory for this request is not specified. (x-ms-proposed-lease-id)");
      if (!GUID.test(proposed)) throw invalidHeader('x-ms-proposed-lease-id');
      if (state !== 'leased' && state !== 'breaking') throw NOT_PRESENT_LEASE_OP();
      // The current id changes it; proposing the id it already has (a repeated change) is accepted too.
      if (!same(given) && !same(proposed)) throw MISMATCH_LEASE_OP();
      if (state === 'breaking')
        throw new LeaseError(
          409,
          'LeaseIsBreakingAndCannotBeChanged',
          'The lease ID matched, but the lease is currently in breaking state and cannot be changed.',
        );
      current!.id = proposed;
      return { status: 200, headers: { 'x-ms-lease-id': proposed } };
    }
    case 'release': {
      if (!given) throw new LeaseError(400, 'MissingRequiredHeader', "An HTTP header that's mandatory for this request is not specified. (x-ms-lease-id)");
      if (state === 'available') throw NOT_PRESENT_LEASE_OP();
      if (!same(given)) throw MISMATCH_LEASE_OP();
      delete blob.lease;
      return { status: 200, headers: {} };
    }
    case 'break': {
      const raw = header(req, 'x-ms-lease-break-period');
      let period: number | undefined;
      if (raw !== undefined) {
        period = Number(raw);
        if (!Number.isInteger(period) || period < 0 || period > 60) throw invalidHeader('x-ms-lease-break-period');
      }
      if (state === 'available') throw NOT_PRESENT_LEASE_OP();
      const l = current!;
      if (state === 'broken' || state === 'expired') {
        l.breakEndsAt = Math.min(l.breakEndsAt ?? now, now);
        return { status: 202, headers: { 'x-ms-lease-time': '0' } };
      }
      // The lease stays until the break period or its own end, whichever comes first.
      const remaining = state === 'breaking' ? l.breakEndsAt! - now : l.duration < 0 ? Infinity : l.expiresAt! - now;
      const wait = Math.max(0, Math.min(remaining, period !== undefined ? period * 1000 : l.duration < 0 ? 0 : remaining));
      l.breakEndsAt = now + wait;
      return { status: 202, headers: { 'x-ms-lease-time': String(Math.ceil(wait / 1000)) } };
    }
    default:
      throw invalidHeader('x-ms-lease-action');
  }
}

// ---------------------------------------------------------------- conditional headers

function etagValue(s: string): string {
  const t = s.trim();
  return t.startsWith('W/') ? t.slice(2).replace(/^"|"$/g, '') : t.replace(/^"|"$/g, '');
}

function etagMatches(list: string, etag: string): boolean {
  const want = etagValue(etag);
  return list.split(',').some((x) => x.trim() === '*' || etagValue(x) === want);
}

/**
 * If-Match / If-Unmodified-Since / If-None-Match / If-Modified-Since, in RFC 7232's order. A read
 * (GET, HEAD) that fails If-None-Match or If-Modified-Since answers 304 with `x-ms-error-code:
 * ConditionNotMet`; every other failure is 412 ConditionNotMet (docs/azure-behaviour.md#conditional-requests-and-leases).
 */
export function checkConditions(req: IncomingMessage, etag: string, lastModified: number): void {
  const read = req.method === 'GET' || req.method === 'HEAD';
  const failed = (soft: boolean): LeaseError =>
    new LeaseError(soft && read ? 304 : 412, 'ConditionNotMet', 'The condition specified using HTTP conditional header(s) is not met.');
  // Azure keeps Last-Modified to the second, as HTTP dates are.
  const modifiedSecond = Math.floor(lastModified / 1000) * 1000;
  const ifMatch = header(req, 'if-match');
  if (ifMatch !== undefined && !etagMatches(ifMatch, etag)) throw failed(false);
  const ifUnmodified = header(req, 'if-unmodified-since');
  if (ifUnmodified !== undefined) {
    const t = Date.parse(ifUnmodified);
    if (Number.isFinite(t) && modifiedSecond > t) throw failed(false);
  }
  const ifNoneMatch = header(req, 'if-none-match');
  if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, etag)) throw failed(true);
  const ifModified = header(req, 'if-modified-since');
  if (ifModified !== undefined) {
    const t = Date.parse(ifModified);
    if (Number.isFinite(t) && modifiedSecond <= t) throw failed(true);
  }
}
