/**
 * The changed-block map webview. Holds no diff data of its own: it asks the host to bin the visible
 * window and paints what comes back; hover and selection ask for a capped list of a cell's ranges.
 * State lives in one object (state.ts), requests and replies are matched in one place (requests.ts),
 * input is bound in input.ts and the text around the map is drawn by sidePanel.ts.
 */
import { PAGE_BYTES, validateToWebviewMessage, type BlockMapViewState, type FromWebviewMessage, type ToWebviewMessage } from '../src/shared/blockMapProtocol';
import { formatBytes, formatHex } from '../src/core/format';
import { buildPanel, dom, el } from './dom';
import { bindInput, CELL_PX, type MapActions } from './input';
import { MapRenderer, themeColours } from './render';
import { HostRequests } from './requests';
import {
  clearSelection,
  fractionText,
  moreText,
  offsetsText,
  rangeItems,
  renderFamily,
  renderSummary,
  setStatus,
  showSelectionLoading,
  showSelectionRanges,
} from './sidePanel';
import { bindFiles, fileLabel, renderFiles, selectedFileEntry, type FilesPanelActions } from './filesPanel';
import { cellsOfExtents, filesInWindow } from '../src/shared/fileCells';
import { cellHasChanges, initialState, persistedState, selectedCell } from './state';
import { cellBytes, cellCount, clampOffset, fitView, isFit, panCells, relayout, resample, windowOf, zoom, type MapView } from './view';

interface VsCodeApi {
  postMessage(message: FromWebviewMessage): void;
  getState(): unknown;
  setState(state: BlockMapViewState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

performance.mark('blockmap:start');

const HOVER_RANGES = 8;
const SELECTION_RANGES = 200;
const HOVER_DELAY_MS = 120;
const HOVER_FILES = 6;

const vscode = acquireVsCodeApi();
buildPanel();

const renderer = new MapRenderer(dom.canvas);
const state = initialState(vscode.getState(), themeColours());
const requests = new HostRequests((message) => vscode.postMessage(message));
const reducedMotion = window.matchMedia('(prefers-reduced-motion: reduce)');
let pendingZoomStart: number | undefined;
let hoverTimer: ReturnType<typeof setTimeout> | undefined;

function saveState(): void {
  vscode.setState(persistedState(state));
}

function gridSize(): { cols: number; rows: number } {
  const box = dom.container.getBoundingClientRect();
  return { cols: Math.max(8, Math.floor(box.width / CELL_PX)), rows: Math.max(8, Math.floor(box.height / CELL_PX)) };
}

/** Cells of the view holding the lit file's changed bytes, or undefined when no file is lit. */
function litCells(view: MapView): Uint8Array | undefined {
  const file = selectedFileEntry(state);
  if (!file) return undefined;
  return cellsOfExtents(file.extents, { offset: view.offset, bytesPerCell: view.bytesPerCell, cells: cellCount(view) });
}

function paint(): void {
  if (!state.view) return;
  const lit = litCells(state.view);
  renderer.resize(state.view, CELL_PX);
  renderer.paint(state.view, state.changed, state.cleared, state.colours, CELL_PX, {
    hover: state.hoverCell,
    cursor: state.cursorCell,
    selected: selectedCell(state),
    showCursor: state.cursorShown,
    lit,
  });
  let litCount = 0;
  if (lit) for (const v of lit) litCount += v;
  dom.canvas.dataset.litCells = String(litCount);
}

function describeWindow(v: MapView): void {
  const w = windowOf(v);
  const end = Math.min(v.diskSizeBytes, w.offset + w.length);
  dom.zoomLevel.textContent = `${formatBytes(v.bytesPerCell)} per cell`;
  dom.windowInfo.textContent = `Showing ${formatHex(w.offset)} – ${formatHex(end)} (${formatBytes(w.offset)} – ${formatBytes(end)}) of ${formatBytes(v.diskSizeBytes)}`;
  Object.assign(dom.canvas.dataset, {
    windowOffset: String(w.offset),
    windowLength: String(w.length),
    bytesPerCell: String(v.bytesPerCell),
    cols: String(v.cols),
    rows: String(v.rows),
    cellPx: String(CELL_PX),
  });
  dom.button('zoom-in').disabled = v.bytesPerCell <= 512;
  dom.button('zoom-out').disabled = isFit(v);
}

/** Shows `next` at once (from the bins on screen) and asks the host for its exact bins. */
function show(next: MapView, reason: 'zoom' | 'pan' | 'layout' | 'init'): void {
  if (state.view && state.dataView && state.changed.length === cellCount(state.dataView)) {
    state.changed = resample(state.dataView, state.changed, next);
    state.cleared = resample(state.dataView, state.cleared, next);
  } else {
    state.changed = new Float32Array(cellCount(next)).fill(Number.NaN);
    state.cleared = new Float32Array(cellCount(next)).fill(Number.NaN);
  }
  state.dataView = next;
  state.view = next;
  state.cursorCell = Math.min(state.cursorCell, cellCount(next) - 1);
  describeWindow(next);
  paint();
  saveState();
  const zoomStart = reason === 'zoom' ? (pendingZoomStart ?? performance.now()) : undefined;
  pendingZoomStart = undefined;
  void requests.request({ type: 'bin', window: windowOf(next), bins: cellCount(next) }, 'bin').then((reply) => {
    if (reply?.type === 'bins') onBins(reply, zoomStart);
  });
}

function onBins(m: Extract<ToWebviewMessage, { type: 'bins' }>, zoomStart: number | undefined): void {
  const view = state.view;
  if (!view) return;
  const w = windowOf(view);
  if (m.window.offset !== w.offset || m.window.length !== w.length || m.bins !== cellCount(view)) return;
  state.changed = new Float32Array(m.changed);
  state.cleared = new Float32Array(m.cleared);
  state.dataView = view;
  paint();
  const now = performance.now();
  if (!state.firstPaintDone) {
    state.firstPaintDone = true;
    performance.measure('blockmap:first-paint', { start: 0, end: now });
    performance.measure('blockmap:first-paint-from-start', 'blockmap:start');
    dom.canvas.dataset.painted = '1';
  }
  if (zoomStart !== undefined) performance.measure('blockmap:zoom', { start: zoomStart, end: now });
  dom.canvas.dataset.paintedRequest = String(m.requestId);
  announceCursor();
}

function zoomBy(factor: number, anchorCell: number): void {
  if (!state.view) return;
  const next = zoom(state.view, factor, anchorCell);
  if (next === state.view) return;
  pendingZoomStart = performance.now();
  // The anchor keeps its bytes under the pointer; the cursor follows it.
  state.cursorCell = Math.max(0, Math.min(cellCount(next) - 1, anchorCell));
  show(next, 'zoom');
}

function fitWhole(): void {
  if (!state.view) return;
  pendingZoomStart = performance.now();
  show(fitView(state.view.diskSizeBytes, state.view.cols, state.view.rows), 'zoom');
}

function showTooltip(cell: number): void {
  const view = state.view;
  if (!view) return;
  const bytes = cellBytes(view, cell);
  const tip = dom.tooltip;
  if (!bytes) {
    tip.hidden = true;
    return;
  }
  tip.replaceChildren(
    el('div', { id: 'tooltip-offsets' }, offsetsText(bytes.offset, bytes.length)),
    el('div', { id: 'tooltip-fraction' }, fractionText(state, cell)),
  );
  if (state.files?.state === 'ready') {
    // The file list is already here: the files under the cell need no round trip to the host.
    const inCell = filesInWindow(state.files.files, bytes, HOVER_FILES);
    if (inCell.total > 0) {
      const ul = el('ul', { id: 'tooltip-files', 'aria-label': 'Files in this cell' });
      ul.append(
        ...inCell.files.map((f) => el('li', { 'data-path': f.path }, `${f.dir ? `${f.path}/` : f.path} (${f.change}, ${formatBytes(f.changedBytes)})`)),
      );
      tip.append(ul);
      if (inCell.total > inCell.files.length) tip.append(el('div', { id: 'tooltip-files-more' }, `… and ${inCell.total - inCell.files.length} more files`));
    }
  }
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
    if (!cellHasChanges(state, cell)) return;
    void requests.request({ type: 'cellRanges', window: bytes, max: HOVER_RANGES }, 'hover').then((m) => {
      if (m?.type !== 'cellRanges' || dom.tooltip.hidden || dom.tooltip.dataset.offset !== String(m.window.offset)) return;
      const ul = el('ul', { id: 'tooltip-ranges' });
      ul.append(...rangeItems(m.ranges));
      const extra: HTMLElement[] = [ul];
      const more = moreText(m);
      if (more) extra.push(el('div', {}, more));
      if (m.ranges.length === 0) extra.splice(0, 1, el('div', {}, 'no ranges'));
      dom.tooltip.querySelector('#tooltip-ranges')?.remove();
      dom.tooltip.append(...extra);
    });
  }, HOVER_DELAY_MS);
}

function hideTooltip(): void {
  dom.tooltip.hidden = true;
  if (hoverTimer !== undefined) clearTimeout(hoverTimer);
  hoverTimer = undefined;
  requests.cancel('hover');
}

function selectCell(cell: number): void {
  if (!state.view) return;
  const bytes = cellBytes(state.view, cell);
  if (!bytes) return;
  state.selectedOffset = bytes.offset;
  showSelectionLoading(`${offsetsText(bytes.offset, bytes.length)}: ${fractionText(state, cell)}`);
  void requests.request({ type: 'cellRanges', window: bytes, max: SELECTION_RANGES }, 'selection').then((m) => {
    if (m?.type === 'cellRanges') showSelectionRanges(m);
  });
  saveState();
  paint();
}

function announceCursor(): void {
  if (!state.view || !state.cursorShown) return;
  const bytes = cellBytes(state.view, state.cursorCell);
  dom.cursorInfo.textContent = bytes ? `${offsetsText(bytes.offset, bytes.length)}: ${fractionText(state, state.cursorCell)}` : 'Past the end of the disk';
}

function moveCursor(delta: number): void {
  const view = state.view;
  if (!view) return;
  state.cursorShown = true;
  let target = state.cursorCell + delta;
  const cells = cellCount(view);
  if (target < 0 || target >= cells) {
    // Off the edge: scroll the disk under the cursor by whole rows.
    const rowsToMove = target < 0 ? -Math.ceil(-target / view.cols) : Math.ceil((target - cells + 1) / view.cols);
    const next = panCells(view, rowsToMove * view.cols);
    const moved = (next.offset - view.offset) / view.bytesPerCell;
    target = Math.max(0, Math.min(cells - 1, target - moved));
    state.cursorCell = target;
    if (moved !== 0) show(next, 'pan');
  } else state.cursorCell = target;
  paint();
  announceCursor();
  showTooltip(state.cursorCell);
}

const actions: MapActions = {
  show,
  zoomBy,
  fitWhole,
  moveCursor,
  selectCell,
  hideTooltip,
  hover(cell) {
    state.hoverCell = cell;
    paint();
    if (cell === undefined) hideTooltip();
    else showTooltip(cell);
  },
  showCursor(shown) {
    state.cursorShown = shown;
    if (!shown) hideTooltip();
    paint();
    if (shown) announceCursor();
  },
  exportRanges(format) {
    setStatus(`Choose where to save the ${format.toUpperCase()} export…`);
    void requests.request({ type: 'export', format }).then((m) => {
      if (m?.type === 'exportDone') setStatus(m.message, m.outcome === 'failed');
    });
  },
  copySummary() {
    if (!state.summary) setStatus('The summary is still being computed.');
    requests.send({ type: 'copySummary' });
  },
};

function showLitFile(): void {
  const file = selectedFileEntry(state);
  dom.legendFile.hidden = !file;
  dom.text('legend-file-text').textContent = file ? `Changed blocks of ${file.path}${file.coarse ? ' (approximate)' : ''}` : "Selected file's changed blocks";
  paint();
}

const fileActions: FilesPanelActions = {
  select(path) {
    state.selectedFile = path;
    saveState();
    renderFiles(state, fileActions);
    showLitFile();
    const file = selectedFileEntry(state);
    if (file) setStatus(`${fileLabel(file)}. ${dom.canvas.dataset.litCells ?? '0'} cells of the map shown are lit.`);
    else if (path === undefined) setStatus('No file is lit.');
  },
  filtered() {
    saveState();
    renderFiles(state, fileActions);
  },
};

// ---- host messages ----

function startView(diskSizeBytes: number, saved: BlockMapViewState['window']): void {
  const { cols, rows } = gridSize();
  let next = fitView(diskSizeBytes, cols, rows);
  if (saved) {
    const bytesPerCell = Math.min(next.bytesPerCell, Math.max(PAGE_BYTES, Math.round(saved.length / (cols * rows) / PAGE_BYTES) * PAGE_BYTES));
    const sized = { ...next, bytesPerCell };
    next = { ...sized, offset: clampOffset(sized, saved.offset) };
  }
  state.dataView = undefined;
  state.view = undefined;
  show(next, 'init');
}

function setTitle(title: string, restoreKey: string | undefined): void {
  state.title = title;
  state.restoreKey = restoreKey;
  dom.title.textContent = title;
  document.title = title;
}

function pickPair(index: number): void {
  const bar = state.family?.bars[index];
  if (!bar || index === state.family?.selected) return;
  setStatus(`Mapping ${bar.fromLabel} → ${bar.toLabel}…`);
  void requests.request({ type: 'selectPair', index }, 'pair').then((m) => {
    if (m?.type !== 'pairSelected') return;
    setTitle(m.title, m.restoreKey);
    state.selectedOffset = undefined;
    state.files = undefined;
    state.selectedFile = undefined;
    renderFiles(state, fileActions);
    showLitFile();
    clearSelection();
    setStatus(`Showing ${m.title}.`);
    startView(m.diskSizeBytes, undefined);
  });
}

function onMessage(message: ToWebviewMessage): void {
  if ('requestId' in message && message.requestId !== undefined && requests.settle(message)) {
    // An error still says what went wrong, whichever request it answers.
    if (message.type === 'error') setStatus(message.message, true);
    return;
  }
  switch (message.type) {
    case 'init': {
      setTitle(message.title, message.restoreKey);
      // A state from another pair (or none) starts at the whole disk.
      const samePair = state.restored.restoreKey === undefined || state.restored.restoreKey === state.restoreKey;
      startView(message.diskSizeBytes, samePair ? state.restored.window : undefined);
      if (!samePair) {
        state.selectedOffset = undefined;
        state.selectedFile = undefined;
      }
      const reselect = selectedCell(state);
      if (reselect !== undefined) selectCell(reselect);
      state.restored = {};
      return;
    }
    case 'summary':
      state.summary = message.summary;
      renderSummary(message.summary);
      return;
    case 'family':
      state.family = message.family;
      renderFamily(message.family, pickPair);
      return;
    case 'files':
      state.files = message;
      // A lit file the new list does not hold (another pair) goes dark.
      if (message.state === 'ready' && state.selectedFile !== undefined && !selectedFileEntry(state)) state.selectedFile = undefined;
      renderFiles(state, fileActions);
      showLitFile();
      return;
    case 'notice':
      setStatus(message.message);
      return;
    case 'error':
      setStatus(message.message, true);
      return;
    default:
      // An answer to a request that was superseded: nothing waits for it any more.
      return;
  }
}

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const checked = validateToWebviewMessage(event.data);
  if (checked.ok) onMessage(checked.message);
  else console.warn(`block map: dropped a message: ${checked.reason}`);
});

bindInput(state, actions);
bindFiles(state, fileActions);

let layoutTimer: ReturnType<typeof setTimeout> | undefined;
new ResizeObserver(() => {
  if (!state.view) return;
  if (layoutTimer !== undefined) clearTimeout(layoutTimer);
  layoutTimer = setTimeout(
    () => {
      layoutTimer = undefined;
      const view = state.view;
      if (!view) return;
      const { cols, rows } = gridSize();
      if (cols === view.cols && rows === view.rows) return;
      show(isFit(view) ? fitView(view.diskSizeBytes, cols, rows) : relayout(view, cols, rows), 'layout');
    },
    reducedMotion.matches ? 0 : 80,
  );
}).observe(dom.container);

// VS Code swaps the theme's variables on <html> and its class on <body>.
const themeWatch = new MutationObserver(() => {
  state.colours = themeColours();
  paint();
});
themeWatch.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
themeWatch.observe(document.body, { attributes: true, attributeFilter: ['class'] });

dom.title.textContent = state.title;
vscode.postMessage({ type: 'ready' });
