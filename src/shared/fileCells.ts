/**
 * Where changed files lie on the block map: shared by the host (which caps each file's extents before
 * sending them) and the webview (which finds the files under a cell and the cells of a file). Pure and
 * free of DOM and `vscode` so that both sides, and the unit tests, use the same arithmetic.
 */
import { MAX_FILE_EXTENTS, type ChangedFile, type MapWindow } from './blockMapProtocol';

interface Range {
  readonly offset: number;
  readonly length: number;
}

/**
 * Merges `ranges` (in offset order, not overlapping) across their smallest gaps until at most `max`
 * remain: the result covers every input byte, plus the gaps it closed. `coarse` when any gap was closed.
 */
export function capExtents(ranges: readonly Range[], max = MAX_FILE_EXTENTS): { extents: MapWindow[]; coarse: boolean } {
  const sorted = [...ranges].filter((r) => r.length > 0).sort((a, b) => a.offset - b.offset);
  const merged: { offset: number; end: number }[] = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last && r.offset <= last.end) last.end = Math.max(last.end, r.offset + r.length);
    else merged.push({ offset: r.offset, end: r.offset + r.length });
  }
  if (merged.length <= max) return { extents: merged.map((m) => ({ offset: m.offset, length: m.end - m.offset })), coarse: false };
  // Keep the (max - 1) widest gaps open; close every other one.
  const gaps = merged.slice(1).map((m, i) => ({ after: i, width: m.offset - merged[i]!.end }));
  gaps.sort((a, b) => b.width - a.width || a.after - b.after);
  const open = new Set(gaps.slice(0, Math.max(0, max - 1)).map((g) => g.after));
  const out: MapWindow[] = [];
  let start = merged[0]!.offset;
  for (let i = 0; i < merged.length; i++) {
    if (i === merged.length - 1 || open.has(i)) {
      out.push({ offset: start, length: merged[i]!.end - start });
      if (i + 1 < merged.length) start = merged[i + 1]!.offset;
    }
  }
  return { extents: out, coarse: true };
}

function overlaps(extents: readonly MapWindow[], window: MapWindow): boolean {
  const end = window.offset + window.length;
  // Extents are in offset order: binary search for the first one ending after the window starts.
  let lo = 0;
  let hi = extents.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const e = extents[mid]!;
    if (e.offset + e.length <= window.offset) lo = mid + 1;
    else hi = mid;
  }
  const e = extents[lo];
  return e !== undefined && e.offset < end;
}

/** The files whose changed extents intersect `window` (one cell), largest first, at most `max`; `total` counts them all. */
export function filesInWindow(files: readonly ChangedFile[], window: MapWindow, max: number): { files: ChangedFile[]; total: number } {
  const hits = files.filter((f) => overlaps(f.extents, window));
  hits.sort((a, b) => b.changedBytes - a.changedBytes || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { files: hits.slice(0, max), total: hits.length };
}

/** The map's grid: `cells` cells of `bytesPerCell` bytes from `offset`. */
export interface CellGrid {
  readonly offset: number;
  readonly bytesPerCell: number;
  readonly cells: number;
}

/** Marks (1) each cell of the grid that holds any byte of `extents`. */
export function cellsOfExtents(extents: readonly MapWindow[], grid: CellGrid): Uint8Array {
  const mask = new Uint8Array(grid.cells);
  const gridEnd = grid.offset + grid.cells * grid.bytesPerCell;
  for (const e of extents) {
    const start = Math.max(e.offset, grid.offset);
    const end = Math.min(e.offset + e.length, gridEnd);
    if (end <= start) continue;
    const first = Math.floor((start - grid.offset) / grid.bytesPerCell);
    const last = Math.floor((end - 1 - grid.offset) / grid.bytesPerCell);
    mask.fill(1, first, last + 1);
  }
  return mask;
}

/** Files ranked by changed bytes whose path contains `filter` (case-insensitive); every file for an empty filter. */
export function filterFiles(files: readonly ChangedFile[], filter: string): ChangedFile[] {
  const needle = filter.trim().toLowerCase();
  const kept = needle ? files.filter((f) => f.path.toLowerCase().includes(needle) || (f.previousPath?.toLowerCase().includes(needle) ?? false)) : [...files];
  return kept.sort((a, b) => b.changedBytes - a.changedBytes || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
