// Files inside snapshots, in a real VS Code against the demo emulator's linux-web-01 (ext4 on GPT, one
// snapshot a day; scripts/make-fs-fixtures.mjs says what each day wrote):
//  - "Diff with Previous Snapshot" on day 1: the block map's Files panel lists exactly the paths
//    `disk-delta diff --files --json` names for the same pair (the CLI is the oracle, same emulator);
//  - "Browse Files in Snapshot" on day 1 shows its filesystem in the Explorer; /etc/nginx/nginx.conf opens
//    with day 1's text; "Compare with Previous Snapshot" opens the diff editor with day 0's and day 1's text;
//  - afterwards no read grant (SAS) stays active once the idle time (diskDelta.snapshotFiles.idleSeconds) passed.
//
// Adding a folder to the workspace reloads the window in code-server and restarts the extension host
// (vscode.d.ts, workspace.updateWorkspaceFolders), and that is what made this flow flaky: the grant the old
// extension host made for Browse Files stayed open (deactivate did not give it back), and the new host, finding
// the snapshot in "Active SAS", took it for someone else's and never revoked it. The extension now revokes in
// deactivate(); the test waits on signals that only the new host can give (the Explorer rows of the snapshot's
// folder, the file's text), never on sleeps. The session opens a multi-root workspace so that the Explorer is the
// view shown after the reload.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Frame, Page } from 'playwright-core';
import { startEmulator, type RunningEmulator } from '../support/emulator';
import { parseJson, runCli } from '../support/cli';
import { startVsCode, type VsCodeSession } from './harness';

const IDLE_SECONDS = 15;
const DAY0_CONF = 'worker_processes auto;';
const DAY1_CONF = 'worker_processes 4;';

let emulator: RunningEmulator;
let vscode: VsCodeSession;
let dir: string;
let connectionFile: string;
let day0: { id: string; name: string };
let day1: { id: string; name: string };

before(
  async () => {
    emulator = await startEmulator({ seed: 'demo' });
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-e2e-files-'));
    connectionFile = path.join(dir, 'connection.json');
    writeFileSync(connectionFile, JSON.stringify(emulator.connection));
    const families = parseJson<{ sourceName: string; snapshots: { id: string; name: string }[] }[]>(await runCli(connectionFile, ['--json', 'families']));
    const linux = families.find((f) => f.sourceName === 'linux-web-01');
    assert.ok(linux, 'the demo seeds linux-web-01');
    day0 = linux.snapshots.find((s) => s.name === 'linux-web-01-day0')!;
    day1 = linux.snapshots.find((s) => s.name === 'linux-web-01-day1')!;
    assert.ok(day0 && day1);
    vscode = await startVsCode({
      name: 'snapshot-files',
      emulator: { connectionFile },
      settings: { 'diskDelta.snapshotFiles.idleSeconds': IDLE_SECONDS, 'explorer.compactFolders': false },
      viewport: { width: 1600, height: 1000 },
    });
    // A multi-root workspace from the start (see the note at the top): adding a folder then reloads nothing.
    const workspaceFile = path.join(dir, 'e2e.code-workspace');
    writeFileSync(workspaceFile, JSON.stringify({ folders: [{ path: vscode.folder }] }));
    await vscode.page.goto(`${new URL(vscode.url).origin}/?workspace=${encodeURIComponent(workspaceFile)}`);
    await vscode.page.locator('.monaco-workbench .activitybar').waitFor({ state: 'visible', timeout: 60_000 });
  },
  { timeout: 15 * 60_000 },
);

after(
  async () => {
    await vscode?.stop();
    await emulator?.stop();
    rmSync(dir, { recursive: true, force: true });
  },
  { timeout: 60_000 },
);

async function expand(label: string): Promise<void> {
  const row = await vscode.waitForTreeItem(label, 60_000);
  if ((await row.getAttribute('aria-expanded')) === 'false') await row.click();
}

async function showSnapshot(name: string): Promise<void> {
  await vscode.openView();
  const rows = await vscode.treeItems();
  if (rows.some((r) => r.includes('demo-files'))) await expand('demo-files');
  await expand('linux-web-01');
  await expand('linux-web-01 family');
  await vscode.waitForTreeItem(name, 60_000);
}

/** Text of Monaco's rendered lines, with its non-breaking spaces as spaces. */
async function linesText(page: Page, selector: string): Promise<string[]> {
  return (await page.locator(selector).allInnerTexts()).map((t) => t.replace(/\u00a0/g, ' '));
}

/** Runs a test body; on failure keeps a screenshot of the workbench next to the logs. */
async function shot<T>(name: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    await vscode.screenshot(`failed-${name}`).catch(() => undefined);
    throw error;
  }
}

async function grantsAfterIdle(): Promise<number> {
  const deadline = Date.now() + 90_000;
  let open = (await emulator.getStats()).activeSasGrants;
  while (open > 0 && Date.now() < deadline) {
    await vscode.page.waitForTimeout(1000);
    open = (await emulator.getStats()).activeSasGrants;
  }
  return open;
}

void test("the block map's Files panel lists the paths `disk-delta diff --files` names for the pair", { timeout: 10 * 60_000 }, () =>
  shot('files-panel', filesPanel),
);

async function filesPanel(): Promise<void> {
  const cli = parseJson<{ files: { path: string; change: string; changedBytes: number }[]; filesystems: { type: string; supported: boolean }[] }>(
    await runCli(connectionFile, ['--json', 'diff', '--from', day0.id, '--to', day1.id, '--files']),
  );
  assert.ok(cli.filesystems.some((f) => f.type === 'ext4' && f.supported));
  const expected = cli.files.map((f) => f.path).sort();
  assert.ok(expected.includes('/etc/nginx/nginx.conf') && expected.includes('/var/log/nginx/access.log'), `day 1 edits are named: ${expected.join(', ')}`);

  await showSnapshot(day1.name);
  await vscode.treeContextMenu(day1.name, 'Diff with Previous Snapshot');
  const frame: Frame = await vscode.webviewFrame(async (f) => (await f.locator('#block-map').count()) > 0, 120_000);
  await frame.locator('#block-map[data-painted="1"]').waitFor({ state: 'attached', timeout: 60_000 });
  await frame.locator('#files[data-state="ready"]').waitFor({ state: 'attached', timeout: 180_000 });
  const listed = await frame.locator('#files-list li').evaluateAll((items) => items.map((li) => li.getAttribute('data-path') ?? ''));
  assert.deepEqual([...listed].sort(), expected, 'the panel lists the same paths as the CLI');
  const bytes = await frame.locator('#files-list li').evaluateAll((items) => items.map((li) => Number(li.getAttribute('data-changed-bytes'))));
  assert.deepEqual(
    bytes,
    [...bytes].sort((a, b) => b - a),
    'largest change first',
  );
  const cliBytes = new Map(cli.files.map((f) => [f.path, f.changedBytes]));
  for (const [i, p] of listed.entries()) assert.equal(bytes[i], cliBytes.get(p), `${p}: the CLI's changed bytes`);

  // Choosing nginx.conf lights its blocks on the map.
  await frame.locator('#files-list li[data-path="/etc/nginx/nginx.conf"] button').click();
  await frame.locator('#legend-file:not([hidden])').waitFor({ timeout: 10_000 });
  const lit = Number(await frame.locator('#block-map').getAttribute('data-lit-cells'));
  assert.ok(lit > 0, 'the file has lit cells on the map');
  await vscode.screenshot('files-panel');
  assert.equal(await grantsAfterIdle(), 0, 'the map and its file diff gave every grant back');
}

void test('Browse Files in Snapshot opens a file with its text; Compare with Previous Snapshot shows both days; grants go back', { timeout: 10 * 60_000 }, () =>
  shot('browse', browseAndCompare),
);

async function browseAndCompare(): Promise<void> {
  const page = vscode.page;
  await showSnapshot(day1.name);
  await vscode.treeContextMenu(day1.name, 'Browse Files in Snapshot');
  const explorer = page.locator('.explorer-folders-view');
  const row = (name: string) => explorer.locator('.monaco-list-row', { hasText: new RegExp(`^\\s*${name.replace(/\./g, '\\.')}\\s*$`) }).first();
  // Expands `folder` until `child` shows: VS Code expands a new root by itself once its children are read,
  // so a row is clicked only while it is collapsed, and looked at again after each click.
  const expandUntil = async (folder: () => ReturnType<typeof row>, child: string) => {
    const deadline = Date.now() + 60_000;
    while (!(await row(child).isVisible())) {
      if (Date.now() > deadline) throw new Error(`${child} did not show under its folder in the Explorer`);
      const f = folder();
      if ((await f.isVisible()) && (await f.getAttribute('aria-expanded')) === 'false') await f.click();
      await page.waitForTimeout(500);
    }
  };
  const root = () => explorer.locator('.monaco-list-row', { hasText: `${day1.name} (ext4` }).first();
  await root().waitFor({ state: 'visible', timeout: 60_000 });
  await expandUntil(root, 'etc');
  await expandUntil(() => row('etc'), 'nginx');
  await expandUntil(() => row('nginx'), 'nginx.conf');
  await row('nginx.conf').click();
  const editorLines = '.editor-group-container.active .monaco-editor .view-lines';
  await page.locator(editorLines, { hasText: 'worker_processes' }).first().waitFor({ timeout: 60_000 });
  const text = (await linesText(page, editorLines)).join('\n');
  assert.ok(text.includes(DAY1_CONF) && text.includes('gzip on;'), `day 1's nginx.conf is shown: ${text}`);
  assert.ok(!text.includes(DAY0_CONF));

  await vscode.runCommand('Disk Delta: Compare with Previous Snapshot');
  const diff = page.locator('.monaco-diff-editor').first();
  await diff.waitFor({ state: 'visible', timeout: 60_000 });
  await diff.locator('.editor.original .view-lines', { hasText: 'worker_processes' }).waitFor({ timeout: 60_000 });
  await diff.locator('.editor.modified .view-lines', { hasText: 'worker_processes' }).waitFor({ timeout: 60_000 });
  const original = (await linesText(page, '.monaco-diff-editor .editor.original .view-lines')).join('\n');
  const modified = (await linesText(page, '.monaco-diff-editor .editor.modified .view-lines')).join('\n');
  assert.ok(original.includes(DAY0_CONF) && original.includes('worker_connections 768;'), `left is day 0: ${original}`);
  assert.ok(modified.includes(DAY1_CONF) && modified.includes('worker_connections 2048;'), `right is day 1: ${modified}`);
  const tab = await page.locator('.tabs-container .tab.active').innerText();
  assert.match(tab, new RegExp(`nginx\\.conf \\(${day0.name} ↔ ${day1.name}\\)`));
  await vscode.screenshot('compare');

  // Both snapshots held a grant while their files were read; after the idle time both are given back.
  assert.equal(await grantsAfterIdle(), 0, `no SAS grant stays active ${IDLE_SECONDS} s after the last read`);
  const log = vscode.logs().toLowerCase();
  for (const s of [day0, day1])
    assert.ok(log.includes(`snapshot files: access revoked on ${s.id.toLowerCase()}`), `the log says ${s.name}'s browsing grant was revoked`);

  // The extension host stopping while a grant is held (a window reload, as after adding a folder) gives it
  // back: without that, the restarted extension finds day 1 in "Active SAS", takes it for someone else's grant
  // and never revokes it, and the count below never reaches 0. The reload follows the read well within the
  // idle time, so it is the reload that has to give the grant back.
  const activations = () => (vscode.logs().match(/Disk Delta activated/g) ?? []).length;
  const before = activations();
  await row('hostname').click();
  await page.locator(editorLines, { hasText: 'web-01' }).first().waitFor({ timeout: 60_000 });
  await page.reload();
  await page.locator('.monaco-workbench .activitybar').waitFor({ state: 'visible', timeout: 60_000 });
  const deadline = Date.now() + 120_000;
  while (activations() <= before && Date.now() < deadline) await page.waitForTimeout(500);
  assert.ok(activations() > before, 'the extension came back in the new extension host');
  assert.equal(await grantsAfterIdle(), 0, 'no grant outlives the extension host that made it');
}
