import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CopyNotice, CopyProgress } from '../../src/core/copy';
import { NativeCopy } from '../../src/core/copy';
import type { SnapshotInfo } from '../../src/core/model';
import type { DiskDeltaError } from '../../src/core/errors';
import { MemoryAzure } from './support/memoryAzure';

const MiB = 1024 * 1024;

function family(): { azure: MemoryAzure; snapshots: SnapshotInfo[] } {
  const azure = new MemoryAzure();
  const disk = azure.disk('app', 16 * MiB);
  disk.write(0, MiB, 1);
  const s1 = disk.snapshot();
  disk.write(MiB, MiB, 2);
  const s2 = disk.snapshot();
  return { azure, snapshots: [s2, s1] };
}

void describe('NativeCopy (CopyStart)', () => {
  void it('copies in creation order, polling completionPercent, with progress events', async () => {
    const { azure, snapshots } = family();
    const events: CopyProgress[] = [];
    const result = await new NativeCopy(azure.compute).run({
      snapshots,
      targetRegion: 'westus',
      targetResourceGroup: 'rg-dr',
      pollIntervalMs: 1,
      onProgress: (p) => events.push(p),
    });
    assert.equal(result.status, 'completed');
    assert.deepEqual(
      result.steps.map((s) => s.sourceSnapshotId),
      [snapshots[1]!.id, snapshots[0]!.id],
    );
    for (const step of result.steps) {
      assert.match(step.targetSnapshotId, /resourceGroups\/rg-dr\/providers\/Microsoft.Compute\/snapshots\//);
      const made = azure.snapshots.get(step.targetSnapshotId.toLowerCase())!.info;
      assert.equal(made.createOption, 'CopyStart');
      assert.equal(made.location, 'westus');
      assert.equal(made.completionPercent, 100);
    }
    const first = events.filter((e) => e.snapshotIndex === 0);
    assert.ok(
      first.some((e) => e.bytesDone > 0 && e.bytesDone < e.bytesTotal),
      'partial progress reported',
    );
    assert.equal(first[first.length - 1]!.phase, 'done');
    assert.equal(first[first.length - 1]!.bytesDone, 16 * MiB);
  });

  void it('reports copyCompletionError with its code and message', async () => {
    const { azure, snapshots } = family();
    const stored = azure.snapshots.get(snapshots[1]!.id.toLowerCase())!;
    stored.info = { ...stored.info, tags: { failCopy: 'The source snapshot was deleted.' } };
    await assert.rejects(
      new NativeCopy(azure.compute).run({ snapshots: [stored.info], targetRegion: 'westus', targetResourceGroup: 'rg-dr', pollIntervalMs: 1 }),
      (e: DiskDeltaError) => e.code === 'CopySourceNotFound' && /source snapshot was deleted/.test(e.message),
    );
  });

  void it('stops polling on cancel and says the Azure-side copy continues', async () => {
    const { azure, snapshots } = family();
    const controller = new AbortController();
    const notices: CopyNotice[] = [];
    const result = await new NativeCopy(azure.compute).run({
      snapshots,
      targetRegion: 'westus',
      targetResourceGroup: 'rg-dr',
      pollIntervalMs: 5,
      signal: controller.signal,
      onProgress: () => controller.abort(),
      onNotice: (n) => notices.push(n),
    });
    assert.equal(result.status, 'cancelled');
    assert.ok(notices.some((n) => n.code === 'NativeCopyContinues' && /goes on copying/.test(n.message)));
  });

  void it('skips snapshots already copied', async () => {
    const { azure, snapshots } = family();
    const copy = new NativeCopy(azure.compute);
    await copy.run({ snapshots, targetRegion: 'westus', targetResourceGroup: 'rg-dr', pollIntervalMs: 1 });
    const count = azure.snapshots.size;
    const again = await copy.run({ snapshots, targetRegion: 'westus', targetResourceGroup: 'rg-dr', pollIntervalMs: 1 });
    assert.ok(again.steps.every((s) => s.alreadyCopied));
    assert.equal(azure.snapshots.size, count);
  });
});
