/**
 * The long runs behind issue 9's guarantees (`npm run test:soak`; `npm test` runs sized-down versions in
 * test/integration/copy-*.test.ts): chained copies under 10% faults of every kind ending byte-identical
 * with no grant left, and seeded SIGKILL crash runs that always resume to an identical target.
 *   DISK_DELTA_SOAK_COPIES   chained copies (default 20)
 *   DISK_DELTA_SOAK_CRASHES  crash runs (default 20)
 *   DISK_DELTA_SOAK_SEED     seed of writes, faults and kill points (default 9)
 */
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import type { SnapshotInfo } from '../../src/core/model';
import { blobServiceClient, ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';
import { parseJson, runCli } from '../support/cli';
import { allocatedRanges, assertNoActiveSas, minimumPutRequests, sumLength } from '../support/copyChecks';
import { chainedCopiesUnderFaults, copyWithKills, tenPercentFaults } from '../support/copyScenarios';
import { createPhasedDisk, randomPhases } from '../support/phasedDisk';
import { createBulkDisk } from '../support/bulkDisk';

const COPIES = Number(process.env.DISK_DELTA_SOAK_COPIES ?? 20);
const CRASHES = Number(process.env.DISK_DELTA_SOAK_CRASHES ?? 20);
const SEED = Number(process.env.DISK_DELTA_SOAK_SEED ?? 9);

void describe('soak', () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let dir: string;
  let file: string;

  before(async () => {
    em = await startEmulator();
    await ensureResourceGroup(em, 'soak');
    clients = connectToEmulator(em.connection, em.ca);
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-soak-'));
    process.env.XDG_STATE_HOME = path.join(dir, 'state');
    file = path.join(dir, 'connection.json');
    writeFileSync(file, JSON.stringify(em.connection));
  });

  after(async () => {
    await em?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  void it(`${COPIES} chained copies under faults end byte-identical with zero leaked grants`, async () => {
    const { diskId } = await createPhasedDisk(clients, file, em.connection.subscriptionId, { resourceGroup: 'soak', name: 'soak-chain', phases: [] });
    const result = await chainedCopiesUnderFaults({
      em,
      clients,
      connectionFile: file,
      diskId,
      targetAccountId: storageAccount(em, 'westus2', 0).resourceId,
      journal: path.join(dir, 'chain.jsonl'),
      phases: randomPhases(COPIES, SEED),
      namePrefix: 'soak-chain',
      faults: tenPercentFaults(SEED),
    });
    assert.equal(result.copies, COPIES);
    assert.ok(result.retries > 0, 'the faults were met and retried');
    assert.equal((await em.getStats()).activeSasGrants, 0);
    await assertNoActiveSas(em, clients, 'the chained soak');
  });

  void it(`${CRASHES} seeded SIGKILL crash runs resume to identical targets`, async () => {
    const diskId = await createBulkDisk(em, clients, { resourceGroup: 'soak', name: 'soak-bulk', ranges: 200, rangeBytes: 512 * 1024, seed: SEED });
    const r = await runCli(file, ['--json', 'snapshot', 'create', '--disk', diskId, '--name', 'soak-bulk-1']);
    assert.equal(r.code, 0, r.stderr);
    const snap = parseJson<SnapshotInfo>(r);
    const ranges = await allocatedRanges(clients, snap.id);
    const account = storageAccount(em, 'westus2', 1);
    await em.setFaults({ latency: 50 });
    try {
      for (let i = 0; i < CRASHES; i++) {
        // A fresh target each run: a container of its own.
        const container = `crash-${i}`;
        await blobServiceClient(em, account).getContainerClient(container).create();
        const result = await copyWithKills({
          em,
          clients,
          connectionFile: file,
          snapshot: snap,
          targetAccountId: account.resourceId,
          container,
          journal: path.join(dir, `crash-${i}.jsonl`),
          kills: 1 + (i % 3),
          seed: SEED * 1000 + i,
          concurrency: 4,
          chunkBytes: 512 * 1024,
          expectedBytes: sumLength(ranges),
          ranges,
          expectedRequests: minimumPutRequests(ranges),
        });
        assert.ok(result.kills >= 1, `run ${i + 1} was killed at least once`);
      }
    } finally {
      await em.setFaults({});
    }
    await assertNoActiveSas(em, clients, 'the crash soak');
  });
});
