/**
 * The snapshot engine through the `disk-delta` CLI and the Azure adapters, against the emulator over
 * HTTPS: diffs of a disk written in three phases, families across deletion and re-creation, limits,
 * and no SAS grant left behind after any command.
 */
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import { withSnapshotDiff } from '../../src/core/diff';
import type { DiffRange, SnapshotInfo } from '../../src/core/model';
import { collect } from '../../src/core/pageRanges';
import { resourceId } from '../../src/core/resourceId';
import { ensureResourceGroup, startEmulator, type RunningEmulator } from '../support/emulator';
import { parseJson, runCli } from '../support/cli';
import { writeDisk, type DiskWrite } from '../support/disks';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const PAGE = 512;

/** Expected diff from the page-level history of the writes: last event since the older snapshot wins. */
function expectedDiff(phases: readonly DiskWrite[][], from: number, to: number): DiffRange[] {
  const last = new Map<number, 'changed' | 'cleared'>();
  for (let p = from; p < to; p++) {
    for (const w of phases[p]!) {
      for (let page = w.offset / PAGE; page < (w.offset + w.length) / PAGE; page++) last.set(page, w.clear ? 'cleared' : 'changed');
    }
  }
  const pages = [...last.keys()].sort((a, b) => a - b);
  const out: DiffRange[] = [];
  for (const page of pages) {
    const kind = last.get(page)!;
    const prev = out[out.length - 1];
    if (prev && prev.kind === kind && prev.offset + prev.length === page * PAGE) out[out.length - 1] = { ...prev, length: prev.length + PAGE };
    else out.push({ offset: page * PAGE, length: PAGE, kind });
  }
  return out;
}

const PHASES: DiskWrite[][] = [
  [
    { offset: 0, length: 64 * 1024 },
    { offset: 1 * MiB, length: 8 * 1024 },
    { offset: 10 * MiB, length: 4 * MiB + PAGE },
    { offset: GiB - PAGE, length: PAGE },
  ],
  [
    { offset: 32 * 1024, length: 64 * 1024 },
    { offset: 1 * MiB, length: 4 * 1024, clear: true },
    { offset: 500 * MiB, length: PAGE },
    { offset: GiB - 2 * PAGE, length: PAGE },
  ],
  [
    { offset: 10 * MiB, length: 2 * MiB, clear: true },
    { offset: 1 * MiB + 1024, length: PAGE },
    { offset: 700 * MiB, length: 1 * MiB },
    { offset: GiB - PAGE, length: PAGE },
  ],
];

void describe('snapshot engine and CLI against the emulator', () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let file: string;
  let sub: string;
  const snaps: SnapshotInfo[] = [];
  const cleanup: (() => void)[] = [];
  let diskId: string;

  const noActiveSas = async (when: string) => {
    const stats = await em.getStats();
    assert.equal(stats.activeSasGrants, 0, `an access grant is still open after ${when}`);
    for await (const s of clients.compute.listSnapshots(sub)) assert.notEqual(s.diskState, 'ActiveSAS', `${s.name} is ActiveSAS after ${when}`);
    for await (const d of clients.compute.listDisks(sub)) assert.notEqual(d.diskState, 'ActiveSAS', `${d.name} is ActiveSAS after ${when}`);
  };

  before(async () => {
    em = await startEmulator({ seed: 'demo' });
    await ensureResourceGroup(em, 'engine-test');
    clients = connectToEmulator(em.connection, em.ca);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dd-engine-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    file = path.join(dir, 'connection.json');
    writeFileSync(file, JSON.stringify(em.connection));
    sub = em.connection.subscriptionId;
    const disk = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: 'engine-test',
      name: 'phased',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 1,
    });
    diskId = disk.id;
    for (const [i, phase] of PHASES.entries()) {
      await writeDisk(clients, diskId, phase);
      const r = await runCli(file, ['--json', 'snapshot', 'create', '--disk', diskId, '--name', `phased-s${i + 1}`]);
      assert.equal(r.code, 0, r.stderr);
      const created = parseJson<SnapshotInfo>(r);
      assert.ok(created.id.endsWith(`/phased-s${i + 1}`));
      assert.equal(created.incremental, true);
      snaps.push(created);
    }
    await noActiveSas('creating snapshots');
  });

  after(async () => {
    await em?.stop();
    for (const c of cleanup) c();
  });

  void it('reports exactly the changed and cleared byte ranges between every pair, in either order', async () => {
    for (let i = 0; i < snaps.length; i++) {
      for (let j = i + 1; j < snaps.length; j++) {
        const expected = expectedDiff(PHASES, i + 1, j + 1);
        for (const [from, to] of [
          [snaps[i]!, snaps[j]!],
          [snaps[j]!, snaps[i]!],
        ]) {
          const r = await runCli(file, ['--json', 'diff', '--from', from.id, '--to', to.id]);
          assert.equal(r.code, 0, r.stderr);
          const out = parseJson<{ changedBytes: number; clearedBytes: number; ranges: DiffRange[] }>(r);
          assert.deepEqual(out.ranges, expected, `diff s${i + 1} -> s${j + 1}`);
          assert.equal(
            out.changedBytes,
            expected.filter((x) => x.kind === 'changed').reduce((n, x) => n + x.length, 0),
          );
          assert.equal(
            out.clearedBytes,
            expected.filter((x) => x.kind === 'cleared').reduce((n, x) => n + x.length, 0),
          );
        }
      }
    }
    await noActiveSas('diffs');
  });

  void it('gives the same ranges through the adapters, in small windows that split ranges', async () => {
    const ranges = await withSnapshotDiff(clients.compute, clients.dataPlane, snaps[0]!.id, snaps[2]!.id, { windowBytes: 3 * MiB }, (d) => collect(d.ranges()));
    assert.deepEqual(ranges, expectedDiff(PHASES, 1, 3));
    await noActiveSas('an adapter diff');
  });

  void it('writes CSV with one line per range', async () => {
    const r = await runCli(file, ['diff', '--csv', '--from', snaps[0]!.id, '--to', snaps[1]!.id]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], 'offset,length,kind');
    assert.deepEqual(
      lines.slice(1),
      expectedDiff(PHASES, 1, 2).map((x) => `${x.offset},${x.length},${x.kind}`),
    );
  });

  void it('keeps families of deleted and re-created disks, and starts a new family for the new disk', async () => {
    const disk = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: 'engine-test',
      name: 'reborn',
      location: 'westus2',
      createOption: 'Empty',
      diskSizeGB: 1,
    });
    await writeDisk(clients, disk.id, [{ offset: 0, length: MiB }]);
    assert.equal((await runCli(file, ['snapshot', 'create', '--disk', disk.id, '--name', 'reborn-a'])).code, 0);
    await clients.compute.deleteDisk(disk.id);
    let families = parseJson<{ id: string; sourceDiskState: string; snapshots: { id: string }[] }[]>(
      await runCli(file, ['--json', 'families', '--disk', disk.id]),
    );
    assert.equal(families.length, 1);
    assert.equal(families[0]!.sourceDiskState, 'deleted');
    const again = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: 'engine-test',
      name: 'reborn',
      location: 'westus2',
      createOption: 'Empty',
      diskSizeGB: 1,
    });
    assert.notEqual(again.uniqueId, disk.uniqueId);
    const r = await runCli(file, ['--json', 'snapshot', 'create', '--disk', again.id, '--name', 'reborn-b']);
    assert.equal(r.code, 0, r.stderr);
    families = parseJson(await runCli(file, ['--json', 'families', '--disk', again.id]));
    assert.equal(families.length, 2, 'the old family and the new one');
    const states = families.map((f) => f.sourceDiskState).sort();
    assert.deepEqual(states, ['present', 'recreated']);
    assert.notEqual(families[0]!.id, families[1]!.id);
    const old = families.find((f) => f.sourceDiskState === 'recreated')!;
    const current = families.find((f) => f.sourceDiskState === 'present')!;
    assert.ok(old.snapshots[0]!.id.endsWith('/reborn-a'));
    assert.ok(current.snapshots[0]!.id.endsWith('/reborn-b'));
    const cross = await runCli(file, ['diff', '--from', old.snapshots[0]!.id, '--to', current.snapshots[0]!.id]);
    assert.notEqual(cross.code, 0);
    assert.match(cross.stderr, /DifferentFamilies/);
    await noActiveSas('family checks');
  });

  void it('refuses the 8th snapshot within 5 minutes before calling Azure, and says when the next is allowed', async () => {
    const disk = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: 'engine-test',
      name: 'busy',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 1,
    });
    for (let i = 0; i < 7; i++) assert.equal((await runCli(file, ['snapshot', 'create', '--disk', disk.id, '--name', `busy-${i}`])).code, 0);
    await em.resetStats();
    const r = await runCli(file, ['snapshot', 'create', '--disk', disk.id, '--name', 'busy-7']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /RateLimit/);
    assert.match(r.stderr, /Try again after \d{4}-\d{2}-\d{2}T/);
    const stats = await em.getStats();
    const creates = Object.entries(stats.requests).filter(([k]) => /Snapshots?_?Create|PutSnapshot|arm:Snapshots_CreateOrUpdate/i.test(k));
    assert.deepEqual(creates, [], 'no create request reached Azure');
    assert.equal(await clients.compute.getSnapshot(resourceId(sub, 'engine-test', 'Microsoft.Compute', 'snapshots', 'busy-7')), undefined);

    // The window is Azure's: once its clock (the emulator's, moved on) has passed it, the same command goes through,
    // whatever this machine's clock says.
    await em.arm('POST', '/emulator/clock', { advanceMs: 5 * 60_000 + 1000 });
    const later = await runCli(file, ['--json', 'snapshot', 'create', '--disk', disk.id, '--name', 'busy-7']);
    assert.equal(later.code, 0, later.stderr);
    assert.equal(parseJson<{ name: string }>(later).name, 'busy-7');
  });

  void it('refuses invalid names before any call, with the rule broken', async () => {
    for (const name of ['-bad', 'bad.', 'has space', 'x'.repeat(81)]) {
      const r = await runCli(file, ['snapshot', 'create', '--disk', diskId, '--name', name]);
      assert.notEqual(r.code, 0, name);
      assert.match(r.stderr, /InvalidName/);
    }
  });

  void it('refuses a diff across the 4 TB resize boundary with the way out', async () => {
    const families = parseJson<{ sourceName: string; snapshots: { id: string; name: string }[] }[]>(await runCli(file, ['--json', 'families']));
    const archive = families.find((f) => f.sourceName === 'archive-data')!;
    const before = archive.snapshots.find((s) => s.name.includes('before'))!;
    const afterResize = archive.snapshots.find((s) => s.name.includes('after'))!;
    const r = await runCli(file, ['diff', '--from', before.id, '--to', afterResize.id]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /ResizeBoundary/);
    assert.match(r.stderr, /full copy/i);
    await noActiveSas('a refused diff');
  });

  void it('reports the family SAS limit as Azure does and leaves other grants alone', async () => {
    const fam = snaps.map((s) => s.id);
    const extra = await clients.compute.createSnapshot({
      subscriptionId: sub,
      resourceGroup: 'engine-test',
      name: 'phased-s4',
      location: 'eastus',
      incremental: true,
      createOption: 'Copy',
      sourceResourceId: diskId,
    });
    const extra2 = await clients.compute.createSnapshot({
      subscriptionId: sub,
      resourceGroup: 'engine-test',
      name: 'phased-s5',
      location: 'eastus',
      incremental: true,
      createOption: 'Copy',
      sourceResourceId: diskId,
    });
    const holders = [...fam, extra.id, extra2.id];
    for (const id of holders) await clients.compute.grantAccess(id, 'Read', 600);
    const extra3 = await clients.compute.createSnapshot({
      subscriptionId: sub,
      resourceGroup: 'engine-test',
      name: 'phased-s6',
      location: 'eastus',
      incremental: true,
      createOption: 'Copy',
      sourceResourceId: diskId,
    });
    try {
      const r = await runCli(file, ['diff', '--from', extra2.id, '--to', extra3.id]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /OperationNotAllowed/);
      assert.equal((await em.getStats()).activeSasGrants, 5, 'the five grants made by someone else are untouched');
    } finally {
      for (const id of holders) {
        const rr = await runCli(file, ['access', 'revoke', id]);
        assert.equal(rr.code, 0, rr.stderr);
      }
    }
    await noActiveSas('revoking');
  });

  void it('restores a disk and makes a full snapshot whose contents equal the snapshot', async () => {
    const r = await runCli(file, ['--json', 'restore', '--snapshot', snaps[1]!.id, '--name', 'phased-restored']);
    assert.equal(r.code, 0, r.stderr);
    const disk = parseJson<{ id: string; sizeBytes: number }>(r);
    assert.equal(disk.sizeBytes, GiB);
    const full = parseJson<SnapshotInfo>(await runCli(file, ['--json', 'snapshot', 'full', '--snapshot', snaps[1]!.id, '--name', 'phased-full']));
    assert.equal(full.incremental, false);
    // Both equal the snapshot over every page written so far.
    const read = async (id: string) => {
      const url = await clients.compute.grantAccess(id, 'Read', 600);
      try {
        const src = clients.dataPlane.openSas(url);
        const parts: Buffer[] = [];
        for (const w of PHASES.flat()) parts.push(Buffer.from(await src.read(w.offset, w.length)));
        return Buffer.concat(parts);
      } finally {
        await clients.compute.revokeAccess(id);
      }
    };
    const expected = await read(snaps[1]!.id);
    assert.ok(expected.equals(await read(disk.id)), 'restored disk equals the snapshot');
    assert.ok(expected.equals(await read(full.id)), 'full snapshot equals the snapshot');
    const del = await runCli(file, ['snapshot', 'delete', full.id]);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(await clients.compute.getSnapshot(full.id), undefined);
    await noActiveSas('restore and full snapshot');
  });

  void it('prints the az command and ARM template for the same parameters', async () => {
    const az = await runCli(file, ['export', '--az', 'create', '--disk', diskId, '--name', 'phased-next', '--sku', 'Standard_LRS']);
    assert.equal(az.code, 0, az.stderr);
    assert.match(az.stdout, /az snapshot create/);
    assert.match(az.stdout, /--incremental true/);
    assert.match(az.stdout, /--name phased-next/);
    assert.match(az.stdout, /--sku Standard_LRS/);
    const arm = await runCli(file, ['export', '--arm', 'restore', '--snapshot', snaps[0]!.id, '--name', 'restored-x']);
    assert.equal(arm.code, 0, arm.stderr);
    const template = JSON.parse(arm.stdout) as {
      resources: { type: string; apiVersion: string; properties: { creationData: { createOption: string; sourceResourceId: string } } }[];
    };
    assert.equal(template.resources[0]!.type, 'Microsoft.Compute/disks');
    assert.match(template.resources[0]!.apiVersion, /^\d{4}-\d{2}-\d{2}$/);
    assert.equal(template.resources[0]!.properties.creationData.createOption, 'Copy');
  });

  void it('exports --offline without reading a connection or signing in', async () => {
    // A connection file that does not exist: any attempt to connect would fail the command.
    const nowhere = path.join(os.tmpdir(), 'disk-delta-no-such-connection.json');
    const env = { AZURE_SUBSCRIPTION_ID: '', AZURE_CLIENT_ID: '', AZURE_TENANT_ID: '', AZURE_CLIENT_SECRET: '' };
    const az = await runCli(nowhere, ['export', '--az', 'create', '--disk', diskId, '--name', 'offline-next', '--location', 'westeurope', '--offline'], {
      env,
    });
    assert.equal(az.code, 0, az.stderr);
    assert.match(az.stdout, /az snapshot create/);
    assert.match(az.stdout, /--location westeurope/);
    assert.match(az.stdout, /--sku Standard_ZRS/, 'ZRS where the region offers it, decided without Azure');
    const arm = await runCli(nowhere, ['export', '--arm', 'full', '--snapshot', snaps[0]!.id, '--location', 'eastus', '--offline'], { env });
    assert.equal(arm.code, 0, arm.stderr);
    const template = JSON.parse(arm.stdout) as { parameters: { location: { defaultValue: string } }; resources: { type: string }[] };
    assert.equal(template.resources[0]!.type, 'Microsoft.Compute/snapshots');
    assert.equal(template.parameters.location.defaultValue, 'eastus');
    // Without --location there is nothing to go on: one error line, and still no connection attempt.
    const missing = await runCli(nowhere, ['export', '--az', 'create', '--disk', diskId, '--offline'], { env });
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /--offline needs --location/);
    assert.doesNotMatch(missing.stderr, /connection/i);
  });

  void it('revokes its grants when interrupted with Ctrl+C in the middle of a long diff', async () => {
    const big = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: 'engine-test',
      name: 'fragmented',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 1024,
    });
    const encoded = encodeURIComponent(big.id);
    assert.equal(
      (await em.arm('POST', `/emulator/disks/${encoded}/synthetic-writes`, { seed: 1, pattern: { count: 1000, length: 4096, stride: 1048576, start: 0 } }))
        .status,
      200,
    );
    const a = parseJson<SnapshotInfo>(await runCli(file, ['--json', 'snapshot', 'create', '--disk', big.id, '--name', 'frag-1']));
    assert.equal(
      (await em.arm('POST', `/emulator/disks/${encoded}/synthetic-writes`, { seed: 2, pattern: { count: 300000, length: 512, stride: 2048, start: 0 } }))
        .status,
      200,
    );
    const b = parseJson<SnapshotInfo>(await runCli(file, ['--json', 'snapshot', 'create', '--disk', big.id, '--name', 'frag-2']));
    await em.setFaults({ latency: 50 });
    try {
      const r = await runCli(file, ['--json', 'diff', '--from', a.id, '--to', b.id], {
        onSpawn: (kill) => {
          const poll = setInterval(() => {
            void em.getStats().then((s) => {
              if (s.activeSasGrants >= 2) {
                clearInterval(poll);
                setTimeout(() => kill('SIGINT'), 300);
              }
            });
          }, 50);
        },
      });
      assert.equal(r.code, 130, `exit ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, /cancel/i);
    } finally {
      await em.setFaults({});
    }
    await noActiveSas('Ctrl+C');
  });
});
