import { createWriteStream, promises as fs } from 'node:fs';
import { once } from 'node:events';
import * as vscode from 'vscode';
import { redact } from '../../core/secret';
import { parseViewState, type BlockMapViewState, type ExportFormat } from '../../shared/blockMapProtocol';
import type { BlockMapDataSource } from './dataSource';
import { blockMapPage, createNonce, unavailablePage } from './html';
import { BlockMapSession, type BlockMapLog, type BlockMapUi, type ExportSink } from './session';

/** Must match `onWebviewPanel:diskDelta.blockMap` in package.json. */
export const BLOCK_MAP_VIEW_TYPE = 'diskDelta.blockMap';

/** What a restored panel asks the extension for: the source named by the state's restoreKey. */
export type BlockMapRestorer = (state: BlockMapViewState) => Promise<{ source: BlockMapDataSource; title: string } | undefined>;

const open = new Set<BlockMapPanel>();

function webviewRoot(context: vscode.ExtensionContext): vscode.Uri {
  return vscode.Uri.joinPath(context.extensionUri, 'dist', 'webview');
}

function panelOptions(context: vscode.ExtensionContext): vscode.WebviewPanelOptions & vscode.WebviewOptions {
  // No retainContextWhenHidden: the webview keeps its view in setState and rebuilds from the host on show.
  return { enableScripts: true, localResourceRoots: [webviewRoot(context)], enableFindWidget: false };
}

/** The panel's HTML for this webview, with a fresh nonce. */
export function blockMapHtml(webview: vscode.Webview, context: vscode.ExtensionContext, title: string): string {
  const scriptUri = webview.asWebviewUri(vscode.Uri.joinPath(webviewRoot(context), 'blockMap.js')).toString();
  return blockMapPage({ cspSource: webview.cspSource, scriptUri, nonce: createNonce(), title });
}

function fileSink(uri: vscode.Uri): ExportSink {
  if (uri.scheme === 'file') {
    // Streamed to disk: an export of millions of ranges never sits in memory whole.
    const stream = createWriteStream(uri.fsPath, { encoding: 'utf8' });
    const failed = once(stream, 'error').then(([e]) => Promise.reject(e as Error));
    failed.catch(() => undefined);
    return {
      displayName: uri.fsPath,
      async write(text) {
        if (!stream.write(text)) await Promise.race([once(stream, 'drain'), failed]);
      },
      async close() {
        stream.end();
        await Promise.race([once(stream, 'finish'), failed]);
      },
      async discard() {
        stream.destroy();
        await fs.rm(uri.fsPath, { force: true });
      },
    };
  }
  const parts: string[] = [];
  return {
    displayName: uri.toString(true),
    write(text) {
      parts.push(text);
      return Promise.resolve();
    },
    async close() {
      await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(parts.join('')));
    },
    discard() {
      parts.length = 0;
      return Promise.resolve();
    },
  };
}

/** One changed-block map editor tab. */
export class BlockMapPanel implements vscode.Disposable {
  readonly #session: BlockMapSession;
  readonly #disposables: vscode.Disposable[] = [];

  constructor(
    readonly panel: vscode.WebviewPanel,
    context: vscode.ExtensionContext,
    source: BlockMapDataSource,
    title: string,
    log: BlockMapLog,
  ) {
    const ui: BlockMapUi = {
      post: (message) => {
        void panel.webview.postMessage(message).then(undefined, (e: unknown) => log.warn(`Block map: could not post to the webview: ${redact(String(e))}`));
      },
      chooseExportTarget: async (format: ExportFormat, suggestedName: string) => {
        const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
        const uri = await vscode.window.showSaveDialog({
          title: 'Export changed ranges',
          saveLabel: 'Export',
          defaultUri: folder ? vscode.Uri.joinPath(folder, suggestedName) : undefined,
          filters: format === 'json' ? { JSON: ['json'] } : { CSV: ['csv'] },
        });
        return uri ? fileSink(uri) : undefined;
      },
      withExportProgress: (progressTitle, task) =>
        Promise.resolve(
          vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: progressTitle, cancellable: true }, (_progress, token) => {
            const controller = new AbortController();
            const sub = token.onCancellationRequested(() => controller.abort());
            return task(controller.signal).finally(() => sub.dispose());
          }),
        ),
      writeClipboard: async (text) => {
        await vscode.env.clipboard.writeText(text);
      },
      setTitle: (t) => {
        panel.title = t;
      },
    };
    this.#session = new BlockMapSession(source, title, ui, log);
    panel.webview.options = panelOptions(context);
    panel.title = title;
    panel.iconPath = vscode.Uri.joinPath(context.extensionUri, 'media', 'disk-delta.svg');
    this.#disposables.push(
      panel.webview.onDidReceiveMessage((message: unknown) => {
        void this.#session.receive(message);
      }),
      panel.onDidDispose(() => this.dispose()),
    );
    panel.webview.html = blockMapHtml(panel.webview, context, title);
    open.add(this);
  }

  get title(): string {
    return this.#session.title;
  }

  dispose(): void {
    if (!open.delete(this)) return;
    this.#session.dispose();
    for (const d of this.#disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

/**
 * Opens a changed-block map of `source` in a new editor tab beside the active one.
 * The source must carry a `restoreKey` for the panel to come back after a window reload.
 */
export function openBlockMap(context: vscode.ExtensionContext, source: BlockMapDataSource, title: string, log: BlockMapLog): BlockMapPanel {
  const panel = vscode.window.createWebviewPanel(
    BLOCK_MAP_VIEW_TYPE,
    title,
    { viewColumn: vscode.ViewColumn.Active, preserveFocus: false },
    panelOptions(context),
  );
  return new BlockMapPanel(panel, context, source, title, log);
}

/** Restores block-map panels after a reload; call once from activate(). */
export function registerBlockMapSerializer(context: vscode.ExtensionContext, restore: BlockMapRestorer, log: BlockMapLog): vscode.Disposable {
  return vscode.window.registerWebviewPanelSerializer(BLOCK_MAP_VIEW_TYPE, {
    async deserializeWebviewPanel(panel: vscode.WebviewPanel, raw: unknown) {
      const state = parseViewState(raw);
      const title = state.title ?? 'Changed-block map';
      let restored: Awaited<ReturnType<BlockMapRestorer>>;
      try {
        restored = state.restoreKey === undefined ? undefined : await restore(state);
      } catch (error) {
        log.warn(`Block map: could not restore "${redact(title)}": ${redact(error instanceof Error ? error.message : String(error))}`);
        restored = undefined;
      }
      if (!restored) {
        panel.webview.options = { enableScripts: false };
        panel.webview.html = unavailablePage(title);
        return;
      }
      new BlockMapPanel(panel, context, restored.source, restored.title, log);
    },
  });
}

/** Closes every open block map (on sign-out or disconnect, when their sources stop working). */
export function closeAllBlockMaps(): void {
  for (const p of [...open]) p.dispose();
}
