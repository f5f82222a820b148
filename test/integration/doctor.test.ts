/**
 * `disk-delta doctor` against the emulator, through the built CLI: every check passes (the emulator
 * answers the provider and permission reads Azure would), `--json` is the documented array, a wrong
 * target account fails with exit 1, and ARM throttling only slows it down.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseJson, runCli } from '../support/cli';
import { startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';

interface Check {
  check: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix: string;
}

void describe('disk-delta doctor', { timeout: 300_000 }, () => {
  let em: RunningEmulator;
  let dir: string;
  let file: string;

  before(async () => {
    em = await startEmulator({ seed: 'demo' });
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-doctor-'));
    file = path.join(dir, 'connection.json');
    writeFileSync(file, JSON.stringify(em.connection));
  });
  after(async () => {
    await em?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  void it('passes against the emulator, with the target account checked, and prints JSON', async () => {
    const target = storageAccount(em, 'westus2').resourceId;
    const r = await runCli(file, ['doctor', '--target-account', target, '--json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const checks = parseJson<Check[]>(r);
    for (const c of checks) {
      assert.deepEqual(Object.keys(c), ['check', 'status', 'detail', 'fix']);
      assert.equal(c.status, 'ok', `${c.check}: ${c.detail}`);
    }
    const names = checks.map((c) => c.check);
    for (const expected of [
      'sign-in',
      'subscription',
      'provider Microsoft.Compute',
      'provider Microsoft.Storage',
      'target account',
      'target account permissions',
    ])
      assert.ok(names.includes(expected), expected);
    assert.ok(names.some((n) => /^resource group demo-eastus$/.test(n)));
    assert.ok(names.some((n) => n.startsWith('container ')));
    assert.ok(names.some((n) => n.startsWith('blob endpoint ')));
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(em.connection.token));
  });

  void it('prints one line per check for people and exits 0 without a target', async () => {
    const r = await runCli(file, ['doctor']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^\[ok {2}\] sign-in: /m);
    assert.match(r.stdout, /^\[ok {2}\] blob endpoint /m);
    assert.match(r.stdout, /All checks passed\./);
  });

  void it('fails (exit 1) with the fix when the target account does not exist', async () => {
    const missing = `/subscriptions/${em.connection.subscriptionId}/resourceGroups/nowhere/providers/Microsoft.Storage/storageAccounts/nosuchaccount`;
    const r = await runCli(file, ['doctor', '--target-account', missing, '--json']);
    assert.equal(r.code, 1, r.stderr);
    const target = parseJson<Check[]>(r).find((c) => c.check === 'target account');
    assert.equal(target?.status, 'fail');
    assert.match(target?.detail ?? '', /nosuchaccount was not found/);
    assert.notEqual(target?.fix, '');
  });

  void it('completes under ARM throttling', async () => {
    await em.resetStats();
    // Five disk and snapshot listings against four a minute: one waits out its Retry-After.
    await em.setFaults({ armthrottle: 4 });
    try {
      const r = await runCli(file, ['doctor', '--json']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.ok(parseJson<Check[]>(r).every((c) => c.status === 'ok'));
      assert.ok(((await em.getStats()).faultsInjected['armthrottle'] ?? 0) >= 1);
    } finally {
      await em.setFaults({});
    }
  });
});
