/**
 * `disk-delta diff --files`, `ls` and `get` against the emulator's demo disk that holds a real ext4
 * filesystem (emulator/fixtures/ext4-linux, built by scripts/make-fs-fixtures.mjs with e2fsprogs):
 * through the real CLI bundle, the real SDK clients and HTTPS, with every grant given back.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import type { SnapshotInfo } from '../../src/core/model';
import { startEmulator, type RunningEmulator } from '../support/emulator';
import { parseJson, runCli } from '../support/cli';
import { assertNoActiveSas } from '../support/copyChecks';
import { debugfs } from '../unit/support/fsTools';

const fixtures = path.resolve(__dirname, '../../emulator/fixtures/ext4-linux');
const PARTITION_OFFSET = 2048 * 512;

interface FilesJson {
  from: string;
  to: string;
  filesystems: Array<{ partition: number; type: string; label: string; offsetBytes: number; sizeBytes: number; supported: boolean; reason: string | null }>;
  files: Array<{
    path: string;
    change: string;
    previousPath?: string;
    changedBytes: number;
    sizeBefore: number | null;
    sizeAfter: number | null;
    partition: number;
  }>;
  unattributed: { freeSpace: number; metadata: number; outsidePartitions: number };
}

void describe('diff --files, ls and get on the demo ext4 disk', { timeout: 600_000 }, () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let conn: string;
  let dir: string;
  const day: SnapshotInfo[] = [];

  before(async () => {
    em = await startEmulator({ seed: 'demo' });
    clients = connectToEmulator(em.connection, em.ca);
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-files-'));
    conn = path.join(dir, 'connection.json');
    writeFileSync(conn, JSON.stringify(em.connection));
    const all: SnapshotInfo[] = [];
    for await (const s of clients.compute.listSnapshots(em.connection.subscriptionId)) all.push(s);
    for (let i = 0; i < 5; i++) day.push(all.find((s) => s.name === `linux-web-01-day${i}`)!);
    assert.ok(day.every(Boolean), "the demo seed has the ext4 disk's five daily snapshots");
  });
  after(async () => {
    await em?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const files = async (from: SnapshotInfo, to: SnapshotInfo): Promise<FilesJson> => {
    const r = await runCli(conn, ['--json', 'diff', '--from', from.id, '--to', to.id, '--files']);
    assert.equal(r.code, 0, r.stderr);
    return parseJson<FilesJson>(r);
  };
  const blockDiffBytes = async (from: SnapshotInfo, to: SnapshotInfo): Promise<number> => {
    const r = await runCli(conn, ['--json', 'diff', '--from', from.id, '--to', to.id]);
    const d = parseJson<{ changedBytes: number; clearedBytes: number }>(r);
    return d.changedBytes + d.clearedBytes;
  };
  const addsUp = (d: FilesJson) =>
    d.files.reduce((s, f) => s + f.changedBytes, 0) + d.unattributed.freeSpace + d.unattributed.metadata + d.unattributed.outsidePartitions;

  void it('names the files a deploy touched, and the bytes add up to the block diff', async () => {
    const d = await files(day[0]!, day[1]!);
    assert.equal(d.from, day[0]!.id);
    assert.equal(d.to, day[1]!.id);
    assert.deepEqual(d.filesystems, [
      { partition: 1, type: 'ext4', label: 'cloudimg-rootfs', offsetBytes: PARTITION_OFFSET, sizeBytes: 126976 * 512, supported: true, reason: null },
    ]);
    const byPath = new Map(d.files.map((f) => [f.path, f]));
    for (const p of ['/var/log/nginx/access.log', '/etc/nginx/nginx.conf', '/opt/app/release.txt']) {
      assert.ok(['modified', 'added'].includes(byPath.get(p)?.change ?? ''), `${p} changed: ${JSON.stringify(byPath.get(p))}`);
      assert.equal(byPath.get(p)?.partition, 1);
    }
    const log = byPath.get('/var/log/nginx/access.log')!;
    assert.ok(log.sizeAfter! > log.sizeBefore!, 'the log grew');
    assert.ok(log.changedBytes > 0);
    assert.deepEqual(Object.keys(d.files[0]!).sort(), ['change', 'changedBytes', 'partition', 'path', 'sizeAfter', 'sizeBefore']);
    assert.equal(addsUp(d), await blockDiffBytes(day[0]!, day[1]!));
    const nonDirs = d.files
      .filter((f) => !['/', '/etc', '/etc/nginx', '/var', '/var/log', '/var/log/nginx', '/opt', '/opt/app'].includes(f.path))
      .map((f) => f.path)
      .sort();
    assert.deepEqual(nonDirs, ['/etc/nginx/nginx.conf', '/opt/app/release.txt', '/var/log/nginx/access.log']);
  });

  void it('shows created and deleted files, renames with previousPath, and reads either order', async () => {
    const d = await files(day[2]!, day[3]!);
    const byPath = new Map(d.files.map((f) => [f.path, f]));
    assert.equal(byPath.get('/var/www/uploads')?.change, 'added');
    for (const i of [1, 2, 3]) assert.equal(byPath.get(`/var/www/uploads/report-${i}.csv`)?.change, 'added');
    assert.equal(byPath.get('/etc/nginx/sites-enabled/default')?.change, 'deleted');
    assert.equal(byPath.get('/etc/nginx/sites-enabled/default')?.sizeAfter, null);
    assert.equal(addsUp(d), await blockDiffBytes(day[2]!, day[3]!));

    const renamed = (await files(day[3]!, day[4]!)).files.find((f) => f.change === 'renamed');
    assert.deepEqual(renamed && { path: renamed.path, previousPath: renamed.previousPath }, {
      path: '/home/azureuser/deploy-notes.md',
      previousPath: '/home/azureuser/notes.md',
    });

    const back = await files(day[3]!, day[2]!);
    assert.equal(back.from, day[3]!.id);
    const bp = new Map(back.files.map((f) => [f.path, f]));
    assert.equal(bp.get('/var/www/uploads/report-1.csv')?.change, 'deleted', 'read from --from to --to');
    assert.equal(bp.get('/etc/nginx/sites-enabled/default')?.change, 'added');
  });

  void it('names the XFS data disk and the NTFS Windows disk, and their bytes add up whether or not their readers are built in', async () => {
    const all: SnapshotInfo[] = [];
    for await (const s of clients.compute.listSnapshots(em.connection.subscriptionId)) all.push(s);
    const pick = (name: string) => all.find((s) => s.name === name)!;
    for (const { disk, type, partition, expected } of [
      { disk: 'data-pg-01', type: 'xfs', partition: 0, expected: '/backups/orders-day1.sql' },
      { disk: 'win-app-01', type: 'ntfs', partition: 1, expected: '/ProgramData/OrdersApp/appsettings.json' },
    ]) {
      const from = pick(`${disk}-day0`);
      const to = pick(`${disk}-day1`);
      const d = await files(from, to);
      assert.deepEqual(
        d.filesystems.map((f) => [f.partition, f.type]),
        [[partition, type]],
        disk,
      );
      const v = d.filesystems[0]!;
      if (v.supported)
        assert.ok(
          d.files.some((f) => f.path.toLowerCase() === expected.toLowerCase()),
          `${disk}: ${expected} in ${JSON.stringify(d.files.map((f) => f.path))}`,
        );
      else assert.match(v.reason ?? '', new RegExp(type.toUpperCase()));
      assert.equal(addsUp(d), await blockDiffBytes(from, to), disk);
    }
  });

  void it('CSV has one line per file', async () => {
    const r = await runCli(conn, ['diff', '--from', day[2]!.id, '--to', day[3]!.id, '--files', '--csv']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], 'path,change,changedBytes,sizeBefore,sizeAfter,partition,previousPath');
    assert.ok(lines.some((l) => l.startsWith('/var/www/uploads/report-2.csv,added,')));
  });

  void it('ls lists a directory as the snapshot holds it', async () => {
    const r = await runCli(conn, ['--json', 'ls', '--snapshot', day[3]!.id, '/var/www/uploads']);
    assert.equal(r.code, 0, r.stderr);
    const entries = parseJson<Array<{ path: string; type: string; sizeBytes: number; modified: string }>>(r);
    assert.deepEqual(
      entries.map((e) => [e.path, e.type]),
      [1, 2, 3].map((i) => [`/var/www/uploads/report-${i}.csv`, 'file']),
    );
    assert.ok(entries.every((e) => e.sizeBytes > 0 && !Number.isNaN(Date.parse(e.modified))));
    const root = parseJson<Array<{ path: string; type: string }>>(await runCli(conn, ['--json', 'ls', '--snapshot', day[0]!.id, '--partition', '1']));
    assert.deepEqual(
      root
        .filter((e) => e.type === 'dir')
        .map((e) => e.path)
        .sort(),
      ['/etc', '/home', '/lost+found', '/opt', '/var'],
    );
  });

  void it('get writes the exact bytes debugfs dumps from the same image; a missing path exits 1 with FileNotFound', async () => {
    // Day 0's image, rebuilt from the fixture's pages, read by debugfs as the independent oracle.
    const manifest = JSON.parse(readFileSync(path.join(fixtures, 'manifest.json'), 'utf8')) as {
      imageBytes: number;
      days: Array<{ file: string; runs: Array<[number, number]> }>;
    };
    const image = Buffer.alloc(manifest.imageBytes);
    const pages = gunzipSync(readFileSync(path.join(fixtures, manifest.days[0]!.file)));
    let pos = 0;
    for (const [offset, length] of manifest.days[0]!.runs) {
      pages.copy(image, offset, pos, pos + length);
      pos += length;
    }
    const part = path.join(dir, 'part.img');
    writeFileSync(part, image.subarray(PARTITION_OFFSET, PARTITION_OFFSET + 126976 * 512));
    for (const p of ['/etc/nginx/nginx.conf', '/var/log/nginx/access.log']) {
      const expected = path.join(dir, 'expected');
      debugfs(part, [`dump ${p} ${expected}`]);
      const out = path.join(dir, 'got');
      const r = await runCli(conn, ['get', '--snapshot', day[0]!.id, p, '-o', out]);
      assert.equal(r.code, 0, r.stderr);
      const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');
      assert.equal(sha(out), sha(expected), p);
    }
    const stdout = await runCli(conn, ['get', '--snapshot', day[1]!.id, '/opt/app/release.txt']);
    assert.equal(stdout.stdout, 'v1.5.0\n');
    const missing = await runCli(conn, ['get', '--snapshot', day[0]!.id, '/etc/nginx/sites-enabled/shop']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /error FileNotFound/);
    const noPart = await runCli(conn, ['ls', '--snapshot', day[0]!.id, '--partition', '4']);
    assert.equal(noPart.code, 1);
    assert.match(noPart.stderr, /PartitionNotFound/);
    await assertNoActiveSas(em, clients, 'diff --files, ls and get');
  });
});
