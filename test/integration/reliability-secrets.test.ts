/**
 * No secret leaves the CLI: every stdout and stderr line, every journal and every file the CLI writes
 * during full workflows (copies under faults, failed and cancelled and killed copies, diffs, exports,
 * restores, native copies, bad credentials) is searched for SAS signatures, the storage account keys
 * and the bearer token of the connection file.
 */
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import type { SnapshotInfo } from '../../src/core/model';
import { ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';
import { runCli, type CliResult } from '../support/cli';
import { assertNoActiveSas } from '../support/copyChecks';
import { settled, tenPercentFaults } from '../support/copyScenarios';
import { createPhasedDisk } from '../support/phasedDisk';

/** A SAS signature with its value (what `redact()` leaves is `sig=REDACTED`). */
const SAS_SIGNATURE = /sig=(?!REDACTED)[^&\s"'<>\\]{4,}/i;

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...filesUnder(full));
    else out.push(full);
  }
  return out;
}

void describe('no secret in CLI output, journals or files', () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let dir: string;
  let work: string;
  let file: string;
  let diskId: string;
  let snaps: SnapshotInfo[];
  const outputs: { what: string; text: string }[] = [];

  const cli = async (what: string, args: string[], connection = file, options: Parameters<typeof runCli>[2] = {}): Promise<CliResult> => {
    const r = await runCli(connection, args, options);
    outputs.push({ what: `${what} (stdout)`, text: r.stdout }, { what: `${what} (stderr)`, text: r.stderr });
    return r;
  };

  before(async () => {
    em = await startEmulator();
    await ensureResourceGroup(em, 'secrets');
    clients = connectToEmulator(em.connection, em.ca);
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-secrets-'));
    // Everything the CLI writes goes under `work`: its state directory and the journals passed to it.
    work = path.join(dir, 'work');
    process.env.XDG_STATE_HOME = path.join(work, 'state');
    file = path.join(dir, 'connection.json');
    writeFileSync(file, JSON.stringify(em.connection));
    ({ diskId, snapshots: snaps } = await createPhasedDisk(clients, file, em.connection.subscriptionId, { resourceGroup: 'secrets', name: 'secret' }));
  });

  after(async () => {
    await em?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  void it('never prints or writes a SAS signature, an account key or the bearer token', async () => {
    const west = storageAccount(em, 'westus2', 0).resourceId;
    const west2 = storageAccount(em, 'westus2', 1).resourceId;
    const journal = path.join(work, 'copy.jsonl');
    const ok = (r: CliResult) => assert.equal(r.code, 0, r.stderr);

    ok(await cli('families', ['--json', 'families']));
    ok(await cli('diff json', ['--json', 'diff', '--from', snaps[0]!.id, '--to', snaps[3]!.id]));
    ok(await cli('diff csv', ['diff', '--csv', '--from', snaps[1]!.id, '--to', snaps[2]!.id]));
    ok(await cli('export az', ['export', '--az', 'create', '--disk', diskId, '--name', 'secret-next']));
    ok(await cli('export arm', ['export', '--arm', 'restore', '--snapshot', snaps[0]!.id, '--name', 'secret-restored']));

    // A copy killed mid-way leaves a journal; its resume runs under faults of every kind.
    await em.setFaults({ latency: 30 });
    const killed = await cli(
      'killed copy',
      ['--json', 'copy', '--snapshot', snaps[1]!.id, '--target-account', west, '--journal', journal, '--concurrency', '1'],
      file,
      {
        onSpawn: (kill) => {
          const poll = setInterval(() => {
            void em.getStats().then((s) => {
              if ((s.requests.PutPageFromURL ?? 0) >= 2) {
                clearInterval(poll);
                // (SIGKILL twice is harmless.)
                kill('SIGKILL');
              }
            });
          }, 25);
        },
      },
    );
    assert.equal(killed.code, 128);
    await settled(em);
    outputs.push({ what: 'journal after a kill', text: readFileSync(journal, 'utf8') });
    await em.setFaults(tenPercentFaults(99));
    try {
      ok(
        await cli('resumed copy under faults', ['--json', 'copy', '--family', diskId, '--target-account', west, '--journal', journal, '--import', 'snapshot']),
      );
      // The default journal place, progress lines on stderr (not a terminal), a copy that fails.
      ok(await cli('copy with the default journal', ['copy', '--snapshot', snaps[2]!.id, '--target-account', west2]));
    } finally {
      await em.setFaults({});
    }
    await assertNoActiveSas(em, clients, 'copies under faults');
    await em.setFaults({ sasexpiry: 1 });
    try {
      const failed = await cli('copy failing on expired SAS', ['copy', '--family', diskId, '--target-account', west2]);
      assert.notEqual(failed.code, 0);
    } finally {
      await em.setFaults({});
    }
    await assertNoActiveSas(em, clients, 'a failed copy');
    // Ctrl+C in the middle of a copy.
    await em.setFaults({ latency: 50 });
    await em.resetStats();
    try {
      const cancelled = await cli(
        'cancelled copy',
        ['copy', '--family', diskId, '--target-account', storageAccount(em, 'westus2', 1).resourceId, '--container', 'disk-delta', '--concurrency', '1'],
        file,
        {
          onSpawn: (kill) => {
            // One Ctrl+C: a second one quits at once by design, without giving grants back.
            let sent = false;
            const poll = setInterval(() => {
              void em.getStats().then((s) => {
                if (!sent && (s.requests.PutPageFromURL ?? 0) + (s.requests.ClearPages ?? 0) > 0) {
                  sent = true;
                  clearInterval(poll);
                  kill('SIGINT');
                }
              });
            }, 25);
          },
        },
      );
      assert.equal(cancelled.code, 130, cancelled.stderr);
    } finally {
      await em.setFaults({});
    }
    await assertNoActiveSas(em, clients, 'a cancelled copy');
    ok(await cli('native copy', ['--json', 'copy', '--native', '--snapshot', snaps[0]!.id, '--target-region', 'westus2']));
    ok(await cli('restore', ['--json', 'restore', '--snapshot', snaps[3]!.id, '--name', 'secret-restored']));
    const wrongToken = path.join(dir, 'expired.json');
    writeFileSync(wrongToken, JSON.stringify({ ...em.connection, token: 'expired-bearer-token-1234567890' }));
    const refused = await cli('expired credentials', ['copy', '--family', diskId, '--target-account', west], wrongToken);
    assert.notEqual(refused.code, 0);
    assert.doesNotMatch(refused.stderr, /expired-bearer-token-1234567890/, 'the refused token is not echoed');
    await assertNoActiveSas(em, clients, 'the workflows');

    for (const f of filesUnder(work)) outputs.push({ what: `file ${path.relative(work, f)}`, text: readFileSync(f, 'utf8') });
    assert.ok(
      outputs.some((o) => o.what.startsWith('file state')),
      'the default journal and lock directory were searched too',
    );
    const secrets = [em.connection.token, ...em.connection.storageAccounts.map((a) => a.accountKey)];
    for (const o of outputs) {
      assert.doesNotMatch(o.text, SAS_SIGNATURE, `${o.what} holds a SAS signature`);
      for (const s of secrets) assert.ok(!o.text.includes(s), `${o.what} holds a secret of the connection file`);
      assert.doesNotMatch(o.text, /Bearer\s+(?!REDACTED)\S{8,}/i, `${o.what} holds a bearer token`);
    }
    assert.ok(outputs.length >= 27, 'every run and file was searched');
  });
});
