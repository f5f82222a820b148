// A CopyStart that Azure keeps at 0% (docs/azure-behaviour.md#copystart; the emulator's copystall fault):
// the notification and the tree row say "queued" with the time waited, and Cancel stops waiting while the
// target snapshot stays and finishes copying.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { computeClient } from '../support/emulator';
import { demoSession } from './harness';

const session = demoSession('copystart-queued');

async function expand(label: string): Promise<void> {
  const row = await session.vscode.waitForTreeItem(label);
  if ((await row.getAttribute('aria-expanded')) === 'false') await row.click();
  await session.vscode.page.waitForTimeout(200);
}

void test('a queued CopyStart shows "queued, 0%" with the time waited; Cancel leaves the copy running', { timeout: 6 * 60_000 }, async () => {
  const compute = computeClient(session.emulator);
  const family = [];
  for await (const s of compute.snapshots.listByResourceGroup('demo-eastus')) if (/^orders-db-\d/.test(s.name!)) family.push(s);
  family.sort((a, b) => a.timeCreated!.getTime() - b.timeCreated!.getTime());
  const first = family[0]!.name!;
  await session.emulator.setFaults({ copystall: 90 });

  await session.vscode.openView();
  await expand('orders-db');
  await expand('orders-db family');
  await session.vscode.treeContextMenu(first, 'Copy with Azure CopyStart');
  await session.vscode.quickInput.waitForItem('westus2', 30_000);
  await session.vscode.quickInput.pick('westus2');
  await session.vscode.quickInput.waitForTitle(/Resource group for the copies/);
  await session.vscode.quickInput.accept();
  const queued = await session.vscode.waitForNotification(/queued, 0% · \d+ s/, 60_000);
  assert.match(queued, new RegExp(`\\[1/1\\] ${first}: queued, 0%`));
  await session.vscode.page.waitForTimeout(3000);
  const later = await session.vscode.waitForNotification(/queued, 0% · \d+ s/, 30_000);
  const seconds = (t: string) => Number(/· (\d+) s/.exec(t)?.[1] ?? 0);
  assert.ok(seconds(later) > seconds(queued), `the wait grows: ${queued} -> ${later}`);
  await session.vscode.screenshot('queued-notification');

  await session.vscode.runCommand('Disk Delta: Refresh');
  // A CopyStart copy's source is a snapshot, not a disk: the tree lists its family with those of deleted disks.
  await expand('Deleted disks');
  await expand(`${first} family`);
  const target = `${first}-westus2`;
  const row = await session.vscode.waitForTreeItem(target, 60_000);
  assert.match(await row.innerText(), /queued 0%/);
  await session.vscode.screenshot('queued-row');

  await session.vscode.clickNotificationButton(/queued, 0%/, 'Cancel');
  await session.vscode.waitForNotification(/Stopped following the copy/, 30_000);
  const kept = await compute.snapshots.get('demo-eastus', target);
  assert.equal(kept.completionPercent, 0, 'the copy is still queued in Azure, not deleted');
  await session.emulator.setFaults({});
});
