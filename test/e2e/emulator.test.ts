// With diskDelta.emulator.connectionFile set, the installed extension lists the emulator's demo disks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { demoSession } from './harness';

const session = demoSession('emulator');

void test('the tree shows the demo disks of the emulator', async () => {
  await session.vscode.openView();
  await session.vscode.waitForTreeItem('orders-db');
  const items = await session.vscode.treeItems();
  assert.ok(
    items.some((i) => i.includes('web-logs')),
    `tree items: ${items.join(' | ')}`,
  );
  await session.vscode.screenshot('tree');
});
