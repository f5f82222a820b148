/**
 * Crash safety of `disk-delta copy`: the process is SIGKILLed three times at seeded points of one copy
 * and resumed with the same journal; the target ends identical to the source, no operation the journal
 * showed done is copied again, and the emulator saw no more than the changed bytes plus what was in
 * flight at each kill. A damaged journal is refused with a clear error and nothing written; a torn
 * last line (a write cut short) is reported and only that operation redone.
 */
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import type { SnapshotInfo } from '../../src/core/model';
import { ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';
import { parseJson, runCli } from '../support/cli';
import { allocatedRanges, assertNoActiveSas, minimumPutRequests, MiB, sumLength } from '../support/copyChecks';
import { copyWithKills, corruptJournalLine } from '../support/copyScenarios';
import { createBulkDisk } from '../support/bulkDisk';

const CRASH_SEED = Number(process.env.DISK_DELTA_CRASH_SEED ?? 20261122);

void describe('copy killed with SIGKILL and resumed', () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let file: string;
  let dir: string;
  let snap: SnapshotInfo;

  before(async () => {
    em = await startEmulator();
    await ensureResourceGroup(em, 'crash-test');
    clients = connectToEmulator(em.connection, em.ca);
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-crash-'));
    file = path.join(dir, 'connection.json');
    process.env.XDG_STATE_HOME = path.join(dir, 'state');
    writeFileSync(file, JSON.stringify(em.connection));
    const diskId = await createBulkDisk(em, clients, { resourceGroup: 'crash-test', name: 'bulk', ranges: 300, rangeBytes: 512 * 1024, seed: 3 });
    const r = await runCli(file, ['--json', 'snapshot', 'create', '--disk', diskId, '--name', 'bulk-c1']);
    assert.equal(r.code, 0, r.stderr);
    snap = parseJson<SnapshotInfo>(r);
  });

  after(async () => {
    await em?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  void it('resumes three kills to an identical target, never copying a journalled chunk twice, and refuses a damaged journal', async () => {
    const ranges = await allocatedRanges(clients, snap.id);
    const expectedBytes = sumLength(ranges);
    assert.ok(expectedBytes >= 150 * MiB);
    const journal = path.join(dir, 'bulk.jsonl');
    const target = storageAccount(em, 'westus2', 0).resourceId;
    await em.setFaults({ latency: 50 });
    const stderrAfter: Record<number, string> = {};
    try {
      const result = await copyWithKills({
        em,
        clients,
        connectionFile: file,
        snapshot: snap,
        targetAccountId: target,
        journal,
        kills: 3,
        seed: CRASH_SEED,
        concurrency: 4,
        chunkBytes: 512 * 1024,
        expectedBytes,
        ranges,
        expectedRequests: minimumPutRequests(ranges),
        onRun: (killsBefore, stderr) => (stderrAfter[killsBefore] = stderr),
        betweenKills: async (kill) => {
          if (kill === 1) {
            // A journal whose line does not match its checksum: refused, nothing written, no grant taken.
            const before = await em.getStats();
            const damaged = path.join(dir, 'damaged.jsonl');
            corruptJournalLine(journal, damaged, 3);
            const r = await runCli(file, ['copy', '--snapshot', snap.id, '--target-account', target, '--journal', damaged]);
            assert.notEqual(r.code, 0);
            const lines = r.stderr
              .trim()
              .split('\n')
              .filter((l) => l.startsWith('disk-delta: error'));
            assert.equal(lines.length, 1, r.stderr);
            assert.match(lines[0]!, /^disk-delta: error JournalCorrupt: The copy journal .* is damaged at line 3/);
            const after = await em.getStats();
            assert.deepEqual(after.bytesWrittenByBlob, before.bytesWrittenByBlob, 'nothing written on a damaged journal');
            assert.equal(after.activeSasGrants, before.activeSasGrants, 'no grant taken on a damaged journal');
            // Not a journal at all.
            writeFileSync(damaged, 'this is not a journal\n{"r":1}\n');
            const g = await runCli(file, ['copy', '--snapshot', snap.id, '--target-account', target, '--journal', damaged]);
            assert.notEqual(g.code, 0);
            assert.match(g.stderr, /error JournalCorrupt/);
          }
          if (kill === 2) {
            // A write cut short by the kill: the last line is torn in half.
            const text = readFileSync(journal, 'utf8');
            const lastLine = text.slice(text.lastIndexOf('\n', text.length - 2) + 1);
            truncateSync(journal, text.length - Math.ceil(lastLine.length / 2));
          }
        },
      });
      assert.equal(result.kills, 3, 'three kills landed mid-copy');
      assert.match(stderrAfter[2] ?? '', /JournalTornLine/, 'the torn line was reported');
    } finally {
      await em.setFaults({});
    }
    // Killed runs leave their grants open until the resumed run replaces and revokes them.
    await assertNoActiveSas(em, clients, 'three kills and a resume');
  });
});
