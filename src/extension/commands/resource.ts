import * as vscode from 'vscode';
import { formatBytes } from '../../core/format';
import { DiskDeltaError } from '../../core/errors';
import { parseResourceId, sameResourceId } from '../../core/resourceId';
import { redact } from '../../core/secret';
import { ActivityNode } from '../activity/activityTree';
import { showFailure } from '../errors';
import { PickCancelled, required } from '../pickers';
import { withCancellableProgress } from '../progress';
import type { DiskDeltaServices } from '../services';
import { DiskNode, FamilyNode, ResourceGroupNode, SnapshotNode, SubscriptionNode, type DiskDeltaNode } from '../tree/items';
import { parseTagsInput } from './snapshots';

/** The read-only documents of View Properties: `disk-delta-resource:/<resource id>.json`. */
export const RESOURCE_SCHEME = 'disk-delta-resource';

export type ResourceKind = 'subscription' | 'resourceGroup' | 'disk' | 'snapshot' | 'storageAccount';

/** An Azure resource a tree node stands for. */
export interface ResourceTarget {
  readonly id: string;
  readonly name: string;
  readonly kind: ResourceKind;
  readonly subscriptionId: string;
}

function kindOfId(id: string): ResourceKind {
  const p = parseResourceId(id);
  const type = `${p.provider}/${p.type}`.toLowerCase();
  if (type === 'microsoft.compute/disks') return 'disk';
  if (type === 'microsoft.compute/snapshots') return 'snapshot';
  if (type === 'microsoft.storage/storageaccounts') return 'storageAccount';
  throw new DiskDeltaError(`Disk Delta does not handle resources of type ${p.provider}/${p.type}.`, 'UnsupportedResourceType');
}

function targetOfId(id: string): ResourceTarget {
  const p = parseResourceId(id);
  return { id, name: p.name, kind: kindOfId(id), subscriptionId: p.subscriptionId };
}

/**
 * The resource of a node: itself for a subscription, resource group, disk or snapshot; for a family
 * with a differential copy, the storage account its copy target lives in; for an activity entry, the
 * resource it made or acted on.
 */
export function resourceOf(s: DiskDeltaServices, node: unknown): ResourceTarget | undefined {
  if (node instanceof SubscriptionNode)
    return { id: `/subscriptions/${node.subscriptionId}`, name: node.name, kind: 'subscription', subscriptionId: node.subscriptionId };
  if (node instanceof ResourceGroupNode) {
    return {
      id: `/subscriptions/${node.subscriptionId}/resourceGroups/${node.name}`,
      name: node.name,
      kind: 'resourceGroup',
      subscriptionId: node.subscriptionId,
    };
  }
  if (node instanceof DiskNode) return { id: node.disk.id, name: node.disk.name, kind: 'disk', subscriptionId: node.disk.subscriptionId };
  if (node instanceof SnapshotNode) return { id: node.snapshot.id, name: node.snapshot.name, kind: 'snapshot', subscriptionId: node.snapshot.subscriptionId };
  if (node instanceof FamilyNode) {
    const first = node.family.snapshots[0];
    const record = s.copies.recordOf(first?.familyId ?? node.family.id) ?? s.copies.recordOf(node.family.id);
    if (!record) return undefined;
    return {
      id: record.targetAccountId,
      name: record.targetAccountName,
      kind: 'storageAccount',
      subscriptionId: parseResourceId(record.targetAccountId).subscriptionId,
    };
  }
  if (node instanceof ActivityNode && node.resourceId) return targetOfId(node.resourceId);
  return undefined;
}

/** From the palette: a disk or a snapshot of the listed subscriptions. */
async function pickResource(s: DiskDeltaServices, title: string, kinds: readonly ResourceKind[]): Promise<ResourceTarget> {
  const subs = await s.connection.subscriptions();
  if (!subs.length)
    throw new DiskDeltaError('Nothing to choose from: not connected.', 'NotConnected', 'Sign in to Azure or connect to the local emulator first.');
  const items: (vscode.QuickPickItem & { target?: ResourceTarget })[] = [];
  for (const sub of subs) {
    const c = await s.catalogs.get(sub.subscriptionId);
    if (kinds.includes('disk') && c.disks.length) {
      items.push({ label: `Disks · ${sub.name}`, kind: vscode.QuickPickItemKind.Separator });
      for (const d of c.disks) {
        items.push({ label: d.name, description: `${d.resourceGroup} · ${d.location} · ${formatBytes(d.sizeBytes)}`, target: targetOfId(d.id) });
      }
    }
    const snaps = [...c.families.flatMap((f) => f.snapshots), ...c.fullSnapshots];
    if (kinds.includes('snapshot') && snaps.length) {
      items.push({ label: `Snapshots · ${sub.name}`, kind: vscode.QuickPickItemKind.Separator });
      for (const x of snaps) items.push({ label: x.name, description: `${x.resourceGroup} · ${x.location}`, target: targetOfId(x.id) });
    }
  }
  if (!items.some((i) => i.target)) throw new DiskDeltaError('No disk or snapshot is listed.', 'NothingListed', 'Refresh the Snapshots view.');
  return required(await vscode.window.showQuickPick(items, { title, placeHolder: 'Choose a disk or snapshot', matchOnDescription: true })).target!;
}

async function targetFrom(s: DiskDeltaServices, node: unknown, title: string, kinds: readonly ResourceKind[]): Promise<ResourceTarget> {
  const t = node === undefined ? await pickResource(s, title, kinds) : resourceOf(s, node);
  if (!t) throw new DiskDeltaError(`${title}: this item is not an Azure resource.`, 'NotAResource', 'Choose a subscription, resource group, disk or snapshot.');
  if (!kinds.includes(t.kind)) throw new DiskDeltaError(`${title} does not apply to a ${t.kind}.`, 'NotApplicable', `Choose a ${kinds.join(' or ')}.`);
  return t;
}

const ALL: readonly ResourceKind[] = ['subscription', 'resourceGroup', 'disk', 'snapshot', 'storageAccount'];

export async function openInPortalCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  const t = await targetFrom(s, node, 'Open in Portal', ALL);
  const url = await s.connection.portalUrl(t.id, t.subscriptionId);
  if (s.connection.kind === 'emulator') s.log.warn(`${t.name} is served by the local emulator: the portal does not know it.`);
  s.log.info(`Opening ${url}`);
  await vscode.env.openExternal(vscode.Uri.parse(url));
}

export async function copyResourceIdCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  const t = await targetFrom(s, node, 'Copy Resource ID', ALL);
  await vscode.env.clipboard.writeText(t.id);
  vscode.window.setStatusBarMessage(`Copied the resource ID of ${t.name}`, 3000);
}

export async function copyNameCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  const t = await targetFrom(s, node, 'Copy Name', ALL);
  await vscode.env.clipboard.writeText(t.name);
  vscode.window.setStatusBarMessage(`Copied ${t.name}`, 3000);
}

export function propertiesUri(id: string): vscode.Uri {
  return vscode.Uri.from({ scheme: RESOURCE_SCHEME, path: `${id}.json` });
}

/**
 * The documents of View Properties: the resource's JSON read fresh from Azure each time VS Code asks
 * (opening, Refresh). Read-only by being a content provider. The text goes through `redact` although
 * GET returns no SAS: this is text that leaves the process.
 */
export class ResourcePropertiesProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
  readonly #onDidChange = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.#onDidChange.event;
  constructor(private readonly s: DiskDeltaServices) {}

  refresh(uri: vscode.Uri): void {
    this.#onDidChange.fire(uri);
  }

  async provideTextDocumentContent(uri: vscode.Uri, token: vscode.CancellationToken): Promise<string> {
    const id = uri.path.replace(/\.json$/, '');
    const controller = new AbortController();
    const sub = token.onCancellationRequested(() => controller.abort());
    try {
      const clients = await this.s.connection.clientsFor(parseResourceId(id).subscriptionId);
      if (!clients.compute.getResource) throw new DiskDeltaError('This connection cannot read resource properties.', 'NotSupported');
      const json = await clients.compute.getResource(id, { signal: controller.signal });
      if (!json) return `// ${id}\n// does not exist (any more). Refresh the Snapshots view.\n`;
      return redact(JSON.stringify(json, null, 2)) + '\n';
    } catch (error) {
      this.s.log.error(`Reading the properties of ${id} failed:`, error);
      const message = error instanceof DiskDeltaError ? `${error.message} [${error.code}]${error.hint ? ` ${error.hint}` : ''}` : String(error);
      return `// Could not read ${id}:\n// ${redact(message)}\n`;
    } finally {
      sub.dispose();
    }
  }

  dispose(): void {
    this.#onDidChange.dispose();
  }
}

export async function viewPropertiesCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  const t = await targetFrom(s, node, 'View Properties', ['disk', 'snapshot', 'storageAccount']);
  const doc = await vscode.workspace.openTextDocument(propertiesUri(t.id));
  await vscode.languages.setTextDocumentLanguage(doc, 'json');
  await vscode.window.showTextDocument(doc, { preview: false });
}

export function refreshPropertiesCommand(s: DiskDeltaServices, provider: ResourcePropertiesProvider, uri?: vscode.Uri): void {
  const target = uri instanceof vscode.Uri ? uri : vscode.window.activeTextEditor?.document.uri;
  if (!target || target.scheme !== RESOURCE_SCHEME)
    throw new DiskDeltaError('No resource properties are open.', 'NoProperties', 'Use View Properties on a disk or snapshot first.');
  s.log.debug(`Refreshing ${target.path}`);
  provider.refresh(target);
}

function formatTags(tags: Record<string, string>): string {
  return Object.entries(tags)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/** Edit Tags: the current tags (read fresh) in an input of `key=value, key=value`; the result replaces them (PATCH). */
export async function editTagsCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  const t = await targetFrom(s, node, 'Edit Tags', ['disk', 'snapshot']);
  const clients = await s.connection.clientsFor(t.subscriptionId);
  const compute = clients.compute;
  if (!compute.updateTags) throw new DiskDeltaError('This connection cannot edit tags.', 'NotSupported');
  const current = t.kind === 'disk' ? await compute.getDisk(t.id) : await compute.getSnapshot(t.id);
  if (!current) throw new DiskDeltaError(`${t.name} does not exist any more.`, 'NotFound', 'Refresh the Snapshots view.');
  const before = current.tags ?? {};
  const text = required(
    await vscode.window.showInputBox({
      title: `Edit Tags of ${t.name}`,
      prompt: 'Tags as key=value, key=value (empty removes every tag). Azure allows 50 tags per resource.',
      value: formatTags(before),
      validateInput: (v) => {
        const r = parseTagsInput(v);
        if (typeof r === 'string') return r;
        // Azure: at most 50 tag name/value pairs per resource (docs/azure-behaviour.md#tags).
        if (Object.keys(r).length > 50) return 'Azure allows at most 50 tags on a resource.';
        const long = Object.entries(r).find(([, value]) => value.length > 256);
        return long ? `The value of ${long[0]} is longer than the 256 characters Azure allows.` : undefined;
      },
    }),
  );
  const tags = parseTagsInput(text) as Record<string, string>;
  if (formatTags(tags) === formatTags(before)) throw new PickCancelled();
  const kept = await s.activity.track('tags', `Edit tags of ${t.name}`, { resourceId: t.id, detail: formatTags(tags) || 'no tags' }, () =>
    withCancellableProgress(`Updating the tags of ${t.name}`, (_r, signal) => compute.updateTags!(t.id, tags, { signal }), { cancellable: false }),
  );
  s.log.info(`Tags of ${t.id}: ${formatTags(kept) || '(none)'}`);
  s.catalogs.invalidate(t.subscriptionId);
  for (const editor of vscode.window.visibleTextEditors) {
    if (editor.document.uri.scheme === RESOURCE_SCHEME && sameResourceId(editor.document.uri.path.replace(/\.json$/, ''), t.id)) {
      void vscode.commands.executeCommand('diskDelta.refreshProperties', editor.document.uri);
    }
  }
  void vscode.window.showInformationMessage(`Tags of ${t.name} updated: ${formatTags(kept) || 'none'}.`);
}

/** Shows a resource (from the Activity view) in the Snapshots view: walks the tree to its node. */
export async function revealResourceCommand(s: DiskDeltaServices, node?: ActivityNode | string): Promise<void> {
  const id = typeof node === 'string' ? node : node?.resourceId;
  if (!id) throw new DiskDeltaError('This entry names no resource.', 'NoResource');
  const want = [`disk/${id.toLowerCase()}`, `snap/${id.toLowerCase()}`];
  const sub = parseResourceId(id).subscriptionId.toLowerCase();
  const visit = async (parent: DiskDeltaNode | undefined, depth: number): Promise<DiskDeltaNode | undefined> => {
    if (depth > 6) return undefined;
    for (const child of await s.tree.getChildren(parent)) {
      if (want.includes(child.id)) return child;
      if (child instanceof SubscriptionNode && child.subscriptionId.toLowerCase() !== sub) continue;
      if (child.kind === 'message' || child.kind === 'snapshot') continue;
      const found = await visit(child, depth + 1);
      if (found) return found;
    }
    return undefined;
  };
  const found = await visit(undefined, 0);
  if (!found || !s.snapshotsView) {
    throw new DiskDeltaError(
      `${parseResourceId(id).name} is not in the Snapshots view (deleted, or in a subscription not selected).`,
      'NotShown',
      'Refresh the view or open it in the portal.',
    );
  }
  await s.snapshotsView.reveal(found, { select: true, focus: true, expand: false });
}

/** The properties documents' provider and their Refresh (it needs the provider, so it is registered here). */
export function registerResourceViews(s: DiskDeltaServices): vscode.Disposable[] {
  const provider = new ResourcePropertiesProvider(s);
  return [
    provider,
    vscode.workspace.registerTextDocumentContentProvider(RESOURCE_SCHEME, provider),
    vscode.commands.registerCommand('diskDelta.refreshProperties', async (uri?: vscode.Uri) => {
      try {
        refreshPropertiesCommand(s, provider, uri);
      } catch (error) {
        await showFailure(s.log, 'Refresh', error);
      }
    }),
  ];
}
