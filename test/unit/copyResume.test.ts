import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import type { CopyNotice } from '../../src/core/copy';
import { ChainCopy, CopyJournal, TARGET_METADATA } from '../../src/core/copy';
import type { DiskDeltaError } from '../../src/core/errors';
import type { Scenario } from './support/copyScenario';
import { makeScenario, minimalRequests } from './support/copyScenario';
import type { PageStore, WriteRecord } from './support/memoryAzure';
import { sameContent, seededRandom, snapshotStore } from './support/memoryAzure';

const scenarios: Scenario[] = [];
function scenario(...args: Parameters<typeof makeScenario>): Scenario {
  const s = makeScenario(...args);
  scenarios.push(s);
  return s;
}
afterEach(() => {
  while (scenarios.length) scenarios.pop()!.cleanup();
});

interface Line {
  r: { t: string; o?: number; l?: number; v?: number };
  h: string;
}

function journalLines(file: string): Line[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
}

function doneRanges(file: string): Array<[number, number]> {
  return journalLines(file)
    .filter((l) => l.r.t === 'done')
    .map((l) => [l.r.o!, l.r.o! + l.r.l!]);
}

function assertAllCopied(s: Scenario): void {
  const blob = [...s.azure.blobs.values()][0]!;
  const bySource = new Map([...blob.blobSnapshots.values()].map((b) => [b.metadata[TARGET_METADATA.snapshot]!, b]));
  for (const source of s.snapshots) assert.ok(sameContent(bySource.get(source.id)!.store, snapshotStore(s.azure, source)), `${source.name} identical`);
  assert.equal(s.azure.activeGrants().length, 0);
}

/** Cancels the copy once `count` target writes have landed. */
function cancelAfter(s: Scenario, count: number): AbortController {
  const controller = new AbortController();
  let seen = 0;
  s.azure.options = {
    ...s.azure.options,
    afterWrite: () => {
      seen += 1;
      if (seen === count) controller.abort();
    },
  };
  return controller;
}

void describe('Resuming a copy from its journal', () => {
  void it('redoes only what the journal does not show done, and ends identical', async () => {
    const s = scenario();
    const copy = new ChainCopy(s.azure.compute, s.azure.dataPlane);
    const base = minimalRequests(s.azure, s.snapshots[0]!, undefined).requests;
    // Stop part-way through the second snapshot (the first delta).
    const controller = cancelAfter(s, base + 3);
    const first = await copy.run(s.request({ signal: controller.signal }));
    assert.equal(first.status, 'cancelled');
    assert.equal(first.steps.length, 1);
    assert.equal(s.azure.activeGrants().length, 0, 'grants revoked on cancel');
    const done = doneRanges(s.journalFile);
    assert.ok(done.length > 0, 'the journal recorded finished operations');
    const before = s.azure.writes.length;
    s.azure.options = {};
    const notices: CopyNotice[] = [];
    const second = await copy.run(s.request({ onNotice: (n) => notices.push(n) }));
    assert.equal(second.status, 'completed');
    assert.ok(notices.some((n) => n.code === 'Resumed'));
    assert.equal(second.steps[0]!.resumed, true);
    assert.ok(second.steps[0]!.bytesSkipped > 0);
    const redone = s.azure.writes.slice(before).filter((w) => w.kind !== 'put');
    const stepTwo = redone.slice(0, second.summaries[0]!.requests);
    for (const w of stepTwo) {
      assert.ok(!done.some(([a, b]) => w.offset >= a && w.offset + w.length <= b), `operation at ${w.offset} was recorded done and must not be redone`);
    }
    const min = minimalRequests(s.azure, s.snapshots[1]!, s.snapshots[0]);
    assert.ok(stepTwo.length < min.requests, 'the resumed step made fewer requests than a fresh one');
    assertAllCopied(s);
  });

  void it('survives repeated interruptions at seeded random points', async () => {
    const s = scenario({ faults: { rate: 0.05, kinds: ['busy', 'reset'] }, seed: 5 });
    const copy = new ChainCopy(s.azure.compute, s.azure.dataPlane);
    const random = seededRandom(42);
    const writesPerRun: WriteRecord[][] = [];
    let status = '';
    for (let run = 0; run < 12 && status !== 'completed'; run += 1) {
      const controller = run < 6 ? cancelAfter(s, 1 + Math.floor(random() * 12)) : undefined;
      if (!controller) s.azure.options = { faults: s.azure.options.faults };
      const before = s.azure.writes.length;
      status = (await copy.run(s.request({ signal: controller?.signal }))).status;
      writesPerRun.push(s.azure.writes.slice(before));
    }
    assert.equal(status, 'completed');
    assert.ok(writesPerRun.length > 3, 'interrupted several times');
    assertAllCopied(s);
    let minimum = 0;
    for (let i = 0; i < 4; i += 1) minimum += minimalRequests(s.azure, s.snapshots[i]!, s.snapshots[i - 1]).requests;
    // Each interruption redoes at most the operations in flight (concurrency 8).
    assert.ok(s.azure.writes.length <= minimum + 8 * (writesPerRun.length - 1), `${s.azure.writes.length} writes for a minimum of ${minimum}`);
  });

  void it('drops a torn last line (an interrupted write) with a notice and carries on', async () => {
    const s = scenario();
    const controller = cancelAfter(s, 5);
    await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ signal: controller.signal }));
    appendFileSync(s.journalFile, '{"r":{"t":"done","o":1048576,"l":5');
    s.azure.options = {};
    const notices: CopyNotice[] = [];
    const result = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ onNotice: (n) => notices.push(n) }));
    assert.equal(result.status, 'completed');
    assert.ok(notices.some((n) => n.code === 'JournalTornLine' && /cut short/.test(n.message)));
    assertAllCopied(s);
  });

  void it('reports a corrupt line, an unknown version or another copy’s journal, and changes nothing', async () => {
    const s = scenario();
    const controller = cancelAfter(s, 5);
    await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ signal: controller.signal }));
    s.azure.options = {};
    const original = readFileSync(s.journalFile, 'utf8');
    const lines = original.split('\n');
    const target = lines.findIndex((l) => l.includes('"t":"done"'));
    lines[target] = lines[target]!.replace(/"o":(\d)/, (_m, d: string) => `"o":${(Number(d) + 1) % 10}`);
    writeFileSync(s.journalFile, lines.join('\n'));
    const writes = s.azure.writes.length;
    const grants = s.azure.grantCalls;
    await assert.rejects(
      new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request()),
      (e: DiskDeltaError) => e.code === 'JournalCorrupt' && /line \d+/.test(e.message) && e.hint !== undefined,
    );

    const header = { t: 'journal', v: 99, family: s.snapshots[0]!.familyId, target: 'x' };
    const body = JSON.stringify(header);
    writeFileSync(s.journalFile, `${JSON.stringify({ r: header, h: createHash('sha256').update(body).digest('hex').slice(0, 16) })}\n`);
    await assert.rejects(new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request()), (e: DiskDeltaError) => e.code === 'JournalVersion');

    writeFileSync(s.journalFile, original);
    await assert.rejects(
      new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ blobName: 'elsewhere.vhd' })),
      (e: DiskDeltaError) => e.code === 'JournalMismatch',
    );
    assert.equal(s.azure.writes.length, writes);
    assert.equal(s.azure.grantCalls, grants);
  });

  void it('does not trust a journal recorded for another plan of the same snapshot', async () => {
    const s = scenario();
    const controller = cancelAfter(s, 3);
    await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ signal: controller.signal }));
    s.azure.options = {};
    const notices: CopyNotice[] = [];
    const result = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ maxChunkBytes: 1024 * 1024, onNotice: (n) => notices.push(n) }));
    assert.equal(result.status, 'completed');
    assert.ok(notices.some((n) => n.code === 'JournalStepDiscarded'));
    assert.equal(result.steps[0]!.resumed, false);
    assertAllCopied(s);
  });
});

void describe('A target left half-written by another snapshot', () => {
  void it('is copied in full rather than diffed over, and ends identical', async () => {
    const s = scenario();
    const base = minimalRequests(s.azure, s.snapshots[0]!, undefined).requests;
    const stepTwo = minimalRequests(s.azure, s.snapshots[1]!, s.snapshots[0]).requests;
    const controller = cancelAfter(s, base + stepTwo - 1);
    const first = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ signal: controller.signal }));
    assert.equal(first.status, 'cancelled');
    s.azure.options = {};
    const notices: CopyNotice[] = [];
    // The journal is gone too: only the target's own record can tell.
    const result = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(
      s.request({ only: s.snapshots[3]!.id, journalFile: `${s.dir}/fresh.jsonl`, onNotice: (n) => notices.push(n) }),
    );
    assert.deepEqual(
      result.steps.map((x) => [x.mode, x.fullReason]),
      [['full', 'interruptedOtherCopy']],
    );
    assert.ok(notices.some((n) => n.code === 'FullCopyAfterInterruption'));
    const blob = [...s.azure.blobs.values()][0]!;
    const last = [...blob.blobSnapshots.values()].pop()!;
    assert.ok(sameContent(last.store, snapshotStore(s.azure, s.snapshots[3]!)));
    assert.equal(blob.metadata[TARGET_METADATA.inProgress], undefined);
    assert.equal(blob.metadata[TARGET_METADATA.lastSnapshot], s.snapshots[3]!.id);
  });
});

void describe('A copy killed at a snapshot boundary', () => {
  // Between one snapshot's last write and the next one's first, the blob takes a blob snapshot and then the
  // metadata write that records it, while the journal records both a little behind. A kill at either
  // request's landing leaves the journal as written so far and the blob as it is.
  for (const call of ['snapshot', 'setMetadata'] as const) {
    for (const at of [1, 2, 3, 4]) {
      void it(`never reads as a finished older snapshot, and resumes identical, when killed as ${call} #${at} lands`, async () => {
        const s = scenario();
        const controller = new AbortController();
        const journalAtKill = `${s.dir}/at-kill.jsonl`;
        let seen = 0;
        let atKill: { metadata: Record<string, string>; store: PageStore; snapshotsTaken: number } | undefined;
        s.azure.options = {
          afterCall: (c, blob) => {
            if (c !== call || ++seen !== at) return;
            copyFileSync(s.journalFile, journalAtKill);
            atKill = { metadata: { ...blob.metadata }, store: blob.store!.clone(), snapshotsTaken: blob.blobSnapshots.size };
            controller.abort();
          },
        };
        const first = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ signal: controller.signal }));
        assert.equal(first.status, 'cancelled');
        assert.ok(atKill, `${call} #${at} was reached`);
        // Without an in-progress mark the blob must hold exactly the snapshot its metadata names as the last one.
        if (atKill.metadata[TARGET_METADATA.inProgress] === undefined) {
          const last = s.snapshots.find((x) => x.id === atKill!.metadata[TARGET_METADATA.lastSnapshot]);
          assert.ok(last, 'a blob without an in-progress mark names its last snapshot');
          assert.ok(sameContent(atKill.store, snapshotStore(s.azure, last)), `the blob holds ${last.name}, as its metadata says`);
        }
        s.azure.options = {};
        const writesBefore = s.azure.writes.length;
        const result = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(s.request({ journalFile: journalAtKill }));
        // Killed as the last snapshot's record landed: the blob already says it holds everything.
        assert.equal(result.status, atKill.snapshotsTaken === 4 && call === 'setMetadata' ? 'upToDate' : 'completed');
        assertAllCopied(s);
        const blob = [...s.azure.blobs.values()][0]!;
        assert.equal(blob.metadata[TARGET_METADATA.lastSnapshot], s.snapshots[3]!.id);
        assert.equal(blob.metadata[TARGET_METADATA.inProgress], undefined);
        // The step whose snapshot was taken had every write journalled: only the later steps write again.
        let remaining = 0;
        for (let i = atKill.snapshotsTaken; i < 4; i += 1) remaining += minimalRequests(s.azure, s.snapshots[i]!, s.snapshots[i - 1]).requests;
        assert.ok(s.azure.writes.length - writesBefore <= remaining, `${s.azure.writes.length - writesBefore} writes on resume for ${remaining} left`);
      });
    }
  }
});

void describe('CopyJournal', () => {
  void it('keeps done operations across reopen, compacts, and forgets a finished step', async () => {
    const s = scenario();
    const file = `${s.dir}/j.jsonl`;
    const { journal } = await CopyJournal.open(file, 'fam', 'https://a.blob.test/c/b.vhd', { compactEvery: 10 });
    await journal.beginStep('plan-1', '/snap/1', 'base');
    await Promise.all(Array.from({ length: 40 }, (_v, i) => journal.recordDone(i * 4096, 4096)));
    await journal.recordPhase('copied');
    await journal.close();
    assert.ok(journalLines(file).length < 20, 'compacted: touching operations coalesce');
    const reopened = await CopyJournal.open(file, 'fam', 'https://a.blob.test/c/b.vhd');
    assert.equal(reopened.journal.currentStep?.planId, 'plan-1');
    assert.equal(reopened.journal.currentStep?.doneAboveWatermark, 40 * 4096);
    assert.ok(reopened.journal.isDone(4096 * 7, 4096 * 3));
    assert.ok(!reopened.journal.isDone(40 * 4096, 512));
    assert.ok(reopened.journal.hasPhase('copied'));
    assert.equal(await reopened.journal.beginStep('plan-1', '/snap/1', 'base'), true);
    await reopened.journal.finishStep();
    await reopened.journal.close();
    const last = await CopyJournal.open(file, 'fam', 'https://a.blob.test/c/b.vhd');
    assert.equal(last.journal.currentStep, undefined);
    assert.equal(last.journal.lastFinishedPlanId, 'plan-1');
    await last.journal.close();
  });

  void it('stays small however many operations a plan has: below the watermark only the watermark is kept', async () => {
    const s = scenario();
    const file = `${s.dir}/w.jsonl`;
    const { journal } = await CopyJournal.open(file, 'fam', 'https://a.blob.test/c/b.vhd', { compactEvery: 100 });
    await journal.beginStep('plan-2', '/snap/2', 'base');
    // 5,000 separate ranges (gaps between them), finished in order.
    for (let i = 0; i < 5000; i += 1) await journal.recordDone(i * 8192, 512, i * 8192 + 512);
    // One finished out of order, above the watermark.
    await journal.recordDone(5001 * 8192, 512);
    await journal.close();
    const reopened = await CopyJournal.open(file, 'fam', 'https://a.blob.test/c/b.vhd');
    assert.ok(journalLines(file).length <= 5, `${journalLines(file).length} lines`);
    assert.equal(reopened.journal.currentStep?.watermark, 4999 * 8192 + 512);
    assert.ok(reopened.journal.isDone(1234 * 8192, 512));
    assert.ok(reopened.journal.isDone(5001 * 8192, 512));
    assert.ok(!reopened.journal.isDone(5000 * 8192, 512));
    await reopened.journal.close();
  });
});
