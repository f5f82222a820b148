// A copy cut short by a dead VS Code (code-server and its extension host SIGKILLed mid-copy) is offered
// again when VS Code opens, resumes from its journal without redoing finished chunks, and ends identical.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import { resourceId } from '../../src/core/resourceId';
import { writeDisk } from '../support/disks';
import { ensureResourceGroup, startEmulator, type RunningEmulator } from '../support/emulator';
import { startVsCode, type VsCodeSession } from './harness';

const MiB = 1024 * 1024;
const RG = 'restart';
let emulator: RunningEmulator;
let clients: AzureClients;
let sub: string;
let first: VsCodeSession | undefined;
let second: VsCodeSession | undefined;

before(
  async () => {
    emulator = await startEmulator();
    await ensureResourceGroup(emulator, RG);
    clients = connectToEmulator(emulator.connection, emulator.ca);
    sub = emulator.connection.subscriptionId;
    const disk = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: RG,
      name: 'restart-app',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 1,
    });
    await writeDisk(
      clients,
      disk.id,
      Array.from({ length: 24 }, (_, i) => ({ offset: (8 + i * 32) * MiB, length: MiB })),
    );
    await clients.compute.createSnapshot({
      subscriptionId: sub,
      resourceGroup: RG,
      name: 'restart-app-1',
      location: 'eastus',
      incremental: true,
      createOption: 'Copy',
      sourceResourceId: disk.id,
    });
  },
  { timeout: 5 * 60_000 },
);

after(
  async () => {
    await first?.stop();
    await second?.stop();
    await emulator?.stop();
  },
  { timeout: 60_000 },
);

async function putPageFromUrlCount(): Promise<number> {
  const stats = await emulator.getStats();
  return stats.requests.PutPageFromURL ?? 0;
}

void test('a copy interrupted by a killed VS Code resumes after a restart and ends identical', { timeout: 10 * 60_000 }, async () => {
  const target = emulator.connection.storageAccounts.find((a) => a.region === 'westus2')!;
  first = await startVsCode({ name: 'restart-1', emulator: { connection: emulator.connection }, settings: { 'diskDelta.copy.concurrency': 1 } });
  await first.openView();
  await emulator.setFaults({ latency: 600 });
  await first.runCommand('Disk Delta: Copy Snapshot to Another Region...');
  await first.quickInput.waitForItem('restart-app-1', 30_000);
  await first.quickInput.pick('restart-app-1');
  await first.quickInput.waitForItem(target.name, 30_000);
  await first.quickInput.pick(target.name);
  await first.quickInput.waitForTitle(/container/);
  await first.quickInput.accept();
  await first.quickInput.waitForItem('Page blob only');
  await first.quickInput.pick('Page blob only');
  // The confirmation says what will move; nothing starts before it is accepted.
  const confirmDeadline = Date.now() + 60_000;
  while (!/Copy 1 snapshot of restart-app/.test(await first.dialogMessage())) {
    assert.ok(Date.now() < confirmDeadline, 'the copy was not confirmed');
    await new Promise((r) => setTimeout(r, 200));
  }
  await first.clickDialogButton('Copy');
  const deadline = Date.now() + 120_000;
  while ((await putPageFromUrlCount()) < 4) {
    assert.ok(Date.now() < deadline, 'the copy never started writing');
    await new Promise((r) => setTimeout(r, 200));
  }
  await first.crash();
  const writtenBeforeCrash = await putPageFromUrlCount();
  assert.ok(writtenBeforeCrash < 25, `the copy was still running when VS Code died (${writtenBeforeCrash} chunks)`);
  await emulator.setFaults({});

  second = await startVsCode({ name: 'restart-2', emulator: { connection: emulator.connection }, reuseScratch: first.scratch });
  await second.openView();
  await second.waitForNotification(/interrupted copy of restart-app/, 60_000);
  await second.clickNotificationButton(/interrupted copy of restart-app/, 'Resume');
  const done = await second.waitForNotification(/Copied 1 snapshot of restart-app/, 180_000);
  assert.match(done, /verified/);
  await second.screenshot('resumed');

  // 24 ranges of 1 MiB and the VHD footer: 25 chunks in all; a resume redoes at most the one in flight.
  const total = await putPageFromUrlCount();
  assert.ok(total <= 25 + 1, `${total} Put Page From URL requests for 25 chunks`);
  assert.equal((await emulator.getStats()).activeSasGrants, 0, 'the grants of the killed copy were revoked by the resumed one');

  const source = (await clients.compute.getSnapshot(resourceId(sub, RG, 'Microsoft.Compute', 'snapshots', 'restart-app-1')))!;
  const store = await clients.dataPlane.targetStore(
    { id: target.resourceId, name: target.name, resourceGroup: target.resourceGroup, location: target.region, blobEndpoint: target.blobEndpoint },
    'disk-delta',
  );
  const stats = await emulator.getStats();
  const blobKey = Object.keys(stats.bytesWrittenByBlob).find((k) => k.startsWith(`${target.name}/disk-delta/`))!;
  const blob = store.blob(blobKey.split('/').slice(2).join('/'));
  const snapshot = (await blob.getMetadata()).diskdelta_lastblobsnapshot!;
  const copy = blob.snapshotSource(snapshot);
  const url = await clients.compute.grantAccess(source.id, 'Read', 600);
  try {
    const src = clients.dataPlane.openSas(url);
    const size = await src.size();
    const ranges: { offset: number; length: number }[] = [];
    for await (const r of src.listRanges({ offset: 0, length: size })) ranges.push(r);
    const hash = async (read: (o: number, l: number) => Promise<Uint8Array>) => {
      const h = createHash('sha256');
      for (const r of ranges) h.update(await read(r.offset, r.length));
      return h.digest('hex');
    };
    assert.equal(await hash((o, l) => copy.read(o, l)), await hash((o, l) => src.read(o, l)));
    const copiedRanges: { offset: number; length: number }[] = [];
    for await (const r of copy.listRanges({ offset: 0, length: size })) copiedRanges.push(r);
    assert.deepEqual(copiedRanges, ranges, 'the target holds exactly the source pages');
  } finally {
    await clients.compute.revokeAccess(source.id);
  }
});
