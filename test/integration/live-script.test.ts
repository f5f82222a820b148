/**
 * `npm run test:live` itself (scripts/test-live.mjs + test/live/live.ts): without AZURE_SUBSCRIPTION_ID it
 * says what to set and exits 0; with `--emulator` it runs its whole flow against the emulator and leaves
 * nothing behind - which proves the script that runs against Azure.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { computeClient, startEmulator, type RunningEmulator } from '../support/emulator';

const root = path.resolve(__dirname, '../..');

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'scripts', 'test-live.mjs'), ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

void describe('npm run test:live', { timeout: 600_000 }, () => {
  let em: RunningEmulator;
  let dir: string;
  let file: string;
  const env = { ...process.env };
  delete env['AZURE_SUBSCRIPTION_ID'];

  before(async () => {
    em = await startEmulator();
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-live-'));
    file = path.join(dir, 'connection.json');
    writeFileSync(file, JSON.stringify(em.connection));
    env['XDG_STATE_HOME'] = path.join(dir, 'state');
  });
  after(async () => {
    await em?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  void it('without AZURE_SUBSCRIPTION_ID prints one line saying what to set and exits 0', async () => {
    const r = await run([], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    assert.match(r.stdout, /AZURE_SUBSCRIPTION_ID/);
    assert.equal(r.stderr, '');
  });

  void it('--emulator runs create, diff, copy with import, CopyStart, restore and revoke, and deletes what it created', async () => {
    const r = await run(['--emulator', file], env);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const rg = /Resource group: (disk-delta-live-\d{14}-[0-9a-f]{6}) /.exec(r.stdout)?.[1];
    assert.ok(rg, r.stdout);
    for (const step of [
      'live-s1 holds exactly the uploaded pages',
      'diff live-s1..live-s2',
      'The imported copy is byte-identical',
      'The CopyStart copy is byte-identical',
      'The restored disk holds exactly',
      'No grant is left open',
      'PASS',
    ]) {
      assert.ok(r.stdout.includes(step), `missing: ${step}`);
    }
    assert.match(r.stdout, /cost: about \$\d+\.\d+/);
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(em.connection.token));
    const compute = computeClient(em);
    const left = [];
    for await (const d of compute.disks.listByResourceGroup(rg)) left.push(d.name);
    for await (const s of compute.snapshots.listByResourceGroup(rg)) left.push(s.name);
    assert.deepEqual(left, []);
    assert.equal((await em.getStats()).activeSasGrants, 0);
  });
});
