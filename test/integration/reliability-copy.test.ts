/**
 * Copies side by side and under pressure, through the CLI against the emulator: a second copy of a
 * family that is being copied is refused (family lock) while another family copies alongside; a copy
 * under a per-blob request and bandwidth cap backs off and completes; a copy whose source disk is
 * deleted while it runs completes from the snapshots, which outlive their disk.
 */
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import type { SnapshotInfo } from '../../src/core/model';
import { targetBlobName } from '../../src/core/copy';
import { ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';
import { parseJson, runCli, type CliResult } from '../support/cli';
import { assertNoActiveSas, assertSameBytes, lastJsonLine, targetSnapshotSource, withReadGrant, type CopySummaryJson } from '../support/copyChecks';
import { createBulkDisk, syntheticWrites } from '../support/bulkDisk';

/** The error line: `disk-delta: error <Code>...`, exactly once. */
function assertOneErrorLine(r: CliResult, code: RegExp, what: string): void {
  assert.notEqual(r.code, 0, `${what}: non-zero exit`);
  const lines = r.stderr.split('\n').filter((l) => /^disk-delta: error /.test(l));
  assert.equal(lines.length, 1, `${what}: one error line in ${JSON.stringify(r.stderr)}`);
  assert.match(/^disk-delta: error (\w+)/.exec(lines[0]!)![1]!, code, `${what}: ${lines[0]}`);
}

void describe('copies side by side and under pressure', () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let dir: string;
  let file: string;
  let sub: string;

  before(async () => {
    em = await startEmulator();
    await ensureResourceGroup(em, 'side');
    clients = connectToEmulator(em.connection, em.ca);
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-reliability-copy-'));
    process.env.XDG_STATE_HOME = path.join(dir, 'state');
    file = path.join(dir, 'connection.json');
    writeFileSync(file, JSON.stringify(em.connection));
    sub = em.connection.subscriptionId;
  });

  after(async () => {
    await em?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  void it('refuses a second copy of the same family while one runs, and runs two families side by side', async () => {
    const a = await createBulkDisk(em, clients, { resourceGroup: 'side', name: 'lock-a', ranges: 120, rangeBytes: 256 * 1024, seed: 5, sizeMiB: 128 });
    const b = await createBulkDisk(em, clients, { resourceGroup: 'side', name: 'lock-b', ranges: 120, rangeBytes: 256 * 1024, seed: 6, sizeMiB: 128 });
    const snapA = parseJson<SnapshotInfo>(await runCli(file, ['--json', 'snapshot', 'create', '--disk', a, '--name', 'lock-a-1']));
    const snapB = parseJson<SnapshotInfo>(await runCli(file, ['--json', 'snapshot', 'create', '--disk', b, '--name', 'lock-b-1']));
    const west = storageAccount(em, 'westus2', 0).resourceId;
    await em.setFaults({ latency: 40 });
    await em.resetStats();
    try {
      const first = runCli(file, ['--json', 'copy', '--family', a, '--target-account', west, '--concurrency', '2']);
      // Wait until the first copy is writing, so it holds its lock.
      for (let i = 0; i < 400 && !((await em.getStats()).requests.PutPageFromURL! > 0); i++) await new Promise((r) => setTimeout(r, 50));
      const second = await runCli(file, ['copy', '--family', a, '--target-account', storageAccount(em, 'westus2', 1).resourceId]);
      assertOneErrorLine(second, /^CopyInProgress$/, 'a second copy of the same family');
      const sideBySide = runCli(file, ['--json', 'copy', '--family', b, '--target-account', west, '--concurrency', '2']);
      const [ra, rb] = await Promise.all([first, sideBySide]);
      assert.equal(ra.code, 0, ra.stderr);
      assert.equal(rb.code, 0, rb.stderr);
      await em.setFaults({});
      for (const [r, snap] of [
        [ra, snapA],
        [rb, snapB],
      ] as const) {
        const [s] = lastJsonLine<CopySummaryJson[]>(r.stdout);
        const t = await targetSnapshotSource(clients, sub, s!.targetBlobSnapshotUrl);
        await withReadGrant(clients, snap.id, (src) => assertSameBytes(src, t, `${snap.name} copied side by side`));
      }
      assert.equal(
        (await em.getStats()).bytesWrittenByBlob[
          `${storageAccount(em, 'westus2', 1).name}/disk-delta/${targetBlobName(snapA.familyId!, snapA.sourceResourceId, snapA.name)}`
        ] ?? 0,
        0,
        'the refused copy wrote nothing',
      );
    } finally {
      await em.setFaults({});
    }
    await assertNoActiveSas(em, clients, 'the lock');
  });

  void it('backs off under a per-blob request and bandwidth cap and completes', async () => {
    const disk = await createBulkDisk(em, clients, { resourceGroup: 'side', name: 'capped', ranges: 60, rangeBytes: 1024 * 1024, seed: 7, sizeMiB: 128 });
    const snap = parseJson<SnapshotInfo>(await runCli(file, ['--json', 'snapshot', 'create', '--disk', disk, '--name', 'capped-1']));
    await em.resetStats();
    await em.setFaults({ rps: 15, mibps: 20 });
    let r: CliResult;
    try {
      r = await runCli(file, ['--json', 'copy', '--family', disk, '--target-account', storageAccount(em, 'westus2', 1).resourceId, '--concurrency', '16']);
    } finally {
      await em.setFaults({});
    }
    assert.equal(r.code, 0, r.stderr);
    const stats = await em.getStats();
    assert.ok((stats.faultsInjected.rps ?? 0) + (stats.faultsInjected.mibps ?? 0) > 0, 'the cap was hit');
    const [s] = lastJsonLine<CopySummaryJson[]>(r.stdout);
    assert.ok(s!.retries > 0, 'the copy backed off and retried');
    const t = await targetSnapshotSource(clients, sub, s!.targetBlobSnapshotUrl);
    await withReadGrant(clients, snap.id, (src) => assertSameBytes(src, t, 'copy under a cap'));
    await assertNoActiveSas(em, clients, 'a capped copy');
  });

  void it("copies a chain while others hold three of the family's five grants, and leaves those grants alone", async () => {
    const disk = await createBulkDisk(em, clients, { resourceGroup: 'side', name: 'crowded', ranges: 40, rangeBytes: 128 * 1024, seed: 11, sizeMiB: 64 });
    const snap = async (name: string) =>
      (
        await clients.compute.createSnapshot({
          subscriptionId: sub,
          resourceGroup: 'side',
          name,
          location: 'eastus',
          incremental: true,
          createOption: 'Copy',
          sourceResourceId: disk,
        })
      ).id;
    const copied: string[] = [];
    for (let i = 1; i <= 4; i++) {
      if (i > 1) await syntheticWrites(em, disk, { seed: 20 + i, pattern: { count: 12, length: 64 * 1024, stride: 5 * 1024 * 1024, start: i * 256 * 1024 } });
      copied.push(await snap(`crowded-${i}`));
    }
    // Later snapshots of the same family, each holding a read grant someone else asked for.
    const holders = [await snap('crowded-h1'), await snap('crowded-h2'), await snap('crowded-h3')];
    for (const id of holders) await clients.compute.grantAccess(id, 'Read', 600);
    try {
      // The copy needs two grants at a time and asks for a third ahead; with two slots left it waits its turn instead.
      const r = await runCli(file, ['--json', 'copy', '--snapshot', copied[3]!, '--target-account', storageAccount(em, 'westus2', 0).resourceId]);
      assert.equal(r.code, 0, r.stderr);
      for (let i = 1; i <= 4; i++) assert.match(r.stderr, new RegExp(`^crowded-${i}: `, 'm'), `crowded-${i} was copied (the earlier ones first)`);
      const t = await targetSnapshotSource(clients, sub, lastJsonLine<CopySummaryJson>(r.stdout).targetBlobSnapshotUrl);
      await withReadGrant(clients, copied[3]!, (src) => assertSameBytes(src, t, 'crowded-4 copied'));
      for (const id of holders) assert.equal((await clients.compute.getSnapshot(id))?.diskState, 'ActiveSAS', 'the other grants are left alone');
      for (const id of copied) assert.notEqual((await clients.compute.getSnapshot(id))?.diskState, 'ActiveSAS', 'the copy gave its grants back');
    } finally {
      for (const id of holders) await clients.compute.revokeAccess(id);
    }
    await assertNoActiveSas(em, clients, 'a copy beside three other grants');
  });

  void it('finishes a copy whose source disk is deleted while it runs: the snapshots outlive their disk', async () => {
    const disk = await createBulkDisk(em, clients, { resourceGroup: 'side', name: 'doomed', ranges: 100, rangeBytes: 256 * 1024, seed: 8, sizeMiB: 64 });
    const snap = parseJson<SnapshotInfo>(await runCli(file, ['--json', 'snapshot', 'create', '--disk', disk, '--name', 'doomed-1']));
    await em.setFaults({ latency: 40 });
    await em.resetStats();
    let r: CliResult;
    try {
      const copy = runCli(file, [
        '--json',
        'copy',
        '--snapshot',
        snap.id,
        '--target-account',
        storageAccount(em, 'westus2', 0).resourceId,
        '--concurrency',
        '2',
      ]);
      for (let i = 0; i < 400 && !((await em.getStats()).requests.PutPageFromURL! > 0); i++) await new Promise((res) => setTimeout(res, 50));
      await clients.compute.deleteDisk(disk);
      r = await copy;
    } finally {
      await em.setFaults({});
    }
    assert.equal(await clients.compute.getDisk(disk), undefined, 'the disk is gone');
    assert.equal(r.code, 0, r.stderr);
    const s = lastJsonLine<CopySummaryJson>(r.stdout);
    const t = await targetSnapshotSource(clients, sub, s.targetBlobSnapshotUrl);
    await withReadGrant(clients, snap.id, (src) => assertSameBytes(src, t, "copy of a deleted disk's snapshot"));
    const fams = parseJson<{ sourceName: string; sourceDiskState: string }[]>(await runCli(file, ['--json', 'families', '--disk', disk]));
    assert.equal(fams[0]?.sourceDiskState, 'deleted');
    await assertNoActiveSas(em, clients, 'a copy of a deleted disk');
  });
});
