/**
 * Files read through snapshot grants (the in-memory Azure of the unit tests): the file-level diff of two
 * snapshots in either order, and the long-lived browsing session of the read-only file system - each
 * gives its grants back (after use, after an idle time, on close).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SnapshotBrowser } from '../../src/core/filesystems/snapshotBrowser';
import { snapshotFileDiff } from '../../src/core/filesystems/snapshotFileDiff';
import { resolvePath } from '../../src/core/filesystems/paths';
import type { SnapshotInfo } from '../../src/core/model';
import { MemoryAzure } from './support/memoryAzure';
import { debugfs, makeExt4, tempDir, writeTree } from './support/fsTools';

void describe('files through snapshot grants', { timeout: 300_000 }, () => {
  const { dir, cleanup } = tempDir('dd-fs-snap-');
  const azure = new MemoryAzure();
  let s1: SnapshotInfo;
  let s2: SnapshotInfo;

  before(() => {
    const src = path.join(dir, 'src');
    writeTree(src, { 'etc/app.conf': 'level=info\n', 'data/a.bin': 'a'.repeat(10_000), 'data/b.bin': 'b'.repeat(5000) });
    const image = path.join(dir, 'img');
    makeExt4(image, src, 16, ['-b', '4096']);
    const disk = azure.disk('vm1-os', 16 * 1024 * 1024);
    disk.store.write(0, readFileSync(image));
    s1 = disk.snapshot();
    const host = path.join(dir, 'new.txt');
    writeFileSync(host, 'fresh\n');
    debugfs(image, [`write ${host} /data/new.txt`, 'sif /data/new.txt generation 7', 'rm /data/b.bin'], true);
    disk.store.write(0, readFileSync(image));
    s2 = disk.snapshot();
  });
  after(cleanup);

  void it('diffs two snapshots to files in either order and revokes both grants', async () => {
    const forward = await snapshotFileDiff(azure.compute, azure.dataPlane, s1.id, s2.id, {});
    const changes = new Map(forward.files.map((f) => [f.path, f.change]));
    assert.equal(changes.get('/data/new.txt'), 'added');
    assert.equal(changes.get('/data/b.bin'), 'deleted');
    assert.equal(forward.from, s1.id);
    const total =
      forward.files.reduce((s, f) => s + f.changedBytes, 0) +
      forward.unattributed.freeSpace +
      forward.unattributed.metadata +
      forward.unattributed.outsidePartitions;
    assert.equal(total, forward.diffBytes);
    assert.ok(forward.bytesRead < 4 * 1024 * 1024, `read ${forward.bytesRead} bytes of two 16 MiB snapshots`);
    const backward = await snapshotFileDiff(azure.compute, azure.dataPlane, s2.id, s1.id, {});
    const back = new Map(backward.files.map((f) => [f.path, f.change]));
    assert.equal(back.get('/data/new.txt'), 'deleted');
    assert.equal(back.get('/data/b.bin'), 'added');
    assert.equal(backward.from, s2.id);
    assert.equal(azure.activeGrants().length, 0, 'no grant left open');
  });

  void it('a browsing session holds one grant while used, gives it back when idle and on close', async () => {
    const browser = new SnapshotBrowser(azure.compute, azure.dataPlane, s2.id, { idleMs: 200 });
    const fs = await browser.filesystem();
    const found = await resolvePath(fs, '/etc/app.conf');
    assert.equal(new TextDecoder().decode(await fs.readFile(found!.id, 0, 100)), 'level=info\n');
    assert.equal(azure.activeGrants().length, 1);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(azure.activeGrants().length, 0, 'released after the idle time');
    const again = await browser.filesystem();
    assert.ok(await resolvePath(again, '/data/new.txt'), 'a new grant on the next read');
    assert.equal(azure.activeGrants().length, 1);
    await browser.close();
    assert.equal(azure.activeGrants().length, 0, 'closed');
    await assert.rejects(browser.filesystem(), /closed/);
  });
});
