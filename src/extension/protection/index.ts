/**
 * The Protection view: every policy file of the workspace (`disk-delta.policy.yaml`, `*.policy.yaml`,
 * `*.policy.json`), its policies and their disks with an RPO badge and the last run's outcome, and the actions
 * Run Now, Drill, Open Report and Edit Policy - over the same engine as `disk-delta protect`.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { defaultStateDirectory, AZURE_TARGET_PACE } from '../../core/copy';
import { formatDuration } from '../../core/format';
import { DiskDeltaError } from '../../core/errors';
import {
  parsePolicyText,
  PolicyError,
  protectionStatus,
  rpoBadge,
  runDrill,
  runProtection,
  type DiskOutcome,
  type PolicyFile,
  type ProtectEnvironment,
  type ProtectionPolicy,
  type StatusLine,
} from '../../core/protect';
import { showFailure } from '../errors';
import type { DiskDeltaServices } from '../services';

const POLICY_GLOB = '**/{disk-delta.policy.yaml,disk-delta.policy.yml,*.policy.yaml,*.policy.yml,*.policy.json}';

type Node =
  | { kind: 'file'; uri: vscode.Uri; problem: string; line: number }
  | { kind: 'policy'; uri: vscode.Uri; file: PolicyFile; policy: ProtectionPolicy; line: number }
  | { kind: 'disk'; uri: vscode.Uri; file: PolicyFile; policy: ProtectionPolicy; status: StatusLine }
  | { kind: 'message'; text: string; icon: string };

/** Where in the file a policy starts (its `name:`), for Edit Policy. */
function lineOfPolicy(text: string, name: string): number {
  const lines = text.split('\n');
  const i = lines.findIndex((l) =>
    new RegExp(`["']?name["']?\\s*:\\s*["']?${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}["']?\\s*,?\\s*$`).test(l.replace(/^\s*-\s*/, '')),
  );
  return Math.max(0, i);
}

class ProtectionTree implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  readonly #onDidChange = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.#onDidChange.event;
  /** Last outcome per disk and policy (this window's runs). */
  readonly lastRun = new Map<string, DiskOutcome>();
  /** Last drill report per disk. */
  readonly reports = new Map<string, string>();
  readonly #status = new Map<string, Promise<StatusLine[]>>();

  constructor(
    private readonly s: DiskDeltaServices,
    private readonly environment: () => Promise<ProtectEnvironment>,
  ) {}

  refresh(): void {
    this.#status.clear();
    this.#onDidChange.fire(undefined);
  }

  dispose(): void {
    this.#onDidChange.dispose();
  }

  getTreeItem(node: Node): vscode.TreeItem {
    switch (node.kind) {
      case 'file': {
        const item = new vscode.TreeItem(path.basename(node.uri.fsPath), vscode.TreeItemCollapsibleState.None);
        item.description = node.problem;
        item.tooltip = node.problem;
        item.iconPath = new vscode.ThemeIcon('error', new vscode.ThemeColor('problemsErrorIcon.foreground'));
        item.contextValue = 'diskDelta.protectionInvalidFile';
        item.command = { command: 'vscode.open', title: 'Open', arguments: [node.uri, { selection: new vscode.Range(node.line, 0, node.line, 0) }] };
        return item;
      }
      case 'policy': {
        const item = new vscode.TreeItem(node.policy.name, vscode.TreeItemCollapsibleState.Expanded);
        item.id = `policy:${node.uri.toString()}#${node.policy.name}`;
        item.description = `${vscode.workspace.asRelativePath(node.uri)} · RPO ${formatDuration(node.policy.rpoSeconds * 1000)}`;
        item.iconPath = new vscode.ThemeIcon('shield');
        item.contextValue = 'diskDelta.protectionPolicy';
        return item;
      }
      case 'disk': {
        const st = node.status;
        const name = st.disk.split('/').pop() ?? st.disk;
        const item = new vscode.TreeItem(name, vscode.TreeItemCollapsibleState.None);
        item.id = `disk:${node.uri.toString()}#${node.policy.name}#${st.disk.toLowerCase()}`;
        const badge = rpoBadge(st.ageSeconds, st.rpoSeconds);
        // Ages are counted in whole seconds of Azure's clock: a point made this second is "0 s old", not "0 ms".
        const age = st.ageSeconds === null ? 'no point yet' : `${st.ageSeconds < 1 ? '0 s' : formatDuration(st.ageSeconds * 1000)} old`;
        const words = { within: 'within RPO', atRisk: 'at risk', breached: 'breached' } as const;
        const last = this.lastRun.get(`${node.policy.name}|${st.disk.toLowerCase()}`);
        item.description = `${words[badge]} · ${age}${last ? ` · last run: ${last.action}` : ''}`;
        item.iconPath =
          badge === 'within'
            ? new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed'))
            : badge === 'atRisk'
              ? new vscode.ThemeIcon('warning', new vscode.ThemeColor('problemsWarningIcon.foreground'))
              : new vscode.ThemeIcon('error', new vscode.ThemeColor('problemsErrorIcon.foreground'));
        const tip = new vscode.MarkdownString(undefined, true);
        tip.appendMarkdown(`**${name}** (${words[badge]})\n\n`);
        tip.appendMarkdown(
          `- newest protected point: ${st.newestPoint ? `${st.newestPoint.snapshot.split('/').pop()} (${st.newestPoint.timeCreated}), ${age}` : 'none yet'}\n`,
        );
        tip.appendMarkdown(`- RPO: ${formatDuration(st.rpoSeconds * 1000)}\n- points: ${st.sourcePoints} source, ${st.targetPoints} target\n`);
        tip.appendMarkdown(
          `- estimated monthly cost: ${st.monthlyCost.source.toFixed(2)} source + ${st.monthlyCost.target.toFixed(2)} target ${st.monthlyCost.currency}\n`,
        );
        if (last) tip.appendMarkdown(`- last run: ${last.action}${last.error ? ` - ${last.error}` : ''}\n`);
        item.tooltip = tip;
        item.contextValue = this.reports.has(st.disk.toLowerCase()) ? 'diskDelta.protectionDisk.reported' : 'diskDelta.protectionDisk';
        return item;
      }
      case 'message': {
        const item = new vscode.TreeItem(node.text, vscode.TreeItemCollapsibleState.None);
        item.iconPath = new vscode.ThemeIcon(node.icon);
        return item;
      }
    }
  }

  async getChildren(node?: Node): Promise<Node[]> {
    if (!node) return this.#files();
    if (node.kind !== 'policy') return [];
    if (this.s.connection.kind === 'none') return [{ kind: 'message', text: 'Sign in to Azure or connect to the emulator to see these disks.', icon: 'info' }];
    const key = `${node.uri.toString()}#${node.policy.name}`;
    let lines = this.#status.get(key);
    if (!lines) {
      lines = this.environment().then((env) => protectionStatus(env, { file: node.file.file, policies: [node.policy] }));
      this.#status.set(key, lines);
    }
    try {
      const status = await lines;
      if (status.length === 0) return [{ kind: 'message', text: 'No disk matches this policy.', icon: 'info' }];
      return status.map((st) => ({ kind: 'disk', uri: node.uri, file: node.file, policy: node.policy, status: st }));
    } catch (error) {
      this.#status.delete(key);
      this.s.log.error(`Protection status of ${node.policy.name} failed:`, error);
      return [{ kind: 'message', text: `Could not read the status: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`, icon: 'error' }];
    }
  }

  async #files(): Promise<Node[]> {
    const uris = await vscode.workspace.findFiles(POLICY_GLOB, '**/node_modules/**', 200);
    const nodes: Node[] = [];
    for (const uri of uris.sort((a, b) => a.fsPath.localeCompare(b.fsPath))) {
      const text = await readFile(uri.fsPath, 'utf8');
      try {
        const file = parsePolicyText(vscode.workspace.asRelativePath(uri), text);
        for (const policy of file.policies) nodes.push({ kind: 'policy', uri, file, policy, line: lineOfPolicy(text, policy.name) });
      } catch (error) {
        const first = error instanceof PolicyError ? error.lines[0]! : String(error);
        const line = Number(/:(\d+):/.exec(first)?.[1] ?? 1) - 1;
        nodes.push({ kind: 'file', uri, problem: first.replace(/^[^:]+:\d+: /, ''), line });
      }
    }
    return nodes;
  }
}

/** The protect engine's environment over the view's connection, for the policy's subscription. */
async function environmentFor(s: DiskDeltaServices, signal?: AbortSignal): Promise<ProtectEnvironment> {
  const subs = await s.connection.subscriptions(false);
  const sub = subs[0];
  if (!sub) throw new DiskDeltaError('No subscription is available.', 'SubscriptionRequired', 'Sign in to Azure or connect to the local emulator.');
  const clients = await sub.clients();
  return {
    compute: clients.compute,
    dataPlane: clients.dataPlane,
    copyDataPlane: clients.copyDataPlane,
    storage: clients.protectionStorage,
    subscriptionId: sub.subscriptionId,
    stateDirectory: defaultStateDirectory(),
    targetPace: AZURE_TARGET_PACE,
    ...(signal ? { signal } : {}),
    note: (text) => s.log.info(text),
  };
}

function reportDirectory(s: DiskDeltaServices): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  return folder ? path.join(folder.uri.fsPath, '.disk-delta', 'drills') : path.join(s.context.globalStorageUri.fsPath, 'drills');
}

export function registerProtection(s: DiskDeltaServices): vscode.Disposable[] {
  const tree = new ProtectionTree(s, () => environmentFor(s));
  const view = vscode.window.createTreeView('diskDelta.protection', { treeDataProvider: tree, showCollapseAll: true });
  const watcher = vscode.workspace.createFileSystemWatcher(POLICY_GLOB);
  const guard =
    (title: string, run: (...args: never[]) => Promise<void>) =>
    async (...args: never[]) => {
      try {
        await run(...args);
      } catch (error) {
        await showFailure(s.log, title, error);
      }
    };
  const runNow = async (node?: Node): Promise<void> => {
    if (!node || (node.kind !== 'policy' && node.kind !== 'disk')) return;
    const policy = node.policy;
    const only = node.kind === 'disk' ? { ...policy, disks: { ...policy.disks, ids: [node.status.disk] } } : policy;
    await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `Protecting ${node.kind === 'disk' ? node.status.disk.split('/').pop() : policy.name}`,
        cancellable: true,
      },
      async (progress, token) => {
        const abort = new AbortController();
        const sub = token.onCancellationRequested(() => abort.abort(new DOMException('Cancelled', 'AbortError')));
        try {
          const env = await environmentFor(s, abort.signal);
          const { summary } = await runProtection(
            env,
            { file: node.file.file, policies: [only] },
            {
              onDisk: (o) => {
                tree.lastRun.set(`${policy.name}|${o.disk.toLowerCase()}`, o);
                progress.report({ message: `${o.disk.split('/').pop()}: ${o.action}` });
                if (o.error) s.log.error(`${policy.name}: ${o.disk}: ${o.error}`);
              },
            },
          );
          const text = `${policy.name}: ${summary.copied} copied, ${summary.upToDate} up to date, ${summary.busy} busy, ${summary.failed} failed; ${summary.withinRpo} of ${summary.disks} within RPO.`;
          if (summary.withinRpo < summary.disks) void vscode.window.showWarningMessage(text, 'Show Log').then((c) => c && s.log.show());
          else void vscode.window.showInformationMessage(text);
        } finally {
          sub.dispose();
          tree.refresh();
        }
      },
    );
  };
  const openReport = async (file: string): Promise<void> => {
    await vscode.commands.executeCommand('markdown.showPreview', vscode.Uri.file(file));
  };
  const drill = async (node?: Node): Promise<void> => {
    if (!node || node.kind !== 'disk') return;
    const choice = await vscode.window.showInformationMessage(
      `Drill ${node.status.disk.split('/').pop()}: restore its newest target point as a disk in the target region, compare it with its source, then delete it?`,
      { modal: true },
      'Sampled ranges',
      'Every allocated range',
    );
    if (!choice) return;
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Drill of ${node.status.disk.split('/').pop()}`, cancellable: true },
      async (_p, token) => {
        const abort = new AbortController();
        const sub = token.onCancellationRequested(() => abort.abort(new DOMException('Cancelled', 'AbortError')));
        try {
          const env = await environmentFor(s, abort.signal);
          const { result, drillDiskDeleted } = await runDrill(env, node.file, node.status.disk, {
            full: choice === 'Every allocated range',
            reportDir: reportDirectory(s),
            note: (t) => s.log.info(t),
          });
          tree.reports.set(node.status.disk.toLowerCase(), result.report.markdown);
          await openReport(result.report.markdown);
          if (!result.match || !drillDiskDeleted)
            void vscode.window.showErrorMessage(
              `The drill of ${node.status.disk.split('/').pop()} ${result.match ? 'left its disk behind' : 'found a mismatch'}: see the report.`,
            );
        } finally {
          sub.dispose();
          tree.refresh();
        }
      },
    );
  };
  return [
    tree,
    view,
    watcher,
    watcher.onDidChange(() => tree.refresh()),
    watcher.onDidCreate(() => tree.refresh()),
    watcher.onDidDelete(() => tree.refresh()),
    s.connection.onDidChange(() => tree.refresh()),
    vscode.commands.registerCommand('diskDelta.protection.refresh', () => tree.refresh()),
    vscode.commands.registerCommand('diskDelta.protection.runNow', guard('Run now', runNow)),
    vscode.commands.registerCommand('diskDelta.protection.drill', guard('Drill', drill)),
    vscode.commands.registerCommand(
      'diskDelta.protection.openReport',
      guard('Open report', async (node?: Node) => {
        const file = node?.kind === 'disk' ? tree.reports.get(node.status.disk.toLowerCase()) : undefined;
        if (file) await openReport(file);
        else void vscode.window.showInformationMessage('No drill report yet for this disk in this window: run Drill first.');
      }),
    ),
    vscode.commands.registerCommand(
      'diskDelta.protection.editPolicy',
      guard('Edit policy', async (node?: Node) => {
        if (!node || node.kind === 'message') return;
        const line = node.kind === 'disk' ? 0 : node.line;
        await vscode.window.showTextDocument(node.uri, { selection: new vscode.Range(line, 0, line, 0) });
      }),
    ),
  ];
}
