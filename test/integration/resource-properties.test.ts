// getResource and updateTags of the Azure adapter (ArmCompute) against the emulator, through the real SDK over HTTPS.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import { resourceId } from '../../src/core/resourceId';
import { ensureResourceGroup, startEmulator, type RunningEmulator } from '../support/emulator';

void describe('resource properties and tags through ArmCompute', () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let sub: string;
  const rg = 'rg-props';

  before(async () => {
    em = await startEmulator({ regions: ['eastus', 'westus2'] });
    await ensureResourceGroup(em, rg);
    clients = connectToEmulator(em.connection, em.ca, { pollIntervalMs: 50 });
    sub = em.connection.subscriptionId;
  });
  after(async () => {
    await em.stop();
  });

  void it('reads a disk and a snapshot as ARM JSON, without a SAS even while one is granted', async () => {
    const disk = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: rg,
      name: 'props-disk',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 1,
      tags: { app: 'x' },
    });
    const snap = await clients.compute.createSnapshot({
      subscriptionId: sub,
      resourceGroup: rg,
      name: 'props-snap',
      location: 'eastus',
      incremental: true,
      createOption: 'Copy',
      sourceResourceId: disk.id,
    });
    const sas = await clients.compute.grantAccess(snap.id, 'Read', 600);
    try {
      const json = await clients.compute.getResource!(disk.id);
      assert.equal(json?.['id'], disk.id);
      assert.equal(json?.['name'], 'props-disk');
      assert.deepEqual(json?.['tags'], { app: 'x' });
      assert.equal((json?.['properties'] as Record<string, unknown>)['diskSizeGB'], 1, 'raw ARM shape: properties nested');
      const s = await clients.compute.getResource!(snap.id);
      assert.equal(s?.['id'], snap.id);
      assert.equal((s?.['properties'] as Record<string, unknown>)['incremental'], true);
      assert.doesNotMatch(JSON.stringify(s), /sig=/);
      assert.ok(!JSON.stringify(s).includes(sas.reveal()), 'the granted SAS is not in the JSON');
    } finally {
      await clients.compute.revokeAccess(snap.id);
    }
    assert.equal(await clients.compute.getResource!(resourceId(sub, rg, 'Microsoft.Compute', 'disks', 'missing')), undefined);
  });

  void it('replaces the tags of a disk and of a snapshot with PATCH', async () => {
    const diskId = resourceId(sub, rg, 'Microsoft.Compute', 'disks', 'props-disk');
    const snapId = resourceId(sub, rg, 'Microsoft.Compute', 'snapshots', 'props-snap');
    assert.deepEqual(await clients.compute.updateTags!(diskId, { owner: 'ops', env: 'prod' }), { owner: 'ops', env: 'prod' });
    assert.deepEqual((await clients.compute.getDisk(diskId))?.tags, { owner: 'ops', env: 'prod' });
    assert.deepEqual(await clients.compute.updateTags!(snapId, { keep: 'yes' }), { keep: 'yes' });
    assert.deepEqual((await clients.compute.getSnapshot(snapId))?.tags, { keep: 'yes' });
    assert.deepEqual(await clients.compute.updateTags!(snapId, {}), {});
    assert.deepEqual((await clients.compute.getSnapshot(snapId))?.tags ?? {}, {});
  });
});
