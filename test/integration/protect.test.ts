/**
 * `disk-delta protect` against the emulator and its movable clock: a first run copies every selected disk;
 * past the RPO the next run takes a new point of every disk and moves exactly the changed bytes (none for
 * disks nobody wrote to); retention prunes exactly what the policy says on both sides and never the next
 * diff's base; status agrees; a drill matches and leaves nothing behind; invalid policies change nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import type { DiskInfo, SnapshotInfo } from '../../src/core/model';
import type { DiskOutcome, DrillResult, RunSummary, StatusLine } from '../../src/core/protect';
import { blobServiceClient, ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';
import { runCli, type CliResult } from '../support/cli';
import { assertNoActiveSas, assertSameBytes, blobKey, MiB, targetSnapshotSource, withReadGrant } from '../support/copyChecks';
import { writeDisk } from '../support/disks';

const HOUR = 3600_000;

function jsonLines<T>(r: CliResult): T[] {
  return r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);
}

function runLines(r: CliResult): { disks: DiskOutcome[]; summary: RunSummary } {
  const lines = jsonLines<DiskOutcome | { summary: RunSummary }>(r);
  const last = lines.pop() as { summary: RunSummary } | undefined;
  assert.ok(last && 'summary' in last, `a summary line last: ${r.stdout.slice(-300)} / ${r.stderr.slice(0, 500)}`);
  return { disks: lines as DiskOutcome[], summary: last.summary };
}

void describe('protect run, status and drill', { timeout: 600_000 }, () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let dir: string;
  let conn: string;
  let policyFile: string;
  let sub: string;
  const disks: DiskInfo[] = [];
  let untagged: DiskInfo;
  const env = () => ({ XDG_STATE_HOME: path.join(dir, 'state') });
  const cli = (...args: string[]) => runCli(conn, args, { env: env() });
  const byName = (outcomes: DiskOutcome[]) => new Map(outcomes.map((o) => [o.disk.split('/').pop()!, o]));
  const familySnapshots = async (d: DiskInfo): Promise<SnapshotInfo[]> => {
    const out: SnapshotInfo[] = [];
    for await (const s of clients.compute.listSnapshots(sub)) if (s.sourceResourceId?.toLowerCase() === d.id.toLowerCase() && s.incremental) out.push(s);
    return out.sort((a, b) => Date.parse(a.timeCreated) - Date.parse(b.timeCreated));
  };
  const imports = async (): Promise<SnapshotInfo[]> => {
    const out: SnapshotInfo[] = [];
    for await (const s of clients.compute.listSnapshots(sub)) if (s.resourceGroup.toLowerCase() === 'dr') out.push(s);
    return out;
  };
  const points = async (blobUrl: string): Promise<string[]> => {
    const key = blobKey(blobUrl).split('/');
    const account = em.connection.storageAccounts.find((a) => a.name === key[0])!;
    const out: string[] = [];
    for await (const b of blobServiceClient(em, account)
      .getContainerClient(key[1]!)
      .listBlobsFlat({ includeSnapshots: true, prefix: key.slice(2).join('/') })) {
      if (b.snapshot && b.name === key.slice(2).join('/')) out.push(b.snapshot);
    }
    return out.sort();
  };
  const advance = async (ms: number) => assert.equal((await em.arm('POST', '/emulator/clock', { advanceMs: ms })).status, 200);

  before(async () => {
    em = await startEmulator({ seed: 'demo' });
    await ensureResourceGroup(em, ['prod', 'dr']);
    clients = connectToEmulator(em.connection, em.ca);
    sub = em.connection.subscriptionId;
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-protect-'));
    conn = path.join(dir, 'connection.json');
    writeFileSync(conn, JSON.stringify(em.connection));
    for (let i = 0; i < 4; i++) {
      const d = await clients.compute.createDisk({
        subscriptionId: sub,
        resourceGroup: 'prod',
        name: `app-${i}`,
        location: 'eastus',
        createOption: 'Empty',
        diskSizeGB: 1,
        tags: { dr: 'gold' },
      });
      await writeDisk(clients, d.id, [{ offset: i * 8 * MiB, length: (i + 1) * MiB }]);
      disks.push(d);
    }
    untagged = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: 'prod',
      name: 'scratch',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 1,
    });
    await writeDisk(clients, untagged.id, [{ offset: 0, length: MiB }]);
    policyFile = path.join(dir, 'disk-delta.policy.yaml');
    writeFileSync(
      policyFile,
      [
        'policies:',
        '  - name: prod-dr',
        '    disks:',
        '      resourceGroups: [prod]',
        '      tags: { dr: gold }',
        '    target:',
        `      storageAccount: ${storageAccount(em, 'westus2').resourceId}`,
        '      import: snapshot',
        '      resourceGroup: dr',
        '    rpo: 1h',
        '    retention:',
        '      source: { keep: 2 }',
        '      target: { keep: 2 }',
        '    verify: changed',
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    await em?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let firstRun: Map<string, DiskOutcome>;

  void it('a first run copies every selected disk, and only those', async () => {
    const r = await cli('protect', 'run', '--policy', policyFile, '--json');
    assert.equal(r.code, 0, r.stderr);
    const { disks: outcomes, summary } = runLines(r);
    assert.deepEqual(summary, { disks: 4, copied: 4, upToDate: 0, busy: 0, failed: 0, withinRpo: 4 });
    firstRun = byName(outcomes);
    for (const [i, d] of disks.entries()) {
      const o = firstRun.get(d.name)!;
      assert.deepEqual(Object.keys(o).sort(), [
        'action',
        'ageSeconds',
        'bytesCopied',
        'disk',
        'error',
        'importedResourceId',
        'policy',
        'pruned',
        'rpoSeconds',
        'snapshot',
        'targetBlobSnapshotUrl',
        'withinRpo',
      ]);
      assert.equal(o.action, 'copied');
      assert.equal(o.disk, d.id);
      assert.equal(o.policy, 'prod-dr');
      // A base copy moves the written bytes and the 512-byte VHD footer.
      assert.equal(o.bytesCopied, (i + 1) * MiB + 512, `${d.name} bytes`);
      assert.equal(o.rpoSeconds, 3600);
      assert.equal(o.withinRpo, true);
      assert.ok(o.ageSeconds !== null && o.ageSeconds < 120);
      assert.match(o.targetBlobSnapshotUrl!, /^https:\/\/[^?]+\?snapshot=[^&]+$/);
      assert.doesNotMatch(r.stdout, /sig=/);
      assert.match(o.importedResourceId!, /\/resourceGroups\/dr\/providers\/Microsoft\.Compute\/snapshots\//);
      assert.equal((await familySnapshots(d)).length, 1);
      assert.equal(o.snapshot, (await familySnapshots(d))[0]!.id);
      await withReadGrant(clients, o.snapshot!, async (src) =>
        assertSameBytes(src, await targetSnapshotSource(clients, sub, o.targetBlobSnapshotUrl!), d.name),
      );
    }
    assert.equal((await familySnapshots(untagged)).length, 0, 'a disk the policy does not select is left alone');
    await assertNoActiveSas(em, clients, 'protect run');
  });

  void it('a run within the RPO changes nothing', async () => {
    await em.resetStats();
    const r = await cli('protect', 'run', '--policy', policyFile, '--json');
    assert.equal(r.code, 0, r.stderr);
    const { disks: outcomes, summary } = runLines(r);
    assert.deepEqual(summary, { disks: 4, copied: 0, upToDate: 4, busy: 0, failed: 0, withinRpo: 4 });
    for (const o of outcomes) {
      assert.equal(o.bytesCopied, 0);
      assert.equal(o.snapshot, firstRun.get(o.disk.split('/').pop()!)!.snapshot);
    }
    const stats = await em.getStats();
    assert.equal(
      Object.values(stats.bytesWrittenByAccount).reduce((a, b) => a + b, 0),
      0,
      'no byte written',
    );
    assert.equal(stats.requests['arm:CreateSnapshot'] ?? 0, 0, 'no snapshot taken');
  });

  const changes: number[][] = [
    [1 * MiB, 3 * MiB],
    [0, 0],
  ];

  void it('past the RPO every disk gets a new point; exactly the changed bytes move (none for untouched disks)', async () => {
    await advance(HOUR + 60_000);
    // app-0: 1 MiB rewritten; app-1: 3 MiB; app-2 and app-3: nothing.
    await writeDisk(clients, disks[0]!.id, [{ offset: 100 * MiB, length: changes[0]![0]! }]);
    await writeDisk(clients, disks[1]!.id, [{ offset: 200 * MiB, length: changes[0]![1]! }]);
    await em.resetStats();
    const r = await cli('protect', 'run', '--policy', policyFile, '--json');
    assert.equal(r.code, 0, r.stderr);
    const { disks: outcomes, summary } = runLines(r);
    assert.deepEqual(summary, { disks: 4, copied: 4, upToDate: 0, busy: 0, failed: 0, withinRpo: 4 });
    const stats = await em.getStats();
    const expected = [changes[0]![0]!, changes[0]![1]!, 0, 0];
    for (const [i, d] of disks.entries()) {
      const o = byName(outcomes).get(d.name)!;
      assert.equal(o.action, 'copied');
      assert.notEqual(o.snapshot, firstRun.get(d.name)!.snapshot, `${d.name}: a new point`);
      assert.equal(o.bytesCopied, expected[i], `${d.name}: bytes reported`);
      const key = blobKey(o.targetBlobSnapshotUrl!);
      assert.equal(stats.bytesWrittenByBlob[key] ?? 0, expected[i], `${d.name}: bytes the emulator saw written`);
      assert.equal((await familySnapshots(d)).length, 2);
      assert.deepEqual(o.pruned, { source: [], target: [] }, 'two points: nothing to prune yet');
    }
  });

  let thirdRun: Map<string, DiskOutcome>;

  void it("retention prunes exactly the oldest point on both sides, never the next diff's base", async () => {
    await advance(HOUR + 60_000);
    const before = new Map<string, SnapshotInfo[]>();
    for (const d of disks) before.set(d.name, await familySnapshots(d));
    const importsBefore = await imports();
    const pointsBefore = new Map<string, string[]>();
    for (const d of disks) pointsBefore.set(d.name, await points(firstRun.get(d.name)!.targetBlobSnapshotUrl!));
    await writeDisk(clients, disks[2]!.id, [{ offset: 300 * MiB, length: 2 * MiB }]);
    const r = await cli('protect', 'run', '--policy', policyFile, '--json');
    assert.equal(r.code, 0, r.stderr);
    thirdRun = byName(runLines(r).disks);
    for (const d of disks) {
      const o = thirdRun.get(d.name)!;
      const oldest = before.get(d.name)![0]!;
      assert.deepEqual(o.pruned.source, [oldest.id], `${d.name}: the oldest source snapshot goes`);
      const remaining = await familySnapshots(d);
      assert.deepEqual(
        remaining.map((s) => s.id),
        [before.get(d.name)![1]!.id, o.snapshot],
        `${d.name}: keep 2 = the last copied base and the new point`,
      );
      const oldImport = importsBefore.find((s) => s.tags?.diskdelta_source?.toLowerCase() === oldest.id.toLowerCase())!;
      const oldPoint = pointsBefore.get(d.name)![0]!;
      assert.deepEqual(
        [...o.pruned.target].sort(),
        [oldImport.id, `${firstRun.get(d.name)!.targetBlobSnapshotUrl!.split('?')[0]}?snapshot=${encodeURIComponent(oldPoint)}`].sort(),
        `${d.name}: the oldest target point and its import go`,
      );
      const now = await points(o.targetBlobSnapshotUrl!);
      assert.equal(now.length, 2);
      assert.ok(!now.includes(oldPoint));
    }
    assert.equal((await imports()).length, 8, 'two imports per disk');
    // The next diff's base survived: a write now moves exactly its bytes.
    await advance(HOUR + 60_000);
    await writeDisk(clients, disks[3]!.id, [{ offset: 400 * MiB, length: MiB }]);
    const r2 = await cli('protect', 'run', '--policy', policyFile, '--json');
    assert.equal(r2.code, 0, r2.stderr);
    const fourth = byName(runLines(r2).disks);
    assert.deepEqual(
      disks.map((d) => fourth.get(d.name)!.bytesCopied),
      [0, 0, 0, MiB],
    );
    thirdRun = fourth;
  });

  void it('status agrees with what the runs did, and changes nothing', async () => {
    await em.resetStats();
    const r = await cli('protect', 'status', '--policy', policyFile, '--json');
    assert.equal(r.code, 0, r.stderr);
    const lines = jsonLines<StatusLine>(r);
    assert.equal(lines.length, 4);
    for (const l of lines) {
      const name = l.disk.split('/').pop()!;
      assert.deepEqual(Object.keys(l).sort(), [
        'ageSeconds',
        'disk',
        'monthlyCost',
        'newestPoint',
        'policy',
        'rpoSeconds',
        'sourcePoints',
        'sourceUsedBytes',
        'targetBytes',
        'targetPoints',
        'withinRpo',
      ]);
      assert.equal(l.newestPoint!.snapshot, thirdRun.get(name)!.snapshot);
      assert.equal(l.withinRpo, true);
      assert.equal(l.rpoSeconds, 3600);
      assert.equal(l.sourcePoints, 2);
      assert.equal(l.targetPoints, 2);
      assert.ok(l.targetBytes > 0 && l.sourceUsedBytes > 0);
      assert.equal(l.monthlyCost.currency, 'USD');
    }
    const stats = await em.getStats();
    assert.equal(
      Object.values(stats.bytesWrittenByAccount).reduce((a, b) => a + b, 0),
      0,
    );
    assert.equal(stats.activeSasGrants, 0);
  });

  void it('a drill restores the newest point, matches, and leaves nothing behind', async () => {
    const reportDir = path.join(dir, 'reports');
    const disksBefore: string[] = [];
    for await (const d of clients.compute.listDisks(sub)) disksBefore.push(d.id);
    for (const full of [false, true]) {
      const r = await cli('protect', 'drill', '--policy', policyFile, '--disk', disks[1]!.id, '--report-dir', reportDir, '--json', ...(full ? ['--full'] : []));
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout) as DrillResult;
      assert.deepEqual(Object.keys(result).sort(), ['comparedBytes', 'disk', 'full', 'match', 'report', 'restoredDiskId', 'seconds', 'snapshot']);
      assert.equal(result.match, true);
      assert.equal(result.full, full);
      assert.equal(result.disk, disks[1]!.id);
      assert.equal(result.snapshot, thirdRun.get('app-1')!.snapshot);
      // Sampled or full, every written byte of this small disk is compared (5 MiB written in all).
      assert.ok(result.comparedBytes >= 5 * MiB, `compared ${result.comparedBytes}`);
      assert.ok(existsSync(result.report.json) && existsSync(result.report.markdown));
      const evidence = JSON.parse(readFileSync(result.report.json, 'utf8')) as { match: boolean; drillDiskDeleted: boolean };
      assert.equal(evidence.match, true);
      assert.equal(evidence.drillDiskDeleted, true);
      assert.match(readFileSync(result.report.markdown, 'utf8'), /\*\*Result: MATCH\*\*/);
      assert.equal(await clients.compute.getDisk(result.restoredDiskId), undefined, 'the drill disk is gone');
    }
    const disksAfter: string[] = [];
    for await (const d of clients.compute.listDisks(sub)) disksAfter.push(d.id);
    assert.deepEqual(disksAfter.sort(), disksBefore.sort());
    assert.equal(readdirSync(reportDir).length, 4);
    await assertNoActiveSas(em, clients, 'drill');
  });

  void it('invalid policies: a precise message each, exit 2, nothing changed or contacted', async () => {
    const fixtures = path.resolve(__dirname, '../fixtures/policies');
    const names = readdirSync(fixtures).filter((f) => f !== 'valid.yaml');
    assert.ok(names.length >= 15);
    await em.resetStats();
    for (const name of names) {
      const r = await runCli(conn, ['protect', 'run', '--policy', path.join(fixtures, name), '--json'], { env: env() });
      assert.equal(r.code, 2, `${name}: exit 2`);
      assert.equal(r.stdout, '', `${name}: nothing on stdout`);
      const lines = r.stderr.trim().split('\n');
      for (const l of lines)
        assert.match(l, new RegExp(`^${path.join(fixtures, name).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+: \\S+: .+$`), `${name}: ${l}`);
    }
    const stats = await em.getStats();
    assert.equal(
      Object.values(stats.requests).reduce((a, b) => a + b, 0),
      0,
      'the emulator was not even asked',
    );
  });

  void it('a missing import resource group fails that disk only, with what to do; the copy stays and the next run imports it', async () => {
    // Azure refuses a snapshot PUT into a missing group with 404 ResourceGroupNotFound
    // (docs/azure-behaviour.md#resource-groups: pulumi/pulumi#3891).
    await ensureResourceGroup(em, 'orphans');
    const made: DiskInfo[] = [];
    for (const name of ['orphan-a', 'orphan-b']) {
      const d = await clients.compute.createDisk({
        subscriptionId: sub,
        resourceGroup: 'orphans',
        name,
        location: 'eastus',
        createOption: 'Empty',
        diskSizeGB: 1,
      });
      await writeDisk(clients, d.id, [{ offset: 0, length: 2 * MiB }]);
      made.push(d);
    }
    const account = storageAccount(em, 'westus2');
    const file = path.join(dir, 'orphans.policy.yaml');
    const policy = (name: string, disk: string, group: string) =>
      [
        `  - name: ${name}`,
        '    disks:',
        `      ids: [${disk}]`,
        '    target:',
        `      storageAccount: ${account.resourceId}`,
        '      import: snapshot',
        `      resourceGroup: ${group}`,
        '    rpo: 1h',
        '    verify: changed',
      ].join('\n');
    writeFileSync(file, ['policies:', policy('missing-group', made[0]!.id, 'dr-missing'), policy('existing-group', made[1]!.id, 'dr'), ''].join('\n'));

    const first = await cli('protect', 'run', '--policy', file, '--json');
    assert.notEqual(first.code, 0, first.stderr);
    const outcomes = byName(runLines(first).disks);
    const failed = outcomes.get('orphan-a')!;
    assert.equal(failed.action, 'failed');
    assert.equal(failed.withinRpo, false);
    assert.equal(failed.importedResourceId, null);
    assert.match(failed.error ?? '', /^ResourceGroupNotFound: The resource group dr-missing for the imported snapshots does not exist/);
    assert.match(failed.error ?? '', /next run imports it/);
    assert.match(failed.error ?? '', /az group create --name dr-missing --location westus2/);
    const other = outcomes.get('orphan-b')!;
    assert.equal(other.action, 'copied', other.error ?? '');
    assert.match(other.importedResourceId ?? '', /\/resourceGroups\/dr\//);
    // The copied point stays: one blob snapshot of the failed disk's target blob, nothing imported anywhere.
    const pointsOfA = async (): Promise<string[]> => {
      const out: string[] = [];
      for await (const b of blobServiceClient(em, account).getContainerClient('disk-delta').listBlobsFlat({ includeSnapshots: true, prefix: 'orphan-a-' }))
        if (b.snapshot && b.name.endsWith('.vhd')) out.push(b.snapshot);
      return out;
    };
    const kept = await pointsOfA();
    assert.equal(kept.length, 1);
    const taken = await familySnapshots(made[0]!);
    assert.equal(taken.length, 1);
    const importedBefore: SnapshotInfo[] = [];
    for await (const x of clients.compute.listSnapshots(sub)) if (x.resourceGroup.toLowerCase() === 'dr-missing') importedBefore.push(x);
    assert.deepEqual(importedBefore, []);

    // With the group in place the next run imports that point and copies nothing again.
    await ensureResourceGroup(em, 'dr-missing', 'westus2');
    await em.resetStats();
    const second = await cli('protect', 'run', '--policy', file, '--json');
    assert.equal(second.code, 0, second.stderr);
    const again = byName(runLines(second).disks);
    const imported = again.get('orphan-a')!;
    assert.equal(imported.action, 'copied', imported.error ?? '');
    // The same point: no new snapshot of the disk, no new blob snapshot.
    assert.equal(imported.snapshot, taken[0]!.id);
    assert.deepEqual(
      (await familySnapshots(made[0]!)).map((x) => x.id),
      [taken[0]!.id],
    );
    assert.deepEqual(await pointsOfA(), kept);
    assert.match(imported.importedResourceId ?? '', /\/resourceGroups\/dr-missing\/providers\/Microsoft\.Compute\/snapshots\//);
    assert.equal(imported.withinRpo, true);
    assert.equal(again.get('orphan-b')!.action, 'upToDate');
    const stats = await em.getStats();
    assert.equal(stats.bytesWrittenByAccount[account.name] ?? 0, 0, 'nothing was copied again');
    assert.ok(await clients.compute.getSnapshot(imported.importedResourceId!), 'the import exists');
    await assertNoActiveSas(em, clients, 'missing import group');
  });
});
