/**
 * A differential copy where requests, not bytes, bound the copy (many 4 KiB changes a few KiB apart), through
 * `disk-delta copy` against the emulator: neighbouring changes go as one Put Page From URL request with the
 * unchanged gap between them, the target blob snapshot is byte-identical to its source over the whole disk,
 * cleared ranges are cleared (never written over), and the summary reports both the changed and the moved bytes.
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
  assertSameBytes,
  assertSummaryShape,
  blobKey,
  changed,
  lastJsonLine,
  minimumPutRequests,
  targetSnapshotSource,
  withReadGrant,
  type CopySummaryJson,
} from '../support/copyChecks';
import type { DiskWrite } from '../support/disks';
import { createPhasedDisk } from '../support/phasedDisk';

const KiB = 1024;
const MiB = 1024 * KiB;

/** s1: some data; s2: 30 clusters of ten 4 KiB writes 4 KiB apart, the middle of every third cluster cleared. */
function phases(): DiskWrite[][] {
  const s1: DiskWrite[] = [
    { offset: 0, length: 2 * MiB },
    { offset: 48 * MiB, length: 3 * MiB },
  ];
  const s2: DiskWrite[] = [];
  for (let c = 0; c < 30; c++) {
    const base = c * 3 * MiB + 4 * KiB;
    for (let i = 0; i < 10; i++) s2.push({ offset: base + i * 8 * KiB, length: 4 * KiB });
    if (c % 3 === 0) s2.push({ offset: base + 36 * KiB, length: 16 * KiB, clear: true });
  }
  return [s1, s2];
}

void describe('coalesced differential copy against the emulator', () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let dir: string;
  let file: string;
  let snaps: SnapshotInfo[];
  /** cleared bytes of s1 -> s2 (verification reads cleared ranges too) */
  let diffCleared = 0;

  before(async () => {
    em = await startEmulator();
    await ensureResourceGroup(em, 'coalesce-test');
    clients = connectToEmulator(em.connection, em.ca);
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-coalesce-'));
    file = path.join(dir, 'connection.json');
    process.env.XDG_STATE_HOME = path.join(dir, 'state');
    writeFileSync(file, JSON.stringify(em.connection));
    ({ snapshots: snaps } = await createPhasedDisk(clients, file, em.connection.subscriptionId, {
      resourceGroup: 'coalesce-test',
      name: 'scattered',
      phases: phases(),
    }));
  });

  after(async () => {
    await em?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  void it('writes neighbouring changes as one request with their gap, byte-identical, reporting moved and changed bytes', async () => {
    const r0 = await runCli(file, ['--json', 'diff', '--from', snaps[0]!.id, '--to', snaps[1]!.id]);
    assert.equal(r0.code, 0, r0.stderr);
    const diff = parseJson<{ changedBytes: number; clearedBytes: number; ranges: DiffRange[] }>(r0);
    const minimal = minimumPutRequests(changed(diff.ranges));
    diffCleared = diff.clearedBytes;
    assert.ok(minimal >= 250, `${minimal} changed ranges`);

    const account = storageAccount(em, 'westus2', 0).resourceId;
    const journal = path.join(dir, 'coalesce.jsonl');
    const base = await runCli(file, ['--json', 'copy', '--snapshot', snaps[0]!.id, '--target-account', account, '--journal', journal]);
    assert.equal(base.code, 0, base.stderr);

    await em.resetStats();
    const r = await runCli(file, ['--json', 'copy', '--snapshot', snaps[1]!.id, '--target-account', account, '--journal', journal]);
    assert.equal(r.code, 0, r.stderr);
    const s = lastJsonLine<CopySummaryJson>(r.stdout);
    assertSummaryShape(s);
    const stats = await em.getStats();
    const key = blobKey(s.targetBlobSnapshotUrl);

    // Even with every cluster one request, 40 requests take longer than their ~2 MiB at the paced rates.
    assert.equal(s.bound, 'requests');
    assert.equal(s.changedBytes, diff.changedBytes);
    assert.equal(s.bytesCopied, diff.changedBytes);
    assert.ok(s.coalescedGaps > 0, 'gaps coalesced');
    assert.ok(s.bytesMoved > s.changedBytes, `moved ${s.bytesMoved} > changed ${s.changedBytes}`);
    assert.equal(stats.bytesWrittenByBlob[key] ?? 0, s.bytesMoved, 'the emulator received the moved bytes');
    assert.equal(stats.bytesClearedByBlob[key] ?? 0, diff.clearedBytes, 'cleared ranges cleared');
    const puts = stats.requests.PutPageFromURL ?? 0;
    assert.ok(puts < minimal / 2, `${puts} Put Page From URL requests against ${minimal} changed ranges`);
    assert.equal(puts, minimal - s.coalescedGaps);
    // 30 clusters, every third split by its cleared range: no request spans two clusters (3 MiB apart).
    assert.ok(puts <= 40, `${puts} requests for 40 runs of changes`);

    const target = await targetSnapshotSource(clients, em.connection.subscriptionId, s.targetBlobSnapshotUrl);
    await withReadGrant(clients, snaps[1]!.id, (source) => assertSameBytes(source, target, 's2 coalesced'));
    // --verify changed (the default) read back every request the copy made, gaps included.
    assert.ok(s.verifiedBytes >= s.bytesMoved, `${s.verifiedBytes} bytes verified`);
    assert.equal(s.verifySeed, null);
  });

  void it('--verify sample:<percent> hashes a seeded share of the changed ranges and reports it', async () => {
    const account = storageAccount(em, 'westus2', 1).resourceId;
    const journal = path.join(dir, 'sample.jsonl');
    await em.resetStats();
    // s1 is copied first (a base copy), then s2: each step's sample is told on stderr, the last one's in the summary.
    const r = await runCli(file, ['--json', 'copy', '--snapshot', snaps[1]!.id, '--target-account', account, '--journal', journal, '--verify', 'sample:40']);
    assert.equal(r.code, 0, r.stderr);
    const delta = lastJsonLine<CopySummaryJson>(r.stdout);
    assertSummaryShape(delta);
    assert.equal(typeof delta.verifySeed, 'number');
    assert.equal((r.stderr.match(/VerifySample: /g) ?? []).length, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`VerifySample: .*40% .*seed ${delta.verifySeed}`));
    assert.ok(delta.verifiedBytes > 0 && delta.verifiedBytes < delta.bytesMoved + diffCleared, `${delta.verifiedBytes} bytes sampled`);
    const target = await targetSnapshotSource(clients, em.connection.subscriptionId, delta.targetBlobSnapshotUrl);
    await withReadGrant(clients, snaps[1]!.id, (source) => assertSameBytes(source, target, 's2 sampled'));

    const bad = await runCli(file, ['copy', '--snapshot', snaps[1]!.id, '--target-account', account, '--verify', 'sample:0']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /sample:<percent>/);
  });
});
