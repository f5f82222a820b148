import * as vscode from 'vscode';
import { estimateCost } from '../../core/cost';
import { formatBytes, formatCost } from '../../core/format';
import { MAX_SNAPSHOTS_PER_DISK, type SnapshotFamily } from '../../core/families';
import type { DiskInfo, SnapshotInfo } from '../../core/model';
import { exactTime, relativeTime } from '../format';

/** What the tree needs to know about a family's cross-region copy. */
export interface FamilyCopyStatus {
  /** e.g. "up to date", "2 behind", "copying 40%". */
  readonly label: string;
  readonly detail: string;
  readonly state: 'upToDate' | 'behind' | 'copying' | 'interrupted' | 'failed';
}

/** The family row's icon for each copy state (the tooltip carries the detail). */
const COPY_ICONS: Record<FamilyCopyStatus['state'], { icon: string; color?: string; markdown: string }> = {
  copying: { icon: 'sync~spin', markdown: '$(sync~spin)' },
  failed: { icon: 'error', color: 'errorForeground', markdown: '$(error)' },
  interrupted: { icon: 'debug-pause', color: 'list.warningForeground', markdown: '$(debug-pause)' },
  upToDate: { icon: 'check', color: 'testing.iconPassed', markdown: '$(check)' },
  behind: { icon: 'arrow-circle-up', color: 'list.warningForeground', markdown: '$(arrow-circle-up)' },
};

export interface TreeContext {
  usedBytes(older: SnapshotInfo | undefined, newer: SnapshotInfo): number | undefined;
  copyStatus(family: SnapshotFamily): FamilyCopyStatus | undefined;
  pricePerGiBMonth(): number;
  /** The billing currency cost estimates are in (diskDelta.cost.currency). */
  currency(): string;
}

export type DiskDeltaNode = SubscriptionNode | ResourceGroupNode | DiskNode | FamilyNode | SnapshotNode | GroupNode | MessageNode;

export class SubscriptionNode {
  readonly kind = 'subscription';
  constructor(
    readonly subscriptionId: string,
    readonly name: string,
    readonly emulator: boolean,
  ) {}
  get id(): string {
    return `sub/${this.subscriptionId}`;
  }
  toTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(this.name, vscode.TreeItemCollapsibleState.Expanded);
    item.id = this.id;
    item.description = this.emulator ? 'local emulator' : this.subscriptionId;
    item.tooltip = new vscode.MarkdownString(
      `**${this.name}**\n\nSubscription \`${this.subscriptionId}\`${this.emulator ? '\n\nServed by the Disk Delta local emulator, not Azure.' : ''}`,
    );
    item.iconPath = new vscode.ThemeIcon(this.emulator ? 'beaker' : 'key');
    item.contextValue = this.emulator ? 'diskDelta.subscription.emulator' : 'diskDelta.subscription';
    return item;
  }
}

export class ResourceGroupNode {
  readonly kind = 'resourceGroup';
  constructor(
    readonly subscriptionId: string,
    readonly name: string,
    readonly disks: readonly DiskInfo[],
  ) {}
  get id(): string {
    return `sub/${this.subscriptionId}/rg/${this.name.toLowerCase()}`;
  }
  toTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(this.name, vscode.TreeItemCollapsibleState.Expanded);
    item.id = this.id;
    item.description = `${this.disks.length} disk${this.disks.length === 1 ? '' : 's'}`;
    item.iconPath = new vscode.ThemeIcon('folder');
    item.contextValue = 'diskDelta.resourceGroup';
    return item;
  }
}

export class DiskNode {
  readonly kind = 'disk';
  constructor(
    readonly disk: DiskInfo,
    /** The disk's families, the current one first; earlier incarnations (re-created disk) after it. */
    readonly families: readonly SnapshotFamily[],
  ) {}
  get id(): string {
    return `disk/${this.disk.id.toLowerCase()}`;
  }
  get currentFamily(): SnapshotFamily | undefined {
    return this.families.find((f) => f.sourceUniqueId === this.disk.uniqueId);
  }
  toTreeItem(): vscode.TreeItem {
    const count = this.currentFamily?.snapshots.length ?? 0;
    const item = new vscode.TreeItem(this.disk.name, this.families.length ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
    item.id = this.id;
    const sas = this.disk.diskState === 'ActiveSAS';
    item.description = [formatBytes(this.disk.sizeBytes), this.disk.location, `${count}/${MAX_SNAPSHOTS_PER_DISK} snapshots`, sas ? 'active SAS' : '']
      .filter(Boolean)
      .join(' · ');
    item.tooltip = new vscode.MarkdownString(
      [
        `**${this.disk.name}**`,
        '',
        `| | |`,
        `|---|---|`,
        `| Size | ${formatBytes(this.disk.sizeBytes)} |`,
        `| Region | ${this.disk.location} |`,
        `| SKU | ${this.disk.sku ?? ''} |`,
        `| State | ${this.disk.diskState ?? ''} |`,
        `| Incremental snapshots | ${count} of ${MAX_SNAPSHOTS_PER_DISK} |`,
        `| Created | ${exactTime(this.disk.timeCreated)} |`,
        sas ? '\n$(warning) A SAS grant is open on this disk. Revoke it when no copy or diff is running.' : '',
      ].join('\n'),
      true,
    );
    item.iconPath = new vscode.ThemeIcon(sas ? 'warning' : 'database');
    item.contextValue = `diskDelta.disk${sas ? '.activeSas' : ''}`;
    return item;
  }
}

export class FamilyNode {
  readonly kind = 'family';
  constructor(
    readonly subscriptionId: string,
    readonly family: SnapshotFamily,
    /** True when shown under its disk but taken from an earlier incarnation of it. */
    readonly earlierIncarnation: boolean,
    private readonly ctx: TreeContext,
  ) {}
  get id(): string {
    return `family/${this.family.id.toLowerCase()}`;
  }
  toTreeItem(): vscode.TreeItem {
    const f = this.family;
    const newest = f.snapshots[f.snapshots.length - 1];
    const label =
      f.sourceDiskState === 'deleted'
        ? `${f.sourceName} (deleted disk)`
        : this.earlierIncarnation || f.sourceDiskState === 'recreated'
          ? `${f.sourceName} (earlier disk, re-created since)`
          : `${f.sourceName} family`;
    const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.Collapsed);
    item.id = this.id;
    const copy = this.ctx.copyStatus(f);
    // The copy state goes first: at the default sidebar width the end of the description is cut off.
    item.description = [
      copy ? `copy: ${copy.label}` : '',
      `${f.snapshots.length}/${MAX_SNAPSHOTS_PER_DISK}`,
      newest ? `latest ${relativeTime(newest.timeCreated)}` : '',
    ]
      .filter(Boolean)
      .join(' · ');
    item.tooltip = new vscode.MarkdownString(
      [
        `**Snapshot family of ${f.sourceName}**`,
        '',
        copy ? `${COPY_ICONS[copy.state].markdown} Copy: ${copy.detail}\n` : '',
        `Source: \`${f.sourceResourceId ?? 'unknown'}\``,
        `Source uniqueId: \`${f.sourceUniqueId ?? 'unknown'}\``,
        `Family id: \`${f.id}\``,
        '',
        `${f.snapshots.length} incremental ${f.snapshots.length === 1 ? 'snapshot' : 'snapshots'} of ${MAX_SNAPSHOTS_PER_DISK} allowed.`,
        f.sourceDiskState === 'deleted' ? '\nThe source disk was deleted; its snapshots remain.' : '',
        this.earlierIncarnation || f.sourceDiskState === 'recreated'
          ? '\nThe disk was deleted and created again: these snapshots belong to the earlier disk.'
          : '',
      ].join('\n'),
      true,
    );
    item.iconPath = copy
      ? new vscode.ThemeIcon(COPY_ICONS[copy.state].icon, COPY_ICONS[copy.state].color ? new vscode.ThemeColor(COPY_ICONS[copy.state].color!) : undefined)
      : new vscode.ThemeIcon(f.sourceDiskState === 'deleted' || this.earlierIncarnation ? 'history' : 'layers');
    item.contextValue = `diskDelta.family${copy ? `.copy-${copy.state}` : ''}`;
    return item;
  }
}

/** " for 5 minutes" since a CopyStart began, for its row. */
function waited(since: string): string {
  const t = relativeTime(since);
  return t.endsWith(' ago') ? ` for ${t.slice(0, -4)}` : '';
}

export class SnapshotNode {
  readonly kind = 'snapshot';
  constructor(
    readonly snapshot: SnapshotInfo,
    readonly previous: SnapshotInfo | undefined,
    readonly family: SnapshotFamily | undefined,
    private readonly ctx: TreeContext,
  ) {}
  get id(): string {
    return `snap/${this.snapshot.id.toLowerCase()}`;
  }
  toTreeItem(): vscode.TreeItem {
    const s = this.snapshot;
    const item = new vscode.TreeItem(s.name, vscode.TreeItemCollapsibleState.None);
    item.id = this.id;
    const used = s.incremental ? this.ctx.usedBytes(this.previous, s) : undefined;
    const sas = s.diskState === 'ActiveSAS';
    const copying = s.completionPercent !== undefined && s.completionPercent < 100 && s.createOption === 'CopyStart';
    item.description = [
      relativeTime(s.timeCreated),
      formatBytes(s.sizeBytes),
      used !== undefined ? `+${formatBytes(used)}` : '',
      s.location,
      // CopyStart reports 0% for minutes before 100 (docs/azure-behaviour.md#copystart): 0 reads "queued".
      copying ? `${(s.completionPercent ?? 0) > 0 ? 'copying' : 'queued'} ${Math.round(s.completionPercent ?? 0)}%${waited(s.timeCreated)}` : '',
      s.copyCompletionError ? 'copy failed' : '',
      sas ? 'active SAS' : '',
    ]
      .filter(Boolean)
      .join(' · ');
    const cost = used !== undefined ? estimateCost(used, this.ctx.pricePerGiBMonth(), new Date()) : undefined;
    item.tooltip = new vscode.MarkdownString(
      [
        `**${s.name}** (${s.incremental ? 'incremental' : 'full'} snapshot)`,
        '',
        `| | |`,
        `|---|---|`,
        `| Created | ${exactTime(s.timeCreated)} |`,
        `| Disk size | ${formatBytes(s.sizeBytes)} |`,
        `| Used since previous | ${used !== undefined ? formatBytes(used) : this.previous ? 'unknown (run Diff with Previous)' : 'first of its family: its allocated size'} |`,
        cost
          ? `| Cost estimate | ${formatCost(cost.monthlyCost, 2, this.ctx.currency())} a month (at ${this.ctx.pricePerGiBMonth()} ${this.ctx.currency()} per GiB-month) |`
          : '',
        `| Region | ${s.location} |`,
        `| SKU | ${s.sku ?? ''} |`,
        `| State | ${s.diskState ?? s.provisioningState ?? ''} |`,
        s.completionPercent !== undefined ? `| Copy | ${s.completionPercent}% |` : '',
        s.copyCompletionError ? `| Copy error | ${s.copyCompletionError.errorCode}: ${s.copyCompletionError.errorMessage} |` : '',
        '',
        `\`${s.id}\``,
        sas ? '\n$(warning) A SAS grant is open on this snapshot. Revoke it when no copy or diff is running.' : '',
      ]
        .filter((l) => l !== '')
        .join('\n'),
      true,
    );
    item.iconPath = new vscode.ThemeIcon(sas ? 'warning' : copying ? 'sync~spin' : s.copyCompletionError ? 'error' : s.incremental ? 'device-camera' : 'files');
    item.contextValue = s.incremental
      ? `diskDelta.snapshot.incremental${this.previous ? '.hasPrevious' : ''}${sas ? '.activeSas' : ''}`
      : `diskDelta.snapshot.full${sas ? '.activeSas' : ''}`;
    return item;
  }
}

/** "Deleted disks", "Full snapshots": nodes that gather what has no disk of its own. */
export class GroupNode {
  readonly kind = 'group';
  constructor(
    readonly subscriptionId: string,
    readonly group: 'deletedDisks' | 'fullSnapshots',
    readonly children: readonly DiskDeltaNode[],
  ) {}
  get id(): string {
    return `sub/${this.subscriptionId}/${this.group}`;
  }
  toTreeItem(): vscode.TreeItem {
    const label = this.group === 'deletedDisks' ? 'Deleted disks' : 'Full snapshots';
    const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.Collapsed);
    item.id = this.id;
    item.description = `${this.children.length}`;
    item.tooltip =
      this.group === 'deletedDisks'
        ? 'Snapshot families whose source disk no longer exists. Their snapshots can still be restored, diffed and copied.'
        : 'Full (non-incremental) snapshots: restorable, but not part of any family and cannot be diffed.';
    item.iconPath = new vscode.ThemeIcon(this.group === 'deletedDisks' ? 'trash' : 'files');
    item.contextValue = `diskDelta.group.${this.group}`;
    return item;
  }
}

/** An information or error line, with the command that fixes it when there is one. */
export class MessageNode {
  readonly kind = 'message';
  constructor(
    readonly key: string,
    readonly label: string,
    readonly severity: 'info' | 'error' | 'action',
    readonly command?: vscode.Command,
    readonly tooltip?: string,
  ) {}
  get id(): string {
    return `msg/${this.key}`;
  }
  toTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(this.label, vscode.TreeItemCollapsibleState.None);
    item.id = this.id;
    item.iconPath = new vscode.ThemeIcon(
      this.severity === 'error' ? 'error' : this.severity === 'action' ? 'sign-in' : 'info',
      this.severity === 'error' ? new vscode.ThemeColor('errorForeground') : undefined,
    );
    if (this.command) item.command = this.command;
    if (this.tooltip) item.tooltip = this.tooltip;
    item.contextValue = `diskDelta.message.${this.severity}`;
    return item;
  }
}
