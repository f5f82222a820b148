// The one entry point both front ends start copies through (src/core/copy/start.ts) and the one account of a
// copy's progress they show (CopyProgressTracker, formatCopyProgress).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import type { CopyProgress, OverallProgress } from '../../src/core/copy';
import {
  classifyError,
  CopyProgressTracker,
  countOf,
  DEFAULT_CONTAINER,
  formatCopyProgress,
  nativeCopyName,
  prepareDifferentialCopy,
  previewDifferentialCopy,
  targetBlobName,
  TARGET_METADATA,
  unreachableTarget,
} from '../../src/core/copy';
import type { DataPlane, TargetStore } from '../../src/core/ports';
import { DiskDeltaError } from '../../src/core/errors';
import { makeScenario, MiB, scratchDirectory, type Scenario } from './support/copyScenario';
import { FAKE_ACCOUNT, sameContent, snapshotStore } from './support/memoryAzure';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
function scenario(): Scenario & { stateDirectory: string } {
  const s = makeScenario();
  const stateDirectory = mkdtempSync(path.join(scratchDirectory(), 'dd-state-'));
  cleanups.push(
    () => s.cleanup(),
    () => rmSync(stateDirectory, { recursive: true, force: true }),
  );
  return { ...s, stateDirectory };
}

function progress(p: Partial<CopyProgress> & Pick<CopyProgress, 'phase' | 'snapshotIndex' | 'snapshotCount'>): CopyProgress {
  return {
    bytesDone: 0,
    bytesTotal: 0,
    bytesTotalIsEstimate: true,
    rangesDone: 0,
    requests: 0,
    retries: 0,
    bytesRelayed: 0,
    bytesPerSecond: 0,
    etaSeconds: undefined,
    ...p,
  };
}

void describe('prepareDifferentialCopy', () => {
  void it('names the blob, journal and lock, creates the default container and copies the family byte for byte', async () => {
    const s = scenario();
    s.azure.containers.clear();
    const copy = await prepareDifferentialCopy(
      { compute: s.azure.compute, dataPlane: s.azure.dataPlane },
      { snapshots: s.snapshots, targetAccountId: FAKE_ACCOUNT.id, stateDirectory: s.stateDirectory, concurrency: 8 },
    );
    const first = s.snapshots[0]!;
    assert.equal(copy.container, DEFAULT_CONTAINER);
    assert.equal(copy.blobName, targetBlobName(first.familyId!, first.sourceResourceId, first.name));
    assert.equal(path.dirname(copy.journalFile), path.join(s.stateDirectory, 'copies'));
    assert.equal(copy.upTo.id, s.snapshots[3]!.id, 'the newest snapshot when none is named');
    assert.equal(s.azure.writes.length, 0, 'preparing writes nothing');
    assert.ok(!s.azure.containers.has(DEFAULT_CONTAINER), 'preparing makes no data-plane request');

    const events: OverallProgress[] = [];
    const tracker = new CopyProgressTracker();
    const result = await copy.run({ onProgress: (p) => events.push(tracker.update(p)) });
    assert.equal(result.status, 'completed');
    assert.equal(result.summaries.length, 4);
    assert.ok(s.azure.containers.has(DEFAULT_CONTAINER), 'the default container was created');
    const blob = [...s.azure.blobs.values()][0]!;
    for (const snap of blob.blobSnapshots.values()) {
      const source = s.snapshots.find((x) => x.id === snap.metadata[TARGET_METADATA.snapshot])!;
      assert.ok(sameContent(snap.store, snapshotStore(s.azure, source)), `${source.name} copied byte for byte`);
    }
    assert.ok(existsSync(path.join(s.stateDirectory, 'copies')), 'locks and journals live in <state>/copies');

    // The overall account: the final total equals what was written (coalesced gaps included), and once final it never changes.
    const moved = result.summaries.reduce((n, x) => n + (x.bytesMoved ?? x.bytesCopied), 0);
    assert.ok(
      result.summaries.some((x) => (x.coalescedGaps ?? 0) > 0),
      'the paced copy coalesced the 16 small writes of s4',
    );
    const finalIndex = events.findIndex((e) => e.totalIsFinal);
    assert.ok(finalIndex >= 0, 'the total became final');
    for (const e of events.slice(finalIndex)) assert.equal(e.bytesTotal, moved, 'a final total never changes');
    for (const e of events.slice(0, finalIndex)) assert.ok(e.bytesTotal <= moved, 'a lower bound never overstates');
    for (let i = 1; i < events.length; i++) {
      assert.ok(events[i]!.bytesTotal >= events[i - 1]!.bytesTotal, 'the total never shrinks');
      assert.ok(events[i]!.fraction >= events[i - 1]!.fraction, 'the fraction never goes back');
    }
    assert.ok(
      events.every((e) => e.snapshotName !== undefined),
      'every event names its snapshot',
    );
    assert.equal(events.at(-1)!.fraction, 1);
  });

  void it('copies up to a named snapshot into a named container, which must exist', async () => {
    const s = scenario();
    const ports = { compute: s.azure.compute, dataPlane: s.azure.dataPlane };
    const missing = await prepareDifferentialCopy(ports, {
      snapshots: s.snapshots,
      upTo: s.snapshots[1]!.id,
      targetAccountId: FAKE_ACCOUNT.id,
      container: 'elsewhere',
      stateDirectory: s.stateDirectory,
    });
    await assert.rejects(missing.run(), (e: unknown) => e instanceof DiskDeltaError && e.code === 'ContainerNotFound');
    const copy = await prepareDifferentialCopy(ports, {
      snapshots: s.snapshots,
      upTo: s.snapshots[1]!.id,
      targetAccountId: FAKE_ACCOUNT.id,
      container: 'copies',
      stateDirectory: s.stateDirectory,
    });
    const result = await copy.run();
    assert.equal(result.summaries.length, 2);
  });

  void it('looks the account up by id (its endpoint as it is now) and refuses one in the source region or unknown', async () => {
    const s = scenario();
    const ports = { compute: s.azure.compute, dataPlane: s.azure.dataPlane };
    const copy = await prepareDifferentialCopy(ports, {
      snapshots: s.snapshots,
      targetAccountId: FAKE_ACCOUNT.id.toUpperCase(),
      stateDirectory: s.stateDirectory,
    });
    assert.equal(copy.account.blobEndpoint, FAKE_ACCOUNT.blobEndpoint);
    const sameRegion = s.snapshots.map((x) => ({ ...x, location: FAKE_ACCOUNT.location }));
    await assert.rejects(
      prepareDifferentialCopy(ports, { snapshots: sameRegion, targetAccountId: FAKE_ACCOUNT.id, stateDirectory: s.stateDirectory }),
      (e: unknown) => e instanceof DiskDeltaError && e.code === 'TargetInSourceRegion',
    );
    await assert.rejects(
      prepareDifferentialCopy(ports, { snapshots: s.snapshots, targetAccountId: FAKE_ACCOUNT.id.replace('drwest', 'gone'), stateDirectory: s.stateDirectory }),
      (e: unknown) => e instanceof DiskDeltaError && e.code === 'TargetAccountNotFound',
    );
    await assert.rejects(
      prepareDifferentialCopy(ports, { snapshots: s.snapshots, targetAccountId: FAKE_ACCOUNT.id, container: 'Bad_Name', stateDirectory: s.stateDirectory }),
      (e: unknown) => e instanceof DiskDeltaError && e.code === 'InvalidName',
    );
  });

  void it('ends at once, saying which account and what to do, when the target refuses connections', async () => {
    const s = scenario();
    let attempts = 0;
    const refusing: TargetStore = {
      account: FAKE_ACCOUNT,
      container: DEFAULT_CONTAINER,
      containerExists: () => {
        attempts += 1;
        // What the storage adapter throws for a refused connection (Node's code, the endpoint in the message).
        return Promise.reject(new DiskDeltaError('Checking container disk-delta: connect ECONNREFUSED drwest.blob.test:443', 'ECONNREFUSED'));
      },
      createContainer: () => Promise.reject(new Error('not reached')),
      blob: (name) => ({ displayUrl: `${FAKE_ACCOUNT.blobEndpoint}${DEFAULT_CONTAINER}/${name}` }) as ReturnType<TargetStore['blob']>,
    };
    const dataPlane: DataPlane = {
      ...s.azure.dataPlane,
      openSas: (u) => s.azure.dataPlane.openSas(u),
      openWritableSas: (u) => s.azure.dataPlane.openWritableSas(u),
      targetStore: () => Promise.resolve(refusing),
    };
    const copy = await prepareDifferentialCopy(
      { compute: s.azure.compute, dataPlane },
      { snapshots: s.snapshots, targetAccountId: FAKE_ACCOUNT.id, stateDirectory: s.stateDirectory },
    );
    const started = Date.now();
    await assert.rejects(copy.run(), (e: unknown) => {
      assert.ok(e instanceof DiskDeltaError);
      assert.equal(e.code, 'TargetUnreachable');
      assert.match(e.message, /drwest cannot be reached at https:\/\/drwest\.blob\.test\/: the connection was refused \(ECONNREFUSED\)/);
      assert.match(e.hint ?? '', /copy again/);
      return true;
    });
    assert.equal(attempts, 1, 'a refused connection is not retried');
    assert.ok(Date.now() - started < 5000);
    assert.equal(s.azure.grantCalls, 0, 'no grant was taken');
  });
});

void describe('classifyError: endpoints that are not there', () => {
  const cases: Array<[string, unknown]> = [
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' })],
    ['unknown host', Object.assign(new Error('getaddrinfo ENOTFOUND x.invalid'), { code: 'ENOTFOUND' })],
    ['untrusted certificate', Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })],
    ['refusal only in the message', new DiskDeltaError('Checking container c: connect ECONNREFUSED 127.0.0.1:9', 'NetworkError')],
    ['refusal as a cause', new Error('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) })],
  ];
  for (const [name, error] of cases) void it(`${name} -> unreachable`, () => assert.equal(classifyError(error).kind, 'unreachable'));
  void it('a reset connection is still transient', () => {
    assert.equal(classifyError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })).kind, 'transient');
  });
  void it('an error that is not about the target is named as such', () => {
    const e = unreachableTarget(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }), FAKE_ACCOUNT);
    assert.equal(e?.code, 'TargetUnreachable');
    assert.match(e!.message, /An endpoint the copy needs cannot be reached/);
    assert.equal(unreachableTarget(new DiskDeltaError('busy', 'ServerBusy', undefined, 503), FAKE_ACCOUNT), undefined);
  });
});

void describe('previewDifferentialCopy', () => {
  void it('counts what a first copy moves: every snapshot, the first in full, unknown sizes bounded by the disk', () => {
    const s = scenario();
    const known = new Map([
      [`${s.snapshots[0]!.id}>${s.snapshots[1]!.id}`, 3 * MiB],
      [`${s.snapshots[1]!.id}>${s.snapshots[2]!.id}`, 5 * MiB],
    ]);
    const preview = previewDifferentialCopy(s.snapshots, { upTo: s.snapshots[2]!.id, changedBytes: (o, n) => (o ? known.get(`${o.id}>${n.id}`) : undefined) });
    assert.deepEqual(
      preview.snapshots.map((x) => x.name),
      s.snapshots.slice(0, 3).map((x) => x.name),
    );
    assert.equal(preview.base, true);
    assert.deepEqual(preview.expectedBytes, [undefined, 3 * MiB, 5 * MiB]);
    assert.equal(preview.knownBytes, 8 * MiB);
    assert.equal(preview.unknownCount, 1);
    assert.equal(preview.atMostBytes, 8 * MiB + s.snapshots[0]!.sizeBytes + 512);
    // 60 MiB/s and 500 requests/s: 8 MiB in at least two 4 MiB requests is bound by bytes.
    assert.ok(Math.abs(preview.secondsAtLimit - 8 / 60) < 1e-9);
  });

  void it('after an earlier copy, only the snapshots after it, their diff sizes known', () => {
    const s = scenario();
    const preview = previewDifferentialCopy(s.snapshots, { lastCopiedSnapshotId: s.snapshots[1]!.id, changedBytes: (o) => (o ? 2 * MiB : undefined) });
    assert.deepEqual(
      preview.snapshots.map((x) => x.id),
      [s.snapshots[2]!.id, s.snapshots[3]!.id],
    );
    assert.equal(preview.base, false);
    assert.equal(preview.knownBytes, 4 * MiB);
    assert.equal(preview.unknownCount, 0);
    const many = previewDifferentialCopy(s.snapshots, { lastCopiedSnapshotId: s.snapshots[3]!.id, changedBytes: () => 1 });
    assert.equal(many.snapshots.length, 0, 'up to date: nothing to move');
  });

  void it('names CopyStart targets <snapshot>-<region> within 80 characters', () => {
    assert.equal(nativeCopyName({ name: 'app-1' }, 'westus2'), 'app-1-westus2');
    assert.equal(nativeCopyName({ name: 'a'.repeat(80) }, 'westus2').length, 80);
  });
});

void describe('CopyProgressTracker and formatCopyProgress', () => {
  void it('marks a total as a lower bound until the last snapshot is listed, then keeps it', () => {
    const t = new CopyProgressTracker();
    const a = t.update(
      progress({
        phase: 'copying',
        snapshotIndex: 0,
        snapshotCount: 2,
        snapshotName: 'app-1',
        bytesDone: 10 * MiB,
        bytesTotal: 40 * MiB,
        bytesPerSecond: 10 * MiB,
      }),
    );
    assert.equal(a.totalIsFinal, false);
    assert.equal(a.bytesTotal, 40 * MiB);
    assert.equal(a.fraction, 0.125, 'a quarter of the first of two snapshots, by what is listed so far');
    assert.match(formatCopyProgress(a), /^app-1 \[1\/2\] copying 10 MiB of at least 40 MiB · 10 MiB\/s · at least 3 s left$/);
    const b = t.update(
      progress({
        phase: 'copying',
        snapshotIndex: 0,
        snapshotCount: 2,
        snapshotName: 'app-1',
        bytesDone: 40 * MiB,
        bytesTotal: 40 * MiB,
        bytesTotalIsEstimate: false,
        bytesPerSecond: 10 * MiB,
      }),
    );
    assert.equal(b.totalIsFinal, false, 'the second snapshot is not listed yet');
    const c = t.update(
      progress({
        phase: 'copying',
        snapshotIndex: 1,
        snapshotCount: 2,
        snapshotName: 'app-2',
        bytesDone: 2 * MiB,
        bytesTotal: 8 * MiB,
        bytesPerSecond: 10 * MiB,
      }),
    );
    assert.equal(c.bytesDone, 42 * MiB, 'bytes add up over the snapshots');
    assert.equal(c.bytesTotal, 48 * MiB);
    assert.equal(c.totalIsFinal, false);
    const d = t.update(
      progress({
        phase: 'copying',
        snapshotIndex: 1,
        snapshotCount: 2,
        snapshotName: 'app-2',
        bytesDone: 4 * MiB,
        bytesTotal: 10 * MiB,
        bytesTotalIsEstimate: false,
        bytesPerSecond: 2 * MiB,
      }),
    );
    assert.equal(d.totalIsFinal, true);
    assert.equal(d.bytesTotal, 50 * MiB);
    assert.equal(d.etaSeconds, 3, 'what remains of the whole plan at the current rate');
    assert.equal(formatCopyProgress(d), 'app-2 [2/2] copying 44 MiB of 50 MiB · 2 MiB/s · 3 s left');
    const e = t.update(
      progress({
        phase: 'revoking',
        snapshotIndex: 1,
        snapshotCount: 2,
        snapshotName: 'app-2',
        bytesDone: 10 * MiB,
        bytesTotal: 10 * MiB,
        bytesTotalIsEstimate: false,
      }),
    );
    assert.equal(e.bytesTotal, 50 * MiB, 'a final total never changes');
    assert.equal(formatCopyProgress(e), 'app-2 [2/2] revoking access', 'no byte counts while nothing moves');
    assert.ok(e.fraction >= d.fraction);
    assert.equal(
      t.update(progress({ phase: 'done', snapshotIndex: 1, snapshotCount: 2, bytesDone: 10 * MiB, bytesTotal: 10 * MiB, bytesTotalIsEstimate: false }))
        .fraction,
      1,
    );
  });

  void it('counts on the expected sizes of snapshots not listed yet for the time left', () => {
    const t = new CopyProgressTracker({ expectedBytes: [20 * MiB, 30 * MiB] });
    const a = t.update(
      progress({
        phase: 'copying',
        snapshotIndex: 0,
        snapshotCount: 2,
        bytesDone: 10 * MiB,
        bytesTotal: 20 * MiB,
        bytesTotalIsEstimate: false,
        bytesPerSecond: 10 * MiB,
      }),
    );
    assert.equal(a.etaSeconds, 4, '10 MiB left of the first and 30 MiB expected of the second, at 10 MiB/s');
    assert.equal(a.etaIsLowerBound, false);
    assert.equal(a.bytesExpected, 50 * MiB);
    assert.match(formatCopyProgress(a), /· 4 s left$/);
  });

  void it('shows phases without bytes before anything is listed, and counts requests for the CLI', () => {
    const t = new CopyProgressTracker();
    const a = t.update(progress({ phase: 'granting', snapshotIndex: 0, snapshotCount: 1, snapshotName: 'x', requests: 3, retries: 1 }));
    assert.equal(formatCopyProgress(a), 'x [1/1] granting read access');
    assert.equal(formatCopyProgress(a, { requests: true }), 'x [1/1] granting read access · 3 requests, 1 retry');
    assert.equal(countOf(1, 'snapshot'), '1 snapshot');
    assert.equal(countOf(2, 'snapshot'), '2 snapshots');
  });
});
