/** Mouse, wheel, keyboard and toolbar input on the map, turned into the map's actions. */
import { dom } from './dom';
import { anchorCell, type MapState } from './state';
import { cellCount, clampOffset, panCells, type MapView } from './view';

export const CELL_PX = 8;

/** What input can ask the map to do. */
export interface MapActions {
  show(next: MapView, reason: 'zoom' | 'pan' | 'layout'): void;
  zoomBy(factor: number, anchorCell: number): void;
  fitWhole(): void;
  moveCursor(delta: number): void;
  selectCell(cell: number): void;
  hover(cell: number | undefined): void;
  hideTooltip(): void;
  showCursor(shown: boolean): void;
  exportRanges(format: 'json' | 'csv'): void;
  copySummary(): void;
}

function cellAt(state: MapState, event: MouseEvent): number | undefined {
  const view = state.view;
  if (!view) return undefined;
  const box = dom.canvas.getBoundingClientRect();
  const col = Math.floor(((event.clientX - box.left) / box.width) * view.cols);
  const row = Math.floor(((event.clientY - box.top) / box.height) * view.rows);
  if (col < 0 || row < 0 || col >= view.cols || row >= view.rows) return undefined;
  return row * view.cols + col;
}

function onKey(state: MapState, actions: MapActions, event: KeyboardEvent): void {
  const view = state.view;
  if (!view) return;
  const page = view.cols * (view.rows - 1);
  switch (event.key) {
    case '+':
    case '=':
      actions.zoomBy(0.5, anchorCell(state));
      break;
    case '-':
    case '_':
      actions.zoomBy(2, anchorCell(state));
      break;
    case '0':
      actions.fitWhole();
      break;
    case 'ArrowLeft':
      actions.moveCursor(-1);
      break;
    case 'ArrowRight':
      actions.moveCursor(1);
      break;
    case 'ArrowUp':
      actions.moveCursor(-view.cols);
      break;
    case 'ArrowDown':
      actions.moveCursor(view.cols);
      break;
    case 'PageUp':
      actions.show(panCells(view, -page), 'pan');
      break;
    case 'PageDown':
      actions.show(panCells(view, page), 'pan');
      break;
    case 'Home':
      state.cursorCell = 0;
      state.cursorShown = true;
      actions.show({ ...view, offset: 0 }, 'pan');
      break;
    case 'End': {
      const end = { ...view, offset: clampOffset(view, view.diskSizeBytes) };
      state.cursorShown = true;
      state.cursorCell = Math.max(0, Math.min(cellCount(end) - 1, Math.ceil((end.diskSizeBytes - end.offset) / end.bytesPerCell) - 1));
      actions.show(end, 'pan');
      break;
    }
    case 'Enter':
    case ' ':
      actions.selectCell(state.cursorCell);
      break;
    case 'Escape':
      actions.showCursor(false);
      break;
    default:
      return;
  }
  event.preventDefault();
}

// Trackpads send many small wheel deltas: one zoom step per mouse-wheel notch's worth of them.
const WHEEL_STEP = 100;

export function bindInput(state: MapState, actions: MapActions): void {
  const canvas = dom.canvas;
  let drag: { x: number; y: number; view: MapView; moved: boolean; pointerId: number } | undefined;
  let dragFrame = 0;
  let lastPointer = { x: 0, y: 0 };
  let wheelDelta = 0;

  canvas.addEventListener(
    'wheel',
    (event) => {
      const view = state.view;
      if (!view) return;
      event.preventDefault();
      const scale = event.deltaMode === WheelEvent.DOM_DELTA_LINE ? 33 : event.deltaMode === WheelEvent.DOM_DELTA_PAGE ? WHEEL_STEP : 1;
      wheelDelta += event.deltaY * scale;
      const cell = cellAt(state, event) ?? Math.floor(cellCount(view) / 2);
      while (Math.abs(wheelDelta) >= WHEEL_STEP) {
        actions.zoomBy(wheelDelta < 0 ? 0.5 : 2, cell);
        wheelDelta -= Math.sign(wheelDelta) * WHEEL_STEP;
      }
    },
    { passive: false },
  );

  canvas.addEventListener('pointerdown', (event) => {
    if (!state.view || event.button !== 0) return;
    drag = { x: event.clientX, y: event.clientY, view: state.view, moved: false, pointerId: event.pointerId };
    canvas.setPointerCapture(event.pointerId);
  });

  canvas.addEventListener('pointermove', (event) => {
    if (drag && state.view) {
      const dx = Math.round((event.clientX - drag.x) / CELL_PX);
      const dy = Math.round((event.clientY - drag.y) / CELL_PX);
      if (!drag.moved && Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) < 4) return;
      drag.moved = true;
      canvas.classList.add('dragging');
      actions.hideTooltip();
      const target = panCells(drag.view, -(dy * drag.view.cols + dx));
      if (target.offset !== state.view.offset && !dragFrame) {
        dragFrame = requestAnimationFrame(() => {
          dragFrame = 0;
          if (drag && state.view) {
            const d = panCells(drag.view, -(Math.round((lastPointer.y - drag.y) / CELL_PX) * drag.view.cols + Math.round((lastPointer.x - drag.x) / CELL_PX)));
            if (d.offset !== state.view.offset) actions.show(d, 'pan');
          }
        });
      }
      lastPointer = { x: event.clientX, y: event.clientY };
      return;
    }
    const cell = cellAt(state, event);
    if (cell !== state.hoverCell) actions.hover(cell);
  });

  canvas.addEventListener('pointerup', (event) => {
    const wasDrag = drag?.moved;
    if (drag) canvas.releasePointerCapture(drag.pointerId);
    drag = undefined;
    canvas.classList.remove('dragging');
    if (!wasDrag) {
      const cell = cellAt(state, event);
      if (cell !== undefined) {
        state.cursorCell = cell;
        actions.selectCell(cell);
      }
    }
  });

  canvas.addEventListener('pointerleave', () => {
    if (!drag) actions.hover(undefined);
  });

  canvas.addEventListener('keydown', (event) => onKey(state, actions, event));
  canvas.addEventListener('focus', () => actions.showCursor(true));
  canvas.addEventListener('blur', () => actions.showCursor(false));

  dom.button('zoom-in').addEventListener('click', () => state.view && actions.zoomBy(0.5, anchorCell(state)));
  dom.button('zoom-out').addEventListener('click', () => state.view && actions.zoomBy(2, anchorCell(state)));
  dom.button('zoom-fit').addEventListener('click', () => actions.fitWhole());
  dom.button('export-json').addEventListener('click', () => actions.exportRanges('json'));
  dom.button('export-csv').addEventListener('click', () => actions.exportRanges('csv'));
  dom.button('copy-summary').addEventListener('click', () => actions.copySummary());
}
