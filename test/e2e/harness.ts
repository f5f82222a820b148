// Runs the packaged extension in a real VS Code (code-server + Debian's Chromium driven by playwright-core).
//
//   const vscode = await startVsCode({ name: 'tree', settings: { 'diskDelta.tree.groupByResourceGroup': false } });
//   try { await vscode.openView(); await vscode.waitForTreeItem('rg-prod'); } finally { await vscode.stop(); }
//
// Each session gets a throwaway user-data dir, extensions dir and port; the VSIX is installed the way users
// install it (`--install-extension`), because a copied extension folder is treated as removed by VS Code.
// stop() kills every process the session started (code-server runs in its own process group).
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Frame, Locator, Page } from 'playwright-core';
import type { EmulatorConnection } from '../../src/core/emulatorConnection';
import { startCodeServer, type RunningCodeServer } from '../../scripts/code-server.mjs';
import { ensureCodeServer } from '../../scripts/ensure-code-server.mjs';
import { launchChromium } from '../../scripts/ensure-chromium.mjs';
import { after, before } from 'node:test';
import { startEmulator, type RunningEmulator } from '../support/emulator';
import { packageExtension, vsixPath } from '../../scripts/package.mjs';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const outputDir = path.join(repoRoot, 'test-output', 'e2e');
export const extensionId = 'disk-delta.disk-delta';
const viewContainerTitle = 'Disk Delta';

export interface VsCodeOptions {
  /** Names screenshots and the copied logs (test-output/e2e/logs/<name>/). */
  name?: string;
  /** Folder to open; a fresh empty temp folder when omitted. */
  folder?: string;
  /** 'dark' | 'light' or any installed theme name (workbench.colorTheme). Default 'dark'. */
  theme?: 'dark' | 'light' | (string & {});
  /** Extra user settings, e.g. { 'diskDelta.copy.concurrency': 4 }. */
  settings?: Record<string, unknown>;
  /**
   * Points the extension at a running emulator (diskDelta.emulator.connectionFile): either the path of its
   * connection file, or its connection (e.g. `startEmulator()`'s `.connection`), written to a file for the session.
   */
  emulator?: { connectionFile: string } | { connection: EmulatorConnection };
  viewport?: { width: number; height: number };
  /**
   * Start on the state a crashed session left (`session.scratch`): same user data (global state,
   * logs) and extensions, as when VS Code is opened again after the machine or the window died.
   */
  reuseScratch?: string;
}

export interface QuickInput {
  /** Waits until the quick input (palette, quick pick or input box) is visible. */
  waitForOpen(timeoutMs?: number): Promise<void>;
  waitForClosed(timeoutMs?: number): Promise<void>;
  /** Replaces the input's text. */
  type(text: string): Promise<void>;
  /** Presses Enter. */
  accept(): Promise<void>;
  /** The validation message (error or warning severity) under the input box; '' while the input is valid. */
  validationMessage(): Promise<string>;
  /** Whatever message is under the input box, including the "Press 'Enter' to confirm" prompt. */
  message(): Promise<string>;
  /** Waits until the validation message contains the text (or, for '', until there is none); returns it. */
  waitForValidationMessage(text: string, timeoutMs?: number): Promise<string>;
  title(): Promise<string>;
  /**
   * Waits until the title matches; returns it. Multi-step inputs reuse one widget, so after accept() or pick()
   * wait for the next step's title (e.g. /2\/3/) before reading or typing.
   */
  waitForTitle(match: string | RegExp, timeoutMs?: number): Promise<string>;
  placeholder(): Promise<string>;
  /** Waits until a quick-pick row whose label contains the text is shown. */
  waitForItem(label: string, timeoutMs?: number): Promise<void>;
  /** Labels of the visible quick-pick rows. */
  items(): Promise<string[]>;
  /** Clicks the quick-pick row whose label contains the text. */
  pick(label: string): Promise<void>;
  /** Presses Escape. */
  cancel(): Promise<void>;
}

export interface VsCodeSession {
  page: Page;
  browser: Browser;
  url: string;
  userDataDir: string;
  extensionsDir: string;
  folder: string;
  /** Clicks the "Disk Delta" activity-bar entry, waits for the view and checks the extension activated. */
  openView(): Promise<void>;
  /** Runs a command by its palette title, e.g. 'Disk Delta: Refresh' (Control+Shift+P, type, Enter). */
  runCommand(title: string): Promise<void>;
  /** Labels of the visible rows of the Disk Delta tree (aria-labels of the rows). */
  treeItems(): Promise<string[]>;
  /** The row whose label contains the text (a Locator to click, right-click, expand...). */
  treeItem(label: string): Locator;
  waitForTreeItem(label: string, timeoutMs?: number): Promise<Locator>;
  /** The Disk Delta view's welcome content (the buttons shown before connecting). */
  welcomeView(): Locator;
  quickInput: QuickInput;
  /** Messages of the visible notification toasts. */
  notifications(): Promise<string[]>;
  waitForNotification(text: string | RegExp, timeoutMs?: number): Promise<string>;
  /** Clicks a button of the visible notification whose message contains the text. */
  clickNotificationButton(message: string | RegExp, button: string): Promise<void>;
  /** The text (message and detail) of the modal dialog ('' when none). */
  dialogMessage(): Promise<string>;
  clickDialogButton(label: string): Promise<void>;
  /** Waits for a modal dialog whose text matches, clicks its button, and returns the text. */
  acceptDialog(pattern: RegExp, button: string, timeoutMs?: number): Promise<string>;
  /**
   * The content frame of a webview, found by its document title / text (string) or a predicate.
   * Waits until it exists.
   */
  webviewFrame(match: string | ((frame: Frame) => Promise<boolean>), timeoutMs?: number): Promise<Frame>;
  /** Saves test-output/e2e/<session name>-<name>.png and returns its path. */
  screenshot(name: string): Promise<string>;
  /** Waits until the extension host activated the extension; throws with the log if activation failed. */
  expectActivated(timeoutMs?: number): Promise<void>;
  /** The extension host log plus the Disk Delta output channel log. */
  logs(): string;
  /** Closes the browser, kills code-server and everything it started, removes the temp dirs. */
  stop(): Promise<void>;
  /** The session's temp dir (user data, extensions): pass it as `reuseScratch` after `crash()`. */
  readonly scratch: string;
  /** SIGKILLs code-server and its extension host (no clean shutdown) and keeps the temp dirs. */
  crash(): Promise<void>;
  /**
   * Right-clicks a tree row once it has stopped being re-rendered (a refresh replaces rows, and a menu
   * opened on a replaced row runs its command without the item) and runs the menu action.
   */
  treeContextMenu(label: string, action: string, timeoutMs?: number): Promise<void>;
}

let vsixReady: Promise<string> | undefined;

/** Packages the VSIX unless test/e2e/prepare.mjs already did for the current sources. */
function ensureVsix(): Promise<string> {
  vsixReady ??= (async () => {
    if (existsSync(vsixPath) && statSync(vsixPath).mtimeMs >= newestSourceMtime()) return vsixPath;
    return packageExtension({ quiet: true });
  })();
  return vsixReady;
}

function newestSourceMtime(): number {
  let newest = statSync(path.join(repoRoot, 'package.json')).mtimeMs;
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else newest = Math.max(newest, statSync(full).mtimeMs);
    }
  };
  for (const dir of ['src', 'webview', 'media']) walk(path.join(repoRoot, dir));
  return newest;
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const cause = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(full));
    else out.push(full);
  }
  return out;
}

function themeName(theme: VsCodeOptions['theme']): string {
  // VS Code 1.139 theme ids; older names are migrated by rewriting settings.json, which races the extension host.
  if (theme === undefined || theme === 'dark') return 'Dark Modern';
  if (theme === 'light') return 'Light Modern';
  return theme;
}

/** Starts code-server with the freshly packaged extension and opens the workbench in Chromium. */
export async function startVsCode(options: VsCodeOptions = {}): Promise<VsCodeSession> {
  const name = (options.name ?? 'vscode').replace(/[^\w.-]+/g, '-');
  const [codeServer, vsix] = await Promise.all([ensureCodeServer({ log: (l) => console.log(l) }), ensureVsix()]);
  const scratch = options.reuseScratch ?? mkdtempSync(path.join(os.tmpdir(), `disk-delta-e2e-${name}-`));
  const userDataDir = path.join(scratch, 'user-data');
  const extensionsDir = path.join(scratch, 'extensions');
  const folder = options.folder ?? path.join(scratch, 'workspace');
  mkdirSync(scratch, { recursive: true });
  let connectionFile: string | undefined;
  if (options.emulator && 'connectionFile' in options.emulator) connectionFile = options.emulator.connectionFile;
  else if (options.emulator) {
    connectionFile = path.join(scratch, 'emulator-connection.json');
    writeFileSync(connectionFile, JSON.stringify(options.emulator.connection, null, 2));
  }
  const settings: Record<string, unknown> = {
    'workbench.colorTheme': themeName(options.theme),
    'workbench.welcomePage.walkthroughs.openOnInstall': false,
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'extensions.autoCheckUpdates': false,
    'update.mode': 'none',
    ...(connectionFile ? { 'diskDelta.emulator.connectionFile': connectionFile } : {}),
    ...options.settings,
  };

  let server: RunningCodeServer | undefined;
  let browser: Browser | undefined;
  let stopped = false;
  const logs = (): string => {
    const files = listFiles(path.join(userDataDir, 'logs'));
    const host = files.filter((f) => /exthost\.log$/.test(f));
    const channel = files.filter((f) => /Disk Delta\.log$/.test(f));
    return [...host, ...channel].map((f) => `--- ${path.relative(userDataDir, f)}\n${readFileSync(f, 'utf8')}`).join('\n');
  };
  const crash = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    const killed = server?.crash();
    await browser?.close().catch(() => undefined);
    await killed;
  };
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await browser?.close().catch(() => undefined);
    await server?.stop();
    try {
      const logCopy = path.join(outputDir, 'logs', name);
      rmSync(logCopy, { recursive: true, force: true });
      if (existsSync(path.join(userDataDir, 'logs'))) cpSync(path.join(userDataDir, 'logs'), logCopy, { recursive: true });
    } catch {
      // logs are a diagnostic aid only
    }
    if (!process.env.DISK_DELTA_E2E_KEEP) rmSync(scratch, { recursive: true, force: true });
  };

  try {
    server = await startCodeServer({
      codeServer,
      vsix,
      userDataDir,
      extensionsDir,
      folder,
      settings,
      configFile: path.join(scratch, 'config.yaml'),
      log: (l) => console.log(l),
    });
    const url = server.url;
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: options.viewport ?? { width: 1280, height: 800 } });
    await page.goto(url);
    await page.locator('.monaco-workbench .activitybar').waitFor({ state: 'visible', timeout: 60_000 });
    const session = createSession({ page, browser, url, userDataDir, extensionsDir, folder, name, logs, stop, crash, scratch });
    return session;
  } catch (e) {
    await stop();
    throw e;
  }
}

function createSession(s: {
  page: Page;
  browser: Browser;
  url: string;
  userDataDir: string;
  extensionsDir: string;
  folder: string;
  name: string;
  logs: () => string;
  stop: () => Promise<void>;
  crash: () => Promise<void>;
  scratch: string;
}): VsCodeSession {
  const { page } = s;
  const widget = page.locator('.quick-input-widget');
  // The side-bar composite of the "diskDelta" view container, and in it the Snapshots view.
  const container = page.locator('[id="workbench.view.extension.diskDelta"]');
  const viewPane = container.locator('.pane', { has: page.locator('.pane-header', { hasText: /snapshots/i }) }).first();

  const expectActivated = async (timeoutMs = 30_000): Promise<void> => {
    const failure = new RegExp(`Activating extension '?${extensionId.replace('.', '\\.')}'? failed[^\\n]*`, 'i');
    await waitFor(`${extensionId} to activate (extension host log)`, timeoutMs, () => {
      const log = s.logs();
      if (failure.test(log)) throw new Error(log);
      return log.includes(`_doActivateExtension ${extensionId}`) ? true : undefined;
    }).catch((e: unknown) => {
      const text = e instanceof Error ? e.message : String(e);
      throw new Error(`the extension ${extensionId} did not activate: ${text}\n${s.logs().slice(-4000)}`);
    });
    // An activate() that throws is reported right after activation starts.
    await page.waitForTimeout(500);
    const log = s.logs();
    const m = failure.exec(log);
    if (m) throw new Error(`the extension ${extensionId} failed to activate: ${m[0]}\n${log.slice(-4000)}`);
    const toasts = await notifications();
    const toast = toasts.find((t) => /Activating extension .*failed/i.test(t));
    if (toast) throw new Error(`the extension ${extensionId} failed to activate: ${toast}`);
  };

  const notifications = async (): Promise<string[]> => page.locator('.notifications-toasts .notification-list-item-message').allInnerTexts();

  const quickInput: QuickInput = {
    waitForOpen: (timeoutMs = 30_000) => widget.waitFor({ state: 'visible', timeout: timeoutMs }),
    waitForClosed: (timeoutMs = 10_000) => widget.waitFor({ state: 'hidden', timeout: timeoutMs }),
    type: async (text) => {
      await widget.locator('.quick-input-box input').fill(text);
    },
    accept: () => widget.locator('.quick-input-box input').press('Enter'),
    validationMessage: async () => {
      // The input box carries the severity as a class: idle, info, warning or error.
      const severity = (await widget.locator('.quick-input-box .monaco-inputbox').getAttribute('class')) ?? '';
      return /\b(error|warning)\b/.test(severity) ? quickInput.message() : '';
    },
    message: async () => {
      const message = widget.locator('.quick-input-message');
      return (await message.isVisible()) ? (await message.innerText()).trim() : '';
    },
    waitForValidationMessage: async (text, timeoutMs = 10_000) =>
      waitFor(`validation message "${text}"`, timeoutMs, async () => {
        const m = await quickInput.validationMessage();
        return (text === '' ? m === '' : m.includes(text)) ? m : undefined;
      }),
    title: async () => {
      const title = widget.locator('.quick-input-title');
      return (await title.isVisible()) ? (await title.innerText()).trim() : '';
    },
    waitForTitle: async (match, timeoutMs = 10_000) =>
      waitFor(`a quick input titled ${String(match)}`, timeoutMs, async () => {
        const title = await quickInput.title();
        return (typeof match === 'string' ? title.includes(match) : match.test(title)) ? title : undefined;
      }),
    waitForItem: async (label, timeoutMs = 10_000) => {
      await widget.locator('.quick-input-list .monaco-list-row', { hasText: label }).first().waitFor({ state: 'visible', timeout: timeoutMs });
    },
    placeholder: async () => (await widget.locator('.quick-input-box input').getAttribute('placeholder')) ?? '',
    items: async () => {
      const rows = await widget.locator('.quick-input-list .monaco-list-row').all();
      return Promise.all(rows.map(async (r) => (await r.getAttribute('aria-label')) ?? (await r.innerText())));
    },
    pick: async (label) => {
      await widget.locator('.quick-input-list .monaco-list-row', { hasText: label }).first().click();
    },
    cancel: () => page.keyboard.press('Escape'),
  };

  return {
    page,
    browser: s.browser,
    url: s.url,
    userDataDir: s.userDataDir,
    extensionsDir: s.extensionsDir,
    folder: s.folder,
    logs: s.logs,
    stop: s.stop,
    crash: s.crash,
    scratch: s.scratch,
    expectActivated,
    quickInput,
    notifications,

    async openView() {
      const entry = page.locator(`.activitybar [aria-label*="${viewContainerTitle}"]`).first();
      await entry.waitFor({ state: 'visible', timeout: 30_000 }).catch(() => {
        throw new Error(`the "${viewContainerTitle}" activity-bar entry is missing; is the extension installed?\n${s.logs().slice(-4000)}`);
      });
      if (!(await container.isVisible())) {
        await entry.click();
        // Keeps the entry's hover out of screenshots.
        await page.mouse.move(700, 500);
      }
      await container.waitFor({ state: 'visible', timeout: 10_000 });
      await viewPane.waitFor({ state: 'visible', timeout: 10_000 });
      await expectActivated();
    },

    async runCommand(title) {
      if (await widget.isVisible()) {
        await page.keyboard.press('Escape');
        await quickInput.waitForClosed();
      }
      await page.keyboard.press('Control+Shift+P');
      await quickInput.waitForOpen();
      await quickInput.type(`>${title}`);
      // The row whose label is the title itself: "Disk Delta: Refresh" must not run "Disk Delta: Refresh Properties".
      const rows = widget.locator('.quick-input-list .monaco-list-row', { hasText: title });
      const row = await waitFor(`a command titled "${title}" in the command palette`, 10_000, async () => {
        for (const r of await rows.all()) {
          const label = (
            await r
              .locator('.label-name')
              .first()
              .innerText()
              .catch(() => '')
          ).trim();
          if (label === title) return r;
        }
        return undefined;
      });
      await row.click();
      // The palette closes; a quick pick or input box the command opens reuses the same widget.
      await waitFor(`the command palette to run "${title}"`, 10_000, async () => {
        if (!(await widget.isVisible())) return true;
        const value = await widget
          .locator('.quick-input-box input')
          .inputValue()
          .catch(() => '');
        return value.startsWith('>') ? undefined : true;
      });
    },

    async treeItems() {
      const rows = await viewPane.locator('.monaco-list-row').all();
      return Promise.all(rows.map(async (r) => (await r.getAttribute('aria-label')) ?? (await r.innerText())));
    },

    treeItem(label) {
      return viewPane.locator('.monaco-list-row', { hasText: label }).first();
    },

    async treeContextMenu(label, action, timeoutMs = 60_000) {
      const row = viewPane.locator('.monaco-list-row', { hasText: label }).first();
      await waitFor(`the tree row "${label}" to settle`, timeoutMs, async () => {
        await row.waitFor({ state: 'visible', timeout: timeoutMs });
        const handle = await row.elementHandle();
        if (!handle) return undefined;
        await page.waitForTimeout(1000);
        const same = await row.evaluate((el, h) => el === h, handle).catch(() => false);
        const attached = await handle.evaluate((el) => el.isConnected).catch(() => false);
        await handle.dispose();
        return same && attached ? true : undefined;
      });
      await row.click();
      await row.click({ button: 'right' });
      const item = page.locator('.context-view .action-item .action-label', { hasText: action }).first();
      await item.waitFor({ state: 'visible', timeout: 10_000 });
      const menu = page.locator('.context-view .monaco-menu');
      // A click that lands while the menu is still settling only hovers its item: then the hovered
      // (focused) item is run with Enter. Either way the menu must close, or the action never ran.
      await item.hover();
      await page.waitForTimeout(200);
      await item.click();
      if (
        !(await menu.waitFor({ state: 'hidden', timeout: 1500 }).then(
          () => true,
          () => false,
        ))
      ) {
        await item.hover();
        await page.keyboard.press('Enter');
        await menu.waitFor({ state: 'hidden', timeout: 10_000 });
      }
    },

    async waitForTreeItem(label, timeoutMs = 30_000) {
      const row = viewPane.locator('.monaco-list-row', { hasText: label }).first();
      const list = viewPane.locator('.monaco-list').first();
      const deadline = Date.now() + timeoutMs;
      // The tree is a virtual list: rows scrolled out of its viewport are not in the page. Scroll down through it,
      // and back up, until the row shows.
      for (let step = 0; ; step++) {
        if (await row.isVisible().catch(() => false)) return row;
        if (Date.now() > deadline) break;
        if (await list.isVisible().catch(() => false)) {
          await list.hover({ timeout: 2_000 }).catch(() => undefined);
          await page.mouse.wheel(0, Math.floor(step / 12) % 2 === 0 ? 240 : -240);
        }
        await page.waitForTimeout(200);
      }
      await row.waitFor({ state: 'visible', timeout: 1_000 });
      return row;
    },

    welcomeView() {
      return viewPane.locator('.welcome-view');
    },

    async waitForNotification(text, timeoutMs = 30_000) {
      return waitFor(`a notification matching ${String(text)}`, timeoutMs, async () =>
        (await notifications()).find((m) => (typeof text === 'string' ? m.includes(text) : text.test(m))),
      );
    },

    async clickNotificationButton(message, button) {
      const toast = page.locator('.notifications-toasts .notification-toast', { hasText: message }).first();
      await toast.locator('.monaco-button', { hasText: button }).first().click();
    },

    async dialogMessage() {
      const dialog = page.locator('.monaco-dialog-box');
      return (await dialog.isVisible()) ? (await dialog.locator('.dialog-message-container').innerText()).trim() : '';
    },

    async clickDialogButton(label) {
      await page.locator('.monaco-dialog-box .dialog-buttons .monaco-button', { hasText: label }).first().click();
    },

    async acceptDialog(pattern, button, timeoutMs = 60_000) {
      const message = await waitFor(`a dialog matching ${String(pattern)}`, timeoutMs, async () => {
        const text = await this.dialogMessage();
        return pattern.test(text) ? text : undefined;
      });
      await this.clickDialogButton(button);
      return message;
    },

    async webviewFrame(match, timeoutMs = 30_000) {
      const predicate =
        typeof match === 'string'
          ? async (f: Frame) => (await f.title()).includes(match) || (await f.locator('body').innerText({ timeout: 1000 })).includes(match)
          : match;
      return waitFor(`a webview matching ${typeof match === 'string' ? `"${match}"` : 'the predicate'}`, timeoutMs, async () => {
        // A webview is an outer iframe (index.html) hosting the content frame (fake.html) the extension filled.
        for (const frame of page.frames()) {
          if (!frame.url().includes('fake.html')) continue;
          if (await predicate(frame).catch(() => false)) return frame;
        }
        return undefined;
      });
    },

    async screenshot(name) {
      mkdirSync(outputDir, { recursive: true });
      const file = path.join(outputDir, `${s.name}-${name.replace(/[^\w.-]+/g, '-')}.png`);
      await page.screenshot({ path: file });
      return file;
    },
  };
}

/**
 * The demo emulator and a VS Code connected to it, shared by a file's tests: started before them, stopped after
 * (VS Code first). Read `emulator` and `vscode` inside the tests, once `before` has run.
 */
export function demoSession(name: string): { readonly emulator: RunningEmulator; readonly vscode: VsCodeSession } {
  const s = {} as { emulator: RunningEmulator; vscode: VsCodeSession };
  before(
    async () => {
      s.emulator = await startEmulator({ seed: 'demo' });
      s.vscode = await startVsCode({ name, emulator: { connection: s.emulator.connection } });
    },
    { timeout: 15 * 60_000 },
  );
  after(
    async () => {
      await s.vscode?.stop();
      await s.emulator?.stop();
    },
    { timeout: 60_000 },
  );
  return s;
}
