import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeNativeStatus, NativeCopy, type NativeCopyStatus } from '../../src/core/copy';
import type { SnapshotInfo } from '../../src/core/model';
import { type ComputeApi } from '../../src/core/ports';
import { DiskDeltaError } from '../../src/core/errors';
import { MemoryAzure } from './support/memoryAzure';

const MiB = 1024 * 1024;

/**
 * Azure's CopyStart reports completionPercent 0 for minutes, then 100 (docs/azure-behaviour.md#copystart),
 * and its reads can be throttled for a long time (docs/azure-behaviour.md#arm-throttling).
 */
function slowAzure(queuedPolls: number, throttles: number): { compute: ComputeApi; snapshots: SnapshotInfo[]; counts: { polls: number; throttled: number } } {
  const azure = new MemoryAzure();
  const disk = azure.disk('app', 16 * MiB);
  disk.write(0, MiB, 1);
  const s1 = disk.snapshot();
  const counts = { polls: 0, throttled: 0 };
  const compute = new Proxy(azure.compute, {
    get(target, prop, receiver) {
      if (prop !== 'getSnapshot') {
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      }
      return async (id: string, o?: { signal?: AbortSignal }) => {
        const s = await target.getSnapshot(id, o);
        if (!s || s.createOption !== 'CopyStart') return s;
        counts.polls += 1;
        if (counts.throttled < throttles && counts.polls % 2 === 0) {
          counts.throttled += 1;
          const e = new DiskDeltaError('Too many requests', 'OperationNotAllowed', undefined, 429);
          e.retryAfterMs = 1;
          throw e;
        }
        return counts.polls <= queuedPolls ? { ...s, completionPercent: 0 } : s;
      };
    },
  });
  return { compute, snapshots: [s1], counts };
}

void describe('NativeCopy: a CopyStart queued at 0%', () => {
  void it('reports "queued" with a growing wait, then done, and outlasts more throttled reads than the retry policy allows', async () => {
    const { compute, snapshots, counts } = slowAzure(30, 15);
    const statuses: NativeCopyStatus[] = [];
    let t = 0;
    const result = await new NativeCopy(compute).run({
      snapshots,
      targetRegion: 'westus',
      targetResourceGroup: 'rg-dr',
      pollIntervalMs: 1,
      now: () => (t += 1000),
      onStatus: (s) => statuses.push(s),
    });
    assert.equal(result.status, 'completed');
    assert.equal(counts.throttled, 15);
    const queued = statuses.filter((s) => s.state === 'queued');
    assert.ok(queued.length >= 10);
    assert.ok(queued.every((s) => s.percent === 0));
    for (let i = 1; i < queued.length; i++) assert.ok(queued[i]!.elapsedSeconds > queued[i - 1]!.elapsedSeconds);
    assert.equal(statuses[0]!.state, 'starting');
    assert.equal(statuses[statuses.length - 1]!.state, 'done');
    assert.match(describeNativeStatus(queued[5]!), /^\[1\/1\] .+: queued, 0% · \d+ (s|min \d\d s)$/);
    assert.match(describeNativeStatus(statuses[statuses.length - 1]!), /copied, 100%/);
  });

  void it('a cancel while queued returns "cancelled" and leaves the target snapshot in place', async () => {
    const { compute, snapshots } = slowAzure(1_000_000, 0);
    const controller = new AbortController();
    let target = '';
    const result = await new NativeCopy(compute).run({
      snapshots,
      targetRegion: 'westus',
      targetResourceGroup: 'rg-dr',
      pollIntervalMs: 1,
      signal: controller.signal,
      onStatus: (s) => {
        target = s.targetSnapshotId;
        if (s.state === 'queued') controller.abort(new DOMException('cancelled', 'AbortError'));
      },
    });
    assert.equal(result.status, 'cancelled');
    assert.ok(await compute.getSnapshot(target), 'the target snapshot was not deleted');
  });
});
