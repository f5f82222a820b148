// The conventions of Microsoft's Azure extensions, in a real VS Code against the emulator seeded with --seed demo:
// Copy Resource ID, View Properties, Open in Portal (public and sovereign cloud), Edit Tags, the cost chart
// and the Activity view listing a copy made here.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import { writeDisk } from '../support/disks';
import { ensureResourceGroup, startEmulator, type RunningEmulator } from '../support/emulator';
import { startVsCode, type VsCodeSession } from './harness';

let emulator: RunningEmulator;
let vscode: VsCodeSession;
let clients: AzureClients;
let sub: string;
let tenant: string;
const MiB = 1024 * 1024;
const RG = 'eco';
let smallDiskId: string;

async function expand(label: string): Promise<void> {
  const row = await vscode.waitForTreeItem(label, 60_000);
  if ((await row.getAttribute('aria-expanded')) === 'false') await row.click();
  await vscode.page.waitForTimeout(300);
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Changes user settings as a user does: in "Preferences: Open User Settings (JSON)", replaced and saved.
 * (A write to the file behind VS Code's back is not noticed by code-server's watcher here.) The text goes
 * in through the clipboard: typing JSON into the editor would be re-indented and auto-closed.
 */
async function updateUserSettings(change: Record<string, unknown>): Promise<void> {
  const file = path.join(vscode.userDataDir, 'User', 'settings.json');
  const current = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  for (const [k, v] of Object.entries(change)) {
    if (v === undefined) delete current[k];
    else current[k] = v;
  }
  const text = JSON.stringify(current, null, 2);
  await vscode.page.evaluate(`navigator.clipboard.writeText(${JSON.stringify(text)})`);
  await vscode.runCommand('Preferences: Open User Settings (JSON)');
  // VS Code 1.139 opens it in a modal editor, others in a tab: find the editor by its content.
  const editor = vscode.page.locator('.monaco-editor', { hasText: 'workbench.colorTheme' }).first();
  await editor.waitFor({ state: 'visible', timeout: 30_000 }).catch(async (error: unknown) => {
    await vscode.screenshot('settings-json-missing');
    throw error;
  });
  await editor.locator('.view-lines').click();
  await vscode.page.keyboard.press('Control+A');
  await vscode.page.keyboard.press('Control+V');
  await vscode.page.keyboard.press('Control+S');
  await waitFor('settings.json to be saved', 30_000, async () => {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    return Object.entries(change).every(([k, v]) => saved[k] === v) ? true : undefined;
  });
  // A modal editor closes with Escape (the command palette does not open over it).
  await waitFor('the settings editor to close', 30_000, async () => {
    if (!(await editor.isVisible())) return true;
    await vscode.page.keyboard.press('Escape');
    await vscode.page.waitForTimeout(500);
    return undefined;
  });
}

/**
 * Runs an action that opens an external URL. code-server opens it with window.open: a new page of the
 * browser context (portal hosts are answered locally: no network). When the browser blocks the popup,
 * VS Code asks in a dialog; its Open button opens it.
 */
async function externalUrlOf(action: () => Promise<void>): Promise<string> {
  const context = vscode.page.context();
  const opened = context.waitForEvent('page', { timeout: 60_000 });
  await action();
  const page = await Promise.race([
    opened,
    (async (): Promise<Page> => {
      await waitFor('a blocked-popup dialog', 60_000, async () => ((await vscode.dialogMessage()) ? true : undefined));
      await vscode.clickDialogButton('Open');
      return opened;
    })(),
  ]);
  const url = await waitFor('the new page to navigate', 30_000, async () => (page.url() && page.url() !== 'about:blank' ? page.url() : undefined));
  await page.close();
  await vscode.page.bringToFront();
  return decodeURIComponent(url);
}

/** The browser's clipboard, where VS Code's clipboard API writes in code-server. */
function readClipboard(): Promise<string> {
  return vscode.page.evaluate('navigator.clipboard.readText()') as Promise<string>;
}

function activityRows(): ReturnType<Page['locator']> {
  const pane = vscode.page.locator('.pane', { has: vscode.page.locator('.pane-header', { hasText: /^Activity/i }) });
  return pane.locator('.monaco-list-row');
}

before(
  async () => {
    emulator = await startEmulator({ seed: 'demo' });
    await ensureResourceGroup(emulator, RG);
    clients = connectToEmulator(emulator.connection, emulator.ca);
    sub = emulator.connection.subscriptionId;
    tenant = emulator.connection.tenantId;
    // A small disk of our own, so the copy takes seconds.
    const disk = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: RG,
      name: 'eco-app',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 1,
    });
    smallDiskId = disk.id;
    await writeDisk(clients, disk.id, [
      { offset: 0, length: 4 * MiB },
      { offset: 256 * MiB, length: 2 * MiB },
    ]);
    await clients.compute.createSnapshot({
      subscriptionId: sub,
      resourceGroup: RG,
      name: 'eco-app-1',
      location: 'eastus',
      incremental: true,
      createOption: 'Copy',
      sourceResourceId: disk.id,
    });
    vscode = await startVsCode({
      name: 'ecosystem',
      emulator: { connection: emulator.connection },
      settings: { 'diskDelta.copy.concurrency': 2, 'diskDelta.cost.currency': 'EUR', 'diskDelta.cost.pricePerGiBMonth': 0.05 },
      viewport: { width: 1600, height: 1000 },
    });
    await vscode.page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(vscode.url).origin });
    await vscode.page
      .context()
      .route(/portal\.azure\.(com|cn|us)/, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<title>portal</title>' }));
  },
  { timeout: 15 * 60_000 },
);

after(
  async () => {
    await vscode?.stop();
    await emulator?.stop();
  },
  { timeout: 60_000 },
);

void test('Copy Resource ID puts the disk id on the clipboard', async () => {
  await vscode.openView();
  await vscode.waitForTreeItem('eco-app', 60_000);
  await vscode.treeContextMenu('eco-app', 'Copy Resource ID');
  const text = await waitFor('the clipboard to hold the id', 30_000, async () => {
    const t = await readClipboard();
    return t.includes('/disks/') ? t : undefined;
  });
  assert.equal(text, smallDiskId);
  await vscode.treeContextMenu('eco-app', 'Copy Name');
  await waitFor('the clipboard to hold the name', 30_000, async () => ((await readClipboard()) === 'eco-app' ? true : undefined));
});

void test('View Properties opens the disk JSON, with its id and no SAS', async () => {
  await vscode.treeContextMenu('eco-app', 'View Properties');
  const tab = vscode.page.locator('.tabs-container .tab', { hasText: 'eco-app.json' }).first();
  await tab.waitFor({ state: 'visible', timeout: 60_000 });
  const editor = vscode.page.locator('.editor-instance .monaco-editor .view-lines').first();
  const text = await waitFor('the properties JSON', 60_000, async () => {
    const t = (await editor.innerText()).replace(/\u00a0/g, ' ');
    return t.includes('"id"') ? t : undefined;
  });
  assert.ok(text.includes(smallDiskId), `the JSON names the disk: ${text.slice(0, 400)}`);
  assert.match(text, /"diskSizeGB": 1/);
  assert.doesNotMatch(text, /sig=/);
  await vscode.screenshot('properties');
  // Refresh re-reads: a tag added behind VS Code's back shows after Refresh.
  await clients.compute.updateTags!(smallDiskId, { owner: 'ops' });
  await vscode.runCommand('Disk Delta: Refresh Properties');
  await waitFor('the refreshed JSON to show the tag', 60_000, async () => ((await editor.innerText()).includes('"owner"') ? true : undefined));
});

void test('Edit Tags replaces the tags of a disk through PATCH', async () => {
  await vscode.treeContextMenu('eco-app', 'Edit Tags');
  await vscode.quickInput.waitForTitle(/Edit Tags of eco-app/, 30_000);
  await vscode.quickInput.type('owner=ops, env=prod');
  await vscode.quickInput.waitForValidationMessage('');
  await vscode.quickInput.accept();
  await vscode.waitForNotification('Tags of eco-app updated', 60_000);
  const disk = await clients.compute.getDisk(smallDiskId);
  assert.deepEqual(disk?.tags, { owner: 'ops', env: 'prod' });
});

void test('Open in Portal opens the public portal, then the Azure China portal once the sovereign cloud is set', async () => {
  await vscode.openView();
  const url = await externalUrlOf(() => vscode.treeContextMenu('eco-app', 'Open in Portal'));
  assert.equal(url, `https://portal.azure.com/#${tenant ? `@${tenant}/` : ''}resource${smallDiskId}`);
  await updateUserSettings({ 'microsoft-sovereign-cloud.environment': 'ChinaCloud' });
  await waitFor('VS Code to take the China cloud setting', 90_000, async () => (/Azure cloud: AzureChinaCloud/.test(vscode.logs()) ? true : undefined));
  const cn = await externalUrlOf(() => vscode.treeContextMenu('eco-app', 'Open in Portal'));
  assert.equal(cn, `https://portal.azure.cn/#${tenant ? `@${tenant}/` : ''}resource${smallDiskId}`);
  await updateUserSettings({ 'microsoft-sovereign-cloud.environment': 'USGovernment' });
  await waitFor('VS Code to take the US Government cloud setting', 90_000, async () =>
    /Azure cloud: AzureUSGovernment/.test(vscode.logs()) ? true : undefined,
  );
  const us = await externalUrlOf(() => vscode.treeContextMenu('eco-app', 'Open in Portal'));
  assert.ok(us.startsWith('https://portal.azure.us/#'), us);
  await updateUserSettings({ 'microsoft-sovereign-cloud.environment': undefined });
  assert.match(vscode.logs(), /Opening https:\/\/portal\.azure\.cn\//, 'the URL is in the log too');
});

void test('the cost chart of a demo family renders as an SVG with a bar per snapshot and the currency', async () => {
  await expand('orders-db');
  await vscode.treeContextMenu('orders-db family', 'Show Cost');
  const frame = await vscode.webviewFrame(async (f) => (await f.locator('svg.cost-chart').count()) > 0, 180_000);
  const bars = await frame.locator('svg.cost-chart rect.bar').count();
  assert.ok(bars >= 5 + 1, `a bar per snapshot of orders-db (5) and the legend's: ${bars}`);
  assert.equal(await frame.locator('svg.cost-chart rect.bar.unknown').count(), 0, 'every used size was read');
  assert.equal(await frame.locator('svg.cost-chart path.line.source').count(), 1);
  assert.ok((await frame.locator('svg.cost-chart circle.point.source').count()) >= 5);
  const summary = await frame.locator('svg.cost-chart .summary').textContent();
  assert.match(summary ?? '', /EUR \/ month/);
  assert.match(summary ?? '', /0\.05 EUR per GiB-month/);
  await vscode.screenshot('cost-chart');
});

void test('the Activity view lists a copy made here, succeeded, and keeps a tag edit', async () => {
  const target = emulator.connection.storageAccounts.find((a) => a.region !== 'eastus')!;
  await expand('eco-app');
  await expand('eco-app family');
  await vscode.treeContextMenu('eco-app-1', 'Copy Snapshot to Another Region');
  await vscode.quickInput.waitForItem(target.name, 30_000);
  await vscode.quickInput.pick(target.name);
  await vscode.quickInput.waitForTitle(/container/);
  await vscode.quickInput.accept();
  await vscode.quickInput.waitForItem('Page blob only');
  await vscode.quickInput.pick('Page blob only');
  await vscode.acceptDialog(/Copy \d+ snapshots? of eco-app/, 'Copy');
  await vscode.waitForNotification(/Copied \d+ snapshots? of eco-app/, 240_000);
  // The Activity view starts collapsed below the Snapshots view.
  const activityHeader = vscode.page.locator('.pane-header', { hasText: /^Activity/i }).first();
  if ((await activityHeader.getAttribute('aria-expanded')) === 'false') await activityHeader.click();
  const row = await waitFor('the copy in the Activity view', 60_000, async () => {
    for (const r of await activityRows().all()) {
      const t = (await r.getAttribute('aria-label')) ?? (await r.innerText());
      if (/Copy eco-app to/.test(t) && /succeeded/.test(await r.innerText())) return r;
    }
    return undefined;
  });
  const text = await row.innerText();
  assert.match(text, new RegExp(`Copy eco-app to ${target.name}`));
  assert.match(text, /succeeded/);
  assert.match(text, /\d+(\.\d+)? (ms|s|min)/, `a duration: ${text}`);
  const all = await Promise.all((await activityRows().all()).map((r) => r.innerText()));
  assert.ok(
    all.some((t) => /Edit tags of eco-app/.test(t) && /succeeded/.test(t)),
    all.join('\n'),
  );
  await vscode.screenshot('activity');
  // Kept across restarts: in the global storage file, without any SAS.
  const activityFile = path.join(vscode.userDataDir, 'User', 'globalStorage', 'disk-delta.disk-delta', 'activity.json');
  const saved = readFileSync(activityFile, 'utf8');
  assert.match(saved, /Copy eco-app to/);
  assert.doesNotMatch(saved, /sig=/);
  // An entry links to its resource: clicking the copy reveals the snapshot it copied up to.
  await row.click();
  await waitFor('the copied snapshot to be selected in the Snapshots view', 60_000, async () =>
    (await vscode.treeItem('eco-app-1').getAttribute('aria-selected')) === 'true' ? true : undefined,
  );
  // The copied family stands for its copy target: Copy Resource ID gives the target storage account.
  await vscode.treeContextMenu('eco-app family', 'Copy Resource ID');
  await waitFor('the clipboard to hold the target account id', 30_000, async () => ((await readClipboard()) === target.resourceId ? true : undefined));
  // The copied family's cost chart has the copy target's side too.
  await vscode.treeContextMenu('eco-app family', 'Show Cost');
  const frame = await vscode.webviewFrame(async (f) => (await f.locator('svg.cost-chart').getAttribute('aria-label'))?.includes('eco-app') === true, 180_000);
  assert.equal(await frame.locator('svg.cost-chart path.line.target').count(), 1);
  assert.match((await frame.locator('svg.cost-chart .summary').textContent()) ?? '', /copy target [\d.]+ EUR \/ month \(up to eco-app-1\)/);
  await vscode.screenshot('cost-chart-copied');
  // Nothing secret reached the logs.
  assert.doesNotMatch(vscode.logs(), /[?&]sig=(?!REDACTED)[A-Za-z0-9%+/=]{10,}/);
});
