import type { BinnedWindow, BlockMapSummary, CellRanges, ExportFormat, FamilyBars, FilesMessage, MapWindow } from '../../shared/blockMapProtocol';

/**
 * What the block-map panel needs from the extension. Implemented over the streamed diff of two
 * snapshots; the panel holds one at a time and swaps it when the user picks another pair.
 */
export interface BlockMapDataSource {
  /** Size of the disk in bytes. */
  readonly diskSizeBytes: number;
  /**
   * Identifies the pair without secrets (e.g. both snapshot ids as JSON), kept in the webview's state
   * so that a restored panel can ask the extension for the same source again.
   */
  readonly restoreKey?: string;
  summary(signal?: AbortSignal): Promise<BlockMapSummary>;
  /** Bins the window into `bins` equal cells; only the window's ranges are read. */
  bin(window: MapWindow, bins: number, signal: AbortSignal): Promise<BinnedWindow>;
  /** Ranges overlapping the window (one cell), at most `max` of them, in offset order. */
  rangesInCell(window: MapWindow, max: number, signal?: AbortSignal): Promise<CellRanges>;
  /** Changes per consecutive snapshot pair of the family; undefined when the source has no family. */
  familyBars?(signal?: AbortSignal): Promise<FamilyBars>;
  /** The source for another consecutive pair (an index into familyBars().bars). */
  withPair?(index: number, signal?: AbortSignal): Promise<BlockMapDataSource>;
  /**
   * The Files panel's content: the file-level diff of the pair (which reads both snapshots, so it is
   * asked for only after the map's first paint). Undefined when the source cannot name files.
   */
  changedFiles?(signal: AbortSignal): Promise<FilesMessage>;
  /** Writes every range in the format, in chunks; resolves with how many ranges were written. */
  exportRanges(format: ExportFormat, writeChunk: (text: string) => Promise<void>, signal?: AbortSignal): Promise<number>;
}
