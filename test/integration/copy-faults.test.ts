/**
 * Copies and diffs while the emulator injects about 10% faults of every kind (503 ServerBusy with
 * Retry-After, 500, connection resets, stalls, SAS expiry; seeded): the same bytes arrive, nothing is
 * lost, and no grant is left open. The soak (test/soak) runs the chained part 20 times.
 */
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import type { SnapshotInfo } from '../../src/core/model';
import { ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';
import { runCli } from '../support/cli';
import {
  assertNoActiveSas,
  assertSameBytes,
  assertSummaryShape,
  lastJsonLine,
  targetSnapshotSource,
  withReadGrant,
  type CopySummaryJson,
} from '../support/copyChecks';
import { chainedCopiesUnderFaults, tenPercentFaults } from '../support/copyScenarios';
import { createPhasedDisk, randomPhases } from '../support/phasedDisk';

const FAULT_SEED = Number(process.env.DISK_DELTA_FAULT_SEED ?? 4242);

void describe('copies and diffs under injected faults', () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let file: string;
  let dir: string;
  let diskId: string;
  let snaps: SnapshotInfo[];

  before(async () => {
    em = await startEmulator();
    await ensureResourceGroup(em, 'faults-test');
    clients = connectToEmulator(em.connection, em.ca);
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-faults-'));
    file = path.join(dir, 'connection.json');
    process.env.XDG_STATE_HOME = path.join(dir, 'state');
    writeFileSync(file, JSON.stringify(em.connection));
    ({ diskId, snapshots: snaps } = await createPhasedDisk(clients, file, em.connection.subscriptionId, { resourceGroup: 'faults-test', name: 'faulty' }));
  });

  after(async () => {
    await em?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  void it('diffs give the same ranges with and without faults', async () => {
    const pairs = [
      [0, 3],
      [1, 2],
    ] as const;
    const diff = async ([from, to]: readonly [number, number]) => {
      const r = await runCli(file, ['--json', 'diff', '--from', snaps[from]!.id, '--to', snaps[to]!.id]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as unknown;
    };
    const clean = [];
    for (const p of pairs) clean.push(await diff(p));
    await em.setFaults(tenPercentFaults(FAULT_SEED));
    try {
      for (const [i, p] of pairs.entries()) assert.deepEqual(await diff(p), clean[i], `diff s${p[0] + 1} -> s${p[1] + 1} under faults`);
    } finally {
      await em.setFaults({});
    }
    await assertNoActiveSas(em, clients, 'diffs under faults');
  });

  void it('copies the family s1..s4 as a chain under 10% faults of every kind: identical snapshots, no grant left', async () => {
    const target = storageAccount(em, 'westus2', 0).resourceId;
    await em.resetStats();
    await em.setFaults(tenPercentFaults(FAULT_SEED + 1));
    let r;
    try {
      r = await runCli(file, [
        '--json',
        'copy',
        '--family',
        diskId,
        '--target-account',
        target,
        '--journal',
        path.join(dir, 'chain.jsonl'),
        '--import',
        'snapshot',
      ]);
    } finally {
      await em.setFaults({});
    }
    assert.equal(r.code, 0, r.stderr);
    const stats = await em.getStats();
    for (const kind of ['busy', 'internal', 'reset', 'stall', 'sasexpiry']) assert.ok((stats.faultsInjected[kind] ?? 0) > 0, `the copy met ${kind} faults`);
    const summaries = lastJsonLine<CopySummaryJson[]>(r.stdout);
    assert.equal(summaries.length, snaps.length);
    assert.ok(summaries.reduce((n, s) => n + s.retries, 0) > 0, 'retries are reported');
    for (const [i, s] of summaries.entries()) {
      assertSummaryShape(s);
      assert.ok(s.importedResourceId);
      const t = await targetSnapshotSource(clients, em.connection.subscriptionId, s.targetBlobSnapshotUrl);
      await withReadGrant(clients, snaps[i]!.id, (source) => assertSameBytes(source, t, `s${i + 1} under faults`));
    }
    await assertNoActiveSas(em, clients, 'a chain copy under faults');
  });

  void it('keeps a target up to date through 3 more chained copies under faults', async () => {
    const result = await chainedCopiesUnderFaults({
      em,
      clients,
      connectionFile: file,
      diskId,
      targetAccountId: storageAccount(em, 'westus2', 0).resourceId,
      journal: path.join(dir, 'chain.jsonl'),
      phases: randomPhases(3, FAULT_SEED),
      namePrefix: 'faulty-more',
      faults: tenPercentFaults(FAULT_SEED + 2),
    });
    assert.equal(result.copies, 3);
    await assertNoActiveSas(em, clients, 'chained copies under faults');
  });
});
