// With diskDelta.emulator.connectionFile set, the installed extension lists the emulator's demo disks.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEmulator, type RunningEmulator } from '../support/emulator';
import { startVsCode, type VsCodeSession } from './harness';

let emulator: RunningEmulator;
let vscode: VsCodeSession;

before(
  async () => {
    emulator = await startEmulator({ seed: 'demo' });
    vscode = await startVsCode({ name: 'emulator', emulator: { connection: emulator.connection } });
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

void test('the tree shows the demo disks of the emulator', async () => {
  await vscode.openView();
  await vscode.waitForTreeItem('orders-db');
  const items = await vscode.treeItems();
  assert.ok(
    items.some((i) => i.includes('web-logs')),
    `tree items: ${items.join(' | ')}`,
  );
  await vscode.screenshot('tree');
});
