import * as vscode from 'vscode';
import type { ActivityEntry } from '../../core/activity';
import { formatDuration } from '../../core/format';
import { exactTime, relativeTime } from '../format';
import type { ActivityLog } from './activityLog';

/** One entry of the Activity view; carries its resource id for Reveal / Open in Portal. */
export class ActivityNode {
  readonly kind = 'activity';
  constructor(readonly entry: ActivityEntry) {}
  get resourceId(): string | undefined {
    return this.entry.resourceId;
  }
  toTreeItem(): vscode.TreeItem {
    const e = this.entry;
    const item = new vscode.TreeItem(e.title, vscode.TreeItemCollapsibleState.None);
    item.id = `activity/${e.id}`;
    item.description = [e.outcome, e.durationMs !== undefined ? formatDuration(e.durationMs) : '', relativeTime(e.startedAt), e.detail ?? '']
      .filter(Boolean)
      .join(' · ');
    item.tooltip = new vscode.MarkdownString(
      [
        `**${e.title}**`,
        '',
        `| | |`,
        `|---|---|`,
        `| Outcome | ${e.outcome} |`,
        `| Started | ${exactTime(e.startedAt)} |`,
        e.endedAt ? `| Ended | ${exactTime(e.endedAt)} |` : '',
        e.durationMs !== undefined ? `| Duration | ${formatDuration(e.durationMs)} |` : '',
        e.detail ? `| Detail | ${e.detail} |` : '',
        e.error ? `| Error | ${e.error.replace(/\|/g, '\\|').replace(/\n/g, ' ')} |` : '',
        e.resourceId ? `\n\`${e.resourceId}\`` : '',
      ]
        .filter((l) => l !== '')
        .join('\n'),
    );
    item.iconPath =
      e.outcome === 'running'
        ? new vscode.ThemeIcon('sync~spin')
        : e.outcome === 'succeeded'
          ? new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed'))
          : e.outcome === 'failed'
            ? new vscode.ThemeIcon('error', new vscode.ThemeColor('errorForeground'))
            : new vscode.ThemeIcon('circle-slash');
    item.contextValue = `diskDelta.activity.${e.outcome}${e.resourceId ? '.hasResource' : ''}`;
    if (e.resourceId) item.command = { command: 'diskDelta.revealResource', title: 'Reveal in Snapshots View', arguments: [this] };
    return item;
  }
}

/** The Activity view: newest first. */
export class ActivityTreeProvider implements vscode.TreeDataProvider<ActivityNode>, vscode.Disposable {
  readonly #onDidChange = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.#onDidChange.event;
  readonly #sub: vscode.Disposable;
  /** Redraws "2 minutes ago" and running durations now and then. */
  readonly #timer: NodeJS.Timeout;

  constructor(private readonly activity: ActivityLog) {
    this.#sub = activity.onDidChange(() => this.#onDidChange.fire());
    this.#timer = setInterval(() => this.#onDidChange.fire(), 60_000);
  }

  getTreeItem(node: ActivityNode): vscode.TreeItem {
    return node.toTreeItem();
  }

  getChildren(node?: ActivityNode): ActivityNode[] {
    if (node) return [];
    return this.activity.entries.map((e) => new ActivityNode(e));
  }

  dispose(): void {
    clearInterval(this.#timer);
    this.#sub.dispose();
    this.#onDidChange.dispose();
  }
}
