import * as vscode from 'vscode';
import type { VerifyMode } from '../core/copy/plan';
import { parseVerifyMode } from '../core/copy/sample';
import type { SkuChoice } from '../core/snapshots';

/** Typed reads of the `diskDelta.*` settings (contributed in package.json). */
export const settings = {
  get config(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration('diskDelta');
  },
  emulatorConnectionFile(): string {
    return this.config.get<string>('emulator.connectionFile', '').trim();
  },
  groupByResourceGroup(): boolean {
    return this.config.get<boolean>('tree.groupByResourceGroup', true);
  },
  copyConcurrency(): number {
    return clamp(this.config.get<number>('copy.concurrency', 64), 1, 128);
  },
  maxChunkBytes(): number {
    return clamp(this.config.get<number>('copy.maxChunkMiB', 4), 1, 4) * 1024 * 1024;
  },
  verify(): VerifyMode {
    try {
      return parseVerifyMode(this.config.get<string>('copy.verify', 'changed'));
    } catch {
      // package.json's pattern flags a wrong value in the Settings editor; copies meanwhile verify as by default.
      return 'changed';
    }
  },
  defaultSku(): SkuChoice {
    return this.config.get<SkuChoice>('snapshot.defaultSku', 'auto');
  },
  pricePerGiBMonth(): number {
    return Math.max(0, this.config.get<number>('cost.pricePerGiBMonth', 0.05));
  },
  /** Currency of the price per GiB-month, shown with every cost (ISO code such as USD, EUR). */
  currency(): string {
    return this.config.get<string>('cost.currency', 'USD').trim() || 'USD';
  },
  sasDurationSeconds(): number {
    return clamp(this.config.get<number>('access.sasDurationSeconds', 3600), 300, 86400);
  },
  /** Idle time after which a browsed snapshot's read grant is given back. */
  snapshotIdleMs(): number {
    return clamp(this.config.get<number>('snapshotFiles.idleSeconds', 120), 5, 3600) * 1000;
  },
};

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.round(Number.isFinite(v) ? v : lo)));
}
