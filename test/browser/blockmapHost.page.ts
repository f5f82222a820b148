/**
 * A stand-in for the extension host, loaded in the test page before the webview bundle: it provides
 * `acquireVsCodeApi` and answers the webview's requests from a fixture of 1,000,000 ranges over
 * 4 TiB, as the real panel does from a diff stream. It is the harness, not the thing under test.
 */
import {
  MAX_HISTOGRAM_BUCKETS,
  type ChangedFile,
  validateFromWebviewMessage,
  type BlockMapSummary,
  type FromWebviewMessage,
  type MapWindow,
  type ToWebviewMessage,
} from '../../src/shared/blockMapProtocol';

const TiB = 2 ** 40;
const GiB = 2 ** 30;

/** Known landmarks the test checks pixels against. */
export const landmarks = {
  diskSizeBytes: 4 * TiB,
  /** One changed range covering this whole span. */
  fullyChanged: { offset: 1 * TiB, length: 64 * GiB },
  /** Nothing at all changed here. */
  untouched: { offset: 2 * TiB, length: TiB / 2 },
  /** One cleared range covering this whole span. */
  fullyCleared: { offset: 3 * TiB, length: 32 * GiB },
  rangeCount: 1_000_000,
};

interface Fixture {
  offsets: Float64Array;
  lengths: Float64Array;
  cleared: Uint8Array;
}

/** Deterministic ranges in offset order: two big landmarks plus small ones everywhere else. */
function buildFixture(): Fixture {
  const n = landmarks.rangeCount;
  const offsets = new Float64Array(n);
  const lengths = new Float64Array(n);
  const cleared = new Uint8Array(n);
  let seed = 0x2545f491;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const skip = [landmarks.fullyChanged, landmarks.untouched, landmarks.fullyCleared];
  const free = landmarks.diskSizeBytes - skip.reduce((s, w) => s + w.length, 0);
  const small = n - 2;
  const stride = Math.floor(free / (small + 16) / 512) * 512;
  let i = 0;
  let cursor = 0;
  let placed = 0;
  const add = (offset: number, length: number, isCleared: boolean) => {
    offsets[i] = offset;
    lengths[i] = length;
    cleared[i] = isCleared ? 1 : 0;
    i += 1;
  };
  while (placed < small) {
    const hit = skip.find((w) => cursor >= w.offset && cursor < w.offset + w.length);
    if (hit) {
      if (hit === landmarks.fullyChanged) add(hit.offset, hit.length, false);
      if (hit === landmarks.fullyCleared) add(hit.offset, hit.length, true);
      cursor = hit.offset + hit.length;
      continue;
    }
    const pages = 1 + Math.floor(random() * random() * 256);
    const jitter = Math.floor(random() * ((stride - pages * 512) / 512)) * 512;
    const next = skip.find((w) => w.offset > cursor && w.offset < cursor + stride);
    if (next) {
      cursor = next.offset;
      continue;
    }
    add(cursor + jitter, pages * 512, placed % 10 === 9);
    placed += 1;
    cursor += stride;
  }
  if (i !== n) throw new Error(`fixture has ${i} ranges, expected ${n}`);
  return { offsets, lengths, cleared };
}

const fixture = buildFixture();

/** The Files panel's list, placed on the landmarks so that the test knows which cells each file lights. */
export const files: ChangedFile[] = [
  {
    path: '/var/log/big.log',
    change: 'modified',
    changedBytes: 32 * GiB,
    partition: 1,
    dir: false,
    extents: [{ offset: landmarks.fullyChanged.offset, length: 32 * GiB }],
  },
  { path: '/etc', change: 'metadata', changedBytes: 0, partition: 1, dir: true, extents: [] },
  {
    path: '/etc/nginx/nginx.conf',
    change: 'modified',
    changedBytes: 4096,
    partition: 1,
    dir: false,
    extents: [{ offset: landmarks.fullyChanged.offset + 48 * GiB, length: 4096 }],
  },
  {
    path: '/home/a/new.bin',
    change: 'added',
    changedBytes: 8 * GiB,
    partition: 1,
    dir: false,
    extents: [{ offset: landmarks.fullyChanged.offset + 36 * GiB, length: 8 * GiB }],
  },
  {
    path: '/srv/data/old.db',
    change: 'deleted',
    changedBytes: 30 * GiB,
    partition: 1,
    dir: false,
    extents: [{ offset: landmarks.fullyCleared.offset, length: 30 * GiB }],
  },
];
let filesSent = false;

/** Index of the first range ending after `offset`. */
function firstEndingAfter(offset: number): number {
  let lo = 0;
  let hi = fixture.offsets.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (fixture.offsets[mid]! + fixture.lengths[mid]! <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function bin(window: MapWindow, bins: number): { changed: Float32Array<ArrayBuffer>; cleared: Float32Array<ArrayBuffer> } {
  const changed = new Float32Array(bins);
  const cleared = new Float32Array(bins);
  const bytesPerCell = window.length / bins;
  const end = window.offset + window.length;
  for (let i = firstEndingAfter(window.offset); i < fixture.offsets.length && fixture.offsets[i]! < end; i++) {
    const start = Math.max(window.offset, fixture.offsets[i]!);
    const stop = Math.min(end, fixture.offsets[i]! + fixture.lengths[i]!);
    const target = fixture.cleared[i] ? cleared : changed;
    let cell = Math.floor((start - window.offset) / bytesPerCell);
    let at = start;
    while (at < stop) {
      const cellEnd = Math.min(stop, window.offset + (cell + 1) * bytesPerCell);
      target[cell] = target[cell]! + (cellEnd - at) / bytesPerCell;
      at = cellEnd;
      cell += 1;
    }
  }
  return { changed, cleared };
}

function summarise(): BlockMapSummary {
  let changedBytes = 0;
  let clearedBytes = 0;
  let largest = 0;
  const histogram = new Array<number>(MAX_HISTOGRAM_BUCKETS).fill(0);
  for (let i = 0; i < fixture.offsets.length; i++) {
    const length = fixture.lengths[i]!;
    if (fixture.cleared[i]) clearedBytes += length;
    else changedBytes += length;
    largest = Math.max(largest, length);
    const bucket = Math.floor(Math.log2(length));
    histogram[bucket] = histogram[bucket]! + 1;
  }
  return {
    diskSizeBytes: landmarks.diskSizeBytes,
    changedBytes,
    clearedBytes,
    rangeCount: fixture.offsets.length,
    largestRangeBytes: largest,
    shareOfDisk: (changedBytes + clearedBytes) / landmarks.diskSizeBytes,
    sizeHistogram: histogram,
    usedBytes: changedBytes + 512 * GiB,
    monthlyCost: { amount: ((changedBytes + 512 * GiB) / GiB) * 0.05, currency: 'USD' },
    fromLabel: 'snap-1',
    toLabel: 'snap-2',
  };
}

const summary = summarise();

interface HostRecord {
  sent: FromWebviewMessage[];
  dropped: string[];
  csp: string[];
  state: unknown;
  landmarks: typeof landmarks;
  summary: BlockMapSummary;
  files: ChangedFile[];
}

const STATE_KEY = 'blockmap-test-state';
const record: HostRecord = {
  sent: [],
  dropped: [],
  csp: [],
  state: JSON.parse(sessionStorage.getItem(STATE_KEY) ?? 'null') as unknown,
  landmarks,
  summary,
  files,
};
(globalThis as unknown as { blockMapHost: HostRecord }).blockMapHost = record;

document.addEventListener('securitypolicyviolation', (e) => record.csp.push(`${e.violatedDirective} ${e.blockedURI}`));

function reply(message: ToWebviewMessage, transfer: Transferable[] = []): void {
  window.postMessage(message, '*', transfer);
}

function handle(raw: unknown): void {
  const checked = validateFromWebviewMessage(raw);
  if (!checked.ok) {
    record.dropped.push(checked.reason);
    return;
  }
  const m = checked.message;
  switch (m.type) {
    case 'ready':
      reply({ type: 'init', title: 'snap-1 → snap-2', diskSizeBytes: landmarks.diskSizeBytes, restoreKey: 'fixture' });
      reply({ type: 'summary', summary });
      reply({
        type: 'family',
        family: {
          bars: [1, 4, 2, 3].map((k, i) => ({ fromLabel: `snap-${i}`, toLabel: `snap-${i + 1}`, changedBytes: k * summary.changedBytes, clearedBytes: 0 })),
          selected: 1,
        },
      });
      return;
    case 'bin': {
      const binned = bin(m.window, m.bins);
      reply({ type: 'bins', requestId: m.requestId, window: m.window, bins: m.bins, changed: binned.changed.buffer, cleared: binned.cleared.buffer }, [
        binned.changed.buffer,
        binned.cleared.buffer,
      ]);
      // As the real session does: the file list is worked out after the first bins went out.
      if (!filesSent) {
        filesSent = true;
        reply({ type: 'files', state: 'computing', files: [], total: 0 });
        setTimeout(() => {
          if (location.hash === '#files-unavailable')
            reply({
              type: 'files',
              state: 'unavailable',
              reason: 'partition 1 (LUKS): encrypted (LUKS); its changes are shown as blocks only',
              files: [],
              total: 0,
            });
          else reply({ type: 'files', state: 'ready', files, total: files.length });
        }, 50);
      }
      return;
    }
    case 'cellRanges': {
      const ranges = [];
      let total = 0;
      const end = m.window.offset + m.window.length;
      for (let i = firstEndingAfter(m.window.offset); i < fixture.offsets.length && fixture.offsets[i]! < end; i++) {
        total += 1;
        if (ranges.length < m.max)
          ranges.push({ offset: fixture.offsets[i]!, length: fixture.lengths[i]!, kind: fixture.cleared[i] ? ('cleared' as const) : ('changed' as const) });
      }
      reply({ type: 'cellRanges', requestId: m.requestId, window: m.window, ranges, total });
      return;
    }
    case 'selectPair':
      reply({
        type: 'pairSelected',
        requestId: m.requestId,
        index: m.index,
        title: `snap-${m.index} → snap-${m.index + 1}`,
        diskSizeBytes: landmarks.diskSizeBytes,
        restoreKey: `pair-${m.index}`,
      });
      reply({ type: 'summary', summary });
      return;
    case 'export':
      reply({
        type: 'exportDone',
        requestId: m.requestId,
        outcome: 'saved',
        rangeCount: landmarks.rangeCount,
        message: `Exported ${landmarks.rangeCount} ranges.`,
      });
      return;
    case 'copySummary':
      reply({ type: 'notice', message: 'Summary copied to the clipboard.' });
      return;
  }
}

(globalThis as unknown as { acquireVsCodeApi: () => unknown }).acquireVsCodeApi = () => ({
  postMessage(message: unknown) {
    record.sent.push(structuredClone(message) as FromWebviewMessage);
    setTimeout(() => handle(message), 0);
  },
  getState() {
    return record.state;
  },
  setState(state: unknown) {
    record.state = state;
    sessionStorage.setItem(STATE_KEY, JSON.stringify(state));
  },
});

/** What the test reads from the page: the map's geometry from its data attributes, and canvas pixels. */
function mapCanvas(): HTMLCanvasElement {
  const canvas = document.getElementById('block-map');
  if (!(canvas instanceof HTMLCanvasElement)) throw new Error('no #block-map canvas');
  return canvas;
}

const probe = {
  view() {
    const d = mapCanvas().dataset;
    return {
      offset: Number(d.windowOffset),
      length: Number(d.windowLength),
      bytesPerCell: Number(d.bytesPerCell),
      cols: Number(d.cols),
      rows: Number(d.rows),
      cellPx: Number(d.cellPx),
    };
  },
  /** Cell index showing `offset`, or -1 when it is off screen. */
  cellOf(offset: number): number {
    const v = probe.view();
    const cell = Math.floor((offset - v.offset) / v.bytesPerCell);
    return cell >= 0 && cell < v.cols * v.rows ? cell : -1;
  },
  /** Client coordinates of the centre of a cell. */
  cellCentre(cell: number): { x: number; y: number } {
    const v = probe.view();
    const box = mapCanvas().getBoundingClientRect();
    return { x: box.left + ((cell % v.cols) + 0.5) * (box.width / v.cols), y: box.top + (Math.floor(cell / v.cols) + 0.5) * (box.height / v.rows) };
  },
  /** RGB of the canvas pixel at the centre of a cell. */
  pixel(cell: number): [number, number, number] {
    const v = probe.view();
    const canvas = mapCanvas();
    const px = canvas.width / v.cols;
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no 2d context');
    const d = ctx.getImageData(Math.floor(((cell % v.cols) + 0.5) * px), Math.floor((Math.floor(cell / v.cols) + 0.5) * px), 1, 1).data;
    return [d[0]!, d[1]!, d[2]!];
  },
  /** True once the newest bin request the webview made has been painted. */
  settled(): boolean {
    const bins = record.sent.filter((m) => m.type === 'bin');
    const last = bins[bins.length - 1];
    return last !== undefined && mapCanvas().dataset.paintedRequest === String(last.requestId);
  },
  measures(name: string): number[] {
    return performance.getEntriesByName(name, 'measure').map((e) => e.duration);
  },
};
(globalThis as unknown as { blockMapProbe: typeof probe }).blockMapProbe = probe;
