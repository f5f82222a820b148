/**
 * Many runners, no coordinator: two `protect run` processes with separate state directories over the same
 * disks copy each disk exactly once (the other reports it busy or up to date) and leave no lease held; a
 * runner SIGKILLed mid-copy holds its claim until the lease expires, then the next runner finishes the disk
 * byte-identically; under data-plane faults (and ARM throttling where the emulator has it) a multi-disk run
 * ends with every disk within its RPO.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import type { DiskInfo, SnapshotInfo } from '../../src/core/model';
import type { DiskOutcome, RunSummary } from '../../src/core/protect';
import { blobServiceClient, ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';
import { runCli, type CliResult } from '../support/cli';
import { assertNoActiveSas, assertSameBytes, blobKey, MiB, targetSnapshotSource, withReadGrant } from '../support/copyChecks';
import { writeDisk } from '../support/disks';

/** Disks two runners contend for (about 10 s for 20 here); the faulty run: 50 in CI, fewer on a shared development machine. */
const RUNNER_DISKS = Number(process.env.PROTECT_RUNNER_DISKS ?? 20);
const FAULT_DISKS = Number(process.env.PROTECT_FAULT_DISKS ?? (process.env.CI ? 50 : 8));

function runLines(r: CliResult): { disks: DiskOutcome[]; summary: RunSummary } {
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as DiskOutcome | { summary: RunSummary });
  const last = lines.pop() as { summary: RunSummary } | undefined;
  assert.ok(last && 'summary' in last, `a summary line last: ${r.stdout.slice(-300)} / ${r.stderr.slice(0, 800)}`);
  return { disks: lines as DiskOutcome[], summary: last.summary };
}

void describe('protect run across runners', { timeout: 900_000 }, () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let dir: string;
  let conn: string;
  let sub: string;
  const target = () => storageAccount(em, 'westus2');

  const makeDisks = async (group: string, count: number, bytes: number): Promise<DiskInfo[]> => {
    const out: DiskInfo[] = [];
    await ensureResourceGroup(em, group);
    for (let i = 0; i < count; i++) {
      const d = await clients.compute.createDisk({
        subscriptionId: sub,
        resourceGroup: group,
        name: `${group}-${i}`,
        location: 'eastus',
        createOption: 'Empty',
        diskSizeGB: 1,
      });
      await writeDisk(clients, d.id, [{ offset: (i % 16) * 16 * MiB, length: bytes }]);
      out.push(d);
    }
    return out;
  };
  const policyFor = (group: string, verify = 'changed'): string => {
    const file = path.join(dir, `${group}.policy.yaml`);
    writeFileSync(
      file,
      `policies:\n  - name: ${group}\n    disks: { resourceGroups: [${group}] }\n    target: { storageAccount: ${target().resourceId} }\n    rpo: 1h\n    verify: ${verify}\n`,
    );
    return file;
  };
  const run = (policy: string, state: string, args: string[] = [], onSpawn?: (kill: (s: NodeJS.Signals) => void) => void) =>
    runCli(conn, ['protect', 'run', '--policy', policy, '--json', ...args], {
      env: { XDG_STATE_HOME: path.join(dir, state) },
      ...(onSpawn ? { onSpawn } : {}),
    });
  const snapshotsOf = async (d: DiskInfo): Promise<SnapshotInfo[]> => {
    const out: SnapshotInfo[] = [];
    for await (const s of clients.compute.listSnapshots(sub)) if (s.sourceResourceId?.toLowerCase() === d.id.toLowerCase()) out.push(s);
    return out;
  };
  /** Lease state of every blob in the target container (lock blobs included). */
  const leaseStates = async (): Promise<Map<string, string>> => {
    const out = new Map<string, string>();
    for await (const b of blobServiceClient(em, target()).getContainerClient('disk-delta').listBlobsFlat())
      out.set(b.name, b.properties.leaseState ?? 'available');
    return out;
  };

  before(async () => {
    em = await startEmulator({});
    clients = connectToEmulator(em.connection, em.ca);
    sub = em.connection.subscriptionId;
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-protect-runners-'));
    conn = path.join(dir, 'connection.json');
    writeFileSync(conn, JSON.stringify(em.connection));
  });

  after(async () => {
    await em?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  void it(`two runners over the same ${RUNNER_DISKS} disks: each disk copied exactly once, no lease left held`, async () => {
    const disks = await makeDisks('pair', RUNNER_DISKS, MiB);
    const policy = policyFor('pair');
    await em.resetStats();
    const [a, b] = await Promise.all([run(policy, 'state-a', ['--parallel', '4']), run(policy, 'state-b', ['--parallel', '4'])]);
    const ra = runLines(a);
    const rb = runLines(b);
    assert.equal(ra.summary.disks, RUNNER_DISKS);
    assert.equal(rb.summary.disks, RUNNER_DISKS);
    assert.equal(ra.summary.failed + rb.summary.failed, 0, `${a.stderr}\n${b.stderr}`);
    assert.equal(ra.summary.copied + rb.summary.copied, RUNNER_DISKS, 'every disk copied by exactly one runner');
    const stats = await em.getStats();
    for (const d of disks) {
      const outcomes = [...ra.disks, ...rb.disks].filter((o) => o.disk === d.id);
      assert.equal(outcomes.length, 2);
      assert.deepEqual(
        outcomes.map((o) => o.action).filter((x) => x === 'copied'),
        ['copied'],
        `${d.name}: ${outcomes.map((o) => o.action).join(', ')}`,
      );
      const other = outcomes.find((o) => o.action !== 'copied')!;
      assert.ok(other.action === 'busy' || other.action === 'upToDate', `${d.name}: the other runner says ${other.action}`);
      assert.equal((await snapshotsOf(d)).length, 1, `${d.name}: one snapshot taken`);
      const copied = outcomes.find((o) => o.action === 'copied')!;
      // Copied once: the target blob received the disk's bytes (and the footer) once.
      assert.equal(stats.bytesWrittenByBlob[blobKey(copied.targetBlobSnapshotUrl!)], MiB + 512, `${d.name}: bytes written to its target`);
    }
    const leases = await leaseStates();
    assert.equal([...leases.keys()].filter((n) => n.endsWith('.lock')).length, RUNNER_DISKS, `one lock blob per disk: ${[...leases.keys()].join(', ')}`);
    for (const [name, state] of leases) assert.ok(state === 'available' || state === 'expired', `${name}: lease ${state}`);
    await assertNoActiveSas(em, clients, 'two runners');
  });

  void it('--dry-run changes nothing; --shard i/n runners split the disks between them, each disk in exactly one shard', async () => {
    const disks = await makeDisks('sharded', 6, MiB);
    const policy = policyFor('sharded');
    await em.resetStats();
    const dry = runLines(await run(policy, 'state-dry', ['--dry-run']));
    assert.equal(dry.summary.disks, 6);
    assert.ok(
      dry.disks.every((o) => o.action === 'copied' && o.bytesCopied === 0 && o.snapshot === null),
      'all due, nothing done',
    );
    const stats = await em.getStats();
    assert.equal(stats.requests['arm:CreateSnapshot'] ?? 0, 0);
    assert.equal(
      Object.values(stats.bytesWrittenByAccount).reduce((a, b) => a + b, 0),
      0,
    );
    for (const d of disks) assert.equal((await snapshotsOf(d)).length, 0);

    const shards = await Promise.all([0, 1, 2].map((i) => run(policy, `state-shard-${i}`, ['--shard', `${i}/3`])));
    const seen = new Map<string, number>();
    for (const r of shards) {
      assert.equal(r.code, 0, r.stderr);
      for (const o of runLines(r).disks) {
        assert.equal(o.action, 'copied');
        seen.set(o.disk, (seen.get(o.disk) ?? 0) + 1);
      }
    }
    assert.deepEqual([...seen.keys()].sort(), disks.map((d) => d.id).sort(), 'the shards together cover every disk');
    assert.ok(
      [...seen.values()].every((n) => n === 1),
      'each disk in one shard only',
    );

    // A drill of a copy that was not imported restores straight from the blob snapshot.
    const drill = await runCli(conn, ['protect', 'drill', '--policy', policy, '--disk', disks[0]!.id, '--report-dir', path.join(dir, 'reports'), '--json'], {
      env: { XDG_STATE_HOME: path.join(dir, 'state-drill') },
    });
    assert.equal(drill.code, 0, drill.stderr);
    const result = JSON.parse(drill.stdout) as { match: boolean; restoredDiskId: string; comparedBytes: number };
    assert.equal(result.match, true);
    assert.ok(result.comparedBytes >= MiB);
    assert.equal(await clients.compute.getDisk(result.restoredDiskId), undefined);
    await assertNoActiveSas(em, clients, 'sharded runs and a drill');
  });

  void it('verify: sample:50% reads about half of what the point changed from both sides, not all of it', async () => {
    const [disk] = await makeDisks('sampled', 1, 8 * MiB);
    const policy = policyFor('sampled', 'sample:50%');
    await em.resetStats();
    const r = await run(policy, 'state-sampled');
    assert.equal(r.code, 0, r.stderr);
    const o = runLines(r).disks[0]!;
    assert.equal(o.action, 'copied');
    const m = /sampled verification compared (\d+) bytes in (\d+) pieces: they match/.exec(r.stderr);
    assert.ok(m, r.stderr);
    // 8 MiB and the footer: 9 pieces of at most 1 MiB, half of them (rounded up) compared.
    assert.equal(Number(m[2]), 5);
    const stats = await em.getStats();
    const read = stats.bytesReadByBlob[blobKey(o.targetBlobSnapshotUrl!)] ?? 0;
    assert.equal(read, Number(m[1]), 'the target point was read exactly where sampled');
    assert.ok(read > 3 * MiB && read < 6 * MiB, `about half of 8 MiB read: ${read}`);
    assert.equal((await snapshotsOf(disk!)).length, 1);
    await assertNoActiveSas(em, clients, 'sampled verification');
  });

  void it('a runner SIGKILLed mid-copy keeps the disk busy until its lease expires; the next runner finishes it byte-identically', async () => {
    const [disk] = await makeDisks('killed', 1, 192 * MiB);
    const policy = policyFor('killed');
    // Slow the copy down so it is caught in the middle: 16 MiB/s into the target blob.
    await em.setFaults({ mibps: 16, latency: 5 });
    await em.resetStats();
    const writtenToTarget = async (): Promise<number> => {
      const s = await em.getStats();
      return Object.entries(s.bytesWrittenByBlob)
        .filter(([k]) => k.startsWith(`${target().name}/disk-delta/killed-0-`))
        .reduce((n, [, v]) => n + v, 0);
    };
    let kill: ((s: NodeJS.Signals) => void) | undefined;
    const first = run(policy, 'state-killed', [], (k) => (kill = k));
    for (let i = 0; i < 600 && (await writtenToTarget()) === 0; i++) await new Promise((r) => setTimeout(r, 100));
    const partial = await writtenToTarget();
    assert.ok(partial > 0 && partial < 192 * MiB, `caught mid-copy (${partial} bytes written)`);
    kill!('SIGKILL');
    const killed = await first;
    assert.notEqual(killed.code, 0);
    await em.setFaults({});

    // Elsewhere, at once: the dead runner's lease still holds.
    const busy = runLines(await run(policy, 'state-elsewhere'));
    assert.equal(busy.disks[0]!.action, 'busy');
    assert.equal(busy.disks[0]!.withinRpo, false, 'a busy disk counts by its newest point: none yet');
    const locks = await leaseStates();
    assert.equal([...locks].find(([n]) => n.endsWith('.lock'))![1], 'leased');

    // Past the lease period (by Azure's clock) the claim is free: the disk is finished, the interrupted snapshot reused.
    assert.equal((await em.arm('POST', '/emulator/clock', { advanceMs: 61_000 })).status, 200);
    const done = await run(policy, 'state-elsewhere');
    assert.equal(done.code, 0, done.stderr);
    const outcome = runLines(done).disks[0]!;
    assert.equal(outcome.action, 'copied');
    assert.equal(outcome.withinRpo, true);
    const snaps = await snapshotsOf(disk!);
    assert.equal(snaps.length, 1, 'the interrupted point was reused, not a second one taken');
    assert.equal(outcome.snapshot, snaps[0]!.id);
    await withReadGrant(clients, outcome.snapshot!, async (src) =>
      assertSameBytes(src, await targetSnapshotSource(clients, sub, outcome.targetBlobSnapshotUrl!), 'after the kill'),
    );
    for (const [name, state] of await leaseStates())
      if (name.startsWith('killed-')) assert.ok(state === 'available' || state === 'expired', `${name}: lease ${state}`);
    await assertNoActiveSas(em, clients, 'the resumed run');
  });

  void it(`under 10% data-plane faults and ARM throttling ${FAULT_DISKS} disks end within the RPO`, async () => {
    const disks = await makeDisks('faulty', FAULT_DISKS, 2 * MiB);
    const policy = policyFor('faulty');
    const faults = { busy: 0.05, internal: 0.05, seed: 7 };
    // armthrottle is requests per minute per Microsoft.Compute operation group: 30 makes a 50-disk pass (50 snapshot creates) meet 429s.
    await em.setFaults({ ...faults, armthrottle: 30 });
    try {
      const r = await run(policy, 'state-faults', ['--parallel', '4']);
      const { summary, disks: outcomes } = runLines(r);
      const failures = outcomes.filter((o) => o.action === 'failed' || o.action === 'busy' || !o.withinRpo);
      assert.equal(r.code, 0, `${r.stderr.slice(0, 2000)}\n${JSON.stringify(failures, null, 1).slice(0, 4000)}`);
      assert.deepEqual(summary, { disks: FAULT_DISKS, copied: FAULT_DISKS, upToDate: 0, busy: 0, failed: 0, withinRpo: FAULT_DISKS });
      const stats = await em.getStats();
      assert.ok((stats.faultsInjected.busy ?? 0) + (stats.faultsInjected.internal ?? 0) > 0, 'faults were injected');
      if (FAULT_DISKS >= 20) assert.ok((stats.faultsInjected.armthrottle ?? 0) > 0, 'ARM answered 429');
      await em.setFaults({});
      for (const o of outcomes.slice(0, 1)) {
        await withReadGrant(clients, o.snapshot!, async (src) =>
          assertSameBytes(src, await targetSnapshotSource(clients, sub, o.targetBlobSnapshotUrl!), o.disk),
        );
      }
      assert.equal(disks.length, FAULT_DISKS);
    } finally {
      await em.setFaults({});
    }
  });
});
