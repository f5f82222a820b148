import * as vscode from 'vscode';
import type { SnapshotCatalog } from '../core/families';
import type { DiskInfo, SnapshotInfo } from '../core/model';
import { sameResourceId } from '../core/resourceId';
import { loadCatalog } from '../core/snapshots';
import type { Connection } from './connection';

export type SubscriptionCatalog = SnapshotCatalog & { disks: DiskInfo[]; loadedAt: number };

/**
 * The last listing of each subscription's disks and snapshots: the tree draws from it and commands
 * read it (e.g. the create dialog checks the limits against it without another call).
 */
export class CatalogCache {
  readonly #catalogs = new Map<string, Promise<SubscriptionCatalog>>();
  readonly #onDidInvalidate = new vscode.EventEmitter<string | undefined>();
  readonly onDidInvalidate = this.#onDidInvalidate.event;

  constructor(private readonly connection: Connection) {}

  get(subscriptionId: string): Promise<SubscriptionCatalog> {
    let c = this.#catalogs.get(subscriptionId);
    if (!c) {
      c = this.connection
        .clientsFor(subscriptionId)
        .then((clients) => loadCatalog(clients.compute, subscriptionId))
        .then((catalog) => ({ ...catalog, loadedAt: Date.now() }));
      this.#catalogs.set(subscriptionId, c);
      c.catch(() => this.#catalogs.delete(subscriptionId));
    }
    return c;
  }

  /** The cached catalog if it has been loaded, without starting a listing. */
  async peek(subscriptionId: string): Promise<SubscriptionCatalog | undefined> {
    const c = this.#catalogs.get(subscriptionId);
    return c ? c.catch(() => undefined) : undefined;
  }

  invalidate(subscriptionId?: string): void {
    if (subscriptionId) this.#catalogs.delete(subscriptionId);
    else this.#catalogs.clear();
    this.#onDidInvalidate.fire(subscriptionId);
  }

  async findSnapshot(id: string): Promise<{ snapshot: SnapshotInfo; catalog: SubscriptionCatalog } | undefined> {
    for (const c of this.#catalogs.values()) {
      const catalog = await c.catch(() => undefined);
      if (!catalog) continue;
      for (const f of catalog.families) {
        const s = f.snapshots.find((x) => sameResourceId(x.id, id));
        if (s) return { snapshot: s, catalog };
      }
      const full = catalog.fullSnapshots.find((x) => sameResourceId(x.id, id));
      if (full) return { snapshot: full, catalog };
    }
    return undefined;
  }

  dispose(): void {
    this.#onDidInvalidate.dispose();
  }
}
