import * as vscode from 'vscode';
import { previousInFamily, type SnapshotFamily } from '../../core/families';
import type { DiskInfo } from '../../core/model';
import { sameResourceId } from '../../core/resourceId';
import type { CatalogCache, SubscriptionCatalog } from '../catalog';
import type { Connection } from '../connection';
import type { Log } from '../log';
import { settings } from '../settings';
import { DiskNode, FamilyNode, GroupNode, MessageNode, ResourceGroupNode, SnapshotNode, SubscriptionNode, type DiskDeltaNode, type TreeContext } from './items';

/** Disks shown per group before a "Show more" node: big subscriptions stay responsive. */
const PAGE_SIZE = 100;

/** Subscriptions -> (resource groups ->) disks -> snapshot families -> snapshots. */
export class SnapshotTreeProvider implements vscode.TreeDataProvider<DiskDeltaNode>, vscode.Disposable {
  readonly #onDidChange = new vscode.EventEmitter<DiskDeltaNode | undefined | void>();
  readonly onDidChangeTreeData = this.#onDidChange.event;
  readonly #shown = new Map<string, number>();
  readonly #parents = new WeakMap<object, DiskDeltaNode>();
  /** The family nodes last handed to VS Code, to redraw one family without re-rendering the tree. */
  readonly #familyNodes = new Map<string, FamilyNode[]>();
  readonly #disposables: vscode.Disposable[] = [this.#onDidChange];

  constructor(
    private readonly connection: Connection,
    private readonly catalogs: CatalogCache,
    private readonly ctx: TreeContext,
    private readonly log: Log,
  ) {
    this.#disposables.push(
      connection.onDidChange(() => this.refresh()),
      catalogs.onDidInvalidate(() => this.#onDidChange.fire()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('diskDelta.tree') || e.affectsConfiguration('diskDelta.cost')) this.#onDidChange.fire();
      }),
    );
  }

  /** Lists everything again from Azure. */
  refresh(): void {
    this.catalogs.invalidate();
  }

  /** Redraws from the cached listing (labels that depend on local state, such as copy status). */
  redraw(): void {
    this.#onDidChange.fire();
  }

  /** Redraws one family's row (its copy status), or everything when it is not shown. */
  redrawFamily(familyId: string | undefined): void {
    const nodes = familyId ? this.#familyNodes.get(familyId.toLowerCase()) : undefined;
    if (!nodes?.length) return this.redraw();
    for (const n of nodes) this.#onDidChange.fire(n);
  }

  /** Selects a family's row (the end of a copy offers it); false when the row was never shown. */
  async revealFamily(view: vscode.TreeView<DiskDeltaNode>, familyId: string): Promise<boolean> {
    const node = this.#familyNodes.get(familyId.toLowerCase())?.[0];
    if (!node) return false;
    await view.reveal(node, { select: true, focus: true, expand: false });
    return true;
  }

  showMore(key: string): void {
    this.#shown.set(key, (this.#shown.get(key) ?? PAGE_SIZE) + PAGE_SIZE);
    this.#onDidChange.fire();
  }

  getTreeItem(node: DiskDeltaNode): vscode.TreeItem {
    return node.toTreeItem();
  }

  getParent(node: DiskDeltaNode): DiskDeltaNode | undefined {
    return this.#parents.get(node);
  }

  async getChildren(node?: DiskDeltaNode): Promise<DiskDeltaNode[]> {
    const children = await this.#children(node);
    if (!node) this.#familyNodes.clear();
    for (const c of children) {
      if (node) this.#parents.set(c, node);
      if (c instanceof FamilyNode) {
        for (const key of new Set([c.family.id.toLowerCase(), ...(c.family.snapshots[0]?.familyId ? [c.family.snapshots[0].familyId.toLowerCase()] : [])])) {
          this.#familyNodes.set(key, [...(this.#familyNodes.get(key) ?? []).filter((n) => n.id !== c.id), c]);
        }
      }
    }
    return children;
  }

  async #children(node?: DiskDeltaNode): Promise<DiskDeltaNode[]> {
    if (!node) return this.#roots();
    switch (node.kind) {
      case 'subscription':
        return this.#subscriptionChildren(node);
      case 'resourceGroup':
        return this.#diskNodes(node.disks, await this.catalogs.get(node.subscriptionId), node.id);
      case 'disk':
        return node.families.map((f) => new FamilyNode(node.disk.subscriptionId, f, f.sourceUniqueId !== node.disk.uniqueId, this.ctx));
      case 'family':
        return [...node.family.snapshots].reverse().map((s) => new SnapshotNode(s, previousInFamily(node.family, s.id), node.family, this.ctx));
      case 'group':
        return [...node.children];
      default:
        return [];
    }
  }

  async #roots(): Promise<DiskDeltaNode[]> {
    if (this.connection.kind === 'none') return [];
    try {
      const out: DiskDeltaNode[] = [];
      for (const t of await this.connection.tenantsNeedingSignIn()) {
        out.push(
          new MessageNode(`tenant/${t.tenantId}`, `Sign in to directory ${t.name}...`, 'action', {
            command: 'diskDelta.signInToTenant',
            title: 'Sign in to directory',
            arguments: [t.tenantId],
          }),
        );
      }
      const subs = await this.connection.subscriptions();
      if (subs.length === 0 && out.length === 0) {
        return [
          new MessageNode('nosubs', 'No subscriptions selected. Select subscriptions...', 'action', {
            command: 'diskDelta.selectSubscriptions',
            title: 'Select Subscriptions',
          }),
        ];
      }
      out.push(...subs.map((s) => new SubscriptionNode(s.subscriptionId, s.name, this.connection.kind === 'emulator')));
      return out;
    } catch (error) {
      this.log.error('Listing subscriptions failed:', error);
      return [this.#errorNode('roots', 'Could not list subscriptions', error)];
    }
  }

  #errorNode(key: string, what: string, error: unknown): MessageNode {
    const message = error instanceof Error ? error.message : String(error);
    const code = (error as { code?: string }).code;
    const needsSignIn = code === 'NotSignedIn' || /sign in|signed in|AADSTS/i.test(message);
    return new MessageNode(
      `error/${key}`,
      `${what}: ${message}${needsSignIn ? ' Click to sign in.' : ' Click to retry.'}`,
      'error',
      needsSignIn ? { command: 'diskDelta.signIn', title: 'Sign in' } : { command: 'diskDelta.refresh', title: 'Retry' },
      message,
    );
  }

  async #subscriptionChildren(node: SubscriptionNode): Promise<DiskDeltaNode[]> {
    let catalog: SubscriptionCatalog;
    try {
      catalog = await this.catalogs.get(node.subscriptionId);
    } catch (error) {
      this.log.error(`Listing disks and snapshots of ${node.subscriptionId} failed:`, error);
      return [this.#errorNode(`sub/${node.subscriptionId}`, 'Could not list disks and snapshots', error)];
    }
    const out: DiskDeltaNode[] = [];
    if (catalog.disks.length === 0 && catalog.families.length === 0 && catalog.fullSnapshots.length === 0) {
      return [new MessageNode(`empty/${node.subscriptionId}`, 'No managed disks or snapshots in this subscription.', 'info')];
    }
    if (settings.groupByResourceGroup()) {
      const groups = new Map<string, DiskInfo[]>();
      for (const d of catalog.disks) {
        const key = d.resourceGroup.toLowerCase();
        groups.set(key, [...(groups.get(key) ?? []), d]);
      }
      for (const disks of [...groups.values()].sort((a, b) => a[0]!.resourceGroup.localeCompare(b[0]!.resourceGroup))) {
        out.push(new ResourceGroupNode(node.subscriptionId, disks[0]!.resourceGroup, disks));
      }
    } else {
      out.push(...this.#diskNodes(catalog.disks, catalog, node.id));
    }
    const orphaned = catalog.families.filter(
      (f) => f.sourceDiskState === 'deleted' || (f.sourceDiskState === 'unknown' && !catalog.disks.some((d) => sameResourceId(d.id, f.sourceResourceId))),
    );
    if (orphaned.length) {
      out.push(
        new GroupNode(
          node.subscriptionId,
          'deletedDisks',
          orphaned.map((f) => new FamilyNode(node.subscriptionId, f, false, this.ctx)),
        ),
      );
    }
    if (catalog.fullSnapshots.length) {
      out.push(
        new GroupNode(
          node.subscriptionId,
          'fullSnapshots',
          [...catalog.fullSnapshots].reverse().map((s) => new SnapshotNode(s, undefined, undefined, this.ctx)),
        ),
      );
    }
    return out;
  }

  #diskNodes(disks: readonly DiskInfo[], catalog: SubscriptionCatalog, key: string): DiskDeltaNode[] {
    const sorted = [...disks].sort((a, b) => a.name.localeCompare(b.name));
    const limit = this.#shown.get(key) ?? PAGE_SIZE;
    const nodes: DiskDeltaNode[] = sorted.slice(0, limit).map((d) => new DiskNode(d, familiesOf(d, catalog.families)));
    if (sorted.length > limit) {
      nodes.push(
        new MessageNode(`more/${key}`, `Show more (${sorted.length - limit} not shown)...`, 'info', {
          command: 'diskDelta.showMore',
          title: 'Show more',
          arguments: [key],
        }),
      );
    }
    return nodes;
  }

  dispose(): void {
    for (const d of this.#disposables) d.dispose();
  }
}

/** The disk's families: the current incarnation's first, then those of earlier disks with the same id. */
export function familiesOf(disk: DiskInfo, families: readonly SnapshotFamily[]): SnapshotFamily[] {
  const mine = families.filter((f) => sameResourceId(f.sourceResourceId, disk.id));
  return mine.sort((a, b) => Number(b.sourceUniqueId === disk.uniqueId) - Number(a.sourceUniqueId === disk.uniqueId));
}
