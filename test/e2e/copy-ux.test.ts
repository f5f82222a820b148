// Copying from VS Code as a user meets it (issue 20): a confirmation that says what will move before anything
// does, a progress total that never changes once shown as final, a remembered target that still works after the
// emulator moved to another port, and a failure that shows in the tree and the status bar while its message is
// still open - with another copy of the family allowed at once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import { resourceId } from '../../src/core/resourceId';
import { writeDisk } from '../support/disks';
import { ensureResourceGroup, startEmulator, type RunningEmulator } from '../support/emulator';
import { startVsCode, type VsCodeSession } from './harness';

const MiB = 1024 * 1024;
const RG = 'ux';
const DISK = 'ux-app';
let dataDir: string;
let emulator: RunningEmulator;
let clients: AzureClients;
let vscode: VsCodeSession;
let sub: string;
/** The connection file the session reads (the harness writes it into the session's scratch dir). */
let connectionFile: string;

/** Requests that change something at the emulator (data plane and ARM). */
const WRITES = /^(PutPage|PutPageFromURL|ClearPages|CreateContainer|PutBlob|SetBlob|SnapshotBlob|DeleteBlob|arm:(Grant|Revoke|CreateOrUpdate|Update|Delete))/;

const diskId = (): string => resourceId(sub, RG, 'Microsoft.Compute', 'disks', DISK);

async function snapshotDisk(name: string, writes: { offset: number; length: number }[]): Promise<void> {
  await writeDisk(clients, diskId(), writes);
  await clients.compute.createSnapshot({
    subscriptionId: sub,
    resourceGroup: RG,
    name,
    location: 'eastus',
    incremental: true,
    createOption: 'Copy',
    sourceResourceId: diskId(),
  });
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function expand(label: string): Promise<void> {
  const row = await vscode.waitForTreeItem(label, 60_000);
  if ((await row.getAttribute('aria-expanded')) === 'false') await row.click();
  await vscode.page.waitForTimeout(300);
}

async function rowText(label: string): Promise<string> {
  return vscode.treeItem(label).innerText({ timeout: 1000 });
}

async function waitForRow(label: string, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  return until(`the tree row "${label}" to match ${String(pattern)}`, timeoutMs, async () => {
    const t = await rowText(label);
    return pattern.test(t) ? t : undefined;
  });
}

async function statusBarText(): Promise<string> {
  const item = vscode.page.locator('.statusbar-item', { hasText: 'Disk Delta' }).first();
  return (await item.isVisible()) ? (await item.innerText()).trim() : '';
}

async function waitForDialog(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  return until(`a dialog matching ${String(pattern)}`, timeoutMs, async () => {
    const m = await vscode.dialogMessage();
    return pattern.test(m) ? m : undefined;
  });
}

/** Restarts the emulator (on a new port) and points the session at it, as the emulator's own connection file would. */
async function restartEmulator(): Promise<void> {
  const before = new URL(emulator.connection.armEndpoint).port;
  await emulator.restart();
  clients = connectToEmulator(emulator.connection, emulator.ca);
  const port = new URL(emulator.connection.armEndpoint).port;
  assert.notEqual(port, before, 'the emulator came back on another port');
  writeFileSync(connectionFile, JSON.stringify(emulator.connection, null, 2));
  await until('the extension to use the new port', 60_000, async () =>
    (await vscode.page.locator('body').innerText()).includes(`127.0.0.1:${port}`) ? true : undefined,
  );
}

before(
  async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'dd-e2e-copy-ux-'));
    emulator = await startEmulator({ dataDir });
    await ensureResourceGroup(emulator, RG);
    clients = connectToEmulator(emulator.connection, emulator.ca);
    sub = emulator.connection.subscriptionId;
    await clients.compute.createDisk({ subscriptionId: sub, resourceGroup: RG, name: DISK, location: 'eastus', createOption: 'Empty', diskSizeGB: 1 });
    // Three snapshots, each with scattered 1 MiB writes, so a copy of the chain takes a few seconds under latency.
    await snapshotDisk(
      `${DISK}-1`,
      Array.from({ length: 12 }, (_, i) => ({ offset: (8 + i * 32) * MiB, length: MiB })),
    );
    await snapshotDisk(
      `${DISK}-2`,
      Array.from({ length: 8 }, (_, i) => ({ offset: (24 + i * 64) * MiB, length: MiB })),
    );
    await snapshotDisk(
      `${DISK}-3`,
      Array.from({ length: 16 }, (_, i) => ({ offset: (40 + i * 48) * MiB, length: MiB })),
    );
    vscode = await startVsCode({
      name: 'copy-ux',
      emulator: { connection: emulator.connection },
      settings: { 'diskDelta.copy.concurrency': 2 },
      viewport: { width: 1400, height: 900 },
    });
    connectionFile = path.join(vscode.scratch, 'emulator-connection.json');
  },
  { timeout: 15 * 60_000 },
);

after(
  async () => {
    await vscode?.stop();
    await emulator?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  },
  { timeout: 60_000 },
);

void test('(c, d) a first copy asks first, saying how many snapshots and bytes, and its total never changes once final', { timeout: 10 * 60_000 }, async () => {
  const target = emulator.connection.storageAccounts.find((a) => a.region === 'westus2')!;
  await vscode.openView();
  await expand(DISK);
  await expand(`${DISK} family`);
  await vscode.waitForTreeItem(`${DISK}-3`);
  await emulator.resetStats();
  await vscode.treeContextMenu(`${DISK}-3`, 'Copy Snapshot to Another Region');
  await vscode.quickInput.waitForItem(target.name, 30_000);
  await vscode.quickInput.pick(target.name);
  await vscode.quickInput.waitForTitle(/container/);
  await vscode.quickInput.accept();
  await vscode.quickInput.waitForItem('Page blob only');
  await vscode.quickInput.pick('Page blob only');
  const dialog = await waitForDialog(/Copy 3 snapshots of ux-app/);
  assert.match(dialog, new RegExp(`to ${target.name}/disk-delta \\(westus2\\)`));
  assert.match(dialog, /ux-app-1, ux-app-2, ux-app-3/);
  assert.match(dialog, /\d+(\.\d+)? (MiB|GiB) to move/, `bytes in: ${dialog}`);
  assert.match(dialog, /per-blob limit of 60 MiB\/s and 500 requests\/s/);
  await vscode.screenshot('confirm');
  const beforeConfirm = await emulator.getStats();
  const writes = Object.keys(beforeConfirm.requests).filter((k) => WRITES.test(k));
  assert.deepEqual(writes, [], 'nothing was written or granted before the user confirmed');

  // Slow enough to sample the notification many times.
  await emulator.setFaults({ latency: 200 });
  const samples: string[] = [];
  try {
    await vscode.clickDialogButton('Copy');
    await vscode.waitForNotification(/Copying ux-app-3 of ux-app/, 30_000);
    const deadline = Date.now() + 240_000;
    for (;;) {
      const texts = await vscode.notifications();
      const progress = texts.find((t) => t.includes('Copying ux-app-3 of ux-app'));
      if (progress) samples.push(progress);
      if (texts.some((t) => /Copied 3 snapshots of ux-app/.test(t))) break;
      assert.ok(Date.now() < deadline, `the copy did not finish; last: ${texts.join(' | ')}`);
      if (samples.length === 20) await vscode.screenshot('progress');
      await vscode.page.waitForTimeout(100);
    }
  } finally {
    await emulator.setFaults({});
  }
  const totals = samples.map((s) => /of (at least )?([\d.]+ [KMG]?i?B)/.exec(s)).filter((m): m is RegExpExecArray => m !== null);
  assert.ok(totals.length >= 3, `the total was shown (${samples.length} samples: ${samples.slice(-3).join(' | ')})`);
  const firstFinal = totals.findIndex((m) => m[1] === undefined);
  assert.ok(firstFinal >= 0, `a final total was shown: ${totals.map((m) => m[0]).join(', ')}`);
  for (const m of totals.slice(firstFinal)) assert.equal(m[0], totals[firstFinal]![0], 'a total shown as final never changes');
  for (const s of samples) assert.doesNotMatch(s, /(revoking|granting|snapshot|listing)[^·]*\d+(\.\d+)? [KMG]?i?B of/, `bytes only while they move: ${s}`);
  assert.ok(
    samples.some((s) => /ux-app-\d \[\d\/3\]/.test(s)),
    'the progress names the snapshot being copied',
  );

  const done = await vscode.waitForNotification(/Copied 3 snapshots of ux-app/, 10_000);
  assert.match(done, new RegExp(`to ${target.name}/disk-delta \\(westus2\\), blob snapshot \\d{4}-\\d{2}-\\d{2}T`));
  assert.match(done, /verified/);
  const toast = vscode.page.locator('.notifications-toasts .notification-toast', { hasText: 'Copied 3 snapshots' }).first();
  const buttons = await toast.locator('.monaco-button').allInnerTexts();
  for (const b of ['Reveal', 'Show Log', 'Copy URL'])
    assert.ok(
      buttons.some((x) => x.includes(b)),
      `the end offers ${b}: ${buttons.join(', ')}`,
    );
  const row = await waitForRow(`${DISK} family`, /copy: up to date/);
  assert.match(row, /ux-app family\s*copy: up to date/, `the copy state comes first: ${row}`);
  assert.equal(await vscode.treeItem(`${DISK} family`).locator('.codicon-check').count(), 1, 'the family row has the check icon');
  await vscode.screenshot('copied');
  await vscode.clickNotificationButton(/Copied 3 snapshots/, 'Reveal');
  assert.equal((await emulator.getStats()).activeSasGrants, 0);
  // Each snapshot's line is logged when it is done.
  const log = vscode.logs();
  for (const n of [1, 2, 3]) assert.match(log, new RegExp(`ux-app \\[${n}/3\\] ux-app-${n}: done`), `the log has ux-app-${n}'s own line`);
});

void test('(a) after the emulator restarts on another port, a copy to the remembered target works', { timeout: 10 * 60_000 }, async () => {
  await snapshotDisk(`${DISK}-4`, [{ offset: 100 * MiB, length: 2 * MiB }]);
  await restartEmulator();
  await vscode.runCommand('Disk Delta: Refresh');
  await expand(DISK);
  await expand(`${DISK} family`);
  await vscode.waitForTreeItem(`${DISK}-4`, 60_000);
  const started = Date.now();
  await vscode.treeContextMenu(`${DISK}-4`, 'Copy Snapshot to Another Region');
  await vscode.quickInput.waitForItem('where this family was copied before', 30_000);
  await vscode.quickInput.pick('where this family was copied before');
  // The container is not asked again: the one used before is kept (and the log says so).
  await vscode.quickInput.waitForItem('Page blob only');
  await vscode.quickInput.pick('Page blob only');
  const dialog = await waitForDialog(/Copy 1 snapshot of ux-app/);
  assert.match(dialog, /ux-app-4/);
  await vscode.clickDialogButton('Copy');
  const done = await vscode.waitForNotification(/Copied 1 snapshot of ux-app/, 180_000);
  assert.ok(Date.now() - started < 170_000);
  assert.match(done, /verified/);
  assert.match(vscode.logs(), /container prompt skipped: using disk-delta/);
  await waitForRow(`${DISK} family`, /copy: up to date/);
  await vscode.screenshot('after-restart');
});

void test(
  '(b) a copy to a target that refuses fails within seconds, shows in the tree and status bar while its message is open, and another copy can start at once',
  { timeout: 10 * 60_000 },
  async () => {
    await snapshotDisk(`${DISK}-5`, [{ offset: 200 * MiB, length: MiB }]);
    await vscode.runCommand('Disk Delta: Refresh');
    await expand(DISK);
    await expand(`${DISK} family`);
    await vscode.waitForTreeItem(`${DISK}-5`, 60_000);
    // Nothing listens on the remembered endpoint any more: every connection is refused.
    emulator.process.kill('SIGTERM');
    await new Promise<void>((resolve) => (emulator.process.exitCode !== null ? resolve() : emulator.process.once('exit', () => resolve())));
    await vscode.treeContextMenu(`${DISK} family`, 'Copy Family to Another Region');
    await vscode.quickInput.waitForItem('where this family was copied before', 30_000);
    await vscode.quickInput.pick('where this family was copied before');
    await vscode.quickInput.waitForItem('Page blob only');
    await vscode.quickInput.pick('Page blob only');
    await waitForDialog(/Copy 1 snapshot of ux-app/);
    const started = Date.now();
    await vscode.clickDialogButton('Copy');
    const failure = await vscode.waitForNotification(/Copy of ux-app failed/, 60_000);
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < 30, `the refusal surfaced in ${seconds.toFixed(1)} s`);
    assert.match(failure, /ECONNREFUSED/);
    assert.match(failure, /cannot be reached/);
    // While the error message is still open, the tree row and the status bar already say the copy failed.
    const row = await waitForRow(`${DISK} family`, /copy: failed/, 10_000);
    assert.doesNotMatch(row, /copying/);
    assert.equal(await vscode.treeItem(`${DISK} family`).locator('.codicon-error').count(), 1, 'the family row has the error icon');
    assert.match(
      await until('the status bar to show the failure', 10_000, async () => ((await statusBarText()).includes('copy failed') ? statusBarText() : undefined)),
      /copy failed/,
    );
    assert.ok(
      (await vscode.notifications()).some((t) => /Copy of ux-app failed/.test(t)),
      'the error message is still open',
    );
    await vscode.screenshot('failed-message-open');

    // Another copy of the family, at once, with the message still open.
    await restartEmulator();
    await vscode.treeContextMenu(`${DISK} family`, 'Copy Family to Another Region');
    await vscode.quickInput.waitForItem('where this family was copied before', 30_000);
    await vscode.quickInput.pick('where this family was copied before');
    await vscode.quickInput.waitForItem('Page blob only');
    await vscode.quickInput.pick('Page blob only');
    await waitForDialog(/Copy 1 snapshot of ux-app/);
    await vscode.clickDialogButton('Copy');
    const done = await vscode.waitForNotification(/Copied 1 snapshot of ux-app/, 180_000);
    assert.doesNotMatch((await vscode.notifications()).join('\n'), /already being copied/);
    assert.match(done, /blob snapshot/);
    await waitForRow(`${DISK} family`, /copy: up to date/);
    assert.doesNotMatch(await statusBarText(), /failed/, 'the failure is cleared by the copy that followed');
    await vscode.screenshot('copied-again');
  },
);
