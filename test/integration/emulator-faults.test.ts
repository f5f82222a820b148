import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { ComputeManagementClient } from '@azure/arm-compute';
import type { ContainerClient, PageBlobClient } from '@azure/storage-blob';
import { blobServiceClient, computeClient, ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';

const MIB = 1024 * 1024;

function outcome(e: unknown): string {
  const x = e as { statusCode?: number; code?: string; details?: { errorCode?: string } };
  return x.statusCode ? `${x.statusCode} ${x.code ?? x.details?.errorCode}` : 'network';
}

async function attempt(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: unknown) => outcome(e),
  );
}

async function pageBlob(em: RunningEmulator, name: string, size = 4 * MIB): Promise<PageBlobClient> {
  const fast = { retryOptions: { maxTries: 8, retryDelayInMs: 1, maxRetryDelayInMs: 5 } };
  const container: ContainerClient = blobServiceClient(em, storageAccount(em), fast).getContainerClient('faults');
  await container.createIfNotExists();
  await container.getPageBlobClient(name).create(size);
  return blobServiceClient(em, storageAccount(em), { retryOptions: { maxTries: 1 } })
    .getContainerClient('faults')
    .getPageBlobClient(name);
}

void describe('emulator fault injection', () => {
  let em: RunningEmulator;
  let compute: ComputeManagementClient;

  before(async () => {
    em = await startEmulator();
    compute = computeClient(em);
  });
  after(async () => {
    await em.stop();
  });

  void it('injects each kind of fault on the page-blob data plane, switched at runtime', async () => {
    const blob = await pageBlob(em, 'one');
    const put = (): Promise<string> => attempt(blob.uploadPages(Buffer.alloc(512), 0, 512));
    await em.setFaults({ busy: 1 });
    assert.equal(await put(), '503 ServerBusy');
    const listed = [];
    for await (const d of compute.disks.list()) listed.push(d);
    assert.deepEqual(listed, [], 'ARM is not affected');
    await em.setFaults({ internal: 1 });
    assert.match(await put(), /^500 (InternalError|OperationTimedOut)$/);
    await em.setFaults({ sasexpiry: 1 });
    assert.equal(await put(), '403 AuthenticationFailed');
    await em.setFaults({ reset: 1 });
    assert.equal(await put(), 'network');
    await em.setFaults({ stall: 1, stallms: 200 });
    assert.equal(await put(), 'network');
    await em.setFaults({});
    assert.equal(await put(), 'ok');
    const stats = await em.getStats();
    for (const kind of ['busy', 'internal', 'sasexpiry', 'reset', 'stall']) assert.equal(stats.faultsInjected[kind], 1, kind);
    const current = await em.arm('GET', '/emulator/faults');
    assert.equal((current.body as { busy: number }).busy, 0);
    assert.equal((await em.arm('PUT', '/emulator/faults', { nonsense: 1 })).status, 400);
  });

  void it('caps requests per second per blob with 503 ServerBusy', async () => {
    const blob = await pageBlob(em, 'capped');
    await em.setFaults({ rps: 5 });
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => attempt(blob.uploadPages(Buffer.alloc(512), i * 512, 512))));
    await em.setFaults({});
    assert.ok(results.includes('503 ServerBusy'));
    assert.ok(results.filter((r) => r === 'ok').length <= 15);
    assert.ok((await em.getStats()).faultsInjected['rps']! >= 15);
  });

  void it('caps MiB per second per blob with 503 ServerBusy', async () => {
    const blob = await pageBlob(em, 'throttled', 8 * MIB);
    await em.setFaults({ mibps: 1, latency: 5 });
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => attempt(blob.uploadPages(Buffer.alloc(MIB / 2, 1), i * (MIB / 2), MIB / 2))));
    await em.setFaults({});
    assert.ok(results.includes('ok'));
    assert.ok(results.includes('503 ServerBusy'));
    assert.ok((await em.getStats()).faultsInjected['mibps']! >= 1);
  });

  void it('replays the same faults for the same seed', async () => {
    const pattern = async (): Promise<string[]> => {
      const other = await startEmulator({ faults: 'seed=42,busy=0.3,internal=0.2' });
      try {
        const blob = await pageBlob(other, 'seeded');
        const out: string[] = [];
        for (let i = 0; i < 24; i++) out.push(await attempt(blob.uploadPages(Buffer.alloc(512), i * 512, 512)));
        return out;
      } finally {
        await other.stop();
      }
    };
    const first = await pattern();
    assert.deepEqual(await pattern(), first);
    assert.ok(first.includes('ok') && first.some((r) => r !== 'ok'));
  });
});

void describe('emulator persistence and load', () => {
  void it('keeps disks, snapshots, pages and blobs across a restart with --data', async (t) => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dd-emulator-data-'));
    const em = await startEmulator({ dataDir: dir });
    try {
      await ensureResourceGroup(em, 'rg');
      const compute = computeClient(em);
      const disk = await compute.disks.createOrUpdate('rg', 'kept', { location: 'eastus', creationData: { createOption: 'Empty' }, diskSizeGB: 1 });
      const blob = await pageBlob(em, 'kept.vhd');
      await blob.uploadPages(Buffer.alloc(4096, 0x42), MIB, 4096);
      const snap = await blob.createSnapshot();
      await compute.snapshots.createOrUpdate('rg', 'kept-s1', {
        location: 'eastus',
        incremental: true,
        creationData: { createOption: 'Copy', sourceResourceId: disk.id },
      });
      const before = em.connection;
      const ca = em.ca;
      await em.restart();
      assert.equal(em.connection.subscriptionId, before.subscriptionId);
      assert.equal(em.connection.token, before.token);
      assert.equal(em.ca, ca, 'the CA survives, so clients keep trusting it');
      const again = computeClient(em);
      assert.equal((await again.disks.get('rg', 'kept')).uniqueId, disk.uniqueId);
      const s = await again.snapshots.get('rg', 'kept-s1');
      assert.equal(s.creationData?.sourceUniqueId, disk.uniqueId);
      const reopened = blobServiceClient(em, storageAccount(em)).getContainerClient('faults').getPageBlobClient('kept.vhd');
      assert.deepEqual((await reopened.getPageRanges()).pageRange, [{ offset: MIB, count: 4095 }]);
      assert.ok((await reopened.downloadToBuffer(MIB, 4096)).every((b) => b === 0x42));
      assert.deepEqual((await reopened.withSnapshot(snap.snapshot!).getPageRanges()).pageRange, [{ offset: MIB, count: 4095 }]);
      t.diagnostic('state and page data survived SIGTERM and restart');
    } finally {
      await em.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('serves 200 concurrent 4 MiB Put Page From URL requests without error, with bounded memory', async (t) => {
    const em = await startEmulator();
    try {
      await ensureResourceGroup(em, 'rg');
      const compute = computeClient(em);
      const disk = await compute.disks.createOrUpdate('rg', 'load', { location: 'eastus', creationData: { createOption: 'Empty' }, diskSizeGB: 1 });
      await em.arm('POST', `/emulator/disks/${encodeURIComponent(disk.id!)}/synthetic-writes`, { seed: 9, ranges: [{ offset: 0, length: 800 * MIB }] });
      await compute.snapshots.createOrUpdate('rg', 'load-s1', {
        location: 'eastus',
        incremental: true,
        creationData: { createOption: 'Copy', sourceResourceId: disk.id },
      });
      const grant = await compute.snapshots.grantAccess('rg', 'load-s1', { access: 'Read', durationInSeconds: 600 });
      const target = await pageBlob(em, 'target.vhd', 800 * MIB);
      await em.resetStats();
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => attempt(target.uploadPagesFromURL(grant.accessSAS!, i * 4 * MIB, i * 4 * MIB, 4 * MIB))),
      );
      assert.deepEqual(
        results.filter((r) => r !== 'ok'),
        [],
      );
      const stats = await em.getStats();
      assert.equal(stats.bytesWrittenByBlob[`${storageAccount(em).name}/faults/target.vhd`], 800 * MIB);
      const status = readFileSync(`/proc/${em.process.pid}/status`, 'utf8');
      const peakKiB = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      t.diagnostic(`emulator peak RSS during 200 x 4 MiB Put Page From URL: ${Math.round(peakKiB / 1024)} MiB`);
      assert.ok(peakKiB < 1024 * 1024, `peak RSS ${peakKiB} KiB`);
      const sample = await target.downloadToBuffer(123 * 4 * MIB, 4096);
      const source = await compute.snapshots.get('rg', 'load-s1');
      assert.ok(source.id);
      assert.ok(
        sample.some((b) => b !== 0),
        'the synthetic source content was copied',
      );
      await compute.snapshots.revokeAccess('rg', 'load-s1');
    } finally {
      await em.stop();
    }
  });
});
