/**
 * The changed-block map's message protocol, shared by the extension host and the webview.
 *
 * Every message is a plain object with a `type`; requests from the webview carry a `requestId` that the
 * host's answer repeats. Both sides validate what they receive with the functions at the end of this
 * module and drop anything else. Bulk data travels as ArrayBuffers (VS Code webviews transfer them in
 * postMessage since 1.57); the webview only ever receives bins, summaries and capped per-cell lists,
 * never the raw range list of a diff, and never a SAS.
 */
import type { DiffKind, DiffRange } from '../core/model';

/** Azure pages are 512 bytes: the finest cell the map zooms into. */
export const PAGE_BYTES = 512;
/** Most cells one bin request may ask for (a 4K screen at 8 px cells is ~130k; larger is a bug). */
export const MAX_BINS = 262_144;
/** Most ranges listed for one cell; the host caps lower requests, never higher. */
export const MAX_CELL_RANGES = 500;
/** Longest label or message accepted in a message. */
const MAX_TEXT = 4096;
/** Most entries of the range-size histogram (power-of-two buckets, 2^0 .. 2^63 bytes). */
export const MAX_HISTOGRAM_BUCKETS = 64;

/** Most files and directories one `files` message lists (the largest by changed bytes); `total` counts them all. */
export const MAX_FILES = 5000;
/** Most changed extents listed per file: more are merged across their smallest gaps (`coarse`). */
export const MAX_FILE_EXTENTS = 64;

/** A window of the disk's address space, [offset, offset + length), in bytes. */
export interface MapWindow {
  readonly offset: number;
  readonly length: number;
}

/** What the map says about the pair of snapshots it shows. */
export interface BlockMapSummary {
  /** Size of the disk in bytes (the address space the map covers). */
  readonly diskSizeBytes: number;
  readonly changedBytes: number;
  readonly clearedBytes: number;
  /** Number of ranges, changed and cleared together. */
  readonly rangeCount: number;
  /** Length of the largest range, in bytes (0 when nothing changed). */
  readonly largestRangeBytes: number;
  /** (changed + cleared) / disk size, 0..1. */
  readonly shareOfDisk: number;
  /** `sizeHistogram[k]` = number of ranges with 2^k <= length < 2^(k+1). Up to MAX_HISTOGRAM_BUCKETS entries. */
  readonly sizeHistogram: readonly number[];
  /** When set, the last bucket counts every range of at least 2^(length - 1) bytes. */
  readonly sizeHistogramOpenEnded?: boolean;
  readonly changedRangeCount?: number;
  readonly clearedRangeCount?: number;
  /** Used size of the newer snapshot (what an incremental snapshot is billed for), when known. */
  readonly usedBytes?: number;
  /** Estimated monthly cost of the newer snapshot's used size, when known. */
  readonly monthlyCost?: { readonly amount: number; readonly currency?: string };
  /** Display names of the older and newer snapshot. */
  readonly fromLabel?: string;
  readonly toLabel?: string;
}

/** Changes between one consecutive pair of snapshots of the family. */
export interface FamilyBar {
  /** Older snapshot's display name. */
  readonly fromLabel: string;
  /** Newer snapshot's display name. */
  readonly toLabel: string;
  /** When the newer snapshot was taken (ISO 8601), if known. */
  readonly time?: string;
  readonly changedBytes: number;
  readonly clearedBytes: number;
}

export interface FamilyBars {
  readonly bars: readonly FamilyBar[];
  /** Index in `bars` of the pair the map shows, or -1 when it shows a non-consecutive pair. */
  readonly selected: number;
}

/** The ranges overlapping one cell, capped; `total` counts them all. */
export interface CellRanges {
  readonly ranges: readonly DiffRange[];
  readonly total: number;
}

/** Per-cell fraction (0..1) of the cell's bytes that changed and that were cleared. */
export interface BinnedWindow {
  readonly changed: Float32Array;
  readonly cleared: Float32Array;
}

export type ExportFormat = 'json' | 'csv';

export type FileChangeKind = 'added' | 'deleted' | 'modified' | 'metadata' | 'renamed';
const FILE_CHANGE_KINDS: readonly FileChangeKind[] = ['added', 'deleted', 'modified', 'metadata', 'renamed'];

/** One changed file or directory, as `disk-delta diff --files` names it, with where its changed bytes lie. */
export interface ChangedFile {
  readonly path: string;
  readonly change: FileChangeKind;
  readonly previousPath?: string;
  readonly changedBytes: number;
  readonly partition: number;
  readonly dir: boolean;
  /** Disk byte ranges holding the file's changed bytes, in offset order, at most MAX_FILE_EXTENTS. */
  readonly extents: readonly MapWindow[];
  /** Set when the extents were merged across gaps to fit the cap (they cover a little more than changed). */
  readonly coarse?: boolean;
}

// ---- host -> webview ----

export interface InitMessage {
  readonly type: 'init';
  readonly title: string;
  readonly diskSizeBytes: number;
  readonly restoreKey?: string;
}
export interface SummaryMessage {
  readonly type: 'summary';
  readonly summary: BlockMapSummary;
}
export interface FamilyMessage {
  readonly type: 'family';
  readonly family: FamilyBars;
}
export interface BinsMessage {
  readonly type: 'bins';
  readonly requestId: number;
  readonly window: MapWindow;
  readonly bins: number;
  /** Float32Array bytes, `bins` entries each. */
  readonly changed: ArrayBuffer;
  readonly cleared: ArrayBuffer;
}
export interface CellRangesMessage {
  readonly type: 'cellRanges';
  readonly requestId: number;
  readonly window: MapWindow;
  readonly ranges: readonly DiffRange[];
  readonly total: number;
}
export interface PairSelectedMessage {
  readonly type: 'pairSelected';
  readonly requestId: number;
  readonly index: number;
  readonly title: string;
  readonly diskSizeBytes: number;
  readonly restoreKey?: string;
}
export interface ExportDoneMessage {
  readonly type: 'exportDone';
  readonly requestId: number;
  /** 'cancelled' when the user dismissed the save dialog. */
  readonly outcome: 'saved' | 'cancelled' | 'failed';
  readonly rangeCount: number;
  readonly message: string;
}
/**
 * The Files panel's content, sent after the map's first paint: `computing` while the file diff runs,
 * then `ready` with the files ranked by changed bytes, or `unavailable` with the reason (no readable
 * filesystem, an encrypted disk, a failure).
 */
export interface FilesMessage {
  readonly type: 'files';
  readonly state: 'computing' | 'ready' | 'unavailable';
  readonly reason?: string;
  readonly files: readonly ChangedFile[];
  /** Files and directories the diff found (more than `files` holds when capped). */
  readonly total: number;
}
export interface NoticeMessage {
  readonly type: 'notice';
  readonly message: string;
}
export interface ErrorMessage {
  readonly type: 'error';
  /** The request that failed, if any. */
  readonly requestId?: number;
  readonly message: string;
}

export type ToWebviewMessage =
  | InitMessage
  | SummaryMessage
  | FamilyMessage
  | BinsMessage
  | CellRangesMessage
  | PairSelectedMessage
  | ExportDoneMessage
  | FilesMessage
  | NoticeMessage
  | ErrorMessage;

// ---- webview -> host ----

export interface ReadyMessage {
  readonly type: 'ready';
}
export interface BinRequest {
  readonly type: 'bin';
  readonly requestId: number;
  readonly window: MapWindow;
  readonly bins: number;
}
export interface CellRangesRequest {
  readonly type: 'cellRanges';
  readonly requestId: number;
  readonly window: MapWindow;
  readonly max: number;
}
export interface SelectPairRequest {
  readonly type: 'selectPair';
  readonly requestId: number;
  readonly index: number;
}
export interface ExportRequest {
  readonly type: 'export';
  readonly requestId: number;
  readonly format: ExportFormat;
}
export interface CopySummaryRequest {
  readonly type: 'copySummary';
  readonly requestId: number;
}

export type FromWebviewMessage = ReadyMessage | BinRequest | CellRangesRequest | SelectPairRequest | ExportRequest | CopySummaryRequest;

/** Which host message answers each webview request (matched by `requestId`); an `error` may answer any. */
export interface ReplyTo {
  bin: BinsMessage;
  cellRanges: CellRangesMessage;
  selectPair: PairSelectedMessage;
  export: ExportDoneMessage;
  /** Answered with a `notice` (which carries no id) or an `error`. */
  copySummary: never;
}
export type WebviewRequest = Exclude<FromWebviewMessage, ReadyMessage>;
export type HostReply = ReplyTo[keyof ReplyTo] | ErrorMessage;

/** What the webview keeps with `setState` (and the panel serializer gets back). No secrets. */
export interface BlockMapViewState {
  readonly restoreKey?: string;
  readonly title?: string;
  readonly window?: MapWindow;
  /** Offset of the selected cell's first byte. */
  readonly selectedOffset?: number;
  /** The Files panel's filter text and the file whose blocks are lit (by path). */
  readonly fileFilter?: string;
  readonly selectedFile?: string;
}

// ---- validation ----

export type Validated<T> = { readonly ok: true; readonly message: T } | { readonly ok: false; readonly reason: string };

class Invalid extends Error {}

function fail(reason: string): never {
  throw new Invalid(reason);
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${what} is not an object`);
  return value as Record<string, unknown>;
}

function count(value: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) fail(`${what} is not an integer in 0..${max}`);
  return value;
}

function finite(value: unknown, what: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) fail(`${what} is not a number in ${min}..${max}`);
  return value;
}

function text(value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length > MAX_TEXT) fail(`${what} is not a string of at most ${MAX_TEXT} characters`);
  return value;
}

function optionalText(value: unknown, what: string): string | undefined {
  return value === undefined ? undefined : text(value, what);
}

function mapWindow(value: unknown, what: string): MapWindow {
  const w = record(value, what);
  const offset = count(w.offset, `${what}.offset`);
  const length = count(w.length, `${what}.length`);
  if (length === 0) fail(`${what}.length is 0`);
  if (!Number.isSafeInteger(offset + length)) fail(`${what} ends beyond 2^53`);
  return { offset, length };
}

function diffKind(value: unknown, what: string): DiffKind {
  if (value !== 'changed' && value !== 'cleared') fail(`${what} is neither 'changed' nor 'cleared'`);
  return value;
}

function diffRanges(value: unknown, what: string): DiffRange[] {
  if (!Array.isArray(value) || value.length > MAX_CELL_RANGES) fail(`${what} is not a list of at most ${MAX_CELL_RANGES} ranges`);
  return value.map((item, i) => {
    const r = record(item, `${what}[${i}]`);
    const offset = count(r.offset, `${what}[${i}].offset`);
    const length = count(r.length, `${what}[${i}].length`);
    if (length === 0) fail(`${what}[${i}].length is 0`);
    return { offset, length, kind: diffKind(r.kind, `${what}[${i}].kind`) };
  });
}

/** The bytes of a Float32Array sent as an ArrayBuffer (or, leniently, as any typed-array view). */
function float32Bytes(value: unknown, entries: number, what: string): ArrayBuffer {
  let buffer: ArrayBuffer;
  if (value instanceof ArrayBuffer) buffer = value;
  else if (ArrayBuffer.isView(value)) buffer = value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength) as ArrayBuffer;
  else fail(`${what} is not an ArrayBuffer`);
  if (buffer.byteLength !== entries * 4) fail(`${what} holds ${buffer.byteLength} bytes, expected ${entries * 4}`);
  return buffer;
}

function changedFiles(value: unknown): ChangedFile[] {
  if (!Array.isArray(value) || value.length > MAX_FILES) fail(`files is not a list of at most ${MAX_FILES} files`);
  return value.map((item, i): ChangedFile => {
    const what = `files[${i}]`;
    const f = record(item, what);
    const change = f.change as FileChangeKind;
    if (!FILE_CHANGE_KINDS.includes(change)) fail(`${what}.change is not one of ${FILE_CHANGE_KINDS.join(', ')}`);
    if (!Array.isArray(f.extents) || f.extents.length > MAX_FILE_EXTENTS) fail(`${what}.extents is not a list of at most ${MAX_FILE_EXTENTS} ranges`);
    let end = 0;
    const extents = f.extents.map((x, k) => {
      const w = mapWindow(x, `${what}.extents[${k}]`);
      if (w.offset < end) fail(`${what}.extents[${k}] is out of order or overlaps the one before`);
      end = w.offset + w.length;
      return w;
    });
    if (typeof f.dir !== 'boolean') fail(`${what}.dir is not a boolean`);
    return {
      path: text(f.path, `${what}.path`),
      change,
      ...(f.previousPath !== undefined ? { previousPath: text(f.previousPath, `${what}.previousPath`) } : {}),
      changedBytes: count(f.changedBytes, `${what}.changedBytes`),
      partition: count(f.partition, `${what}.partition`, 1024),
      dir: f.dir,
      extents,
      ...(f.coarse === true ? { coarse: true } : {}),
    };
  });
}

function summary(value: unknown): BlockMapSummary {
  const s = record(value, 'summary');
  const histogram = s.sizeHistogram;
  if (!Array.isArray(histogram) || histogram.length > MAX_HISTOGRAM_BUCKETS)
    fail(`summary.sizeHistogram is not a list of at most ${MAX_HISTOGRAM_BUCKETS} counts`);
  let monthlyCost: BlockMapSummary['monthlyCost'];
  if (s.monthlyCost !== undefined) {
    const c = record(s.monthlyCost, 'summary.monthlyCost');
    monthlyCost = { amount: finite(c.amount, 'summary.monthlyCost.amount', 0), currency: optionalText(c.currency, 'summary.monthlyCost.currency') };
  }
  return {
    diskSizeBytes: count(s.diskSizeBytes, 'summary.diskSizeBytes'),
    changedBytes: count(s.changedBytes, 'summary.changedBytes'),
    clearedBytes: count(s.clearedBytes, 'summary.clearedBytes'),
    rangeCount: count(s.rangeCount, 'summary.rangeCount'),
    largestRangeBytes: count(s.largestRangeBytes, 'summary.largestRangeBytes'),
    shareOfDisk: finite(s.shareOfDisk, 'summary.shareOfDisk', 0, 1),
    sizeHistogram: histogram.map((n, i) => count(n, `summary.sizeHistogram[${i}]`)),
    sizeHistogramOpenEnded: s.sizeHistogramOpenEnded === undefined ? undefined : s.sizeHistogramOpenEnded === true,
    changedRangeCount: s.changedRangeCount === undefined ? undefined : count(s.changedRangeCount, 'summary.changedRangeCount'),
    clearedRangeCount: s.clearedRangeCount === undefined ? undefined : count(s.clearedRangeCount, 'summary.clearedRangeCount'),
    usedBytes: s.usedBytes === undefined ? undefined : count(s.usedBytes, 'summary.usedBytes'),
    monthlyCost,
    fromLabel: optionalText(s.fromLabel, 'summary.fromLabel'),
    toLabel: optionalText(s.toLabel, 'summary.toLabel'),
  };
}

function family(value: unknown): FamilyBars {
  const f = record(value, 'family');
  if (!Array.isArray(f.bars) || f.bars.length > 1000) fail('family.bars is not a list of at most 1000 bars');
  const bars = f.bars.map((item, i): FamilyBar => {
    const b = record(item, `family.bars[${i}]`);
    return {
      fromLabel: text(b.fromLabel, `family.bars[${i}].fromLabel`),
      toLabel: text(b.toLabel, `family.bars[${i}].toLabel`),
      time: optionalText(b.time, `family.bars[${i}].time`),
      changedBytes: count(b.changedBytes, `family.bars[${i}].changedBytes`),
      clearedBytes: count(b.clearedBytes, `family.bars[${i}].clearedBytes`),
    };
  });
  const selected = finite(f.selected, 'family.selected', -1, bars.length - 1);
  if (!Number.isInteger(selected)) fail('family.selected is not an integer');
  return { bars, selected };
}

function validate<T>(value: unknown, parse: (m: Record<string, unknown>) => T): Validated<T> {
  try {
    return { ok: true, message: parse(record(value, 'message')) };
  } catch (error) {
    if (error instanceof Invalid) return { ok: false, reason: error.message };
    throw error;
  }
}

/** Checks a message the webview received from the host. */
export function validateToWebviewMessage(value: unknown): Validated<ToWebviewMessage> {
  return validate(value, (m): ToWebviewMessage => {
    switch (m.type) {
      case 'init':
        return {
          type: 'init',
          title: text(m.title, 'title'),
          diskSizeBytes: count(m.diskSizeBytes, 'diskSizeBytes'),
          restoreKey: optionalText(m.restoreKey, 'restoreKey'),
        };
      case 'summary':
        return { type: 'summary', summary: summary(m.summary) };
      case 'family':
        return { type: 'family', family: family(m.family) };
      case 'bins': {
        const bins = count(m.bins, 'bins', MAX_BINS);
        return {
          type: 'bins',
          requestId: count(m.requestId, 'requestId'),
          window: mapWindow(m.window, 'window'),
          bins,
          changed: float32Bytes(m.changed, bins, 'changed'),
          cleared: float32Bytes(m.cleared, bins, 'cleared'),
        };
      }
      case 'cellRanges':
        return {
          type: 'cellRanges',
          requestId: count(m.requestId, 'requestId'),
          window: mapWindow(m.window, 'window'),
          ranges: diffRanges(m.ranges, 'ranges'),
          total: count(m.total, 'total'),
        };
      case 'pairSelected':
        return {
          type: 'pairSelected',
          requestId: count(m.requestId, 'requestId'),
          index: count(m.index, 'index'),
          title: text(m.title, 'title'),
          diskSizeBytes: count(m.diskSizeBytes, 'diskSizeBytes'),
          restoreKey: optionalText(m.restoreKey, 'restoreKey'),
        };
      case 'exportDone': {
        const outcome = m.outcome;
        if (outcome !== 'saved' && outcome !== 'cancelled' && outcome !== 'failed') fail('outcome is not saved, cancelled or failed');
        return {
          type: 'exportDone',
          requestId: count(m.requestId, 'requestId'),
          outcome,
          rangeCount: count(m.rangeCount, 'rangeCount'),
          message: text(m.message, 'message'),
        };
      }
      case 'files': {
        const st = m.state;
        if (st !== 'computing' && st !== 'ready' && st !== 'unavailable') fail('state is not computing, ready or unavailable');
        const files = changedFiles(m.files);
        const total = count(m.total, 'total');
        if (total < files.length) fail('total is less than the files listed');
        const reason = optionalText(m.reason, 'reason');
        if (st === 'unavailable' && reason === undefined) fail('an unavailable file list has no reason');
        return { type: 'files', state: st, ...(reason !== undefined ? { reason } : {}), files, total };
      }
      case 'notice':
        return { type: 'notice', message: text(m.message, 'message') };
      case 'error':
        return { type: 'error', requestId: m.requestId === undefined ? undefined : count(m.requestId, 'requestId'), message: text(m.message, 'message') };
      default:
        return fail(`unknown message type ${JSON.stringify(String(m.type)).slice(0, 40)}`);
    }
  });
}

/** Checks a message the host received from the webview. */
export function validateFromWebviewMessage(value: unknown): Validated<FromWebviewMessage> {
  return validate(value, (m): FromWebviewMessage => {
    switch (m.type) {
      case 'ready':
        return { type: 'ready' };
      case 'bin': {
        const bins = count(m.bins, 'bins', MAX_BINS);
        if (bins === 0) fail('bins is 0');
        return { type: 'bin', requestId: count(m.requestId, 'requestId'), window: mapWindow(m.window, 'window'), bins };
      }
      case 'cellRanges':
        return {
          type: 'cellRanges',
          requestId: count(m.requestId, 'requestId'),
          window: mapWindow(m.window, 'window'),
          max: count(m.max, 'max', MAX_CELL_RANGES),
        };
      case 'selectPair':
        return { type: 'selectPair', requestId: count(m.requestId, 'requestId'), index: count(m.index, 'index', 100_000) };
      case 'export': {
        if (m.format !== 'json' && m.format !== 'csv') fail("format is neither 'json' nor 'csv'");
        return { type: 'export', requestId: count(m.requestId, 'requestId'), format: m.format };
      }
      case 'copySummary':
        return { type: 'copySummary', requestId: count(m.requestId, 'requestId') };
      default:
        return fail(`unknown message type ${JSON.stringify(String(m.type)).slice(0, 40)}`);
    }
  });
}

/** Reads back a state saved by the webview; anything unusable is left out. */
export function parseViewState(value: unknown): BlockMapViewState {
  if (typeof value !== 'object' || value === null) return {};
  const s = value as Record<string, unknown>;
  const out: { -readonly [K in keyof BlockMapViewState]: BlockMapViewState[K] } = {};
  try {
    if (s.restoreKey !== undefined) out.restoreKey = text(s.restoreKey, 'restoreKey');
  } catch {
    /* dropped */
  }
  try {
    if (s.title !== undefined) out.title = text(s.title, 'title');
  } catch {
    /* dropped */
  }
  try {
    if (s.window !== undefined) out.window = mapWindow(s.window, 'window');
  } catch {
    /* dropped */
  }
  try {
    if (s.selectedOffset !== undefined) out.selectedOffset = count(s.selectedOffset, 'selectedOffset');
  } catch {
    /* dropped */
  }
  try {
    if (s.fileFilter !== undefined) out.fileFilter = text(s.fileFilter, 'fileFilter');
  } catch {
    /* dropped */
  }
  try {
    if (s.selectedFile !== undefined) out.selectedFile = text(s.selectedFile, 'selectedFile');
  } catch {
    /* dropped */
  }
  return out;
}
