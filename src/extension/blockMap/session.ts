/**
 * The host side of one block-map panel: answers the webview's requests from a BlockMapDataSource.
 * Free of `vscode` so it can be tested in plain node; panel.ts wires it to a WebviewPanel.
 */
import { isAbortError } from '../../core/errors';
import { redact } from '../../core/secret';
import {
  MAX_CELL_RANGES,
  validateFromWebviewMessage,
  type BlockMapSummary,
  type ExportFormat,
  type FilesMessage,
  type FromWebviewMessage,
  type ToWebviewMessage,
} from '../../shared/blockMapProtocol';
import type { BlockMapDataSource } from './dataSource';
import { summaryText } from './summary';

/** The part of a log channel the panel writes to (a vscode.LogOutputChannel fits). */
export interface BlockMapLog {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Where an export goes: opened after the user chose a file, closed when done. */
export interface ExportSink {
  write(text: string): Promise<void>;
  close(): Promise<void>;
  /** Removes what was written (after a failure or cancellation). */
  discard(): Promise<void>;
  readonly displayName: string;
}

/** What the session needs from the editor around it. */
export interface BlockMapUi {
  post(message: ToWebviewMessage): void;
  /** Asks where to save; undefined when the user cancelled. */
  chooseExportTarget(format: ExportFormat, suggestedName: string): Promise<ExportSink | undefined>;
  /** Runs a long export with progress and a cancel button. */
  withExportProgress<T>(title: string, task: (signal: AbortSignal) => Promise<T>): Promise<T>;
  writeClipboard(text: string): Promise<void>;
  setTitle(title: string): void;
}

function describe(error: unknown): string {
  return redact(error instanceof Error ? error.message : String(error));
}

/** File name safe on every OS, from a panel title. */
export function exportFileName(title: string, format: ExportFormat): string {
  const base =
    title
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 100) || 'changed-ranges';
  return `${base}.${format}`;
}

export class BlockMapSession {
  #source: BlockMapDataSource;
  #title: string;
  #summary: Promise<BlockMapSummary> | undefined;
  #binning: AbortController | undefined;
  #cell: AbortController | undefined;
  /** The file diff of the current pair: started after the first bins went out, dropped when the pair changes. */
  #filesRun: AbortController | undefined;
  #files: FilesMessage | undefined;
  /** Settles when the current file diff has ended and given its grants back. */
  #filesDone: Promise<void> = Promise.resolve();
  /** Settles when the family's bars (a diff per pair, each with its own grants) are known. */
  #familyDone: Promise<void> = Promise.resolve();
  readonly #lifetime = new AbortController();

  constructor(
    source: BlockMapDataSource,
    title: string,
    private readonly ui: BlockMapUi,
    private readonly log: BlockMapLog,
  ) {
    this.#source = source;
    this.#title = title;
  }

  get title(): string {
    return this.#title;
  }

  get source(): BlockMapDataSource {
    return this.#source;
  }

  /** Entry point for everything the webview posts; malformed messages are logged and dropped. */
  async receive(raw: unknown): Promise<void> {
    const checked = validateFromWebviewMessage(raw);
    if (!checked.ok) {
      this.log.warn(`Block map: dropped a malformed message from the webview (${redact(checked.reason)})`);
      return;
    }
    try {
      await this.#handle(checked.message);
    } catch (error) {
      if (isAbortError(error) || this.#lifetime.signal.aborted) return;
      const message = describe(error);
      this.log.error(`Block map: ${checked.message.type} failed: ${message}`);
      this.#post({ type: 'error', requestId: 'requestId' in checked.message ? checked.message.requestId : undefined, message });
    }
  }

  dispose(): void {
    this.#lifetime.abort();
    this.#binning?.abort();
    this.#cell?.abort();
    this.#filesRun?.abort();
  }

  /**
   * Starts the pair's file diff once, in the background: it reads both snapshots, so it waits until the
   * map has its first bins (the map never waits for it). A webview shown again gets the last state at once.
   */
  #startFiles(): void {
    const source = this.#source;
    if (this.#filesRun || !source.changedFiles) return;
    const changedFiles = source.changedFiles.bind(source);
    const controller = new AbortController();
    this.#filesRun = controller;
    this.#postFiles({ type: 'files', state: 'computing', files: [], total: 0 });
    const signal = AbortSignal.any([controller.signal, this.#lifetime.signal]);
    // One grant-holding operation on a snapshot at a time: the family's bars diff the neighbouring pairs,
    // which share this pair's snapshots. Two overlapping grants on one snapshot end badly - the second sees
    // the first's (Active SAS) and leaves it open, the first's revoke ends the second's SAS
    // (docs/azure-behaviour.md#access-sas-grants).
    const run = this.#familyDone.then(async () => {
      if (signal.aborted) throw new DOMException('Files panel closed', 'AbortError');
      const started = Date.now();
      return { m: await changedFiles(signal), ms: Date.now() - started };
    });
    this.#filesDone = run.then(
      () => undefined,
      () => undefined,
    );
    run.then(
      ({ m, ms }) => {
        if (controller.signal.aborted || this.#source !== source) return;
        this.log.info(
          m.state === 'ready'
            ? `Block map: ${m.total} changed files and directories named in ${ms} ms`
            : `Block map: files not available: ${redact(m.reason ?? '')}`,
        );
        this.#postFiles(m);
      },
      (error: unknown) => {
        if (controller.signal.aborted || this.#source !== source || isAbortError(error)) return;
        const message = describe(error);
        this.log.warn(`Block map: the file-level diff failed: ${message}`);
        this.#postFiles({ type: 'files', state: 'unavailable', reason: `The file-level diff failed: ${message}`, files: [], total: 0 });
      },
    );
  }

  #postFiles(m: FilesMessage): void {
    this.#files = m;
    this.#post(m);
  }

  #post(message: ToWebviewMessage): void {
    if (!this.#lifetime.signal.aborted) this.ui.post(message);
  }

  #summaryOf(): Promise<BlockMapSummary> {
    this.#summary ??= this.#source.summary(this.#lifetime.signal);
    return this.#summary;
  }

  async #handle(m: FromWebviewMessage): Promise<void> {
    switch (m.type) {
      case 'ready':
        this.#post({ type: 'init', title: this.#title, diskSizeBytes: this.#source.diskSizeBytes, restoreKey: this.#source.restoreKey });
        // A webview shown again (it keeps no data while hidden) gets the file list the session already has.
        if (this.#files) this.#post(this.#files);
        this.#familyDone = this.#sendFamily();
        await Promise.all([this.#sendSummary(), this.#familyDone]);
        return;
      case 'bin': {
        // Only the newest view matters: a zoom or pan makes the previous binning useless.
        this.#binning?.abort();
        const controller = new AbortController();
        this.#binning = controller;
        const binned = await this.#source.bin(m.window, m.bins, controller.signal);
        if (controller.signal.aborted) return;
        if (binned.changed.length !== m.bins || binned.cleared.length !== m.bins) {
          throw new Error(`binning returned ${binned.changed.length} cells for ${m.bins} asked`);
        }
        this.#post({
          type: 'bins',
          requestId: m.requestId,
          window: m.window,
          bins: m.bins,
          changed: bufferOf(binned.changed),
          cleared: bufferOf(binned.cleared),
        });
        this.#startFiles();
        return;
      }
      case 'cellRanges': {
        this.#cell?.abort();
        const controller = new AbortController();
        this.#cell = controller;
        const found = await this.#source.rangesInCell(m.window, Math.min(m.max, MAX_CELL_RANGES), controller.signal);
        if (controller.signal.aborted) return;
        const ranges = found.ranges.slice(0, Math.min(m.max, MAX_CELL_RANGES)).map((r) => ({ offset: r.offset, length: r.length, kind: r.kind }));
        this.#post({ type: 'cellRanges', requestId: m.requestId, window: m.window, ranges, total: Math.max(found.total, ranges.length) });
        return;
      }
      case 'selectPair': {
        if (!this.#source.withPair) throw new Error('This map cannot switch to another snapshot pair.');
        // The running file diff holds grants on snapshots the next pair may share: it ends (and gives them back) first.
        this.#filesRun?.abort();
        await this.#filesDone;
        const next = await this.#source.withPair(m.index, this.#lifetime.signal);
        this.#source = next;
        this.#summary = undefined;
        this.#binning?.abort();
        this.#filesRun = undefined;
        this.#files = undefined;
        const summary = await this.#summaryOf();
        if (summary.fromLabel && summary.toLabel) this.#title = `${summary.fromLabel} → ${summary.toLabel}`;
        this.ui.setTitle(this.#title);
        this.#post({
          type: 'pairSelected',
          requestId: m.requestId,
          index: m.index,
          title: this.#title,
          diskSizeBytes: next.diskSizeBytes,
          restoreKey: next.restoreKey,
        });
        this.#post({ type: 'summary', summary });
        this.#familyDone = this.#sendFamily();
        await this.#familyDone;
        return;
      }
      case 'export':
        await this.#export(m.requestId, m.format);
        return;
      case 'copySummary': {
        const summary = await this.#summaryOf();
        await this.ui.writeClipboard(summaryText(this.#title, summary));
        this.#post({ type: 'notice', message: 'Summary copied to the clipboard.' });
        return;
      }
    }
  }

  async #sendSummary(): Promise<void> {
    this.#post({ type: 'summary', summary: await this.#summaryOf() });
  }

  async #sendFamily(): Promise<void> {
    if (!this.#source.familyBars) return;
    try {
      this.#post({ type: 'family', family: await this.#source.familyBars(this.#lifetime.signal) });
    } catch (error) {
      if (isAbortError(error)) return;
      // The map is still useful without the family chart.
      this.log.warn(`Block map: changes per snapshot unavailable: ${describe(error)}`);
    }
  }

  async #export(requestId: number, format: ExportFormat): Promise<void> {
    const sink = await this.ui.chooseExportTarget(format, exportFileName(this.#title, format));
    if (!sink) {
      this.#post({ type: 'exportDone', requestId, outcome: 'cancelled', rangeCount: 0, message: 'Export cancelled.' });
      return;
    }
    const source = this.#source;
    try {
      const rangeCount = await this.ui.withExportProgress(`Exporting changed ranges to ${sink.displayName}`, (signal) =>
        source.exportRanges(format, (chunk) => sink.write(chunk), AbortSignal.any([signal, this.#lifetime.signal])),
      );
      await sink.close();
      this.log.info(`Block map: exported ${rangeCount} ranges to ${sink.displayName}`);
      this.#post({ type: 'exportDone', requestId, outcome: 'saved', rangeCount, message: `Exported ${rangeCount} ranges to ${sink.displayName}.` });
    } catch (error) {
      await sink.discard().catch(() => undefined);
      if (isAbortError(error)) {
        this.#post({ type: 'exportDone', requestId, outcome: 'cancelled', rangeCount: 0, message: 'Export cancelled.' });
        return;
      }
      const message = describe(error);
      this.log.error(`Block map: export failed: ${message}`);
      this.#post({ type: 'exportDone', requestId, outcome: 'failed', rangeCount: 0, message: `Export failed: ${message}` });
    }
  }
}

/**
 * The exact bytes of a Float32Array, as an ArrayBuffer: for engines >= 1.57 VS Code transfers ArrayBuffers
 * in webview messages efficiently and recreates them in the webview (vscode.d.ts, Webview.postMessage).
 */
function bufferOf(values: Float32Array): ArrayBuffer {
  if (values.byteOffset === 0 && values.byteLength === values.buffer.byteLength && values.buffer instanceof ArrayBuffer) return values.buffer;
  return values.slice().buffer as ArrayBuffer;
}
