import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ComputeManagementClient, Snapshot } from '@azure/arm-compute';
import { computeClient, sasBlobClient, startEmulator, type RunningEmulator } from '../support/emulator';

const GIB = 1024 ** 3;

void describe('emulator --seed demo', () => {
  let em: RunningEmulator;
  let compute: ComputeManagementClient;
  let snapshots: Snapshot[];

  before(async () => {
    em = await startEmulator({ seed: 'demo' });
    compute = computeClient(em);
    snapshots = [];
    for await (const s of compute.snapshots.list()) snapshots.push(s);
  });
  after(async () => {
    await em.stop();
  });

  const grant = async (name: string): Promise<string> => {
    const s = snapshots.find((x) => x.name === name)!;
    const rg = s.id!.split('/')[4]!;
    return (await compute.snapshots.grantAccess(rg, name, { access: 'Read', durationInSeconds: 600 })).accessSAS!;
  };
  const revoke = async (name: string): Promise<void> => {
    const s = snapshots.find((x) => x.name === name)!;
    await compute.snapshots.revokeAccess(s.id!.split('/')[4]!, name);
  };

  void it('has disks in two regions with families of past snapshots', async () => {
    const disks = [];
    for await (const d of compute.disks.list()) disks.push(d);
    assert.deepEqual(disks.map((d) => d.name).sort(), ['archive-data', 'build-cache', 'data-pg-01', 'linux-web-01', 'orders-db', 'web-logs', 'win-app-01']);
    assert.deepEqual(new Set(disks.map((d) => d.location)), new Set(['eastus', 'westus2']));
    assert.ok(snapshots.length >= 15);
    assert.ok(snapshots.every((s) => s.timeCreated!.getTime() < Date.now() - 86_400_000 + 3 * 3_600_000));
    assert.ok(
      snapshots.some((s) => s.incremental === false),
      'a full snapshot too',
    );
    const logs = disks.find((d) => d.name === 'web-logs')!;
    const fresh = await compute.snapshots.createOrUpdate('demo-eastus', 'web-logs-now', {
      location: 'eastus',
      incremental: true,
      creationData: { createOption: 'Copy', sourceResourceId: logs.id },
    });
    assert.equal(fresh.incrementalSnapshotFamilyId, snapshots.find((s) => s.name!.startsWith('web-logs-'))!.incrementalSnapshotFamilyId);
  });

  void it('has a disk deleted and re-created: two families under one resource id', () => {
    const cache = snapshots.filter((s) => s.name!.startsWith('build-cache'));
    assert.equal(new Set(cache.map((s) => s.creationData?.sourceResourceId)).size, 1);
    assert.equal(new Set(cache.map((s) => s.incrementalSnapshotFamilyId)).size, 2);
    assert.equal(new Set(cache.map((s) => s.creationData?.sourceUniqueId)).size, 2);
  });

  void it('has a log-append disk whose diffs are appended ranges', async () => {
    const logs = snapshots.filter((s) => s.name!.startsWith('web-logs-')).sort((a, b) => a.timeCreated!.getTime() - b.timeCreated!.getTime());
    const [a, b] = [logs[2]!.name!, logs[3]!.name!];
    const cur = await grant(b);
    const prev = await grant(a);
    const diff = await sasBlobClient(em, cur).getPageRangesDiffForManagedDisks(0, 128 * GIB, prev);
    assert.ok((diff.pageRange?.length ?? 0) >= 1 && (diff.pageRange?.length ?? 0) <= 3);
    assert.deepEqual(diff.clearRange ?? [], []);
    await revoke(a);
    await revoke(b);
  });

  void it('has a disk resized across 4 TB: no diff across the boundary, diffs on each side', async () => {
    const before2 = await grant('archive-data-before-resize-2');
    const after1 = await grant('archive-data-after-resize-1');
    const after2 = await grant('archive-data-after-resize-2');
    const across = await sasBlobClient(em, after1)
      .getPageRangesDiffForManagedDisks(0, GIB, before2)
      .then(
        () => 0,
        (e: unknown) => (e as { statusCode: number }).statusCode,
      );
    assert.equal(across, 409);
    const within = await sasBlobClient(em, after2).getPageRangesDiffForManagedDisks(0, 6144 * GIB, after1);
    assert.deepEqual(within.pageRange, [{ offset: 11 * GIB, count: 512 * 1024 * 1024 - 1 }]);
    for (const n of ['archive-data-before-resize-2', 'archive-data-after-resize-1', 'archive-data-after-resize-2']) await revoke(n);
  });
});
