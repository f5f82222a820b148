/**
 * Which part of the disk the map shows: a grid of `cols` x `rows` cells of `bytesPerCell` bytes each,
 * read row by row from `offset`. Offsets stay on the cell grid so that cell boundaries are round
 * numbers and a pan can reuse the bins already on screen.
 */
import { PAGE_BYTES, type MapWindow } from '../src/shared/blockMapProtocol';

export interface MapView {
  readonly diskSizeBytes: number;
  readonly cols: number;
  readonly rows: number;
  readonly bytesPerCell: number;
  readonly offset: number;
}

export function cellCount(view: MapView): number {
  return view.cols * view.rows;
}

export function windowOf(view: MapView): MapWindow {
  return { offset: view.offset, length: view.bytesPerCell * cellCount(view) };
}

function toPages(bytes: number): number {
  return Math.max(PAGE_BYTES, Math.ceil(bytes / PAGE_BYTES) * PAGE_BYTES);
}

/** Bytes per cell that fit the whole disk on screen: the most zoomed-out view. */
export function fitBytesPerCell(diskSizeBytes: number, cells: number): number {
  return toPages(diskSizeBytes / Math.max(1, cells));
}

export function clampOffset(view: MapView, offset: number): number {
  const diskCells = Math.ceil(view.diskSizeBytes / view.bytesPerCell);
  const maxCell = Math.max(0, diskCells - cellCount(view));
  const cell = Math.min(maxCell, Math.max(0, Math.floor(offset / view.bytesPerCell)));
  return cell * view.bytesPerCell;
}

export function fitView(diskSizeBytes: number, cols: number, rows: number): MapView {
  return { diskSizeBytes, cols, rows, bytesPerCell: fitBytesPerCell(diskSizeBytes, cols * rows), offset: 0 };
}

/** The same place on a grid of another size (after a resize or a restore). */
export function relayout(view: MapView, cols: number, rows: number, keepLength = false): MapView {
  const fit = fitBytesPerCell(view.diskSizeBytes, cols * rows);
  const wanted = keepLength ? toPages((view.bytesPerCell * cellCount(view)) / (cols * rows)) : view.bytesPerCell;
  const bytesPerCell = Math.min(fit, wanted);
  const next = { ...view, cols, rows, bytesPerCell };
  return { ...next, offset: clampOffset(next, view.offset) };
}

export function isFit(view: MapView): boolean {
  return view.bytesPerCell >= fitBytesPerCell(view.diskSizeBytes, cellCount(view));
}

/**
 * Zooms by `factor` (< 1 zooms in) keeping the cell at `anchorCell` over the same bytes.
 * Stops at one 512-byte page per cell and at the whole disk.
 */
export function zoom(view: MapView, factor: number, anchorCell: number): MapView {
  const fit = fitBytesPerCell(view.diskSizeBytes, cellCount(view));
  const bytesPerCell = Math.min(fit, toPages(Math.round(view.bytesPerCell * factor)));
  if (bytesPerCell === view.bytesPerCell) return view;
  const anchor = view.offset + anchorCell * view.bytesPerCell + view.bytesPerCell / 2;
  const next = { ...view, bytesPerCell };
  return { ...next, offset: clampOffset(next, anchor - anchorCell * bytesPerCell) };
}

/** Moves the window by whole cells (negative: towards the start of the disk). */
export function panCells(view: MapView, cells: number): MapView {
  return { ...view, offset: clampOffset(view, view.offset + cells * view.bytesPerCell) };
}

/** Byte range of a cell on screen, clipped to the disk; undefined past the end of the disk. */
export function cellBytes(view: MapView, cell: number): MapWindow | undefined {
  const start = view.offset + cell * view.bytesPerCell;
  if (cell < 0 || cell >= cellCount(view) || start >= view.diskSizeBytes) return undefined;
  return { offset: start, length: Math.min(view.bytesPerCell, view.diskSizeBytes - start) };
}

/**
 * Re-samples bins of `from` onto `to` (a preview while the host bins the new window): each new cell
 * takes the mean of the old cells it overlaps; cells the old view did not cover are NaN.
 */
export function resample(from: MapView, values: Float32Array, to: MapView): Float32Array {
  const out = new Float32Array(cellCount(to)).fill(Number.NaN);
  const oldCells = cellCount(from);
  for (let j = 0; j < out.length; j++) {
    const start = to.offset + j * to.bytesPerCell;
    const end = start + to.bytesPerCell;
    const first = Math.floor((start - from.offset) / from.bytesPerCell);
    const last = Math.floor((end - 1 - from.offset) / from.bytesPerCell);
    if (last < 0 || first >= oldCells) continue;
    let sum = 0;
    let n = 0;
    for (let k = Math.max(0, first); k <= Math.min(oldCells - 1, last); k++) {
      const v = values[k];
      if (v === undefined || Number.isNaN(v)) continue;
      sum += v;
      n += 1;
    }
    if (n > 0) out[j] = sum / n;
  }
  return out;
}
