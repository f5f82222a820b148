import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SubscriptionClient } from '@azure/arm-resources-subscriptions';
import { StorageManagementClient } from '@azure/arm-storage';
import type { ComputeManagementClient, Disk, Snapshot } from '@azure/arm-compute';
import { blobServiceClient, computeClient, ensureResourceGroup, sasBlobClient, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';

const GIB = 1024 ** 3;
const MIB = 1024 * 1024;

function restError(err: unknown): { statusCode?: number; code?: string; message: string } {
  return err as { statusCode?: number; code?: string; message: string };
}

async function rejectsWith(p: Promise<unknown>, status: number, code: string): Promise<string> {
  try {
    await p;
  } catch (err) {
    const e = restError(err);
    assert.equal(e.statusCode, status, e.message);
    assert.equal(e.code, code, e.message);
    return e.message;
  }
  assert.fail(`expected ${status} ${code}`);
}

void describe('emulator ARM (Microsoft.Compute disks and snapshots)', () => {
  let em: RunningEmulator;
  let compute: ComputeManagementClient;
  const rg = 'rg-arm-test';

  before(async () => {
    em = await startEmulator({ regions: ['eastus', 'westus2'] });
    await ensureResourceGroup(em, rg);
    compute = computeClient(em);
  });
  after(async () => {
    await em.stop();
  });

  const emptyDisk = (name: string, sizeGB = 1): Promise<Disk> =>
    compute.disks.createOrUpdate(rg, name, { location: 'eastus', sku: { name: 'Premium_LRS' }, creationData: { createOption: 'Empty' }, diskSizeGB: sizeGB });
  const incremental = (name: string, disk: Disk, location = 'eastus'): Promise<Snapshot> =>
    compute.snapshots.createOrUpdate(rg, name, { location, incremental: true, creationData: { createOption: 'Copy', sourceResourceId: disk.id } });

  void it('lists the subscription and the storage accounts (copy targets in every region)', async () => {
    const subs = new SubscriptionClient(em.credential, { endpoint: em.connection.armEndpoint, httpClient: em.httpClient });
    const list = [];
    for await (const s of subs.subscriptions.list()) list.push(s);
    assert.equal(list.length, 1);
    assert.equal(list[0]!.subscriptionId, em.connection.subscriptionId);
    assert.equal(list[0]!.tenantId, em.connection.tenantId);

    const storage = new StorageManagementClient(em.credential, em.connection.subscriptionId, {
      endpoint: em.connection.armEndpoint,
      httpClient: em.httpClient,
    });
    const accounts = [];
    for await (const a of storage.storageAccounts.list()) accounts.push(a);
    assert.deepEqual(new Set(accounts.map((a) => a.location)), new Set(['eastus', 'westus2']));
    const first = em.connection.storageAccounts[0]!;
    const got = await storage.storageAccounts.getProperties(first.resourceGroup, first.name);
    assert.equal(got.id, first.resourceId);
    assert.equal(got.primaryEndpoints?.blob?.replace(/\/$/, ''), first.blobEndpoint);
  });

  void it('creates disks through long-running operations, lists and deletes them', async () => {
    const disk = await emptyDisk('data-1', 2);
    assert.equal(disk.provisioningState, 'Succeeded');
    assert.equal(disk.diskSizeBytes, 2 * GIB);
    assert.equal(disk.diskState, 'Unattached');
    assert.match(disk.uniqueId ?? '', /^[0-9a-f-]{36}$/);
    const byRg = [];
    for await (const d of compute.disks.listByResourceGroup(rg.toUpperCase())) byRg.push(d.name);
    assert.ok(byRg.includes('data-1'), 'resource group names are case-insensitive');
    const all = [];
    for await (const d of compute.disks.list()) all.push(d.name);
    assert.ok(all.includes('data-1'));
    await compute.disks.delete(rg, 'data-1');
    await rejectsWith(compute.disks.get(rg, 'data-1'), 404, 'ResourceNotFound');
  });

  void it('refuses a disk or snapshot in a resource group that does not exist: 404 ResourceGroupNotFound', async () => {
    // Azure's answer (docs/azure-behaviour.md#resource-groups; pulumi/pulumi#3891,
    // cloud-custodian/cloud-custodian tools/c7n_azure/tests/cassettes/DeploymentUnitsTest.test_app_service_plan_autoscale.json).
    const refused = async (p: Promise<unknown>) => {
      const e = (await p.then(
        () => assert.fail('created in a missing group'),
        (x: unknown) => x,
      )) as { statusCode?: number; code?: string; message?: string };
      assert.equal(e.statusCode, 404);
      assert.equal(e.code, 'ResourceGroupNotFound');
      assert.match(e.message ?? '', /Resource group 'rg-nowhere' could not be found\./);
    };
    await refused(compute.disks.beginCreateOrUpdateAndWait('rg-nowhere', 'd', { location: 'eastus', creationData: { createOption: 'Empty' }, diskSizeGB: 1 }));
    const disk = await emptyDisk('rg-check');
    await refused(
      compute.snapshots.beginCreateOrUpdateAndWait('rg-nowhere', 's', {
        location: 'eastus',
        incremental: true,
        creationData: { createOption: 'Copy', sourceResourceId: disk.id },
      }),
    );
    const groups = `/subscriptions/${em.connection.subscriptionId}/resourcegroups`;
    assert.equal((await em.arm('GET', `${groups}/rg-nowhere?api-version=2021-04-01`)).status, 404);
    // Once created (PUT .../resourcegroups/{rg}, as az group create does) the same request succeeds, in the group's own spelling.
    assert.equal((await em.arm('PUT', `${groups}/RG-Later?api-version=2021-04-01`, { location: 'eastus' })).status, 201);
    const made = await compute.disks.beginCreateOrUpdateAndWait('rg-later', 'd', {
      location: 'eastus',
      creationData: { createOption: 'Empty' },
      diskSizeGB: 1,
    });
    assert.match(made.id!, /\/resourceGroups\/RG-Later\/providers\/Microsoft\.Compute\/disks\/d$/);
  });

  void it('rejects invalid names and unknown regions', async () => {
    await rejectsWith(emptyDisk('-bad'), 400, 'InvalidResourceName');
    await rejectsWith(emptyDisk('bad.'), 400, 'InvalidResourceName');
    await rejectsWith(
      compute.disks.createOrUpdate(rg, 'x', { location: 'mars', creationData: { createOption: 'Empty' }, diskSizeGB: 1 }),
      400,
      'LocationNotAvailableForResourceType',
    );
  });

  void it('models incremental snapshot families: a re-created disk gets a new uniqueId and a new family', async () => {
    const d1 = await emptyDisk('fam-disk');
    const s1 = await incremental('fam-s1', d1);
    const s2 = await incremental('fam-s2', d1);
    assert.equal(s1.incremental, true);
    assert.equal(s1.creationData?.sourceResourceId, d1.id);
    assert.equal(s1.creationData?.sourceUniqueId, d1.uniqueId);
    assert.ok(s1.incrementalSnapshotFamilyId);
    assert.equal(s1.incrementalSnapshotFamilyId, s2.incrementalSnapshotFamilyId);
    assert.equal(s1.diskSizeBytes, GIB);
    assert.ok(s1.timeCreated instanceof Date);
    assert.equal(s1.sku?.name, 'Standard_ZRS', 'ZRS where the region has it');

    await compute.disks.delete(rg, 'fam-disk');
    const d2 = await emptyDisk('fam-disk');
    assert.notEqual(d2.uniqueId, d1.uniqueId);
    const s3 = await incremental('fam-s3', d2);
    assert.equal(s3.creationData?.sourceResourceId, d1.id);
    assert.notEqual(s3.creationData?.sourceUniqueId, s1.creationData?.sourceUniqueId);
    assert.notEqual(s3.incrementalSnapshotFamilyId, s1.incrementalSnapshotFamilyId);
    // Snapshots outlive their disk.
    assert.equal((await compute.snapshots.get(rg, 'fam-s1')).uniqueId, s1.uniqueId);

    await rejectsWith(
      compute.snapshots.createOrUpdate(rg, 'fam-premium', {
        location: 'eastus',
        sku: { name: 'Premium_LRS' },
        incremental: true,
        creationData: { createOption: 'Copy', sourceResourceId: d2.id },
      }),
      400,
      'BadRequest',
    );
    const full = await compute.snapshots.createOrUpdate(rg, 'fam-full', {
      location: 'eastus',
      incremental: false,
      creationData: { createOption: 'Copy', sourceResourceId: s2.id },
    });
    assert.equal(full.incremental, false);
    assert.equal(full.incrementalSnapshotFamilyId, undefined);
  });

  void it('allows 7 incremental snapshots per disk per 5 minutes', async () => {
    const disk = await emptyDisk('rate-disk');
    for (let i = 0; i < 7; i++) await incremental(`rate-s${i}`, disk);
    const message = await rejectsWith(incremental('rate-s7', disk), 409, 'OperationNotAllowed');
    assert.match(message, /5 minutes/);
    await em.arm('POST', '/emulator/clock', { advanceMs: 5 * 60_000 + 1000 });
    const later = await incremental('rate-s7', disk);
    assert.equal(later.provisioningState, 'Succeeded');
  });

  void it('allows at most 500 incremental snapshots per disk', async () => {
    const disk = await emptyDisk('many-disk');
    const sub = em.connection.subscriptionId;
    for (let i = 0; i < 500; i++) {
      if (i > 0 && i % 7 === 0) await em.arm('POST', '/emulator/clock', { advanceMs: 5 * 60_000 + 1000 });
      const r = await em.arm('PUT', `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/snapshots/many-${i}?api-version=2026-03-02`, {
        location: 'eastus',
        properties: { incremental: true, creationData: { createOption: 'Copy', sourceResourceId: disk.id } },
      });
      assert.equal(r.status, 202, JSON.stringify(r.body));
    }
    await em.arm('POST', '/emulator/clock', { advanceMs: 5 * 60_000 + 1000 });
    const message = await rejectsWith(incremental('many-500', disk), 409, 'OperationNotAllowed');
    assert.match(message, /500/);
    await compute.snapshots.delete(rg, 'many-0');
    assert.equal((await incremental('many-500', disk)).provisioningState, 'Succeeded');
  });

  void it('grants read SAS (ActiveSAS), at most 5 per snapshot family, and blocks delete until revoked', async () => {
    const disk = await emptyDisk('sas-disk');
    const snaps: Snapshot[] = [];
    for (let i = 0; i < 6; i++) snaps.push(await incremental(`sas-s${i}`, disk));
    const grants = [];
    for (let i = 0; i < 5; i++) grants.push(await compute.snapshots.grantAccess(rg, `sas-s${i}`, { access: 'Read', durationInSeconds: 600 }));
    assert.match(grants[0]!.accessSAS ?? '', /^https:\/\/127\.0\.0\.1:\d+\/md-[0-9a-f]+\/[0-9a-f]+\/abcd\?snapshot=.*&sig=/);
    assert.equal((await compute.snapshots.get(rg, 'sas-s0')).diskState, 'ActiveSAS');
    const message = await rejectsWith(compute.snapshots.grantAccess(rg, 'sas-s5', { access: 'Read', durationInSeconds: 600 }), 409, 'OperationNotAllowed');
    assert.match(message, /5 SAS/);
    await rejectsWith(compute.snapshots.delete(rg, 'sas-s0'), 409, 'OperationNotAllowed');
    // The SAS reads the snapshot as a page blob of diskSizeBytes + 512 with a fixed VHD footer.
    const blob = sasBlobClient(em, grants[0]!.accessSAS!);
    const props = await blob.getProperties();
    assert.equal(props.contentLength, GIB + 512);
    const footer = await blob.download(GIB, 512);
    const bytes = Buffer.from(await new Response(footer.readableStreamBody as unknown as ReadableStream).arrayBuffer());
    assert.equal(bytes.toString('ascii', 0, 8), 'conectix');

    await compute.snapshots.revokeAccess(rg, 'sas-s0');
    assert.equal((await compute.snapshots.get(rg, 'sas-s0')).diskState, 'Unattached');
    await assert.rejects(blob.getProperties(), (e: unknown) => restError(e).statusCode === 403);
    const sixth = await compute.snapshots.grantAccess(rg, 'sas-s5', { access: 'Read', durationInSeconds: 600 });
    assert.ok(sixth.accessSAS);
    for (let i = 1; i < 6; i++) await compute.snapshots.revokeAccess(rg, `sas-s${i}`);
    await compute.snapshots.delete(rg, 'sas-s0');
  });

  void it('runs the Upload flow: ReadyToUpload, Write SAS, Put Page, endGetAccess', async () => {
    const size = 20 * MIB + 512;
    const disk = await compute.disks.createOrUpdate(rg, 'upload-disk', { location: 'eastus', creationData: { createOption: 'Upload', uploadSizeBytes: size } });
    assert.equal(disk.diskState, 'ReadyToUpload');
    await rejectsWith(
      compute.disks.createOrUpdate(rg, 'upload-small', { location: 'eastus', creationData: { createOption: 'Upload', uploadSizeBytes: 10 * MIB + 512 } }),
      400,
      'InvalidParameter',
    );
    const grant = await compute.disks.grantAccess(rg, 'upload-disk', { access: 'Write', durationInSeconds: 600 });
    assert.equal((await compute.disks.get(rg, 'upload-disk')).diskState, 'ActiveUpload');
    const blob = sasBlobClient(em, grant.accessSAS!);
    await blob.uploadPages(Buffer.alloc(4096, 0x5a), 0, 4096);
    await compute.disks.revokeAccess(rg, 'upload-disk');
    const after = await compute.disks.get(rg, 'upload-disk');
    assert.equal(after.diskState, 'Unattached');
    assert.equal(after.diskSizeBytes, 20 * MIB);
  });

  void it('grants Write on an unattached disk as a stand-in for VM writes, then snapshots see the change', async () => {
    const disk = await emptyDisk('vm-disk');
    const before = await incremental('vm-s1', disk);
    const grant = await compute.disks.grantAccess(rg, 'vm-disk', { access: 'Write', durationInSeconds: 600 });
    assert.equal((await compute.disks.get(rg, 'vm-disk')).diskState, 'ActiveSAS');
    await rejectsWith(
      compute.disks.createOrUpdate(rg, 'vm-disk', { location: 'eastus', creationData: { createOption: 'Empty' }, diskSizeGB: 2 }),
      409,
      'OperationNotAllowed',
    );
    const blob = sasBlobClient(em, grant.accessSAS!);
    await blob.uploadPages(Buffer.alloc(8192, 1), MIB, 8192);
    await blob.clearPages(0, 512);
    await compute.disks.revokeAccess(rg, 'vm-disk');
    const later = await incremental('vm-s2', disk);
    const a = await compute.snapshots.grantAccess(rg, 'vm-s2', { access: 'Read', durationInSeconds: 600 });
    const b = await compute.snapshots.grantAccess(rg, 'vm-s1', { access: 'Read', durationInSeconds: 600 });
    const diff = await sasBlobClient(em, a.accessSAS!).getPageRangesDiffForManagedDisks(0, GIB, b.accessSAS!);
    assert.deepEqual(diff.pageRange, [{ offset: MIB, count: 8191 }]);
    assert.equal(before.incrementalSnapshotFamilyId, later.incrementalSnapshotFamilyId);
    await compute.snapshots.revokeAccess(rg, 'vm-s1');
    await compute.snapshots.revokeAccess(rg, 'vm-s2');
  });

  void it('restores a disk from a snapshot (Copy) with a new uniqueId and the same content', async () => {
    const disk = await emptyDisk('src-disk');
    const w = await compute.disks.grantAccess(rg, 'src-disk', { access: 'Write', durationInSeconds: 600 });
    await sasBlobClient(em, w.accessSAS!).uploadPages(Buffer.alloc(512, 9), 4096, 512);
    await compute.disks.revokeAccess(rg, 'src-disk');
    const snap = await incremental('src-s1', disk);
    const restored = await compute.disks.createOrUpdate(rg, 'restored', {
      location: 'eastus',
      creationData: { createOption: 'Copy', sourceResourceId: snap.id },
    });
    assert.notEqual(restored.uniqueId, disk.uniqueId);
    assert.equal(restored.creationData?.sourceUniqueId, snap.uniqueId);
    const r = await compute.disks.grantAccess(rg, 'restored', { access: 'Read', durationInSeconds: 600 });
    const ranges = await sasBlobClient(em, r.accessSAS!).getPageRanges(0, GIB);
    assert.deepEqual(ranges.pageRange, [{ offset: 4096, count: 511 }]);
    await compute.disks.revokeAccess(rg, 'restored');
  });

  void it('copies an incremental snapshot to another region with CopyStart, completionPercent rising to 100', async () => {
    const disk = await emptyDisk('copy-disk');
    const snap = await incremental('copy-s1', disk);
    await rejectsWith(
      compute.snapshots.createOrUpdate(rg, 'copy-full', {
        location: 'westus2',
        incremental: true,
        creationData: {
          createOption: 'CopyStart',
          sourceResourceId: (
            await compute.snapshots.createOrUpdate(rg, 'copy-fullsrc', {
              location: 'eastus',
              incremental: false,
              creationData: { createOption: 'Copy', sourceResourceId: disk.id },
            })
          ).id,
        },
      }),
      400,
      'BadRequest',
    );
    const copy = await compute.snapshots.createOrUpdate(rg, 'copy-west', {
      location: 'westus2',
      incremental: true,
      creationData: { createOption: 'CopyStart', sourceResourceId: snap.id },
    });
    assert.equal(copy.creationData?.createOption, 'CopyStart');
    assert.equal(copy.creationData?.sourceResourceId, snap.id);
    const seen: number[] = [copy.completionPercent ?? -1];
    for (let i = 0; i < 200 && seen[seen.length - 1]! < 100; i++) {
      await new Promise((r) => setTimeout(r, 20));
      seen.push((await compute.snapshots.get(rg, 'copy-west')).completionPercent ?? -1);
    }
    assert.equal(seen[seen.length - 1], 100);
    assert.ok(seen[0]! < 100, 'the copy takes some time');
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, 'completionPercent never goes down');

    await em.setFaults({ copyfail: 1 });
    await compute.snapshots.createOrUpdate(rg, 'copy-west-2', {
      location: 'westus2',
      incremental: true,
      creationData: { createOption: 'CopyStart', sourceResourceId: snap.id },
    });
    await em.setFaults({});
    let failed: Snapshot | undefined;
    for (let i = 0; i < 200; i++) {
      failed = await compute.snapshots.get(rg, 'copy-west-2');
      if (failed.copyCompletionError) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(failed?.copyCompletionError?.errorCode);
  });

  void it('imports a fixed VHD page blob and refuses anything else', async () => {
    const account = storageAccount(em, 'eastus');
    const container = blobServiceClient(em, account).getContainerClient('vhds');
    await container.createIfNotExists();
    const notVhd = container.getPageBlobClient('plain.vhd');
    await notVhd.create(MIB + 512);
    const storageAccountId = account.resourceId;
    // Azure accepts the request and fails the operation (azure-sdk-for-net#24959): the poller throws.
    await assert.rejects(
      compute.disks.createOrUpdate(rg, 'imp-bad', { location: 'eastus', creationData: { createOption: 'Import', sourceUri: notVhd.url, storageAccountId } }),
      (e: Error) => /BadRequest/.test(e.message) && /cookie value 'conectix'/.test(e.message),
    );
    await rejectsWith(compute.disks.get(rg, 'imp-bad'), 404, 'ResourceNotFound');

    // A real footer: take it from a disk SAS, which always ends with one.
    const disk = await emptyDisk('vhd-source');
    const g = await compute.disks.grantAccess(rg, 'vhd-source', { access: 'Read', durationInSeconds: 600 });
    const good = container.getPageBlobClient('good.vhd');
    await good.create(GIB + 512);
    await good.uploadPagesFromURL(g.accessSAS!, GIB, GIB, 512);
    await compute.disks.revokeAccess(rg, 'vhd-source');
    const snapshot = await good.createSnapshot();
    const imported = await compute.snapshots.createOrUpdate(rg, 'imp-good', {
      location: 'eastus',
      incremental: false,
      creationData: { createOption: 'Import', sourceUri: `${good.url}?snapshot=${encodeURIComponent(snapshot.snapshot!)}`, storageAccountId },
    });
    assert.equal(imported.diskSizeBytes, GIB);
    assert.equal(disk.diskSizeBytes, GIB);
    await rejectsWith(
      compute.disks.createOrUpdate(rg, 'imp-west', { location: 'westus2', creationData: { createOption: 'Import', sourceUri: good.url, storageAccountId } }),
      400,
      'InvalidParameter',
    );
  });

  void it('refuses a diff across a resize over the 4 TB boundary', async () => {
    const disk = await emptyDisk('big-disk', 4096);
    const s1 = await incremental('big-s1', disk);
    const resized = await compute.disks.createOrUpdate(rg, 'big-disk', { location: 'eastus', creationData: { createOption: 'Empty' }, diskSizeGB: 5000 });
    assert.equal(resized.diskSizeBytes, 5000 * GIB);
    assert.equal(resized.uniqueId, disk.uniqueId);
    const s2 = await incremental('big-s2', disk);
    assert.equal(s2.incrementalSnapshotFamilyId, s1.incrementalSnapshotFamilyId);
    const a = await compute.snapshots.grantAccess(rg, 'big-s2', { access: 'Read', durationInSeconds: 600 });
    const b = await compute.snapshots.grantAccess(rg, 'big-s1', { access: 'Read', durationInSeconds: 600 });
    const err = await sasBlobClient(em, a.accessSAS!)
      .getPageRangesDiffForManagedDisks(0, 4096 * GIB, b.accessSAS!)
      .then(
        () => undefined,
        (e: unknown) => restError(e),
      );
    assert.equal(err?.statusCode, 409);
    assert.equal(err?.code, 'PreviousSnapshotOperationNotSupported');
    await compute.snapshots.revokeAccess(rg, 'big-s1');
    await compute.snapshots.revokeAccess(rg, 'big-s2');
  });
});
