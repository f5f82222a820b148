/** The block map's state in one object: what the panel shows, where the user is, and what it keeps across reloads. */
import { parseViewState, type BlockMapSummary, type BlockMapViewState, type FamilyBars, type FilesMessage } from '../src/shared/blockMapProtocol';
import type { MapColours } from './render';
import { cellCount, windowOf, type MapView } from './view';

export interface MapState {
  title: string;
  restoreKey: string | undefined;
  /** What `setState` kept from before a reload, until the host's `init` has used it. */
  restored: BlockMapViewState;
  view: MapView | undefined;
  /** The view `changed` / `cleared` were binned for: they are resampled from it until exact bins arrive. */
  dataView: MapView | undefined;
  changed: Float32Array;
  cleared: Float32Array;
  firstPaintDone: boolean;
  hoverCell: number | undefined;
  cursorCell: number;
  cursorShown: boolean;
  /** Offset of the selected cell's first byte; kept as an offset so that it survives zoom and reload. */
  selectedOffset: number | undefined;
  summary: BlockMapSummary | undefined;
  family: FamilyBars | undefined;
  /** The Files panel's list (undefined until the host sends one), its filter and the file lit on the map (by path). */
  files: FilesMessage | undefined;
  fileFilter: string;
  selectedFile: string | undefined;
  colours: MapColours;
}

export function initialState(saved: unknown, colours: MapColours): MapState {
  const restored = parseViewState(saved);
  return {
    title: restored.title ?? 'Changed-block map',
    restoreKey: restored.restoreKey,
    restored,
    view: undefined,
    dataView: undefined,
    changed: new Float32Array(0),
    cleared: new Float32Array(0),
    firstPaintDone: false,
    hoverCell: undefined,
    cursorCell: 0,
    cursorShown: false,
    selectedOffset: restored.selectedOffset,
    summary: undefined,
    family: undefined,
    files: undefined,
    fileFilter: restored.fileFilter ?? '',
    selectedFile: restored.selectedFile,
    colours,
  };
}

/** What the webview keeps with `setState` (no data, no secrets). */
export function persistedState(state: MapState): BlockMapViewState {
  return {
    restoreKey: state.restoreKey,
    title: state.title,
    window: state.view ? windowOf(state.view) : state.restored.window,
    selectedOffset: state.selectedOffset,
    ...(state.fileFilter ? { fileFilter: state.fileFilter } : {}),
    ...(state.selectedFile !== undefined ? { selectedFile: state.selectedFile } : {}),
  };
}

export function selectedCell(state: MapState): number | undefined {
  const { view, selectedOffset } = state;
  if (!view || selectedOffset === undefined) return undefined;
  const cell = Math.floor((selectedOffset - view.offset) / view.bytesPerCell);
  return cell >= 0 && cell < cellCount(view) ? cell : undefined;
}

/** The cell zoom buttons and keys anchor on: the cursor when it shows, else the middle of the map. */
export function anchorCell(state: MapState): number {
  if (!state.view) return 0;
  return state.cursorShown ? state.cursorCell : Math.floor(cellCount(state.view) / 2);
}

/** Unknown (still binning) counts as possibly changed. */
export function cellHasChanges(state: MapState, cell: number): boolean {
  return !(state.changed[cell] === 0 && state.cleared[cell] === 0);
}
