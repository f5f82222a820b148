import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import type { CopyNotice, CopyProgress } from '../../src/core/copy';
import { ChainCopy, CopyFailedError, FamilyLock, TARGET_METADATA, targetBlobName, VerificationFailedError } from '../../src/core/copy';
import { DiskDeltaError } from '../../src/core/errors';
import { redact } from '../../src/core/secret';
import type { Scenario } from './support/copyScenario';
import { makeScenario, minimalRequests, MiB } from './support/copyScenario';
import type { FakeBlob } from './support/memoryAzure';
import { sameContent, snapshotStore } from './support/memoryAzure';

const scenarios: Scenario[] = [];
function scenario(...args: Parameters<typeof makeScenario>): Scenario {
  const s = makeScenario(...args);
  scenarios.push(s);
  return s;
}
afterEach(() => {
  while (scenarios.length) scenarios.pop()!.cleanup();
});

function onlyBlob(s: Scenario): FakeBlob {
  assert.equal(s.azure.blobs.size, 1);
  return [...s.azure.blobs.values()][0]!;
}

/** Every blob snapshot the copy took reads exactly like the source snapshot it records, footer included. */
function assertIdenticalCopies(s: Scenario, expected = s.snapshots.length): void {
  const blob = onlyBlob(s);
  const recorded = new Map<string, FakeBlob['blobSnapshots'] extends Map<string, infer V> ? V : never>();
  for (const snap of blob.blobSnapshots.values()) recorded.set(snap.metadata[TARGET_METADATA.snapshot]!, snap);
  assert.equal(recorded.size, expected);
  for (const source of s.snapshots.slice(0, expected)) {
    const copy = recorded.get(source.id);
    assert.ok(copy, `a blob snapshot records ${source.name}`);
    assert.equal(copy.metadata[TARGET_METADATA.uniqueId], source.uniqueId);
    assert.ok(sameContent(copy.store, snapshotStore(s.azure, source)), `${source.name} copied byte for byte`);
  }
}

void describe('ChainCopy', () => {
  void it('copies a base and three deltas (with cleared ranges) byte-identically, with the least requests', async () => {
    const s = scenario();
    const result = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request());
    assert.equal(result.status, 'completed');
    assert.equal(result.steps.length, 4);
    assert.deepEqual(
      result.steps.map((st) => st.mode),
      ['base', 'delta', 'delta', 'delta'],
    );
    assertIdenticalCopies(s);
    const blob = onlyBlob(s);
    assert.equal(blob.store!.size, 48 * MiB + 512);
    assert.equal(blob.metadata[TARGET_METADATA.lastSnapshot], s.snapshots[3]!.id);
    // The sum of per-step minimums equals what the target received, and each summary says so.
    let expectedRequests = 0;
    for (let i = 0; i < 4; i += 1) {
      const min = minimalRequests(s.azure, s.snapshots[i]!, s.snapshots[i - 1]);
      assert.equal(result.summaries[i]!.requests, min.requests, `step ${i + 1} requests`);
      assert.equal(result.summaries[i]!.bytesCopied, min.bytes, `step ${i + 1} bytes`);
      expectedRequests += min.requests;
    }
    assert.equal(s.azure.writes.length, expectedRequests);
    assert.ok(result.summaries.slice(1).some((x) => x.bytesCleared > 0));
    assert.equal(s.azure.activeGrants().length, 0);
    for (const summary of result.summaries) {
      assert.deepEqual(Object.keys(summary).sort(), [
        'bound',
        'bytesCleared',
        'bytesCopied',
        'bytesMoved',
        'bytesRelayed',
        'changedBytes',
        'coalescedGaps',
        'importedResourceId',
        'requests',
        'retries',
        'seconds',
        'targetBlobSnapshotUrl',
        'verifiedBytes',
      ]);
      // Without a pace nothing is coalesced: the requests carry exactly the changed bytes.
      assert.equal(summary.bytesMoved, summary.bytesCopied);
      assert.doesNotMatch(summary.targetBlobSnapshotUrl, /sig=/);
    }
  });

  void it('writes each chunk of a range over 4 MiB not starting at 0 at range start + k * 4 MiB', async () => {
    const s = scenario();
    await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ upTo: s.snapshots[0]!.id, verify: 'none' }));
    const inRange = s.azure.writes.filter((w) => w.offset >= 3 * MiB && w.offset < 12 * MiB + 512).map((w) => [w.offset, w.length]);
    const start = 3 * MiB + 512;
    assert.deepEqual(inRange, [
      [start, 4 * MiB],
      [start + 4 * MiB, 4 * MiB],
      [start + 8 * MiB, MiB],
    ]);
    assertIdenticalCopies(s, 1);
  });

  void it("lists each snapshot's diff while the one before it is copied, and asks the target its state once", async () => {
    const s = scenario();
    const result = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ verify: 'none' }));
    assert.equal(result.status, 'completed');
    assertIdenticalCopies(s);
    const calls = s.azure.calls;
    const starts = (name: string) => calls.flatMap((c, i) => (c === name && calls[i - 1] !== name ? [i] : []));
    // Three deltas (each listed window by window): the diff for snapshot k+1 is listed before snapshot k's blob snapshot is taken.
    const listings = starts('listDiff');
    const snapshots = starts('snapshot');
    assert.equal(listings.length, 3);
    for (let k = 0; k < 3; k += 1) assert.ok(listings[k]! < snapshots[k]!, `diff ${k + 2} listed during step ${k + 1}`);
    // The target is looked up once per run; later steps know its state. Each step writes its metadata once.
    assert.equal(calls.filter((c) => c === 'exists').length, 2, 'the chain checks that the blob exists, and the first step again');
    assert.equal(calls.filter((c) => c === 'size').length, 0);
    assert.equal(calls.filter((c) => c === 'setMetadata').length, 4, 'one record per step, which also marks the next step in progress');
    assert.equal(onlyBlob(s).metadata[TARGET_METADATA.inProgress], undefined);
  });

  void it('is a no-op when run again after finishing', async () => {
    const s = scenario();
    const copy = new ChainCopy(s.azure.compute, s.azure.dataPlane);
    await copy.run(s.request());
    const writes = s.azure.writes.length;
    const grants = s.azure.grantCalls;
    const again = await copy.run(s.request());
    assert.equal(again.status, 'upToDate');
    assert.equal(again.steps.length, 0);
    assert.equal(s.azure.writes.length, writes);
    assert.equal(s.azure.grantCalls, grants);
  });

  void it('copies only what is new when the family grows, and one snapshot with `only`', async () => {
    const s = scenario();
    const copy = new ChainCopy(s.azure.compute, s.azure.dataPlane);
    const first = await copy.run(s.request({ only: s.snapshots[1]!.id }));
    assert.deepEqual(
      first.steps.map((x) => [x.sourceSnapshotId, x.mode]),
      [[s.snapshots[1]!.id, 'base']],
    );
    const rest = await copy.run(s.request());
    assert.deepEqual(
      rest.steps.map((x) => x.sourceSnapshotId),
      [s.snapshots[2]!.id, s.snapshots[3]!.id],
    );
    const blob = onlyBlob(s);
    const last = [...blob.blobSnapshots.values()].pop()!;
    assert.ok(sameContent(last.store, snapshotStore(s.azure, s.snapshots[3]!)));
  });

  void it('stays byte-identical with 10% faults of every kind (503 with Retry-After, 500, resets, stalls, SAS expiry)', async () => {
    const s = scenario({ faults: { rate: 0.1, kinds: ['busy', 'internal', 'reset', 'stall', 'sasExpiry'], retryAfterMs: 2 }, seed: 7 });
    const result = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(
      s.request({ retry: { baseDelayMs: 1, maxDelayMs: 4, maxRetryAfterMs: 4, requestTimeoutMs: 30, maxRetries: 12 } }),
    );
    assert.equal(result.status, 'completed');
    assertIdenticalCopies(s);
    for (const kind of ['busy', 'internal', 'reset', 'stall', 'sasExpiry'] as const) assert.ok((s.azure.faultsInjected.get(kind) ?? 0) > 0, `${kind} injected`);
    assert.ok(result.summaries.reduce((n, x) => n + x.retries, 0) > 0);
    assert.equal(s.azure.activeGrants().length, 0);
    assert.ok(s.azure.grantCalls > 8, 'expired grants were renewed');
  });

  void it('backs off under a request cap instead of failing, settling near the cap', async () => {
    const s = scenario({ maxConcurrentWrites: 3, latencyMs: 2 });
    const copy = new ChainCopy(s.azure.compute, s.azure.dataPlane);
    const result = await copy.run(
      s.request({ concurrency: 16, retry: { baseDelayMs: 1, maxDelayMs: 4, maxRetryAfterMs: 4, requestTimeoutMs: 1000, maxRetries: 30 } }),
    );
    assert.equal(result.status, 'completed');
    assertIdenticalCopies(s);
    assert.ok(s.azure.throttled > 0, 'the cap was hit');
    const writes = s.azure.writes.length;
    // AIMD: after the first halvings the copy stays under the cap, so refusals are a minority of requests.
    assert.ok(s.azure.throttled < writes, `${s.azure.throttled} refusals for ${writes} writes`);
  });

  void it('does not hang on a request that ignores its abort signal', async () => {
    const s = scenario({ faults: { rate: 0.05, kinds: ['stall'] }, stallIgnoresSignal: true, seed: 3 });
    const result = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(
      s.request({ upTo: s.snapshots[1]!.id, retry: { baseDelayMs: 1, maxDelayMs: 2, requestTimeoutMs: 20 } }),
    );
    assert.equal(result.status, 'completed');
    assertIdenticalCopies(s, 2);
  });

  void it('renews SAS grants before they expire during a long copy', async () => {
    const s = scenario({
      afterWrite: () => {
        s.azure.clock += 60_000;
      },
    });
    const result = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ sasDurationSeconds: 600, concurrency: 2 }));
    assert.equal(result.status, 'completed');
    assertIdenticalCopies(s);
    assert.ok(s.azure.grantCalls > 7, `renewed (${s.azure.grantCalls} grants)`);
    assert.equal(s.azure.activeGrants().length, 0);
  });

  void it('falls back to read + Put Page when the target refuses the source URL (409 CopySourceCannotBeIncrementalCopyBlob)', async () => {
    const s = scenario({ refuseFromUrl: true });
    const notices: CopyNotice[] = [];
    const events: CopyProgress[] = [];
    const result = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(
      s.request({ onNotice: (n) => notices.push(n), onProgress: (p) => events.push(p) }),
    );
    assert.equal(result.status, 'completed');
    assertIdenticalCopies(s);
    assert.ok(notices.some((n) => n.code === 'SourceRefusedFromUrl'));
    assert.ok(s.azure.writes.every((w) => w.kind !== 'fromUrl'));
    // Every byte passed through this process, and the summaries and progress say how many.
    for (const summary of result.summaries) assert.equal(summary.bytesRelayed, summary.bytesCopied);
    assert.ok(result.summaries.some((summary) => summary.bytesRelayed > 0));
    assert.ok(
      events.some((e) => e.bytesRelayed > 0),
      'progress counts the relayed bytes',
    );
  });

  void it('reports progress through every phase with monotonic bytes', async () => {
    const s = scenario();
    const events: CopyProgress[] = [];
    await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ onProgress: (p) => events.push(p) }));
    const phases = new Set(events.map((e) => e.phase));
    for (const p of ['granting', 'planning', 'clearing', 'copying', 'verifying', 'snapshotting', 'revoking', 'done'] as const)
      assert.ok(phases.has(p), `phase ${p}`);
    for (let i = 0; i < 4; i += 1) {
      const mine = events.filter((e) => e.snapshotIndex === i);
      assert.ok(mine.every((e) => e.snapshotCount === 4));
      for (let j = 1; j < mine.length; j += 1) assert.ok(mine[j]!.bytesDone >= mine[j - 1]!.bytesDone);
      const done = mine[mine.length - 1]!;
      assert.equal(done.phase, 'done');
      assert.equal(done.bytesDone, done.bytesTotal);
      assert.equal(done.bytesTotalIsEstimate, false);
    }
  });

  void it('imports each blob snapshot as a managed snapshot, by URL without SAS', async () => {
    const s = scenario();
    const result = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(
      s.request({ upTo: s.snapshots[1]!.id, import: { kind: 'snapshot', resourceGroup: 'rg-restore' } }),
    );
    assert.equal(s.azure.imports.length, 2);
    for (const [i, req] of s.azure.imports.entries()) {
      assert.equal(req.createOption, 'Import');
      assert.equal(req.resourceGroup, 'rg-restore');
      assert.equal(req.storageAccountId, '/subscriptions/sub-1/resourceGroups/rg-dr/providers/Microsoft.Storage/storageAccounts/drwest');
      assert.equal(req.location, 'westus');
      assert.doesNotMatch(req.sourceUri!, /sig=|se=|sp=/);
      assert.equal(req.sourceUri, result.summaries[i]!.targetBlobSnapshotUrl);
      assert.equal(
        result.summaries[i]!.importedResourceId,
        `/subscriptions/sub-1/resourceGroups/rg-restore/providers/Microsoft.Compute/snapshots/${s.snapshots[i]!.name}-copy`,
      );
    }
  });

  void it('refuses a target blob that is not ours, or holds another family', async () => {
    const s = scenario();
    const store = s.request().store;
    const blob = store.blob('vm-data-foreign.vhd');
    await blob.create(1024, {});
    await assert.rejects(
      new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ blobName: 'vm-data-foreign.vhd' })),
      (e: DiskDeltaError) => e.code === 'TargetNotOurs',
    );
    await blob.setMetadata({ [TARGET_METADATA.family]: 'another-family' });
    await assert.rejects(
      new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ blobName: 'vm-data-foreign.vhd' })),
      (e: DiskDeltaError) => e.code === 'TargetNotOurs' && /another snapshot family/.test(e.message),
    );
    assert.equal(s.azure.grantCalls, 0);
    assert.equal(s.azure.writes.length, 0);
  });

  void it('refuses a missing container unless asked to create it', async () => {
    const s = scenario();
    s.azure.containers.clear();
    await assert.rejects(new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request()), (e: DiskDeltaError) => e.code === 'ContainerNotFound');
    const ok = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ createContainer: true, upTo: s.snapshots[0]!.id }));
    assert.equal(ok.status, 'completed');
  });

  void it('refuses snapshots of different families and full snapshots', async () => {
    const s = scenario();
    const other = s.azure.disk('other', 8 * MiB);
    other.write(0, 4096, 1);
    const foreign = other.snapshot();
    await assert.rejects(
      new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ snapshots: [...s.snapshots, foreign] })),
      (e: DiskDeltaError) => e.code === 'DifferentFamilies',
    );
    await assert.rejects(
      new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ snapshots: [{ ...s.snapshots[0]!, incremental: false }] })),
      (e: DiskDeltaError) => e.code === 'NotIncremental',
    );
  });

  void it('revokes every grant on success, failure and cancellation', async () => {
    const ok = scenario();
    await new ChainCopy(ok.azure.compute, ok.azure.dataPlane).run(ok.request());
    assert.equal(ok.azure.activeGrants().length, 0);
    // Each snapshot is granted once (a step's source stays granted for the next step's diff) and revoked once,
    // and the next step's grant is requested ahead: three of the family's five at most.
    assert.equal(ok.azure.grantCalls, 4);
    assert.equal(ok.azure.revokeCalls, 4);
    assert.equal(ok.azure.maxGrantedSnapshots, 3);

    const failing = scenario();
    const copy = new ChainCopy(failing.azure.compute, failing.azure.dataPlane);
    await copy.run(failing.request({ upTo: failing.snapshots[0]!.id }));
    // The blob vanishes mid-step: every write now fails with 404, which is not retried.
    let armed = true;
    failing.azure.options = {
      afterWrite: () => {
        if (armed) {
          armed = false;
          onlyBlob(failing).store = undefined;
        }
      },
    };
    await assert.rejects(
      copy.run(failing.request()),
      (e: unknown) => e instanceof CopyFailedError && e.failures.length > 0 && e.failures.every((f) => f.code === 'BlobNotFound'),
    );
    assert.equal(failing.azure.activeGrants().length, 0);

    const duringGrant = scenario();
    const stop = new AbortController();
    const grantAccess = duringGrant.azure.compute.grantAccess.bind(duringGrant.azure.compute);
    duringGrant.azure.compute.grantAccess = async (id, access, seconds, options) => {
      await grantAccess(id, access, seconds, options);
      // Azure granted, but the caller gave up before hearing back.
      stop.abort();
      throw new DOMException('aborted', 'AbortError');
    };
    const early = await new ChainCopy(duringGrant.azure.compute, duringGrant.azure.dataPlane).run(duringGrant.request({ signal: stop.signal }));
    assert.equal(early.status, 'cancelled');
    assert.equal(duringGrant.azure.activeGrants().length, 0);

    const cancelled = scenario();
    const controller = new AbortController();
    cancelled.azure.options = { afterWrite: () => controller.abort() };
    const result = await new ChainCopy(cancelled.azure.compute, cancelled.azure.dataPlane).run(cancelled.request({ signal: controller.signal }));
    assert.equal(result.status, 'cancelled');
    assert.equal(cancelled.azure.activeGrants().length, 0);
  });

  void it('fails loudly, listing the ranges, when the target does not match the source', async () => {
    const s = scenario();
    const copy = new ChainCopy(s.azure.compute, s.azure.dataPlane);
    const req = s.request({ upTo: s.snapshots[0]!.id });
    const blob = req.store.blob(targetBlobName(s.snapshots[0]!.familyId!, s.snapshots[0]!.sourceResourceId, 'x')) as FakeBlob;
    blob.corruptAt.add(3 * MiB + 512 + 4 * MiB);
    await assert.rejects(
      copy.run(req),
      (e: unknown) => e instanceof VerificationFailedError && e.mismatches.some((m) => m.offset === 3 * MiB + 512 + 4 * MiB) && /FAILED/.test(e.message),
    );
    assert.equal(blob.blobSnapshots.size, 0, 'no blob snapshot of a bad copy');
    assert.equal(s.azure.activeGrants().length, 0);
  });

  void it('refuses a second copy of the same family while one runs, but not another family', async () => {
    const s = scenario();
    const lock = await FamilyLock.acquire(s.dir, s.snapshots[0]!.familyId!);
    try {
      await assert.rejects(
        new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request()),
        (e: DiskDeltaError) => e.code === 'CopyInProgress' && e.message.includes(String(process.pid)),
      );
      const other = s.azure.disk('other', 8 * MiB);
      other.write(4096, 8192, 9);
      const snap = other.snapshot();
      const result = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ snapshots: [snap], journalFile: `${s.dir}/other.jsonl` }));
      assert.equal(result.status, 'completed');
    } finally {
      await lock.release();
    }
    const after = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request());
    assert.equal(after.status, 'completed');
  });

  void it('never writes a SAS into its journal, notices or errors', async () => {
    const s = scenario({ faults: { rate: 0.1, kinds: ['sasExpiry', 'busy'] }, seed: 11 });
    const text: string[] = [];
    const controller = new AbortController();
    let writes = 0;
    s.azure.options = {
      ...s.azure.options,
      afterWrite: () => {
        writes += 1;
        if (writes === 20) controller.abort();
      },
    };
    const result = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(
      s.request({ signal: controller.signal, onNotice: (n) => text.push(n.message), onProgress: (p) => text.push(JSON.stringify(p)) }),
    );
    assert.equal(result.status, 'cancelled');
    const journal = readFileSync(s.journalFile, 'utf8');
    assert.ok(journal.length > 0);
    text.push(journal);
    for (const t of text) {
      assert.doesNotMatch(t, /sig=|tok\d+x/);
      assert.equal(redact(t), t);
    }
  });
});

void describe('ChainCopy when the family changes shape', () => {
  void it('copies in full when the last copied snapshot was deleted at the source', async () => {
    const s = scenario();
    const copy = new ChainCopy(s.azure.compute, s.azure.dataPlane);
    await copy.run(s.request({ upTo: s.snapshots[1]!.id }));
    const notices: CopyNotice[] = [];
    const remaining = [s.snapshots[0]!, s.snapshots[2]!, s.snapshots[3]!];
    const result = await copy.run(s.request({ snapshots: remaining, onNotice: (n) => notices.push(n) }));
    assert.deepEqual(
      result.steps.map((x) => [x.mode, x.fullReason]),
      [
        ['full', 'previousMissing'],
        ['delta', undefined],
      ],
    );
    assert.ok(notices.some((n) => n.code === 'FullCopyPreviousMissing'));
    assertIdenticalCopies(s);
  });

  void it('follows a resize within the 4 TB side by diff, moving the VHD footer', async () => {
    const s = scenario();
    const copy = new ChainCopy(s.azure.compute, s.azure.dataPlane);
    await copy.run(s.request());
    s.disk.resize(64 * MiB);
    s.disk.write(60 * MiB, MiB, 77);
    const grown = s.disk.snapshot();
    const result = await copy.run(s.request({ snapshots: [...s.snapshots, grown] }));
    assert.deepEqual(
      result.steps.map((x) => x.mode),
      ['delta'],
    );
    const blob = onlyBlob(s);
    assert.equal(blob.store!.size, 64 * MiB + 512);
    const last = [...blob.blobSnapshots.values()].pop()!;
    assert.ok(sameContent(last.store, snapshotStore(s.azure, grown)));
  });
});

void describe('ChainCopy across a 4 TB boundary resize', () => {
  void it('copies the snapshot after the resize in full, says so, and stays identical', async () => {
    const s = scenario();
    const TiB = 1024 ** 4;
    const disk = s.azure.disk('big', 4 * TiB);
    disk.write(0, MiB, 1);
    disk.write(4 * TiB - MiB, MiB, 2);
    const a = disk.snapshot();
    disk.resize(4 * TiB + 64 * MiB);
    disk.write(4 * TiB + MiB, 2 * MiB, 3);
    disk.clear(0, 512 * 2);
    const b = disk.snapshot();
    disk.write(2 * MiB, MiB, 4);
    const c = disk.snapshot();
    const notices: CopyNotice[] = [];
    // Snapshots holding a grant while the step after the full copy writes.
    const grantedDuringLast = new Set<string>();
    const result = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(
      s.request({
        snapshots: [a, b, c],
        windowBytes: 64 * 1024 * MiB,
        onNotice: (n) => notices.push(n),
        onProgress: (p) => {
          if (p.snapshotIndex === 2 && p.phase === 'copying') for (const g of s.azure.activeGrants()) grantedDuringLast.add(g.snapshotId);
        },
        verify: 'full',
        journalFile: `${s.dir}/big.jsonl`,
      }),
    );
    assert.deepEqual(
      result.steps.map((x) => [x.mode, x.fullReason]),
      [
        ['base', undefined],
        ['full', 'resize4TiB'],
        ['delta', undefined],
      ],
    );
    // The full copy did not diff against the first snapshot, and gave its grant back all the same.
    assert.deepEqual([...grantedDuringLast].sort(), [b.id, c.id].map((id) => id.toLowerCase()).sort());
    assert.equal(s.azure.activeGrants().length, 0);
    assert.ok(notices.some((n) => n.code === 'FullCopyAfterResize' && /4 TB/.test(n.message)));
    const blob = s.azure.blobs.get(result.targetBlobUrl.split('/').pop()!)!;
    const copies = [...blob.blobSnapshots.values()];
    assert.ok(sameContent(copies[0]!.store.clone(4 * TiB + 512), snapshotStore(s.azure, a)));
    assert.ok(sameContent(copies[1]!.store, snapshotStore(s.azure, b)));
    assert.ok(sameContent(copies[2]!.store, snapshotStore(s.azure, c)));
  });
});
