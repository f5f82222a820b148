/**
 * Checks for cross-region copies against the emulator: byte identity of a target blob snapshot (or a
 * restored disk) with its source over the whole disk and VHD footer, the expected write volume and
 * request count of a copy, and what a copy journal file says was done.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AzureClients } from '../../src/azure';
import type { DiffRange, PageRange } from '../../src/core/model';
import type { PageSource } from '../../src/core/ports';
import type { RunningEmulator } from './emulator';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const PAGE = 512;
export const MAX_CHUNK = 4 * MiB;

/** What `disk-delta copy --json` prints per snapshot: exactly these fields. */
export interface CopySummaryJson {
  bytesCopied: number;
  bytesCleared: number;
  bytesRelayed: number;
  requests: number;
  retries: number;
  seconds: number;
  targetBlobSnapshotUrl: string;
  importedResourceId: string | null;
  /** bytesCopied plus the unchanged gaps coalesced writes rewrote */
  bytesMoved: number;
  changedBytes: number;
  coalescedGaps: number;
  bound: 'requests' | 'bytes' | null;
  /** bytes the verification hashed; verifySeed: the seed of a sample:<percent> verification */
  verifiedBytes: number;
  verifySeed: number | null;
}

export const SUMMARY_FIELDS = [
  'bound',
  'bytesCleared',
  'bytesCopied',
  'bytesMoved',
  'bytesRelayed',
  'changedBytes',
  'coalescedGaps',
  'importedResourceId',
  'requests',
  'retries',
  'seconds',
  'targetBlobSnapshotUrl',
  'verifiedBytes',
  'verifySeed',
];

/** The last non-empty line of stdout, parsed: the summary contract of `copy --json`. */
export function lastJsonLine<T>(stdout: string): T {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as T;
}

export function assertSummaryShape(s: CopySummaryJson): void {
  assert.deepEqual(Object.keys(s).sort(), SUMMARY_FIELDS, 'summary fields');
  for (const k of ['bytesCopied', 'bytesCleared', 'bytesRelayed', 'requests', 'retries', 'seconds'] as const) assert.equal(typeof s[k], 'number', k);
  assert.match(s.targetBlobSnapshotUrl, /^https:\/\/[^?]+\?snapshot=[^&]+$/, 'a blob snapshot URL');
  assert.doesNotMatch(s.targetBlobSnapshotUrl, /sig=/, 'no SAS in the URL');
}

/** Reads through a Read grant on a snapshot or disk, always revoked. */
export async function withReadGrant<T>(clients: AzureClients, id: string, use: (source: PageSource) => Promise<T>): Promise<T> {
  const url = await clients.compute.grantAccess(id, 'Read', 600);
  try {
    return await use(clients.dataPlane.openSas(url));
  } finally {
    await clients.compute.revokeAccess(id);
  }
}

/** A reader over a target blob snapshot named by the URL `copy --json` printed (account key access). */
export async function targetSnapshotSource(clients: AzureClients, subscriptionId: string, url: string): Promise<PageSource> {
  const u = new URL(url);
  const [accountName, container, ...blob] = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const snapshot = u.searchParams.get('snapshot');
  assert.ok(accountName && container && blob.length && snapshot, `a blob snapshot URL: ${url}`);
  const account = (await clients.compute.listStorageAccounts(subscriptionId)).find((a) => a.name === accountName);
  assert.ok(account, `storage account ${accountName}`);
  const store = await clients.dataPlane.targetStore(account, container);
  return store.blob(blob.join('/')).snapshotSource(snapshot);
}

/**
 * Asserts two page sources hold the same bytes over the whole blob (disk + footer), comparing both sides
 * in 4 MiB chunks read a few at a time.
 */
export async function assertSameBytes(a: PageSource, b: PageSource, what: string, options: { diskOnly?: boolean } = {}): Promise<void> {
  const [blobA, sizeB] = await Promise.all([a.size(), b.size()]);
  assert.equal(sizeB, blobA, `${what}: sizes`);
  // A disk restored from a copy gets its own VHD footer (it names the new disk): compare the disk's bytes, check the footer's form.
  const sizeA = options.diskOnly ? blobA - PAGE : blobA;
  if (options.diskOnly) {
    const footer = Buffer.from(await b.read(sizeA, PAGE));
    assert.equal(footer.toString('ascii', 0, 8), 'conectix', `${what}: a VHD footer`);
  }
  const chunks: number[] = [];
  for (let at = 0; at < sizeA; at += MAX_CHUNK) chunks.push(at);
  const mismatches: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const at = chunks[next++]!;
      const n = Math.min(MAX_CHUNK, sizeA - at);
      const [x, y] = await Promise.all([a.read(at, n), b.read(at, n)]);
      assert.equal(x.length, n, `${what}: short read at ${at}`);
      if (!Buffer.from(x).equals(Buffer.from(y))) mismatches.push(at);
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  assert.deepEqual(
    mismatches.sort((p, q) => p - q),
    [],
    `${what}: 4 MiB chunks that differ (offsets)`,
  );
}

/** The allocated ranges of a snapshot (what a base copy moves), merged where adjacent. */
export async function allocatedRanges(clients: AzureClients, snapshotId: string): Promise<PageRange[]> {
  return withReadGrant(clients, snapshotId, async (src) => {
    const size = await src.size();
    const out: PageRange[] = [];
    for await (const r of src.listRanges({ offset: 0, length: size })) {
      const prev = out[out.length - 1];
      if (prev && prev.offset + prev.length === r.offset) out[out.length - 1] = { offset: prev.offset, length: prev.length + r.length };
      else out.push({ offset: r.offset, length: r.length });
    }
    return out;
  });
}

/** The fewest Put Page From URL requests that write `ranges` in chunks of at most 4 MiB. */
export function minimumPutRequests(ranges: readonly PageRange[]): number {
  return ranges.reduce((n, r) => n + Math.ceil(r.length / MAX_CHUNK), 0);
}

export function sumLength(ranges: readonly PageRange[]): number {
  return ranges.reduce((n, r) => n + r.length, 0);
}

export function changed(ranges: readonly DiffRange[]): PageRange[] {
  return ranges.filter((r) => r.kind === 'changed');
}

/** Key of a blob in the emulator's per-blob counters. */
export function blobKey(url: string): string {
  const u = new URL(url);
  return u.pathname.split('/').filter(Boolean).map(decodeURIComponent).join('/');
}

/** No grant open anywhere: the emulator's count and every disk's and snapshot's state. */
export async function assertNoActiveSas(em: RunningEmulator, clients: AzureClients, when: string): Promise<void> {
  const stats = await em.getStats();
  assert.equal(stats.activeSasGrants, 0, `an access grant is still open after ${when}`);
  const sub = em.connection.subscriptionId;
  for await (const s of clients.compute.listSnapshots(sub)) assert.notEqual(s.diskState, 'ActiveSAS', `${s.name} is ActiveSAS after ${when}`);
  for await (const d of clients.compute.listDisks(sub)) assert.notEqual(d.diskState, 'ActiveSAS', `${d.name} is ActiveSAS after ${when}`);
}

// ---- the copy journal file (format: src/core/copy/journal.ts) ----

export interface JournalRecordLine {
  readonly t: string;
  readonly o?: number;
  readonly l?: number;
  readonly w?: number;
  readonly id?: string;
  readonly p?: string;
}

/** The records of a journal file whose every line carries a valid checksum (a torn last line is dropped). */
export function readJournalRecords(file: string): JournalRecordLine[] {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const torn = lines[lines.length - 1] !== '';
  if (!torn) lines.pop();
  const out: JournalRecordLine[] = [];
  for (const [i, line] of lines.entries()) {
    let outer: { r?: JournalRecordLine; h?: string };
    try {
      outer = JSON.parse(line) as typeof outer;
    } catch {
      if (torn && i === lines.length - 1) break;
      throw new Error(`journal line ${i + 1} is not JSON`);
    }
    const h = createHash('sha256').update(JSON.stringify(outer.r)).digest('hex').slice(0, 16);
    assert.equal(outer.h, h, `journal line ${i + 1} checksum`);
    out.push(outer.r!);
  }
  return out;
}

/** Done intervals [start, end) of the journal's current step: the watermark as [0, w) plus the done records. */
export function journalDoneIntervals(records: readonly JournalRecordLine[]): Array<[number, number]> {
  let intervals: Array<[number, number]> = [];
  for (const r of records) {
    if (r.t === 'step' || r.t === 'finished') intervals = [];
    else if (r.t === 'upto' && r.w) intervals.push([0, r.w]);
    else if (r.t === 'done') {
      if (r.l) intervals.push([r.o!, r.o! + r.l]);
      if (r.w) intervals.push([0, r.w]);
    }
  }
  return mergeIntervals(intervals);
}

export function mergeIntervals(list: ReadonlyArray<[number, number]>): Array<[number, number]> {
  const sorted = [...list].filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

export function intervalBytes(list: ReadonlyArray<[number, number]>): number {
  return list.reduce((n, [a, b]) => n + b - a, 0);
}

export function overlaps(list: ReadonlyArray<[number, number]>, start: number, end: number): boolean {
  return list.some(([a, b]) => a < end && start < b);
}
