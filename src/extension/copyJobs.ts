import * as vscode from 'vscode';
import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatBytes, formatDuration, formatRate } from '../core/cost';
import { AZURE_TARGET_PACE, ChainCopy, defaultJournalPath, describeNativeStatus, NativeCopy, targetBlobName, type CopyProgress, type SnapshotCopySummary } from '../core/copy';
import type { SnapshotFamily } from '../core/families';
import type { SnapshotInfo, StorageAccountInfo } from '../core/model';
import { isAbortError } from '../core/ports';
import { sameResourceId } from '../core/resourceId';
import type { CatalogCache } from './catalog';
import type { Connection } from './connection';
import { showFailure } from './errors';
import type { Log } from './log';
import { withCancellableProgress } from './progress';
import { settings } from './settings';
import type { FamilyCopyStatus } from './tree/items';

/** What Disk Delta remembers of a family's differential copy (no SAS, no token: ids and names only). */
export interface CopyRecord {
  readonly familyId: string;
  readonly familyName: string;
  readonly subscriptionId: string;
  readonly targetAccount: StorageAccountInfo;
  readonly container: string;
  readonly blobName: string;
  readonly journalFile: string;
  readonly importKind: 'none' | 'snapshot' | 'disk';
  /** The snapshot the running or last copy brings the target up to. */
  readonly upToSnapshotId?: string;
  readonly lastCopiedSnapshotId?: string;
  readonly lastCopiedAt?: string;
  readonly lastBlobSnapshotUrl?: string;
  readonly state: 'running' | 'interrupted' | 'done' | 'failed';
  readonly error?: string;
}

interface ActiveCopy {
  readonly familyId: string;
  readonly title: string;
  readonly controller: AbortController;
  readonly resourceIds: Set<string>;
  progress?: CopyProgress;
}

/**
 * Copy records in a file of the extension's global storage, written (atomically) before each copy
 * starts and when it ends: VS Code's global state is flushed lazily and would lose the record of a
 * copy whose window died, which is exactly the copy that must be offered again.
 */
class CopyRecordFile {
  #records: Record<string, CopyRecord> | undefined;
  constructor(private readonly file: string) {}

  all(): Record<string, CopyRecord> {
    if (!this.#records) {
      try {
        const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as { version?: number; records?: Record<string, CopyRecord> };
        this.#records = parsed.version === 1 && parsed.records ? parsed.records : {};
      } catch {
        this.#records = {};
      }
    }
    return this.#records;
  }

  async save(record: CopyRecord): Promise<void> {
    this.#records = { ...this.all(), [record.familyId.toLowerCase()]: record };
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ version: 1, records: this.#records }, null, 2));
    await rename(tmp, this.file);
  }
}

export interface DifferentialCopyRequest {
  readonly family: SnapshotFamily;
  readonly upTo?: SnapshotInfo;
  readonly account: StorageAccountInfo;
  readonly container: string;
  readonly importKind: 'none' | 'snapshot' | 'disk';
  readonly createContainer: boolean;
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
    return this.records[familyId.toLowerCase()];
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
    const active = this.#active.get(family.id.toLowerCase());
    if (active) {
      const p = active.progress;
      const pct = p ? Math.floor(((p.snapshotIndex + (p.bytesTotal ? p.bytesDone / p.bytesTotal : 0)) / Math.max(1, p.snapshotCount)) * 100) : 0;
      return { label: `copying ${pct}%`, detail: active.title, state: 'copying' };
    }
    const r = this.recordOf(family.id);
    if (!r) return undefined;
    const where = `${r.targetAccount.name}/${r.container} (${r.targetAccount.location})`;
    if (r.state === 'running' || r.state === 'interrupted') return { label: 'interrupted', detail: `A copy to ${where} was interrupted; run Resume Interrupted Copy.`, state: 'interrupted' };
    if (r.state === 'failed') return { label: 'failed', detail: `The last copy to ${where} failed: ${r.error ?? ''}`, state: 'failed' };
    const index = family.snapshots.findIndex((s) => sameResourceId(s.id, r.lastCopiedSnapshotId));
    const behind = index < 0 ? family.snapshots.length : family.snapshots.length - 1 - index;
    return behind === 0
      ? { label: 'up to date', detail: `Copied to ${where}, last at ${r.lastCopiedAt ?? ''}.`, state: 'upToDate' }
      : { label: `${behind} behind`, detail: `${behind} snapshot(s) not yet copied to ${where}.`, state: 'behind' };
  }

  deleteWarning(family: SnapshotFamily, snapshot: SnapshotInfo): string | undefined {
    const r = this.recordOf(family.id);
    if (!r) return undefined;
    if (sameResourceId(r.lastCopiedSnapshotId, snapshot.id)) {
      return `This snapshot is the base of the copy chain to ${r.targetAccount.name}/${r.container}: the next copy will have to move the whole disk again instead of only the changes.`;
    }
    if (this.isUsing(snapshot.id)) return 'A running copy reads this snapshot; deleting it makes that copy fail.';
    return undefined;
  }

  #updateStatusBar(): void {
    if (this.#active.size === 0) {
      this.#statusBar.hide();
      void vscode.commands.executeCommand('setContext', 'diskDelta.copying', false);
      return;
    }
    const parts = [...this.#active.values()].map((a) => {
      const p = a.progress;
      return p && p.bytesTotal ? Math.floor(((p.snapshotIndex + p.bytesDone / p.bytesTotal) / Math.max(1, p.snapshotCount)) * 100) : 0;
    });
    this.#statusBar.text = `$(sync~spin) Disk Delta: ${this.#active.size === 1 ? `copying ${parts[0]}%` : `${this.#active.size} copies`}`;
    this.#statusBar.tooltip = [...this.#active.values()].map((a) => a.title).join('\n');
    this.#statusBar.show();
    void vscode.commands.executeCommand('setContext', 'diskDelta.copying', true);
  }

  cancel(familyId?: string): boolean {
    const targets = familyId ? [this.#active.get(familyId.toLowerCase())].filter(Boolean) : [...this.#active.values()];
    for (const a of targets) a!.controller.abort(new DOMException('Copy cancelled', 'AbortError'));
    return targets.length > 0;
  }

  activeCopies(): { familyId: string; title: string; progress?: CopyProgress }[] {
    return [...this.#active.values()].map((a) => ({ familyId: a.familyId, title: a.title, progress: a.progress }));
  }

  /** Differential copy of a family (up to one snapshot when given) to a page blob in another region. */
  async runDifferential(request: DifferentialCopyRequest): Promise<void> {
    const { family, account, container } = request;
    const first = family.snapshots[0];
    if (!first) return;
    const familyId = first.familyId ?? family.id;
    const key = familyId.toLowerCase();
    if (this.#active.has(key)) {
      void vscode.window.showWarningMessage(`${family.sourceName} is already being copied.`);
      return;
    }
    const clients = await this.connection.clientsFor(first.subscriptionId);
    const store = await clients.copyDataPlane.targetStore(account, container);
    const blobName = targetBlobName(familyId, first.sourceResourceId, first.name);
    const journalFile = defaultJournalPath(this.journalDirectory, familyId, store.blob(blobName).displayUrl);
    const upTo = request.upTo ?? family.snapshots[family.snapshots.length - 1]!;
    const record: CopyRecord = {
      ...(this.recordOf(familyId) ?? {}),
      familyId,
      familyName: family.sourceName,
      subscriptionId: first.subscriptionId,
      targetAccount: account,
      container,
      blobName,
      journalFile,
      importKind: request.importKind,
      upToSnapshotId: upTo.id,
      state: 'running',
      error: undefined,
    };
    await this.#saveRecord(record);
    const title = `Copying ${family.sourceName} to ${account.name} (${account.location})`;
    const active: ActiveCopy = { familyId: key, title, controller: new AbortController(), resourceIds: new Set(family.snapshots.map((s) => s.id)) };
    this.#active.set(key, active);
    this.#updateStatusBar();
    this.#onDidChange.fire(familyId);
    this.log.info(`${title}: up to ${upTo.name}, blob ${store.blob(blobName).displayUrl}`);
    try {
      const result = await withCancellableProgress(title, async (report, signal) => {
        signal.addEventListener('abort', () => active.controller.abort(signal.reason), { once: true });
        let lastTick = 0;
        return new ChainCopy(clients.compute, clients.copyDataPlane).run({
          snapshots: family.snapshots,
          upTo: upTo.id,
          store,
          blobName,
          verify: settings.verify(),
          import: { kind: request.importKind },
          journalFile,
          lockDirectory: this.journalDirectory,
          createContainer: request.createContainer,
          concurrency: settings.copyConcurrency(),
          targetPace: AZURE_TARGET_PACE,
          maxChunkBytes: settings.maxChunkBytes(),
          sasDurationSeconds: settings.sasDurationSeconds(),
          signal: active.controller.signal,
          onProgress: (p) => {
            active.progress = p;
            report({ message: progressMessage(p), fraction: (p.snapshotIndex + (p.bytesTotal ? p.bytesDone / p.bytesTotal : 0)) / Math.max(1, p.snapshotCount) });
            const now = Date.now();
            if (now - lastTick > 1000) {
              lastTick = now;
              this.#updateStatusBar();
              this.#onDidChange.fire(familyId);
            }
          },
          onNotice: (n) => this.log.info(`${family.sourceName}: ${n.code}: ${n.message}`),
        });
      });
      if (result.status === 'cancelled') {
        await this.#saveRecord({ ...record, state: 'interrupted' });
        this.log.info(`${title}: cancelled; the journal keeps what was done.`);
        void vscode.window.showInformationMessage(`Copy of ${family.sourceName} cancelled. Access was revoked; resume it any time.`, 'Resume').then((c) => {
          if (c === 'Resume') void vscode.commands.executeCommand('diskDelta.resumeCopy', familyId);
        });
        return;
      }
      const last = result.summaries[result.summaries.length - 1];
      await this.#saveRecord({
        ...record,
        state: 'done',
        lastCopiedSnapshotId: upTo.id,
        lastCopiedAt: new Date().toISOString(),
        lastBlobSnapshotUrl: last?.targetBlobSnapshotUrl ?? record.lastBlobSnapshotUrl,
      });
      for (const [i, s] of result.summaries.entries()) this.log.info(`${family.sourceName} [${i + 1}/${result.summaries.length}]: ${summaryText(s)}`);
      const moved = result.summaries.reduce((n, s) => n + s.bytesCopied, 0);
      void vscode.window.showInformationMessage(
        result.status === 'upToDate'
          ? `${family.sourceName} was already up to date in ${account.name}.`
          : `Copied ${result.summaries.length} snapshot(s) of ${family.sourceName} to ${account.name}: ${formatBytes(moved)} moved, verified.`,
      );
      if (request.importKind !== 'none') this.catalogs.invalidate(first.subscriptionId);
    } catch (error) {
      if (isAbortError(error)) {
        await this.#saveRecord({ ...record, state: 'interrupted' });
        return;
      }
      await this.#saveRecord({ ...record, state: 'failed', error: error instanceof Error ? error.message : String(error) });
      await showFailure(this.log, `Copy of ${family.sourceName}`, error);
    } finally {
      this.#active.delete(key);
      this.#updateStatusBar();
      this.#onDidChange.fire(familyId);
    }
  }

  /** Runs an interrupted copy again; its journal makes it continue where it stopped. */
  async resume(familyId: string): Promise<void> {
    const r = this.recordOf(familyId);
    if (!r) throw new Error(`No copy of family ${familyId} is known.`);
    const catalog = await this.catalogs.get(r.subscriptionId);
    const family = catalog.families.find((f) => f.snapshots.some((s) => (s.familyId ?? f.id).toLowerCase() === familyId.toLowerCase()));
    if (!family) throw new Error(`The snapshots of ${r.familyName} are no longer listed.`);
    const upTo = family.snapshots.find((s) => sameResourceId(s.id, r.upToSnapshotId));
    await this.runDifferential({ family, upTo, account: r.targetAccount, container: r.container, importKind: r.importKind, createContainer: true });
  }

  interrupted(): CopyRecord[] {
    return Object.values(this.records).filter((r) => (r.state === 'running' || r.state === 'interrupted') && !this.#active.has(r.familyId.toLowerCase()));
  }

  /** Azure's own CopyStart, one snapshot after another in creation order. */
  async runNative(family: SnapshotFamily, upTo: SnapshotInfo, targetRegion: string, targetResourceGroup: string): Promise<void> {
    const first = family.snapshots[0]!;
    const clients = await this.connection.clientsFor(first.subscriptionId);
    const key = `native:${(first.familyId ?? family.id).toLowerCase()}`;
    const title = `Copying ${family.sourceName} to ${targetRegion} with CopyStart`;
    const active: ActiveCopy = { familyId: key, title, controller: new AbortController(), resourceIds: new Set() };
    this.#active.set(key, active);
    this.#updateStatusBar();
    const snapshots = family.snapshots.filter((s) => Date.parse(s.timeCreated) <= Date.parse(upTo.timeCreated));
    try {
      const result = await withCancellableProgress(title, (report, signal) => {
        signal.addEventListener('abort', () => active.controller.abort(signal.reason), { once: true });
        return new NativeCopy(clients.compute).run({
          snapshots,
          targetRegion,
          targetResourceGroup,
          name: (s) => `${s.name}-${targetRegion}`.slice(0, 80),
          pollIntervalMs: this.connection.kind === 'emulator' ? 500 : 10_000,
          signal: active.controller.signal,
          onProgress: (p) => {
            active.progress = p;
          },
          // "queued, 0%" and the time waited: Azure reports 0 for minutes before 100 (docs/azure-behaviour.md#copystart).
          onStatus: (st) => report({ message: describeNativeStatus(st), fraction: (st.snapshotIndex + st.percent / 100) / Math.max(1, st.snapshotCount) }),
          onNotice: (n) => this.log.info(`${family.sourceName}: ${n.code}: ${n.message}`),
        });
      });
      this.catalogs.invalidate(first.subscriptionId);
      if (result.status === 'cancelled') {
        void vscode.window.showInformationMessage('Stopped following the copy. Azure goes on copying in the background; the tree shows its progress.');
        return;
      }
      void vscode.window.showInformationMessage(`${result.steps.length} snapshot(s) of ${family.sourceName} copied to ${targetRegion}.`);
    } catch (error) {
      await showFailure(this.log, `CopyStart of ${family.sourceName}`, error);
    } finally {
      this.#active.delete(key);
      this.#updateStatusBar();
    }
  }

  dispose(): void {
    this.cancel();
    this.#statusBar.dispose();
    this.#onDidChange.dispose();
  }
}

export function progressMessage(p: CopyProgress): string {
  const total = p.bytesTotal ? ` ${formatBytes(p.bytesDone)} of ${p.bytesTotalIsEstimate ? '~' : ''}${formatBytes(p.bytesTotal)}` : '';
  const rate = p.bytesPerSecond > 0 && p.phase === 'copying' ? ` · ${formatRate(p.bytesPerSecond)}` : '';
  const eta = p.etaSeconds !== undefined && p.phase === 'copying' ? ` · ${formatDuration(p.etaSeconds * 1000)} left` : '';
  return `[${p.snapshotIndex + 1}/${p.snapshotCount}] ${p.phase}${total}${rate}${eta}`;
}

function summaryText(s: SnapshotCopySummary): string {
  return `copied ${formatBytes(s.bytesCopied)}, cleared ${formatBytes(s.bytesCleared)}, ${s.requests} requests, ${s.retries} retries, ${formatDuration(s.seconds * 1000)} -> ${s.targetBlobSnapshotUrl}`;
}
