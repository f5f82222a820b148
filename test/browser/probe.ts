/** What the block-map page built by prepare.mjs exposes to the browser tests: its preparer and its probe. */

export interface Prepare {
  prepareBlockMapPage(): Promise<string>;
}

/** A byte window of the disk. */
export interface Window {
  offset: number;
  length: number;
}

export interface ProbeView extends Window {
  bytesPerCell: number;
  cols: number;
  rows: number;
  cellPx: number;
}

/** `globalThis.blockMapProbe` in the page: the map's layout and pixels, read from outside. */
export interface Probe {
  view(): ProbeView;
  cellOf(offset: number): number;
  cellCentre(cell: number): { x: number; y: number };
  pixel(cell: number): [number, number, number];
  settled(): boolean;
}
