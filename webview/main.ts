/**
 * The changed-block map webview. Holds no diff data of its own: it asks the host to bin the visible
 * window and paints what comes back; hover and selection ask for a capped list of a cell's ranges.
 */
import {
  formatBytes,
  formatHex,
  formatPercent,
  PAGE_BYTES,
  parseViewState,
  validateToWebviewMessage,
  type BlockMapSummary,
  type BlockMapViewState,
  type CellRangesMessage,
  type FamilyBars,
  type FromWebviewMessage,
  type ToWebviewMessage,
} from '../src/shared/blockMapProtocol';
import { buildPanel, dom, el } from './dom';
import { MapRenderer, themeColours, type MapColours } from './render';
import { cellBytes, cellCount, clampOffset, fitView, isFit, panCells, relayout, resample, windowOf, zoom, type MapView } from './view';

interface VsCodeApi {
  postMessage(message: FromWebviewMessage): void;
  getState(): unknown;
  setState(state: BlockMapViewState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

performance.mark('blockmap:start');

const CELL_PX = 8;
const HOVER_RANGES = 8;
const SELECTION_RANGES = 200;
const HOVER_DELAY_MS = 120;

const vscode = acquireVsCodeApi();
buildPanel();

const renderer = new MapRenderer(dom.canvas);
let colours: MapColours = themeColours();
let restored = parseViewState(vscode.getState());
let title = restored.title ?? 'Changed-block map';
let restoreKey = restored.restoreKey;
let view: MapView | undefined;
let changed: Float32Array = new Float32Array(0);
let cleared: Float32Array = new Float32Array(0);
let dataView: MapView | undefined;
let requestSeq = 0;
let latestBin = 0;
let firstPaintDone = false;
const zoomStarts = new Map<number, number>();
let pendingZoomStart: number | undefined;
let hoverCell: number | undefined;
let cursorCell = 0;
let cursorShown = false;
let selectedOffset = restored.selectedOffset;
let latestHover = 0;
let latestSelection = 0;
let hoverTimer: ReturnType<typeof setTimeout> | undefined;
let summary: BlockMapSummary | undefined;
let family: FamilyBars | undefined;
const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');

function post(message: FromWebviewMessage): void {
  vscode.postMessage(message);
}

function nextId(): number {
  requestSeq += 1;
  return requestSeq;
}

function saveState(): void {
  vscode.setState({ restoreKey, title, window: view ? windowOf(view) : restored.window, selectedOffset });
}

function setStatus(message: string, isError = false): void {
  dom.status.textContent = message;
  dom.status.classList.toggle('error', isError);
}

function gridSize(): { cols: number; rows: number } {
  const box = dom.container.getBoundingClientRect();
  return { cols: Math.max(8, Math.floor(box.width / CELL_PX)), rows: Math.max(8, Math.floor(box.height / CELL_PX)) };
}

function selectedCell(): number | undefined {
  if (!view || selectedOffset === undefined) return undefined;
  const cell = Math.floor((selectedOffset - view.offset) / view.bytesPerCell);
  return cell >= 0 && cell < cellCount(view) ? cell : undefined;
}

function paint(): void {
  if (!view) return;
  renderer.resize(view, CELL_PX);
  renderer.paint(view, changed, cleared, colours, CELL_PX, { hover: hoverCell, cursor: cursorCell, selected: selectedCell(), showCursor: cursorShown });
}

function describeWindow(v: MapView): void {
  const w = windowOf(v);
  const end = Math.min(v.diskSizeBytes, w.offset + w.length);
  dom.zoomLevel.textContent = `${formatBytes(v.bytesPerCell)} per cell`;
  dom.windowInfo.textContent = `Showing ${formatHex(w.offset)} – ${formatHex(end)} (${formatBytes(w.offset)} – ${formatBytes(end)}) of ${formatBytes(v.diskSizeBytes)}`;
  dom.canvas.dataset.windowOffset = String(w.offset);
  dom.canvas.dataset.windowLength = String(w.length);
  dom.canvas.dataset.bytesPerCell = String(v.bytesPerCell);
  dom.canvas.dataset.cols = String(v.cols);
  dom.canvas.dataset.rows = String(v.rows);
  dom.canvas.dataset.cellPx = String(CELL_PX);
  dom.button('zoom-in').disabled = v.bytesPerCell <= 512;
  dom.button('zoom-out').disabled = isFit(v);
}

/** Shows `next` at once (from the bins on screen) and asks the host for its exact bins. */
function show(next: MapView, reason: 'zoom' | 'pan' | 'layout' | 'init'): void {
  if (view && dataView && changed.length === cellCount(dataView)) {
    changed = resample(dataView, changed, next);
    cleared = resample(dataView, cleared, next);
    dataView = next;
  } else {
    changed = new Float32Array(cellCount(next)).fill(Number.NaN);
    cleared = new Float32Array(cellCount(next)).fill(Number.NaN);
    dataView = next;
  }
  view = next;
  cursorCell = Math.min(cursorCell, cellCount(next) - 1);
  describeWindow(next);
  paint();
  saveState();
  const requestId = nextId();
  latestBin = requestId;
  if (reason === 'zoom') zoomStarts.set(requestId, pendingZoomStart ?? performance.now());
  pendingZoomStart = undefined;
  post({ type: 'bin', requestId, window: windowOf(next), bins: cellCount(next) });
}

function onBins(m: Extract<ToWebviewMessage, { type: 'bins' }>): void {
  if (m.requestId !== latestBin || !view) return;
  const w = windowOf(view);
  if (m.window.offset !== w.offset || m.window.length !== w.length || m.bins !== cellCount(view)) return;
  changed = new Float32Array(m.changed);
  cleared = new Float32Array(m.cleared);
  dataView = view;
  paint();
  const now = performance.now();
  if (!firstPaintDone) {
    firstPaintDone = true;
    performance.measure('blockmap:first-paint', { start: 0, end: now });
    performance.measure('blockmap:first-paint-from-start', 'blockmap:start');
    dom.canvas.dataset.painted = '1';
  }
  const zoomStart = zoomStarts.get(m.requestId);
  if (zoomStart !== undefined) performance.measure('blockmap:zoom', { start: zoomStart, end: now });
  zoomStarts.clear();
  dom.canvas.dataset.paintedRequest = String(m.requestId);
  announceCursor();
}

function zoomBy(factor: number, anchorCell: number): void {
  if (!view) return;
  const next = zoom(view, factor, anchorCell);
  if (next === view) return;
  pendingZoomStart = performance.now();
  // The anchor keeps its bytes under the pointer; the cursor follows it.
  cursorCell = Math.max(0, Math.min(cellCount(next) - 1, anchorCell));
  show(next, 'zoom');
}

function fitWhole(): void {
  if (!view) return;
  pendingZoomStart = performance.now();
  show(fitView(view.diskSizeBytes, view.cols, view.rows), 'zoom');
}

function cellAt(event: MouseEvent): number | undefined {
  if (!view) return undefined;
  const box = dom.canvas.getBoundingClientRect();
  const col = Math.floor(((event.clientX - box.left) / box.width) * view.cols);
  const row = Math.floor(((event.clientY - box.top) / box.height) * view.rows);
  if (col < 0 || row < 0 || col >= view.cols || row >= view.rows) return undefined;
  return row * view.cols + col;
}

function offsetsText(offset: number, length: number): string {
  const last = offset + length - 1;
  return `${formatHex(offset)} – ${formatHex(last)} (${formatBytes(offset, true)} – ${formatBytes(offset + length, true)}, ${formatBytes(length)})`;
}

function rangeItem(r: { offset: number; length: number; kind: string }): HTMLLIElement {
  const item = el('li', { class: r.kind }, `${r.kind === 'cleared' ? 'cleared' : 'changed'} ${formatHex(r.offset)} – ${formatHex(r.offset + r.length - 1)}, ${formatBytes(r.length)}`);
  item.title = `${r.offset} – ${r.offset + r.length - 1} (${r.length} bytes)`;
  return item;
}

function fractionText(cell: number): string {
  const c = changed[cell];
  const x = cleared[cell];
  if (c === undefined || Number.isNaN(c) || x === undefined || Number.isNaN(x)) return 'loading…';
  if (c === 0 && x === 0) return 'unchanged';
  const parts = [];
  if (c > 0) parts.push(`${formatPercent(c)} changed`);
  if (x > 0) parts.push(`${formatPercent(x)} cleared`);
  return parts.join(', ');
}

function showTooltip(cell: number): void {
  if (!view) return;
  const bytes = cellBytes(view, cell);
  const tip = dom.tooltip;
  if (!bytes) {
    tip.hidden = true;
    return;
  }
  tip.replaceChildren(el('div', { id: 'tooltip-offsets' }, offsetsText(bytes.offset, bytes.length)), el('div', { id: 'tooltip-fraction' }, fractionText(cell)));
  tip.dataset.offset = String(bytes.offset);
  tip.hidden = false;
  const col = cell % view.cols;
  const row = Math.floor(cell / view.cols);
  const box = dom.container.getBoundingClientRect();
  const x = (col + 1) * CELL_PX + 12;
  const y = (row + 1) * CELL_PX + 12;
  tip.style.left = `${Math.min(x, Math.max(0, box.width - tip.offsetWidth - 4))}px`;
  tip.style.top = `${y + tip.offsetHeight > box.height ? Math.max(0, row * CELL_PX - tip.offsetHeight - 4) : y}px`;
  if (hoverTimer !== undefined) clearTimeout(hoverTimer);
  hoverTimer = setTimeout(() => {
    hoverTimer = undefined;
    if (!cellHasChanges(cell)) return;
    latestHover = nextId();
    post({ type: 'cellRanges', requestId: latestHover, window: bytes, max: HOVER_RANGES });
  }, HOVER_DELAY_MS);
}

function cellHasChanges(cell: number): boolean {
  const c = changed[cell];
  const x = cleared[cell];
  // Unknown (still binning) counts as possibly changed.
  return !(c === 0 && x === 0);
}

function hideTooltip(): void {
  dom.tooltip.hidden = true;
  if (hoverTimer !== undefined) clearTimeout(hoverTimer);
  hoverTimer = undefined;
  latestHover = 0;
}

function onCellRanges(m: CellRangesMessage): void {
  const list = m.ranges.map(rangeItem);
  const more = m.total > m.ranges.length ? `… and ${(m.total - m.ranges.length).toLocaleString('en-US')} more` : '';
  if (m.requestId === latestHover && !dom.tooltip.hidden && dom.tooltip.dataset.offset === String(m.window.offset)) {
    const ul = el('ul', { id: 'tooltip-ranges' });
    ul.append(...list);
    const extra: HTMLElement[] = [ul];
    if (more) extra.push(el('div', {}, more));
    if (m.ranges.length === 0) extra.splice(0, 1, el('div', {}, 'no ranges'));
    dom.tooltip.querySelector('#tooltip-ranges')?.remove();
    dom.tooltip.append(...extra);
  }
  if (m.requestId === latestSelection) {
    dom.selectionRanges.replaceChildren(...list);
    dom.selectionMore.textContent = more || (m.ranges.length === 0 ? 'No ranges in this cell.' : `${m.total.toLocaleString('en-US')} range${m.total === 1 ? '' : 's'}.`);
  }
}

function selectCell(cell: number): void {
  if (!view) return;
  const bytes = cellBytes(view, cell);
  if (!bytes) return;
  selectedOffset = bytes.offset;
  dom.selectionOffsets.textContent = `${offsetsText(bytes.offset, bytes.length)}: ${fractionText(cell)}`;
  dom.selectionRanges.replaceChildren();
  dom.selectionMore.textContent = 'Loading ranges…';
  latestSelection = nextId();
  post({ type: 'cellRanges', requestId: latestSelection, window: bytes, max: SELECTION_RANGES });
  saveState();
  paint();
}

function announceCursor(): void {
  if (!view || !cursorShown) return;
  const bytes = cellBytes(view, cursorCell);
  dom.cursorInfo.textContent = bytes ? `${offsetsText(bytes.offset, bytes.length)}: ${fractionText(cursorCell)}` : 'Past the end of the disk';
}

function moveCursor(delta: number): void {
  if (!view) return;
  cursorShown = true;
  let target = cursorCell + delta;
  const cells = cellCount(view);
  if (target < 0 || target >= cells) {
    // Off the edge: scroll the disk under the cursor by whole rows.
    const rowsToMove = target < 0 ? -Math.ceil(-target / view.cols) : Math.ceil((target - cells + 1) / view.cols);
    const next = panCells(view, rowsToMove * view.cols);
    const moved = (next.offset - view.offset) / view.bytesPerCell;
    target = Math.max(0, Math.min(cells - 1, target - moved));
    cursorCell = target;
    if (moved !== 0) show(next, 'pan');
  } else cursorCell = target;
  paint();
  announceCursor();
  showTooltip(cursorCell);
}

function onKey(event: KeyboardEvent): void {
  if (!view) return;
  const page = view.cols * (view.rows - 1);
  switch (event.key) {
    case '+':
    case '=':
      zoomBy(0.5, cursorShown ? cursorCell : Math.floor(cellCount(view) / 2));
      break;
    case '-':
    case '_':
      zoomBy(2, cursorShown ? cursorCell : Math.floor(cellCount(view) / 2));
      break;
    case '0':
      fitWhole();
      break;
    case 'ArrowLeft':
      moveCursor(-1);
      break;
    case 'ArrowRight':
      moveCursor(1);
      break;
    case 'ArrowUp':
      moveCursor(-view.cols);
      break;
    case 'ArrowDown':
      moveCursor(view.cols);
      break;
    case 'PageUp':
      show(panCells(view, -page), 'pan');
      break;
    case 'PageDown':
      show(panCells(view, page), 'pan');
      break;
    case 'Home':
      cursorCell = 0;
      cursorShown = true;
      show({ ...view, offset: 0 }, 'pan');
      break;
    case 'End': {
      const end = { ...view, offset: clampOffset(view, view.diskSizeBytes) };
      cursorShown = true;
      cursorCell = Math.max(0, Math.min(cellCount(end) - 1, Math.ceil((end.diskSizeBytes - end.offset) / end.bytesPerCell) - 1));
      show(end, 'pan');
      break;
    }
    case 'Enter':
    case ' ':
      selectCell(cursorCell);
      break;
    case 'Escape':
      hideTooltip();
      cursorShown = false;
      paint();
      break;
    default:
      return;
  }
  event.preventDefault();
}

// ---- summary, histogram, family ----

function setSummaryValue(id: string, text: string, exact?: number): void {
  const node = dom.summary(id);
  node.textContent = text;
  if (exact === undefined) delete node.dataset.value;
  else node.dataset.value = String(exact);
}

function renderSummary(s: BlockMapSummary): void {
  setSummaryValue('changed', formatBytes(s.changedBytes), s.changedBytes);
  setSummaryValue('cleared', formatBytes(s.clearedBytes), s.clearedBytes);
  setSummaryValue('ranges', s.rangeCount.toLocaleString('en-US'), s.rangeCount);
  setSummaryValue('largest', formatBytes(s.largestRangeBytes), s.largestRangeBytes);
  setSummaryValue('share', formatPercent(s.shareOfDisk), s.shareOfDisk);
  setSummaryValue('disk', formatBytes(s.diskSizeBytes), s.diskSizeBytes);
  setSummaryValue('used', s.usedBytes === undefined ? 'unknown' : formatBytes(s.usedBytes), s.usedBytes);
  setSummaryValue(
    'cost',
    s.monthlyCost === undefined ? 'unknown' : `${s.monthlyCost.amount.toFixed(2)}${s.monthlyCost.currency ? ` ${s.monthlyCost.currency}` : ''} / month`,
    s.monthlyCost?.amount,
  );
  for (const [id, exact] of [['changed', s.changedBytes], ['cleared', s.clearedBytes], ['largest', s.largestRangeBytes], ['used', s.usedBytes]] as const) {
    if (exact !== undefined) dom.summary(id).title = `${exact.toLocaleString('en-US')} bytes`;
  }
  const pair = s.fromLabel && s.toLabel ? ` from ${s.fromLabel} to ${s.toLabel}` : '';
  dom.summaryText.textContent =
    `Summary${pair}: ${formatBytes(s.changedBytes)} changed and ${formatBytes(s.clearedBytes)} cleared in ` +
    `${s.rangeCount.toLocaleString('en-US')} ranges; the largest range is ${formatBytes(s.largestRangeBytes)}; ` +
    `${formatPercent(s.shareOfDisk)} of the ${formatBytes(s.diskSizeBytes)} disk.`;
  renderHistogram(s.sizeHistogram, s.sizeHistogramOpenEnded === true);
}

function renderHistogram(histogram: readonly number[], openEnded: boolean): void {
  const first = histogram.findIndex((n) => n > 0);
  let last = -1;
  histogram.forEach((n, i) => {
    if (n > 0) last = i;
  });
  const bars = dom.histogram;
  bars.replaceChildren();
  dom.text('histogram-min').textContent = first < 0 ? 'no ranges' : formatBytes(2 ** first);
  dom.text('histogram-max').textContent = last < 0 ? '' : formatBytes(2 ** last);
  if (first < 0) return;
  const max = Math.max(...histogram);
  for (let k = first; k <= last; k++) {
    const n = histogram[k] ?? 0;
    const sizes = openEnded && k === histogram.length - 1 ? `${formatBytes(2 ** k)} or more` : `${formatBytes(2 ** k)} to under ${formatBytes(2 ** (k + 1))}`;
    const label = `${n.toLocaleString('en-US')} range${n === 1 ? '' : 's'} of ${sizes}`;
    const bar = el('div', { class: 'bar', role: 'listitem', 'aria-label': label, title: label });
    // Square root keeps rare sizes visible next to a dominant one.
    bar.style.height = `${n === 0 ? 0 : Math.max(2, Math.sqrt(n / max) * 100)}%`;
    bars.append(bar);
  }
}

function renderFamily(f: FamilyBars): void {
  family = f;
  dom.family.hidden = f.bars.length === 0;
  const max = Math.max(1, ...f.bars.map((b) => b.changedBytes + b.clearedBytes));
  const buttons = f.bars.map((b, i) => {
    const label = `${b.fromLabel} → ${b.toLabel}${b.time ? ` (${b.time})` : ''}: ${formatBytes(b.changedBytes)} changed, ${formatBytes(b.clearedBytes)} cleared`;
    const button = el('button', { class: 'bar', 'aria-label': label, title: label, 'aria-pressed': String(i === f.selected), 'data-index': String(i) });
    button.style.height = `${Math.max(2, ((b.changedBytes + b.clearedBytes) / max) * 100)}%`;
    button.addEventListener('click', () => {
      if (i === family?.selected) return;
      setStatus(`Mapping ${b.fromLabel} → ${b.toLabel}…`);
      post({ type: 'selectPair', requestId: nextId(), index: i });
    });
    return button;
  });
  dom.familyBars.replaceChildren(...buttons);
  dom.text('family-first').textContent = f.bars[0]?.toLabel ?? '';
  dom.text('family-last').textContent = f.bars.length > 1 ? (f.bars[f.bars.length - 1]?.toLabel ?? '') : '';
}

// ---- host messages ----

function startView(diskSizeBytes: number, saved: BlockMapViewState['window']): void {
  const { cols, rows } = gridSize();
  let next = fitView(diskSizeBytes, cols, rows);
  if (saved) {
    const bytesPerCell = Math.min(next.bytesPerCell, Math.max(PAGE_BYTES, Math.round(saved.length / (cols * rows) / PAGE_BYTES) * PAGE_BYTES));
    const sized = { ...next, bytesPerCell };
    next = { ...sized, offset: clampOffset(sized, saved.offset) };
  }
  dataView = undefined;
  view = undefined;
  show(next, 'init');
}

function onMessage(message: ToWebviewMessage): void {
  switch (message.type) {
    case 'init':
      title = message.title;
      restoreKey = message.restoreKey;
      dom.title.textContent = title;
      document.title = title;
      // A state from another pair (or none) starts at the whole disk.
      {
        const samePair = restored.restoreKey === undefined || restored.restoreKey === restoreKey;
        startView(message.diskSizeBytes, samePair ? restored.window : undefined);
        if (!samePair) selectedOffset = undefined;
        const reselect = selectedCell();
        if (reselect !== undefined) selectCell(reselect);
      }
      restored = {};
      return;
    case 'summary':
      summary = message.summary;
      renderSummary(message.summary);
      return;
    case 'family':
      renderFamily(message.family);
      return;
    case 'bins':
      onBins(message);
      return;
    case 'cellRanges':
      onCellRanges(message);
      return;
    case 'pairSelected':
      title = message.title;
      restoreKey = message.restoreKey;
      dom.title.textContent = title;
      document.title = title;
      selectedOffset = undefined;
      dom.selectionOffsets.textContent = 'Click a cell (or press Enter) to list its ranges.';
      dom.selectionRanges.replaceChildren();
      dom.selectionMore.textContent = '';
      setStatus(`Showing ${title}.`);
      startView(message.diskSizeBytes, undefined);
      return;
    case 'exportDone':
      setStatus(message.message, message.outcome === 'failed');
      return;
    case 'notice':
      setStatus(message.message);
      return;
    case 'error':
      setStatus(message.message, true);
      return;
  }
}

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const checked = validateToWebviewMessage(event.data);
  if (checked.ok) onMessage(checked.message);
  else console.warn(`block map: dropped a message: ${checked.reason}`);
});

// ---- input ----

const canvas = dom.canvas;
let drag: { x: number; y: number; view: MapView; moved: boolean; pointerId: number } | undefined;
let dragFrame = 0;

// Trackpads send many small wheel deltas: one zoom step per mouse-wheel notch's worth of them.
const WHEEL_STEP = 100;
let wheelDelta = 0;
canvas.addEventListener('wheel', (event) => {
  if (!view) return;
  event.preventDefault();
  const scale = event.deltaMode === WheelEvent.DOM_DELTA_LINE ? 33 : event.deltaMode === WheelEvent.DOM_DELTA_PAGE ? WHEEL_STEP : 1;
  wheelDelta += event.deltaY * scale;
  const cell = cellAt(event) ?? Math.floor(cellCount(view) / 2);
  while (Math.abs(wheelDelta) >= WHEEL_STEP) {
    zoomBy(wheelDelta < 0 ? 0.5 : 2, cell);
    wheelDelta -= Math.sign(wheelDelta) * WHEEL_STEP;
  }
}, { passive: false });

canvas.addEventListener('pointerdown', (event) => {
  if (!view || event.button !== 0) return;
  drag = { x: event.clientX, y: event.clientY, view, moved: false, pointerId: event.pointerId };
  canvas.setPointerCapture(event.pointerId);
});

canvas.addEventListener('pointermove', (event) => {
  if (drag && view) {
    const dx = Math.round((event.clientX - drag.x) / CELL_PX);
    const dy = Math.round((event.clientY - drag.y) / CELL_PX);
    if (!drag.moved && Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) < 4) return;
    drag.moved = true;
    canvas.classList.add('dragging');
    hideTooltip();
    const target = panCells(drag.view, -(dy * drag.view.cols + dx));
    if (target.offset !== view.offset && !dragFrame) {
      dragFrame = requestAnimationFrame(() => {
        dragFrame = 0;
        if (drag && view) {
          const d = panCells(drag.view, -(Math.round((lastPointer.y - drag.y) / CELL_PX) * drag.view.cols + Math.round((lastPointer.x - drag.x) / CELL_PX)));
          if (d.offset !== view.offset) show(d, 'pan');
        }
      });
    }
    lastPointer = { x: event.clientX, y: event.clientY };
    return;
  }
  const cell = cellAt(event);
  if (cell === hoverCell) return;
  hoverCell = cell;
  paint();
  if (cell === undefined) hideTooltip();
  else showTooltip(cell);
});
let lastPointer = { x: 0, y: 0 };

canvas.addEventListener('pointerup', (event) => {
  const wasDrag = drag?.moved;
  if (drag) canvas.releasePointerCapture(drag.pointerId);
  drag = undefined;
  canvas.classList.remove('dragging');
  if (!wasDrag) {
    const cell = cellAt(event);
    if (cell !== undefined) {
      cursorCell = cell;
      selectCell(cell);
    }
  }
});

canvas.addEventListener('pointerleave', () => {
  if (drag) return;
  hoverCell = undefined;
  hideTooltip();
  paint();
});

canvas.addEventListener('keydown', onKey);
canvas.addEventListener('focus', () => {
  cursorShown = true;
  paint();
  announceCursor();
});
canvas.addEventListener('blur', () => {
  cursorShown = false;
  hideTooltip();
  paint();
});

dom.button('zoom-in').addEventListener('click', () => view && zoomBy(0.5, cursorShown ? cursorCell : Math.floor(cellCount(view) / 2)));
dom.button('zoom-out').addEventListener('click', () => view && zoomBy(2, cursorShown ? cursorCell : Math.floor(cellCount(view) / 2)));
dom.button('zoom-fit').addEventListener('click', fitWhole);
dom.button('export-json').addEventListener('click', () => {
  setStatus('Choose where to save the JSON export…');
  post({ type: 'export', requestId: nextId(), format: 'json' });
});
dom.button('export-csv').addEventListener('click', () => {
  setStatus('Choose where to save the CSV export…');
  post({ type: 'export', requestId: nextId(), format: 'csv' });
});
dom.button('copy-summary').addEventListener('click', () => {
  if (!summary) setStatus('The summary is still being computed.');
  post({ type: 'copySummary', requestId: nextId() });
});

let layoutTimer: ReturnType<typeof setTimeout> | undefined;
new ResizeObserver(() => {
  if (!view) return;
  if (layoutTimer !== undefined) clearTimeout(layoutTimer);
  layoutTimer = setTimeout(() => {
    layoutTimer = undefined;
    if (!view) return;
    const { cols, rows } = gridSize();
    if (cols === view.cols && rows === view.rows) return;
    show(isFit(view) ? fitView(view.diskSizeBytes, cols, rows) : relayout(view, cols, rows), 'layout');
  }, reducedMotion.matches ? 0 : 80);
}).observe(dom.container);

// VS Code swaps the theme's variables on <html> and its class on <body>.
const themeWatch = new MutationObserver(() => {
  colours = themeColours();
  paint();
});
themeWatch.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
themeWatch.observe(document.body, { attributes: true, attributeFilter: ['class'] });

dom.title.textContent = title;
post({ type: 'ready' });
