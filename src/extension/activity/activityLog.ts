import * as vscode from 'vscode';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { finishActivity, parseActivity, serializeActivity, upsertActivity, type ActivityEntry, type ActivityKind } from '../../core/activity';
import { isAbortError } from '../../core/errors';
import type { Log } from '../log';

/** A started operation; end it once with its outcome. */
export interface ActivityHandle {
  readonly id: string;
  succeeded(resourceId?: string): void;
  failed(error: unknown): void;
  cancelled(): void;
  /** Ends it as cancelled when the error is a cancellation, else as failed. */
  ended(error: unknown): void;
}

/**
 * The activity log of this VS Code profile, in `activity.json` under the extension's global storage
 * (written whole and atomically after each change; small: at most ACTIVITY_CAP entries).
 */
export class ActivityLog implements vscode.Disposable {
  #entries: ActivityEntry[];
  #writing: Promise<void> = Promise.resolve();
  readonly #file: string;
  readonly #onDidChange = new vscode.EventEmitter<void>();
  readonly onDidChange = this.#onDidChange.event;

  constructor(
    storageDir: string,
    private readonly log: Log,
  ) {
    this.#file = path.join(storageDir, 'activity.json');
    let text = '';
    try {
      text = readFileSync(this.#file, 'utf8');
    } catch {
      // No log yet.
    }
    this.#entries = parseActivity(text);
  }

  get entries(): readonly ActivityEntry[] {
    return this.#entries;
  }

  /** Records the start of an operation (shown as running until it ends). */
  start(kind: ActivityKind, title: string, options: { resourceId?: string; detail?: string } = {}): ActivityHandle {
    const entry: ActivityEntry = {
      id: randomUUID(),
      kind,
      title,
      outcome: 'running',
      startedAt: new Date().toISOString(),
      ...(options.resourceId ? { resourceId: options.resourceId } : {}),
      ...(options.detail ? { detail: options.detail } : {}),
    };
    this.#put(entry);
    let done = false;
    const end = (outcome: 'succeeded' | 'failed' | 'cancelled', error?: string, resourceId?: string) => {
      if (done) return;
      done = true;
      const current = this.#entries.find((e) => e.id === entry.id) ?? entry;
      this.#put({ ...finishActivity(current, outcome, new Date(), error), ...(resourceId ? { resourceId } : {}) });
    };
    return {
      id: entry.id,
      succeeded: (resourceId) => end('succeeded', undefined, resourceId),
      failed: (error) => end('failed', error instanceof Error ? error.message : String(error)),
      cancelled: () => end('cancelled'),
      ended: (error) => (isAbortError(error) ? end('cancelled') : end('failed', error instanceof Error ? error.message : String(error))),
    };
  }

  /** Runs an operation and records it; the result's id (when it has one) becomes the entry's resource. */
  async track<T>(kind: ActivityKind, title: string, options: { resourceId?: string; detail?: string }, work: () => Promise<T>): Promise<T> {
    const handle = this.start(kind, title, options);
    try {
      const result = await work();
      const id = (result as { id?: unknown } | undefined)?.id;
      handle.succeeded(typeof id === 'string' && id.startsWith('/subscriptions/') ? id : undefined);
      return result;
    } catch (error) {
      handle.ended(error);
      throw error;
    }
  }

  async clear(): Promise<void> {
    this.#entries = this.#entries.filter((e) => e.outcome === 'running');
    this.#onDidChange.fire();
    await this.#save();
  }

  #put(entry: ActivityEntry): void {
    this.#entries = upsertActivity(this.#entries, entry);
    this.#onDidChange.fire();
    void this.#save();
  }

  /** Writes are chained so an older list never lands after a newer one. */
  #save(): Promise<void> {
    const text = serializeActivity(this.#entries);
    this.#writing = this.#writing
      .then(async () => {
        await mkdir(path.dirname(this.#file), { recursive: true });
        const tmp = `${this.#file}.${process.pid}.tmp`;
        await writeFile(tmp, text);
        await rename(tmp, this.#file);
      })
      .catch((error: unknown) => this.log.warn(`Could not save the activity log: ${String(error)}`));
    return this.#writing;
  }

  dispose(): void {
    this.#onDidChange.dispose();
  }
}
