// The Protection view in a real VS Code: the workspace's policy file, its disks with RPO badges (a copied disk
// within its RPO, a disk never copied breached), and Run Now bringing the breached one within its RPO.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { connectToEmulator } from '../../src/azure';
import { ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';
import { runCli } from '../support/cli';
import { writeDisk } from '../support/disks';
import { startVsCode, type VsCodeSession } from './harness';

let emulator: RunningEmulator;
let vscode: VsCodeSession;
let dir: string;

before(
  async () => {
    emulator = await startEmulator({});
    await ensureResourceGroup(emulator, ['prod', 'prod2']);
    const clients = connectToEmulator(emulator.connection, emulator.ca);
    const sub = emulator.connection.subscriptionId;
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-e2e-protection-'));
    const folder = path.join(dir, 'workspace');
    mkdirSync(folder, { recursive: true });
    for (const name of ['safe-disk', 'fresh-disk']) {
      const d = await clients.compute.createDisk({
        subscriptionId: sub,
        resourceGroup: name === 'safe-disk' ? 'prod' : 'prod2',
        name,
        location: 'eastus',
        createOption: 'Empty',
        diskSizeGB: 1,
      });
      await writeDisk(clients, d.id, [{ offset: 0, length: 1024 * 1024 }]);
    }
    const account = storageAccount(emulator, 'westus2').resourceId;
    const policy = (groups: string) =>
      `policies:\n  - name: prod-dr\n    disks: { resourceGroups: [${groups}] }\n    target: { storageAccount: ${account} }\n    rpo: 4h\n`;
    // safe-disk is copied before VS Code starts; the workspace's policy covers both disks.
    const conn = path.join(dir, 'connection.json');
    writeFileSync(conn, JSON.stringify(emulator.connection));
    writeFileSync(path.join(dir, 'safe.policy.yaml'), policy('prod'));
    const r = await runCli(conn, ['protect', 'run', '--policy', path.join(dir, 'safe.policy.yaml')], { env: { XDG_STATE_HOME: path.join(dir, 'state') } });
    assert.equal(r.code, 0, r.stderr);
    writeFileSync(path.join(folder, 'disk-delta.policy.yaml'), policy('prod, prod2'));
    vscode = await startVsCode({ name: 'protection', emulator: { connection: emulator.connection }, folder });
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

const pane = () =>
  vscode.page.locator('[id="workbench.view.extension.diskDelta"] .pane', { has: vscode.page.locator('.pane-header', { hasText: /protection/i }) }).first();
const row = (text: string) => pane().locator('.monaco-list-row', { hasText: text }).first();

void test('the Protection view lists the policy and its disks with RPO badges; Run Now protects the breached disk', { timeout: 5 * 60_000 }, async () => {
  await vscode.openView();
  const header = pane().locator('.pane-header').first();
  await header.waitFor({ state: 'visible', timeout: 30_000 });
  if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
  await row('prod-dr').waitFor({ state: 'visible', timeout: 60_000 });
  await row('safe-disk').waitFor({ state: 'visible', timeout: 60_000 });
  assert.match(await row('safe-disk').innerText(), /within RPO/);
  assert.match(await row('fresh-disk').innerText(), /breached · no point yet/);
  await vscode.screenshot('protection-before');

  await row('prod-dr').hover();
  await row('prod-dr').locator('.action-label[aria-label*="Run Now"]').click();
  await vscode.waitForNotification(/prod-dr: 1 copied, 1 up to date, 0 busy, 0 failed; 2 of 2 within RPO/, 120_000);
  await assert.doesNotReject(async () => {
    for (let i = 0; i < 100 && !/within RPO/.test(await row('fresh-disk').innerText()); i++) await new Promise((r) => setTimeout(r, 300));
  });
  assert.match(await row('fresh-disk').innerText(), /within RPO · \d+ s old · last run: copied/);
  await vscode.screenshot('protection-after');
});
