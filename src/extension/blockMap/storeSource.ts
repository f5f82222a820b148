import { binDiff, summarizeDiff } from '../../core/blockMap';
import type { DiffRangeStore } from '../../core/rangeStore';
import type { BinnedWindow, BlockMapSummary, ExportFormat, FamilyBars, FilesMessage } from '../../shared/blockMapProtocol';
import type { BlockMapDataSource } from './dataSource';
import { toBlockMapSummary, type SummaryExtras } from './summary';

export interface StoreSourceOptions {
  readonly diskSizeBytes: number;
  /** The snapshots compared (resource ids): the JSON export names them as `disk-delta diff --json` does. */
  readonly pair?: { readonly from: string; readonly to: string };
  /** Names the pair without secrets, so a restored panel can find it again. */
  readonly restoreKey?: string;
  readonly extras?: SummaryExtras;
  readonly familyBars?: (signal?: AbortSignal) => Promise<FamilyBars>;
  readonly withPair?: (index: number, signal?: AbortSignal) => Promise<BlockMapDataSource>;
  readonly changedFiles?: (signal: AbortSignal) => Promise<FilesMessage>;
}

/** Ranges written per export chunk: small enough to keep memory flat, large enough to be quick. */
const EXPORT_CHUNK = 10_000;
/** Binned windows kept for re-use (each is two Float32Arrays of one screen's cells). */
const RECENT_WINDOWS = 8;

function abortIfAsked(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new DOMException('Export cancelled', 'AbortError');
}

/**
 * A map over a diff already listed into a DiffRangeStore: every zoom re-bins from memory, so no
 * SAS has to be granted again while the panel is open.
 */
export function blockMapSourceFromStore(store: DiffRangeStore, options: StoreSourceOptions): BlockMapDataSource {
  let summary: Promise<BlockMapSummary> | undefined;
  // Zooming out and back in, or returning to the whole disk, asks for the same windows again.
  const recent = new Map<string, BinnedWindow>();
  const source: BlockMapDataSource = {
    diskSizeBytes: options.diskSizeBytes,
    restoreKey: options.restoreKey,
    summary() {
      summary ??= summarizeDiff(store.all(), options.diskSizeBytes).then((s) => toBlockMapSummary(s, options.extras));
      return summary;
    },
    async bin(window, bins, signal) {
      abortIfAsked(signal);
      const key = `${window.offset}:${window.length}:${bins}`;
      const cached = recent.get(key);
      if (cached) {
        recent.delete(key);
        recent.set(key, cached);
        return { changed: cached.changed.slice(), cleared: cached.cleared.slice() };
      }
      const map = await binDiff(store.inWindow(window), window, bins);
      recent.set(key, { changed: map.changed.slice(), cleared: map.cleared.slice() });
      if (recent.size > RECENT_WINDOWS) recent.delete(recent.keys().next().value!);
      return { changed: map.changed, cleared: map.cleared };
    },
    rangesInCell(window, max) {
      const ranges = [];
      let total = 0;
      for (const r of store.inWindow(window)) {
        total += 1;
        if (ranges.length < max) ranges.push(r);
      }
      return Promise.resolve({ ranges, total });
    },
    // CSV and JSON as `disk-delta diff --csv|--json` print them, so one script reads either.
    async exportRanges(format: ExportFormat, writeChunk, signal) {
      let lines: string[] = [];
      let written = 0;
      let changedBytes = 0;
      let clearedBytes = 0;
      const pair = options.pair ? `"from":${JSON.stringify(options.pair.from)},"to":${JSON.stringify(options.pair.to)},` : '';
      await writeChunk(format === 'csv' ? 'offset,length,kind\n' : `{${pair}"diskSizeBytes":${options.diskSizeBytes},"ranges":[\n`);
      for (const r of store.all()) {
        lines.push(
          format === 'csv'
            ? `${r.offset},${r.length},${r.kind}`
            : `${written === 0 ? '' : ',\n'}{"offset":${r.offset},"length":${r.length},"kind":"${r.kind}"}`,
        );
        if (r.kind === 'cleared') clearedBytes += r.length;
        else changedBytes += r.length;
        written += 1;
        if (lines.length === EXPORT_CHUNK) {
          abortIfAsked(signal);
          await writeChunk(format === 'csv' ? `${lines.join('\n')}\n` : lines.join(''));
          lines = [];
        }
      }
      if (lines.length) await writeChunk(format === 'csv' ? `${lines.join('\n')}\n` : lines.join(''));
      await writeChunk(format === 'csv' ? '' : `\n],"changedBytes":${changedBytes},"clearedBytes":${clearedBytes},"rangeCount":${written}}\n`);
      return written;
    },
  };
  if (options.familyBars) source.familyBars = options.familyBars;
  if (options.withPair) source.withPair = options.withPair;
  if (options.changedFiles) source.changedFiles = options.changedFiles;
  return source;
}
