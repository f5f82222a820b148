/**
 * The product's handling of Microsoft.Compute as Azure really answers it (docs/azure-behaviour.md), through
 * the product's own clients (src/azure over HTTPS) against the emulator:
 * - an Import of a blob that is not a fixed VHD fails inside the operation (azure-sdk-for-net#24959);
 * - a grant longer than 60 days is refused (azure-cli#29431);
 * - CopyStart reports 0% for a long time and then 100% (recorded in azure-sdk-for-net
 *   sdk/compute/Microsoft.Azure.Management.Compute/tests/SessionRecords/DiskRPCreateOptionTests/CopyStartSnapshotPositiveTest.json):
 *   the copy shows "queued" with the time waited, never times out, and cancelling stops waiting only;
 * - throttling (429 + Retry-After): listing 500 disks and 5,000 snapshots, grants and pollers all complete.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseJson, runCli } from '../support/cli';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import { describeNativeStatus, NativeCopy, type NativeCopyStatus } from '../../src/core/copy';
import type { SnapshotInfo } from '../../src/core/model';
import { DiskDeltaError } from '../../src/core/errors';
import { blobServiceClient, ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';

const MIB = 1024 * 1024;

void describe('ARM fidelity: the product against Azure-shaped answers', { timeout: 900_000 }, () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let sub: string;
  const rg = 'fidelity';

  before(async () => {
    em = await startEmulator({ regions: ['eastus', 'westus2'] });
    await ensureResourceGroup(em, [rg]);
    await ensureResourceGroup(em, 'fidelity-west', 'westus2');
    clients = connectToEmulator(em.connection, em.ca, { pollIntervalMs: 100 });
    sub = em.connection.subscriptionId;
  });
  after(async () => {
    await em?.stop();
  });

  async function diskWithSnapshot(name: string): Promise<SnapshotInfo> {
    const disk = await clients.compute.createDisk({ subscriptionId: sub, resourceGroup: rg, name, location: 'eastus', createOption: 'Empty', diskSizeGB: 1 });
    return clients.compute.createSnapshot({
      subscriptionId: sub,
      resourceGroup: rg,
      name: `${name}-s1`,
      location: 'eastus',
      incremental: true,
      createOption: 'Copy',
      sourceResourceId: disk.id,
    });
  }

  void it('an Import of a blob that is not a fixed VHD fails with BadRequest and the conectix message, and creates nothing', async () => {
    const account = storageAccount(em, 'eastus');
    const container = blobServiceClient(em, account).getContainerClient('fidelity');
    await container.createIfNotExists();
    const blob = container.getPageBlobClient('no-footer.vhd');
    await blob.create(4 * MIB + 512);
    const error = await clients.compute
      .createSnapshot({
        subscriptionId: sub,
        resourceGroup: rg,
        name: 'imported',
        location: 'eastus',
        incremental: false,
        createOption: 'Import',
        sourceUri: blob.url,
        storageAccountId: account.resourceId,
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(error instanceof DiskDeltaError, String(error));
    assert.equal(error.code, 'BadRequest');
    assert.match(error.message, /^Creating snapshot imported: .*cookie value 'conectix'/);
    assert.match(error.hint ?? '', /fixed VHD/);
    assert.equal(await clients.compute.getSnapshot(`/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/snapshots/imported`), undefined);
  });

  void it('a grant longer than 60 days is refused with a clear error; 60 days is granted', async () => {
    const snap = await diskWithSnapshot('grant-disk');
    const error = await clients.compute.grantAccess(snap.id, 'Read', 5_184_001).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof DiskDeltaError, String(error));
    assert.equal(error.code, 'InvalidParameter');
    assert.equal(error.statusCode, 400);
    assert.match(error.message, /5184000 seconds \(60 days\)/);
    const sas = await clients.compute.grantAccess(snap.id, 'Read', 5_184_000);
    assert.match(sas.reveal(), /sig=/);
    await clients.compute.revokeAccess(snap.id);
  });

  void it('CopyStart stuck at 0% shows "queued" with the time waited, keeps polling, and finishes when Azure jumps to 100', async () => {
    const snap = await diskWithSnapshot('stall-disk');
    await em.setFaults({ copystall: 4 });
    const statuses: NativeCopyStatus[] = [];
    try {
      const result = await new NativeCopy(clients.compute).run({
        snapshots: [snap],
        targetRegion: 'westus2',
        targetResourceGroup: 'fidelity-west',
        pollIntervalMs: 250,
        onStatus: (s) => statuses.push(s),
      });
      assert.equal(result.status, 'completed');
      assert.equal(result.steps.length, 1);
    } finally {
      await em.setFaults({});
    }
    const queued = statuses.filter((s) => s.state === 'queued');
    assert.ok(queued.length >= 8, `polled while queued ${queued.length} times`);
    assert.ok(queued.every((s) => s.percent === 0));
    assert.ok(queued[queued.length - 1]!.elapsedSeconds >= 3, 'the time waited grows');
    assert.ok(queued[queued.length - 1]!.elapsedSeconds > queued[0]!.elapsedSeconds);
    assert.match(describeNativeStatus(queued[queued.length - 1]!), /^\[1\/1\] stall-disk-s1: queued, 0% · \d+ s$/);
    assert.equal(
      statuses.some((s) => s.state === 'copying'),
      false,
      'Azure never reports a percentage in between',
    );
    assert.equal(statuses[statuses.length - 1]!.state, 'done');
    const target = await clients.compute.getSnapshot(`/subscriptions/${sub}/resourceGroups/fidelity-west/providers/Microsoft.Compute/snapshots/stall-disk-s1`);
    assert.equal(target?.completionPercent, 100);
  });

  void it('cancelling a queued CopyStart stops waiting and leaves the target snapshot copying', async () => {
    const snap = await diskWithSnapshot('cancel-disk');
    await em.setFaults({ copystall: 3 });
    const abort = new AbortController();
    const notices: string[] = [];
    const result = await new NativeCopy(clients.compute).run({
      snapshots: [snap],
      targetRegion: 'westus2',
      targetResourceGroup: 'fidelity-west',
      pollIntervalMs: 200,
      signal: abort.signal,
      onStatus: (s) => {
        if (s.state === 'queued' && s.elapsedSeconds > 0.5) abort.abort(new DOMException('Cancelled by the user', 'AbortError'));
      },
      onNotice: (n) => notices.push(n.code),
    });
    await em.setFaults({});
    assert.equal(result.status, 'cancelled');
    assert.deepEqual(notices, ['NativeCopyContinues']);
    const id = `/subscriptions/${sub}/resourceGroups/fidelity-west/providers/Microsoft.Compute/snapshots/cancel-disk-s1`;
    const right = await clients.compute.getSnapshot(id);
    assert.equal(right?.completionPercent, 0, 'still queued right after the cancel');
    let later: SnapshotInfo | undefined = right;
    for (let i = 0; i < 60 && (later?.completionPercent ?? 0) < 100; i++) {
      await new Promise((r) => setTimeout(r, 200));
      later = await clients.compute.getSnapshot(id);
    }
    assert.equal(later?.completionPercent, 100, 'Azure finished the copy it had started');
  });

  void it('under ARM throttling, listing 500 disks and 5,000 snapshots completes, slower but complete', async () => {
    const seeded = await em.arm('POST', '/emulator/bulk', { resourceGroup: 'bulk-list', location: 'eastus', disks: 500, snapshotsPerDisk: 10 });
    assert.equal(seeded.status, 200, JSON.stringify(seeded.body));
    const count = async () => {
      let disks = 0;
      let snapshots = 0;
      const names = new Set<string>();
      for await (const d of clients.compute.listDisks(sub)) if (d.resourceGroup === 'bulk-list') disks += 1;
      for await (const s of clients.compute.listSnapshots(sub)) {
        if (s.resourceGroup !== 'bulk-list') continue;
        snapshots += 1;
        names.add(s.name);
      }
      return { disks, snapshots, distinct: names.size };
    };
    await em.resetStats();
    await em.setFaults({ armthrottle: 25 });
    try {
      const started = Date.now();
      const listed = await count();
      assert.deepEqual(listed, { disks: 500, snapshots: 5000, distinct: 5000 });
      const stats = await em.getStats();
      assert.ok((stats.faultsInjected['armthrottle'] ?? 0) > 0, 'the listing was throttled');
      assert.ok(Date.now() - started > 5000, 'waiting out Retry-After took time');

      // The CLI, a process of its own with the same clients, groups them into families (fresh buckets).
      await em.setFaults({ armthrottle: 25 });
      const dir = mkdtempSync(path.join(os.tmpdir(), 'dd-fidelity-'));
      try {
        const file = path.join(dir, 'connection.json');
        writeFileSync(file, JSON.stringify(em.connection));
        const r = await runCli(file, ['--json', 'families']);
        assert.equal(r.code, 0, r.stderr);
        const families = parseJson<{ sourceResourceId: string; snapshotCount: number }[]>(r).filter((f) =>
          /\/resourceGroups\/bulk-list\//i.test(f.sourceResourceId),
        );
        assert.equal(families.length, 500);
        assert.ok(families.every((f) => f.snapshotCount === 10));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } finally {
      await em.setFaults({});
    }
  });

  void it('under ARM throttling, reads that meet more 429s than the retry policy allows still complete', async () => {
    const snap = await diskWithSnapshot('patience-disk');
    await em.resetStats();
    await em.setFaults({ armthrottle: 30 });
    try {
      // 45 reads at once against 30 a minute: the last ones wait ~30 s, meeting a 429 every 2 s.
      const started = Date.now();
      const reads = await Promise.all(Array.from({ length: 45 }, () => clients.compute.getSnapshot(snap.id)));
      assert.ok(reads.every((r) => r?.id === snap.id));
      const refused = (await em.getStats()).faultsInjected['armthrottle'] ?? 0;
      assert.ok(refused > 5 * 15, `many more 429s (${refused}) than 5 tries for each of the 15 late reads`);
      assert.ok(Date.now() - started >= 20_000);
    } finally {
      await em.setFaults({});
    }
  });

  void it('under ARM throttling, creates, grants, revokes and their pollers all complete', async () => {
    const snap = await diskWithSnapshot('throttle-disk');
    await em.resetStats();
    await em.setFaults({ armthrottle: 10 });
    try {
      // 13 snapshot-create-class calls against 10 a minute: the last ones wait out Retry-After.
      for (let i = 0; i < 6; i++) {
        const sas = await clients.compute.grantAccess(snap.id, 'Read', 600);
        assert.match(sas.reveal(), /sig=/);
        await clients.compute.revokeAccess(snap.id);
      }
      const again = await clients.compute.createSnapshot({
        subscriptionId: sub,
        resourceGroup: rg,
        name: 'throttle-full',
        location: 'eastus',
        incremental: false,
        createOption: 'Copy',
        sourceResourceId: snap.id,
      });
      assert.equal(again.provisioningState, 'Succeeded');
      const stats = await em.getStats();
      assert.ok((stats.faultsInjected['armthrottle'] ?? 0) > 0, 'the calls were throttled');
    } finally {
      await em.setFaults({});
    }
    assert.equal((await em.getStats()).activeSasGrants, 0);
  });
});
