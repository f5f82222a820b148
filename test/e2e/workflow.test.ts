// The whole snapshot workflow in a real VS Code against the emulator seeded with --seed demo:
// the tree, creating a snapshot from the palette, bad input, a copy from the context menu, cancel and resume.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import type { SnapshotInfo } from '../../src/core/model';
import { resourceId } from '../../src/core/resourceId';
import { writeDisk } from '../support/disks';
import { ensureResourceGroup, startEmulator, type RunningEmulator } from '../support/emulator';
import { startVsCode, type VsCodeSession } from './harness';

let emulator: RunningEmulator;
let vscode: VsCodeSession;
let clients: AzureClients;
let sub: string;
const MiB = 1024 * 1024;
const RG = 'e2e';

async function snapshotNamed(name: string): Promise<SnapshotInfo | undefined> {
  return clients.compute.getSnapshot(resourceId(sub, RG, 'Microsoft.Compute', 'snapshots', name));
}

async function expand(label: string): Promise<void> {
  const row = await vscode.waitForTreeItem(label);
  if ((await row.getAttribute('aria-expanded')) === 'false') await row.click();
  await vscode.page.waitForTimeout(200);
}

async function waitForRow(label: string, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = await vscode
      .treeItem(label)
      .innerText({ timeout: 1000 })
      .catch(() => '');
    if (pattern.test(text)) return text;
    await vscode.page.waitForTimeout(250);
  }
  throw new Error(`the tree row "${label}" never matched ${String(pattern)}; last: ${text}`);
}

/** The copy's confirmation (what will move) is modal; the copy starts once it is accepted. */
function confirmCopy(pattern: RegExp): Promise<string> {
  return vscode.acceptDialog(pattern, 'Copy');
}

async function hashOf(read: (offset: number, length: number) => Promise<Uint8Array>, ranges: { offset: number; length: number }[]): Promise<string> {
  const h = createHash('sha256');
  for (const r of ranges) h.update(await read(r.offset, r.length));
  return h.digest('hex');
}

before(
  async () => {
    emulator = await startEmulator({ seed: 'demo' });
    await ensureResourceGroup(emulator, RG);
    clients = connectToEmulator(emulator.connection, emulator.ca);
    sub = emulator.connection.subscriptionId;
    // A small disk of our own, so a copy takes seconds: three phases, the last one a snapshot.
    const disk = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: RG,
      name: 'small-app',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 1,
    });
    await writeDisk(clients, disk.id, [
      { offset: 0, length: 6 * MiB },
      { offset: 512 * MiB, length: 2 * MiB },
    ]);
    await clients.compute.createSnapshot({
      subscriptionId: sub,
      resourceGroup: RG,
      name: 'small-app-1',
      location: 'eastus',
      incremental: true,
      createOption: 'Copy',
      sourceResourceId: disk.id,
    });
    // A disk that already had 7 snapshots in the last 5 minutes: the create dialog must refuse it.
    const busy = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: RG,
      name: 'busy-disk',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 1,
    });
    for (let i = 0; i < 7; i++) {
      await clients.compute.createSnapshot({
        subscriptionId: sub,
        resourceGroup: RG,
        name: `busy-disk-${i}`,
        location: 'eastus',
        incremental: true,
        createOption: 'Copy',
        sourceResourceId: busy.id,
      });
    }
    vscode = await startVsCode({
      name: 'workflow',
      emulator: { connection: emulator.connection },
      settings: { 'diskDelta.copy.concurrency': 2 },
      viewport: { width: 1600, height: 1000 },
    });
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

void test('the tree shows the demo subscription, disks, both families of the re-created disk, and snapshot details', async () => {
  await vscode.openView();
  await vscode.waitForTreeItem('Local emulator');
  await vscode.waitForTreeItem('orders-db');
  await expand('build-cache');
  await vscode.waitForTreeItem('build-cache family');
  await vscode.waitForTreeItem('earlier disk, re-created since');
  await expand('orders-db');
  await expand('orders-db family');
  const row = await vscode.waitForTreeItem('orders-db-20261');
  const text = await row.innerText();
  assert.match(text, /512 GiB/, `snapshot row: ${text}`);
  assert.match(text, /eastus/);
  assert.match(text, /ago/);
  const family = await (await vscode.waitForTreeItem('orders-db family')).innerText();
  assert.match(family, /5\/500/, `family row: ${family}`);
  await vscode.waitForTreeItem('Full snapshots');
  await vscode.screenshot('tree');
});

void test('bad input in the create dialog shows the rule and makes no call', async () => {
  await emulator.resetStats();
  await vscode.runCommand('Disk Delta: Create Incremental Snapshot...');
  await vscode.quickInput.waitForItem('small-app');
  await vscode.quickInput.pick('small-app');
  await vscode.quickInput.waitForTitle(/1\/3/);
  await vscode.quickInput.type('-not-valid');
  const message = await vscode.quickInput.waitForValidationMessage('must start with a letter or a digit');
  assert.match(message, /start with a letter or a digit/);
  await vscode.quickInput.type('bad name!');
  await vscode.quickInput.waitForValidationMessage('can only contain');
  await vscode.screenshot('create-invalid-name');
  await vscode.quickInput.cancel();
  await vscode.quickInput.waitForClosed();

  await vscode.runCommand('Disk Delta: Create Incremental Snapshot...');
  await vscode.quickInput.waitForItem('busy-disk');
  await vscode.quickInput.pick('busy-disk');
  const refusal = await vscode.waitForNotification(/7 per 5 minutes/);
  assert.match(refusal, /RateLimit/);
  assert.match(refusal, /Try again after/);
  const stats = await emulator.getStats();
  const creates = Object.entries(stats.requests).filter(([k]) => /snapshots?.*(create|put)/i.test(k) && !/list|get/i.test(k));
  assert.deepEqual(creates, [], 'no snapshot create reached the emulator');
  assert.equal(await snapshotNamed('busy-disk-7'), undefined);
});

void test('creating a snapshot from the palette adds it to the tree and to Azure', async () => {
  await vscode.runCommand('Disk Delta: Create Incremental Snapshot...');
  await vscode.quickInput.waitForItem('small-app');
  await vscode.quickInput.pick('small-app');
  await vscode.quickInput.waitForTitle(/1\/3/);
  await vscode.quickInput.type('small-app-2');
  await vscode.quickInput.waitForValidationMessage('');
  await vscode.quickInput.accept();
  await vscode.quickInput.waitForTitle(/2\/3/);
  await vscode.quickInput.waitForItem('Standard_ZRS');
  await vscode.quickInput.accept();
  await vscode.quickInput.waitForTitle(/3\/3/);
  await vscode.quickInput.accept();
  await vscode.waitForNotification('Created incremental snapshot small-app-2', 60_000);
  const created = await snapshotNamed('small-app-2');
  assert.ok(created, 'the emulator has the snapshot');
  assert.equal(created.incremental, true);
  await expand('small-app');
  await expand('small-app family');
  await vscode.waitForTreeItem('small-app-2');
});

void test('copying a snapshot to the other region from the context menu finishes, verified, and the family is up to date', async () => {
  const target = emulator.connection.storageAccounts.find((a) => a.region === 'westus2')!;
  await vscode.treeContextMenu('small-app-2', 'Copy Snapshot to Another Region');
  await vscode.quickInput.waitForItem(target.name, 30_000);
  await vscode.quickInput.pick(target.name);
  await vscode.quickInput.waitForTitle(/container/);
  await vscode.quickInput.accept();
  await vscode.quickInput.waitForItem('Page blob only');
  await vscode.quickInput.pick('Page blob only');
  await confirmCopy(/Copy 2 snapshots of small-app/);
  await vscode.waitForNotification(/Copying small-app/, 30_000);
  await vscode.screenshot('copy-progress');
  const done = await vscode.waitForNotification(/Copied 2 snapshots of small-app/, 180_000);
  assert.match(done, /verified/);
  await vscode.runCommand('Disk Delta: Refresh');
  await expand('small-app');
  assert.match(await waitForRow('small-app family', /up to date/), /copy: up to date/);
  await vscode.screenshot('copy-done');
  assert.equal((await emulator.getStats()).activeSasGrants, 0, 'no SAS left active');

  // The emulator's target blob snapshot holds exactly what the source snapshot holds.
  const source = (await snapshotNamed('small-app-2'))!;
  const store = await clients.dataPlane.targetStore(
    { id: target.resourceId, name: target.name, resourceGroup: target.resourceGroup, location: target.region, blobEndpoint: target.blobEndpoint },
    'disk-delta',
  );
  const blobs = await (async () => {
    const list = await emulator.arm('GET', '/emulator/stats');
    return Object.keys((list.body as { bytesWrittenByBlob: Record<string, number> }).bytesWrittenByBlob).filter((k) =>
      k.startsWith(`${target.name}/disk-delta/`),
    );
  })();
  assert.equal(blobs.length, 1, `one target blob: ${blobs.join(', ')}`);
  const blob = store.blob(blobs[0]!.split('/').slice(2).join('/'));
  const metadata = await blob.getMetadata();
  const snapshotTime = metadata.diskdelta_lastblobsnapshot;
  assert.ok(snapshotTime, `metadata: ${JSON.stringify(metadata)}`);
  const targetSnap = blob.snapshotSource(snapshotTime);
  const url = await clients.compute.grantAccess(source.id, 'Read', 600);
  try {
    const src = clients.dataPlane.openSas(url);
    const size = await src.size();
    assert.equal(await targetSnap.size(), size);
    const ranges = [];
    for await (const r of src.listRanges({ offset: 0, length: size })) ranges.push(r);
    assert.ok(
      ranges.some((r) => r.offset + r.length === size),
      'the VHD footer is among the ranges',
    );
    assert.equal(await hashOf((o, l) => targetSnap.read(o, l), ranges), await hashOf((o, l) => src.read(o, l), ranges));
  } finally {
    await clients.compute.revokeAccess(source.id);
  }
});

void test('cancelling a copy midway leaves no SAS active, and resume completes it', async () => {
  const disk = resourceId(sub, RG, 'Microsoft.Compute', 'disks', 'small-app');
  const writes = Array.from({ length: 24 }, (_, i) => ({ offset: (64 + i * 16) * MiB, length: MiB }));
  await writeDisk(clients, disk, writes);
  await clients.compute.createSnapshot({
    subscriptionId: sub,
    resourceGroup: RG,
    name: 'small-app-3',
    location: 'eastus',
    incremental: true,
    createOption: 'Copy',
    sourceResourceId: disk,
  });
  await vscode.runCommand('Disk Delta: Refresh');
  await expand('small-app');
  await expand('small-app family');
  await emulator.setFaults({ latency: 400 });
  try {
    await vscode.treeContextMenu('small-app-3', 'Copy Snapshot to Another Region');
    await vscode.quickInput.waitForItem('where this family was copied before', 30_000);
    await vscode.quickInput.pick('where this family was copied before');
    await vscode.quickInput.waitForItem('Page blob only');
    await vscode.quickInput.pick('Page blob only');
    await confirmCopy(/Copy 1 snapshot of small-app/);
    await vscode.waitForNotification(/Copying small-app/, 30_000);
    await vscode.waitForNotification(/\] copying/, 60_000);
    await vscode.clickNotificationButton(/Copying small-app/, 'Cancel');
    await vscode.waitForNotification(/cancelled/i, 60_000);
  } finally {
    await emulator.setFaults({});
  }
  assert.equal((await emulator.getStats()).activeSasGrants, 0, 'no SAS left active after cancelling');
  for await (const s of clients.compute.listSnapshots(sub)) assert.notEqual(s.diskState, 'ActiveSAS', s.name);
  await vscode.screenshot('copy-cancelled');

  await vscode.runCommand('Disk Delta: Resume Interrupted Copy');
  await vscode.quickInput.waitForItem('small-app');
  await vscode.quickInput.pick('small-app');
  await vscode.waitForNotification(/Copied 1 snapshot of small-app/, 180_000);
  await waitForRow('small-app family', /up to date/);
  assert.equal((await emulator.getStats()).activeSasGrants, 0);
});

void test('no SAS signature, account key or token reaches the extension host log or the Disk Delta output channel', async () => {
  const logs = vscode.logs();
  assert.match(logs, /Disk Delta activated/, 'the output channel log was captured');
  assert.match(logs, /Copying small-app/, 'the copy was logged');
  assert.doesNotMatch(logs, /[?&]sig=(?!REDACTED)[A-Za-z0-9%+/=]{10,}/, 'a SAS signature was logged');
  assert.ok(!logs.includes(emulator.connection.token), 'the bearer token was logged');
  for (const account of emulator.connection.storageAccounts) assert.ok(!logs.includes(account.accountKey), `the key of ${account.name} was logged`);
});
