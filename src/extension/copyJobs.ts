import * as vscode from 'vscode';
import path from 'node:path';
import { formatBytes, formatDuration } from '../core/format';
import {
  CopyProgressTracker,
  countOf,
  describeNativeStatus,
  formatCopyProgress,
  prepareDifferentialCopy,
  runNativeCopy,
  type CopyProgress,
  type OverallProgress,
  type PreparedDifferentialCopy,
} from '../core/copy';
import type { SnapshotFamily } from '../core/families';
import type { SnapshotInfo } from '../core/model';
import { isAbortError } from '../core/errors';
import { sameResourceId } from '../core/resourceId';
import type { CatalogCache } from './catalog';
import type { Connection } from './connection';
import { blobSnapshotTime, blobSnapshotUrlWithoutSas, CopyRecordFile, type CopyRecord } from './copyRecords';
import { showFailure } from './errors';
import type { Log } from './log';
import { withCancellableProgress } from './progress';
import { settings } from './settings';
import type { FamilyCopyStatus } from './tree/items';

export type { CopyRecord } from './copyRecords';

/** How a CopyStart run ended. */
export type NativeOutcome =
  | { readonly outcome: 'succeeded'; readonly targetSnapshotId: string | undefined }
  | { readonly outcome: 'cancelled' }
  | { readonly outcome: 'failed'; readonly error: unknown };

interface ActiveCopy {
  readonly familyId: string;
  title: string;
  readonly controller: AbortController;
  readonly resourceIds: Set<string>;
  readonly tracker: CopyProgressTracker;
  progress?: OverallProgress;
}

export interface DifferentialCopyRequest {
  readonly family: SnapshotFamily;
  readonly upTo?: SnapshotInfo;
  /** The target storage account's resource id; its endpoint is looked up when the copy starts. */
  readonly accountId: string;
  readonly container: string;
  readonly importKind: 'none' | 'snapshot' | 'disk';
  readonly createContainer: boolean;
  /** Bytes each snapshot of the copy is expected to move (from the confirmation), for an honest ETA. */
  readonly expectedBytes?: readonly (number | undefined)[];
}

/**
 * Copies running in the extension host: progress notifications with cancel, a status-bar item, copy
 * records for the tree's "up to date / n behind" and for resuming after a restart (the engine's journal
 * holds the chunk-level state; this holds what to run again).
 */
export class CopyJobs implements vscode.Disposable {
  readonly #active = new Map<string, ActiveCopy>();
  readonly #statusBar: vscode.StatusBarItem;
  /** Fires with the family id whose copy status changed. */
  readonly #onDidChange = new vscode.EventEmitter<string | undefined>();
  readonly onDidChange = this.#onDidChange.event;
  readonly #recordFile: CopyRecordFile;
  /** The last copy that failed, shown in the status bar until another copy starts. */
  #lastFailure: { title: string; error: string } | undefined;
  /** Shows a family in the tree (set once the tree view exists). */
  revealFamily: ((familyId: string) => Promise<void>) | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: Log,
    private readonly connection: Connection,
    private readonly catalogs: CatalogCache,
  ) {
    this.#recordFile = new CopyRecordFile(path.join(context.globalStorageUri.fsPath, 'copies.json'));
    this.#statusBar = vscode.window.createStatusBarItem('diskDelta.copies', vscode.StatusBarAlignment.Left, 50);
    this.#statusBar.name = 'Disk Delta Copies';
    this.#statusBar.command = 'diskDelta.showCopies';
  }

  get records(): Record<string, CopyRecord> {
    return this.#recordFile.all();
  }

  async #saveRecord(record: CopyRecord): Promise<void> {
    await this.#recordFile.save(record);
    this.#onDidChange.fire(record.familyId);
  }

  recordOf(familyId: string): CopyRecord | undefined {
    return this.#recordFile.get(familyId);
  }

  get journalDirectory(): string {
    return path.join(this.context.globalStorageUri.fsPath, 'copies');
  }

  isUsing(resourceId: string): boolean {
    return [...this.#active.values()].some((a) => [...a.resourceIds].some((id) => sameResourceId(id, resourceId)));
  }

  get activeCount(): number {
    return this.#active.size;
  }

  statusOf(family: SnapshotFamily): FamilyCopyStatus | undefined {
    const active = this.#active.get(family.id.toLowerCase()) ?? this.#active.get((family.snapshots[0]?.familyId ?? family.id).toLowerCase());
    if (active) {
      const detail = active.progress ? `${active.title}: ${formatCopyProgress(active.progress)}` : `${active.title}: starting`;
      return { label: `copying ${percent(active.progress)}%`, detail, state: 'copying' };
    }
    const r = this.recordOf(family.snapshots[0]?.familyId ?? family.id) ?? this.recordOf(family.id);
    if (!r) return undefined;
    const where = `${r.targetAccountName}/${r.container} (${r.targetRegion})`;
    if (r.state === 'running' || r.state === 'interrupted')
      return { label: 'interrupted', detail: `A copy to ${where} was interrupted; run Resume Interrupted Copy.`, state: 'interrupted' };
    if (r.state === 'failed') return { label: 'failed', detail: `The last copy to ${where} failed: ${r.error ?? ''}`, state: 'failed' };
    const index = family.snapshots.findIndex((s) => sameResourceId(s.id, r.lastCopiedSnapshotId));
    const behind = index < 0 ? family.snapshots.length : family.snapshots.length - 1 - index;
    return behind === 0
      ? { label: 'up to date', detail: `Copied to ${where}, last at ${r.lastCopiedAt ?? ''}.`, state: 'upToDate' }
      : { label: `${behind} behind`, detail: `${countOf(behind, 'snapshot')} not yet copied to ${where}.`, state: 'behind' };
  }

  deleteWarning(family: SnapshotFamily, snapshot: SnapshotInfo): string | undefined {
    const r = this.recordOf(family.snapshots[0]?.familyId ?? family.id);
    if (!r) return undefined;
    if (sameResourceId(r.lastCopiedSnapshotId, snapshot.id)) {
      return `This snapshot is the base of the copy chain to ${r.targetAccountName}/${r.container}: the next copy will have to move the whole disk again instead of only the changes.`;
    }
    if (this.isUsing(snapshot.id)) return 'A running copy reads this snapshot; deleting it makes that copy fail.';
    return undefined;
  }

  #updateStatusBar(): void {
    void vscode.commands.executeCommand('setContext', 'diskDelta.copying', this.#active.size > 0);
    if (this.#active.size === 0) {
      if (!this.#lastFailure) {
        this.#statusBar.hide();
        return;
      }
      this.#statusBar.text = '$(error) Disk Delta: copy failed';
      this.#statusBar.tooltip = `${this.#lastFailure.title}: failed. ${this.#lastFailure.error}`;
      this.#statusBar.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
      this.#statusBar.show();
      return;
    }
    const all = [...this.#active.values()];
    this.#statusBar.backgroundColor = undefined;
    this.#statusBar.text = `$(sync~spin) Disk Delta: ${all.length === 1 ? `copying ${percent(all[0]!.progress)}%` : `${all.length} copies`}`;
    this.#statusBar.tooltip = all.map((a) => (a.progress ? `${a.title}: ${formatCopyProgress(a.progress)}` : a.title)).join('\n');
    this.#statusBar.show();
  }

  cancel(familyId?: string): boolean {
    const targets = familyId ? [this.#active.get(familyId.toLowerCase())].filter(Boolean) : [...this.#active.values()];
    for (const a of targets) a!.controller.abort(new DOMException('Copy cancelled', 'AbortError'));
    return targets.length > 0;
  }

  activeCopies(): { familyId: string; title: string; progress?: OverallProgress }[] {
    return [...this.#active.values()].map((a) => ({ familyId: a.familyId, title: a.title, progress: a.progress }));
  }

  /** Registers a running copy; the returned function ends it (once) and updates the tree and the status bar at once. */
  #begin(active: ActiveCopy, familyId: string): () => void {
    this.#active.set(active.familyId, active);
    this.#lastFailure = undefined;
    this.#updateStatusBar();
    this.#onDidChange.fire(familyId);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#active.delete(active.familyId);
      this.#updateStatusBar();
      this.#onDidChange.fire(familyId);
    };
  }

  /** Feeds one engine event to the notification, the tree and the status bar (those at most once a second). */
  #progressReporter(
    active: ActiveCopy,
    familyId: string,
    familyName: string,
    report: (u: { message: string; fraction: number }) => void,
  ): (p: CopyProgress) => void {
    let lastTick = 0;
    return (p) => {
      const overall = active.tracker.update(p);
      active.progress = overall;
      report({ message: formatCopyProgress(overall), fraction: overall.fraction });
      // Each snapshot's line is logged when that snapshot is done, so the log's time is its own.
      if (p.phase === 'done') {
        this.log.info(
          `${familyName} [${p.snapshotIndex + 1}/${p.snapshotCount}]${p.snapshotName ? ` ${p.snapshotName}` : ''}: done, ${formatBytes(p.bytesDone)} copied, ${countOf(p.requests, 'request')}, ${countOf(p.retries, 'retry', 'retries')}`,
        );
      }
      const now = Date.now();
      if (now - lastTick > 1000 || p.phase === 'done') {
        lastTick = now;
        this.#updateStatusBar();
        this.#onDidChange.fire(familyId);
      }
    };
  }

  /** Differential copy of a family (up to one snapshot when given) to a page blob in another region. */
  async runDifferential(request: DifferentialCopyRequest): Promise<void> {
    const { family } = request;
    const first = family.snapshots[0];
    if (!first) return;
    const familyId = first.familyId ?? family.id;
    const key = familyId.toLowerCase();
    if (this.#active.has(key)) {
      void vscode.window.showWarningMessage(`${family.sourceName} is already being copied.`);
      return;
    }
    const upTo = request.upTo ?? family.snapshots[family.snapshots.length - 1]!;
    const active: ActiveCopy = {
      familyId: key,
      title: `Copying ${upTo.name} of ${family.sourceName}`,
      controller: new AbortController(),
      resourceIds: new Set(family.snapshots.map((s) => s.id)),
      tracker: new CopyProgressTracker(request.expectedBytes ? { expectedBytes: request.expectedBytes } : {}),
    };
    // Registered before anything is awaited: a second copy of the family is refused from the first click on.
    const end = this.#begin(active, familyId);
    let copy: PreparedDifferentialCopy;
    let record: CopyRecord | undefined;
    try {
      const clients = await this.connection.clientsFor(first.subscriptionId);
      copy = await prepareDifferentialCopy(
        { compute: clients.compute, dataPlane: clients.copyDataPlane },
        {
          snapshots: family.snapshots,
          upTo: upTo.id,
          targetAccountId: request.accountId,
          container: request.container,
          createContainer: request.createContainer,
          stateDirectory: this.journalDirectory,
          verify: settings.verify(),
          import: { kind: request.importKind },
          concurrency: settings.copyConcurrency(),
          maxChunkBytes: settings.maxChunkBytes(),
          sasDurationSeconds: settings.sasDurationSeconds(),
        },
      );
      const { account, container } = copy;
      const title = `Copying ${upTo.name} of ${family.sourceName} to ${account.name}/${container} (${account.location})`;
      active.title = title;
      record = {
        ...(this.recordOf(familyId) ?? {}),
        familyId,
        familyName: family.sourceName,
        subscriptionId: first.subscriptionId,
        targetAccountId: account.id,
        targetAccountName: account.name,
        targetRegion: account.location,
        container,
        blobName: copy.blobName,
        journalFile: copy.journalFile,
        importKind: request.importKind,
        upToSnapshotId: upTo.id,
        state: 'running',
        error: undefined,
      };
      await this.#saveRecord(record);
      this.log.info(`${title}: blob ${copy.targetBlobUrl}`);
      const result = await withCancellableProgress(title, (report, signal) => {
        signal.addEventListener('abort', () => active.controller.abort(signal.reason), { once: true });
        return copy.run({
          signal: active.controller.signal,
          onProgress: this.#progressReporter(active, familyId, family.sourceName, report),
          onNotice: (n) => this.log.info(`${family.sourceName}: ${n.code}: ${n.message}`),
        });
      });
      if (result.status === 'cancelled') {
        await this.#saveRecord({ ...record, state: 'interrupted' });
        end();
        this.log.info(`${title}: cancelled; the journal keeps what was done.`);
        void vscode.window.showInformationMessage(`Copy of ${family.sourceName} cancelled. Access was revoked; resume it any time.`, 'Resume').then((c) => {
          if (c === 'Resume') void vscode.commands.executeCommand('diskDelta.resumeCopy', familyId);
        });
        return;
      }
      const last = result.summaries[result.summaries.length - 1];
      const snapshotUrl = last ? blobSnapshotUrlWithoutSas(last.targetBlobSnapshotUrl) : record.lastBlobSnapshotUrl;
      await this.#saveRecord({
        ...record,
        state: 'done',
        lastCopiedSnapshotId: upTo.id,
        lastCopiedAt: new Date().toISOString(),
        lastBlobSnapshotUrl: snapshotUrl,
      });
      end();
      if (request.importKind !== 'none') this.catalogs.invalidate(first.subscriptionId);
      const where = `${account.name}/${container} (${account.location})`;
      const at = blobSnapshotTime(snapshotUrl);
      const moved = result.summaries.reduce((n, s) => n + s.bytesCopied, 0);
      const seconds = result.summaries.reduce((n, s) => n + s.seconds, 0);
      const relayed = result.summaries.reduce((n, s) => n + s.bytesRelayed, 0);
      const verified = settings.verify() === 'none' ? '' : ', verified';
      // The target refused to copy from the source's URL: those bytes passed through this machine.
      const through = relayed > 0 ? ` (${formatBytes(relayed)} of it through this machine)` : '';
      const text =
        result.status === 'upToDate'
          ? `${family.sourceName} was already up to date in ${where}${at ? `, blob snapshot ${at}` : ''}.`
          : `Copied ${countOf(result.summaries.length, 'snapshot')} of ${family.sourceName} to ${where}, blob snapshot ${at ?? 'unknown'}: ${formatBytes(moved)} moved${through} in ${formatDuration(seconds * 1000)}${verified}.`;
      this.log.info(`${text}${snapshotUrl ? ` ${snapshotUrl}` : ''}`);
      this.#offerEnd(text, familyId, snapshotUrl);
    } catch (error) {
      const aborted = isAbortError(error);
      // A copy that failed before it started (the account is gone) still marks a family copied before.
      const known = record ?? this.recordOf(familyId);
      if (known)
        await this.#saveRecord({
          ...known,
          state: aborted ? 'interrupted' : 'failed',
          error: aborted ? undefined : error instanceof Error ? error.message : String(error),
        });
      if (!aborted) this.#lastFailure = { title: active.title, error: error instanceof Error ? error.message : String(error) };
      // The copy is over now, whatever the user does with the message below.
      end();
      void showFailure(this.log, `Copy of ${family.sourceName}`, error);
    } finally {
      end();
    }
  }

  /** The end of a copy: what was copied where, and the ways to look at it. */
  #offerEnd(text: string, familyId: string, snapshotUrl: string | undefined): void {
    const actions = ['Reveal', 'Show Log', ...(snapshotUrl ? ['Copy URL'] : [])];
    void vscode.window.showInformationMessage(text, ...actions).then(async (choice) => {
      if (choice === 'Reveal') await this.revealFamily?.(familyId);
      else if (choice === 'Show Log') this.log.show();
      else if (choice === 'Copy URL' && snapshotUrl) {
        await vscode.env.clipboard.writeText(blobSnapshotUrlWithoutSas(snapshotUrl));
        void vscode.window.showInformationMessage('The blob snapshot URL (without any SAS) is on the clipboard.');
      }
    });
  }

  /** Runs an interrupted copy again; its journal makes it continue where it stopped. */
  async resume(familyId: string): Promise<void> {
    const r = this.recordOf(familyId);
    if (!r) throw new Error(`No copy of family ${familyId} is known.`);
    const catalog = await this.catalogs.get(r.subscriptionId);
    const family = catalog.families.find((f) => f.snapshots.some((s) => (s.familyId ?? f.id).toLowerCase() === familyId.toLowerCase()));
    if (!family) throw new Error(`The snapshots of ${r.familyName} are no longer listed.`);
    const upTo = family.snapshots.find((s) => sameResourceId(s.id, r.upToSnapshotId));
    await this.runDifferential({ family, upTo, accountId: r.targetAccountId, container: r.container, importKind: r.importKind, createContainer: true });
  }

  interrupted(): CopyRecord[] {
    return Object.values(this.records).filter((r) => (r.state === 'running' || r.state === 'interrupted') && !this.#active.has(r.familyId.toLowerCase()));
  }

  /** Azure's own CopyStart, one snapshot after another in creation order. */
  /** Resolves with how it ended (failures are shown here, not thrown), so that the caller can record it. */
  async runNative(family: SnapshotFamily, upTo: SnapshotInfo, targetRegion: string, targetResourceGroup: string): Promise<NativeOutcome> {
    const first = family.snapshots[0]!;
    const key = `native:${(first.familyId ?? family.id).toLowerCase()}`;
    const title = `Copying ${upTo.name} of ${family.sourceName} to ${targetRegion} with CopyStart`;
    const active: ActiveCopy = { familyId: key, title, controller: new AbortController(), resourceIds: new Set(), tracker: new CopyProgressTracker() };
    const end = this.#begin(active, first.familyId ?? family.id);
    try {
      const clients = await this.connection.clientsFor(first.subscriptionId);
      const result = await withCancellableProgress(title, (report, signal) => {
        signal.addEventListener('abort', () => active.controller.abort(signal.reason), { once: true });
        return runNativeCopy(clients.compute, {
          snapshots: family.snapshots,
          upTo,
          targetRegion,
          targetResourceGroup,
          pollIntervalMs: this.connection.kind === 'emulator' ? 500 : 10_000,
          signal: active.controller.signal,
          onProgress: (p) => {
            active.progress = active.tracker.update(p);
          },
          // "queued, 0%" and the time waited: Azure reports 0 for minutes before 100 (docs/azure-behaviour.md#copystart).
          onStatus: (st) => report({ message: describeNativeStatus(st), fraction: (st.snapshotIndex + st.percent / 100) / Math.max(1, st.snapshotCount) }),
          onNotice: (n) => this.log.info(`${family.sourceName}: ${n.code}: ${n.message}`),
        });
      });
      end();
      this.catalogs.invalidate(first.subscriptionId);
      if (result.status === 'cancelled') {
        void vscode.window.showInformationMessage('Stopped following the copy. Azure goes on copying in the background; the tree shows its progress.');
        return { outcome: 'cancelled' };
      }
      void vscode.window.showInformationMessage(
        `${countOf(result.steps.length, 'snapshot')} of ${family.sourceName} copied to ${targetRegion} (resource group ${targetResourceGroup}).`,
      );
      return { outcome: 'succeeded', targetSnapshotId: result.steps[result.steps.length - 1]?.targetSnapshotId };
    } catch (error) {
      if (!isAbortError(error)) this.#lastFailure = { title, error: error instanceof Error ? error.message : String(error) };
      end();
      void showFailure(this.log, `CopyStart of ${family.sourceName}`, error);
      return isAbortError(error) ? { outcome: 'cancelled' } : { outcome: 'failed', error };
    } finally {
      end();
    }
  }

  dispose(): void {
    this.cancel();
    this.#statusBar.dispose();
    this.#onDidChange.dispose();
  }
}

function percent(p: OverallProgress | undefined): number {
  return p ? Math.floor(p.fraction * 100) : 0;
}
