/**
 * The cross-region copy engine through `disk-delta copy`, against the emulator over HTTPS: a disk
 * written in phases (s1..s4) copied one snapshot at a time and as a chain, each target blob snapshot
 * byte-identical to its source over the whole disk and footer, exactly the changed bytes written in
 * the fewest 4 MiB requests, imports that restore to identical disks, re-runs that write nothing,
 * the JSON contract, and Azure's native CopyStart.
 */
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import type { DiffRange, SnapshotInfo } from '../../src/core/model';
import { ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';
import { parseJson, runCli } from '../support/cli';
import {
  allocatedRanges,
  assertNoActiveSas,
  assertSameBytes,
  assertSummaryShape,
  blobKey,
  changed,
  lastJsonLine,
  minimumPutRequests,
  sumLength,
  targetSnapshotSource,
  withReadGrant,
  type CopySummaryJson,
} from '../support/copyChecks';
import { createPhasedDisk } from '../support/phasedDisk';

interface DiffJson {
  changedBytes: number;
  clearedBytes: number;
  ranges: DiffRange[];
}

void describe('disk-delta copy against the emulator', () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let file: string;
  let dir: string;
  let sub: string;
  let diskId: string;
  let snaps: SnapshotInfo[];
  let targetAccountId: string;
  let otherAccountId: string;

  /** What copying `snaps[i]` onto a target holding `snaps[i-1]` (or nothing) must write: bytes, requests, cleared bytes. */
  const expectations: { writeBytes: number; putRequests: number; clearedBytes: number }[] = [];

  before(async () => {
    em = await startEmulator();
    await ensureResourceGroup(em, 'copy-test');
    await ensureResourceGroup(em, ['copies-one', 'copies-chain'], 'westus2');
    clients = connectToEmulator(em.connection, em.ca);
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-copy-'));
    file = path.join(dir, 'connection.json');
    // Family locks live in the user's state directory: keep them in this test's own.
    process.env.XDG_STATE_HOME = path.join(dir, 'state');
    writeFileSync(file, JSON.stringify(em.connection));
    sub = em.connection.subscriptionId;
    ({ diskId, snapshots: snaps } = await createPhasedDisk(clients, file, sub, { resourceGroup: 'copy-test', name: 'phased' }));
    targetAccountId = storageAccount(em, 'westus2', 0).resourceId;
    otherAccountId = storageAccount(em, 'westus2', 1).resourceId;

    const base = await allocatedRanges(clients, snaps[0]!.id);
    expectations.push({ writeBytes: sumLength(base), putRequests: minimumPutRequests(base), clearedBytes: 0 });
    for (let i = 1; i < snaps.length; i++) {
      const r = await runCli(file, ['--json', 'diff', '--from', snaps[i - 1]!.id, '--to', snaps[i]!.id]);
      assert.equal(r.code, 0, r.stderr);
      const d = parseJson<DiffJson>(r);
      assert.ok(d.clearedBytes > 0 || i === 2, `phase ${i + 1} clears pages`);
      expectations.push({ writeBytes: d.changedBytes, putRequests: minimumPutRequests(changed(d.ranges)), clearedBytes: d.clearedBytes });
    }
    await assertNoActiveSas(em, clients, 'setting up');
  });

  after(async () => {
    await em?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const sourceEqualsTarget = async (snapshot: SnapshotInfo, url: string, what: string) => {
    const target = await targetSnapshotSource(clients, sub, url);
    await withReadGrant(clients, snapshot.id, (source) => assertSameBytes(source, target, what));
  };

  void it('copies s1..s4 one by one: identical snapshots, exactly the changed bytes in the fewest requests, re-runs write nothing', async () => {
    const journal = path.join(dir, 'one-by-one.jsonl');
    for (const [i, snap] of snaps.entries()) {
      await em.resetStats();
      const args = [
        '--json',
        'copy',
        '--snapshot',
        snap.id,
        '--target-account',
        targetAccountId,
        '--journal',
        journal,
        '--import',
        'snapshot',
        '--target-resource-group',
        'copies-one',
      ];
      const r = await runCli(file, args);
      assert.equal(r.code, 0, r.stderr);
      const summary = lastJsonLine<CopySummaryJson>(r.stdout);
      assertSummaryShape(summary);
      const stats = await em.getStats();
      const key = blobKey(summary.targetBlobSnapshotUrl);
      const exp = expectations[i]!;
      assert.equal(stats.bytesWrittenByBlob[key] ?? 0, exp.writeBytes, `s${i + 1}: bytes written to the target`);
      assert.equal(stats.bytesClearedByBlob[key] ?? 0, exp.clearedBytes, `s${i + 1}: bytes cleared on the target`);
      assert.equal(stats.requests.PutPageFromURL ?? 0, exp.putRequests, `s${i + 1}: Put Page From URL requests`);
      assert.equal(stats.requests.PutPage ?? 0, 0, `s${i + 1}: no page went through this machine`);
      assert.equal(summary.bytesCopied, exp.writeBytes);
      assert.equal(summary.bytesCleared, exp.clearedBytes);
      assert.equal(summary.requests, exp.putRequests + (stats.requests.ClearPages ?? 0));
      assert.equal(summary.retries, 0);
      assert.ok(summary.importedResourceId, 'imported as a managed snapshot');
      await sourceEqualsTarget(snap, summary.targetBlobSnapshotUrl, `s${i + 1} one by one`);
      await assertNoActiveSas(em, clients, `copying s${i + 1}`);

      // The same command again: nothing to do, nothing written.
      await em.resetStats();
      const again = await runCli(file, args);
      assert.equal(again.code, 0, again.stderr);
      const same = lastJsonLine<CopySummaryJson>(again.stdout);
      assertSummaryShape(same);
      assert.equal(same.bytesCopied, 0);
      assert.equal(same.targetBlobSnapshotUrl, summary.targetBlobSnapshotUrl, 'the same blob snapshot');
      const quiet = await em.getStats();
      assert.equal(quiet.bytesWrittenByBlob[key] ?? 0, 0, `s${i + 1}: a re-run writes nothing`);
      assert.equal(quiet.requests.PutPageFromURL ?? 0, 0);
      assert.equal(quiet.activeSasGrants, 0);
    }
  });

  void it('copies the family as a chain onto a fresh target, imports each, and the imports restore to identical disks', async () => {
    await em.resetStats();
    const r = await runCli(file, [
      '--json',
      'copy',
      '--family',
      diskId,
      '--target-account',
      otherAccountId,
      '--journal',
      path.join(dir, 'chain.jsonl'),
      '--import',
      'snapshot',
      '--target-resource-group',
      'copies-chain',
      '--verify',
      'full',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const summaries = lastJsonLine<CopySummaryJson[]>(r.stdout);
    assert.ok(Array.isArray(summaries));
    assert.equal(summaries.length, snaps.length, 'one summary per snapshot');
    const stats = await em.getStats();
    const key = blobKey(summaries[0]!.targetBlobSnapshotUrl);
    assert.equal(
      stats.bytesWrittenByBlob[key],
      sumLength(expectations.map((e) => ({ offset: 0, length: e.writeBytes }))),
      'the chain writes the sum of the changed bytes',
    );
    assert.equal(
      stats.requests.PutPageFromURL,
      expectations.reduce((n, e) => n + e.putRequests, 0),
    );
    for (const [i, s] of summaries.entries()) {
      assertSummaryShape(s);
      assert.equal(s.bytesCopied, expectations[i]!.writeBytes, `s${i + 1} bytes`);
      await sourceEqualsTarget(snaps[i]!, s.targetBlobSnapshotUrl, `s${i + 1} in a chain`);
    }
    assert.equal(new Set(summaries.map((s) => s.targetBlobSnapshotUrl)).size, snaps.length, 'one blob snapshot each');

    for (const i of [1, 3]) {
      const imported = summaries[i]!.importedResourceId!;
      const info = await clients.compute.getSnapshot(imported);
      assert.equal(info?.location, 'westus2');
      const restored = await runCli(file, ['--json', 'restore', '--snapshot', imported, '--name', `restored-s${i + 1}`]);
      assert.equal(restored.code, 0, restored.stderr);
      const disk = parseJson<{ id: string; sizeBytes: number }>(restored);
      assert.equal(disk.sizeBytes, snaps[i]!.sizeBytes);
      await withReadGrant(clients, disk.id, (restoredDisk) =>
        withReadGrant(clients, snaps[i]!.id, (source) =>
          assertSameBytes(source, restoredDisk, `disk restored from the import of s${i + 1}`, { diskOnly: true }),
        ),
      );
    }

    // Up to date: a second chain run copies nothing.
    await em.resetStats();
    const again = await runCli(file, ['--json', 'copy', '--family', diskId, '--target-account', otherAccountId, '--journal', path.join(dir, 'chain.jsonl')]);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(lastJsonLine<CopySummaryJson[]>(again.stdout), []);
    assert.equal((await em.getStats()).bytesWrittenByBlob[key] ?? 0, 0);
    await assertNoActiveSas(em, clients, 'a chain copy with imports and restores');
  });

  void it('copies with Azure CopyStart in creation order and reports a failed CopyStart with its error code', async () => {
    const r = await runCli(file, ['--json', 'copy', '--native', '--snapshot', snaps[1]!.id, '--target-region', 'westus2']);
    assert.equal(r.code, 0, r.stderr);
    const steps = lastJsonLine<{ targetSnapshotId: string }[]>(r.stdout);
    assert.equal(steps.length, 2, 's1 then s2');
    for (const [i, s] of steps.entries()) {
      const copy = await clients.compute.getSnapshot(s.targetSnapshotId);
      assert.ok(copy, `copy of s${i + 1} exists`);
      assert.equal(copy.location, 'westus2');
      assert.equal(copy.incremental, true);
      assert.equal(copy.provisioningState, 'Succeeded');
    }
    const t0 = Date.parse((await clients.compute.getSnapshot(steps[0]!.targetSnapshotId))!.timeCreated);
    const t1 = Date.parse((await clients.compute.getSnapshot(steps[1]!.targetSnapshotId))!.timeCreated);
    assert.ok(t0 <= t1, 'copied in creation order');

    await em.setFaults({ copyfail: 1 });
    try {
      const failed = await runCli(file, ['--json', 'copy', '--native', '--snapshot', snaps[2]!.id, '--target-region', 'westus2']);
      assert.notEqual(failed.code, 0);
      const line = failed.stderr
        .trim()
        .split('\n')
        .find((l) => l.startsWith('disk-delta: error'));
      assert.ok(line, failed.stderr);
      assert.match(line, /^disk-delta: error CopySourceNotFound: .*phased-s3/, 'the copy error code Azure reported');
    } finally {
      await em.setFaults({});
    }
    await assertNoActiveSas(em, clients, 'native copies');
  });
});
