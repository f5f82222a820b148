import type * as vscode from 'vscode';
import type { SnapshotInfo } from '../core/model';

const KEY = 'diskDelta.usedSizes.v1';
const MAX_ENTRIES = 5000;

/**
 * Bytes changed between consecutive snapshots (a snapshot's used size), learnt from diffs the user ran.
 * Kept in global state keyed by the snapshots' uniqueIds, so a re-created snapshot of the same name is
 * never confused with the old one.
 */
export class UsedSizeCache {
  #entries: Record<string, number>;
  constructor(private readonly state: vscode.Memento) {
    this.#entries = { ...(state.get<Record<string, number>>(KEY) ?? {}) };
  }

  static key(older: SnapshotInfo, newer: SnapshotInfo): string {
    return `${older.uniqueId}>${newer.uniqueId}`;
  }

  get(older: SnapshotInfo | undefined, newer: SnapshotInfo): number | undefined {
    return older ? this.#entries[UsedSizeCache.key(older, newer)] : undefined;
  }

  async set(older: SnapshotInfo, newer: SnapshotInfo, changedBytes: number): Promise<void> {
    this.#entries[UsedSizeCache.key(older, newer)] = changedBytes;
    const keys = Object.keys(this.#entries);
    if (keys.length > MAX_ENTRIES) for (const k of keys.slice(0, keys.length - MAX_ENTRIES)) delete this.#entries[k];
    await this.state.update(KEY, this.#entries);
  }
}
