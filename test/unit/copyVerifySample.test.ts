import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { CopyNotice } from '../../src/core/copy';
import { ChainCopy, parseVerifyMode, samplePercent, sampleSelector, targetBlobName, VerificationFailedError } from '../../src/core/copy';
import { DiskDeltaError } from '../../src/core/errors';
import type { Scenario } from './support/copyScenario';
import { makeScenario, MiB } from './support/copyScenario';
import type { FakeBlob } from './support/memoryAzure';

const scenarios: Scenario[] = [];
function scenario(): Scenario {
  const s = makeScenario();
  scenarios.push(s);
  return s;
}
afterEach(() => {
  while (scenarios.length) scenarios.pop()!.cleanup();
});

/** A read the first snapshot's verification makes: the start of a 4 MiB write chunk inside its 3 MiB + 512 range. */
const CORRUPT = 3 * MiB + 512 + 4 * MiB;

/** The first seed from 1 whose sample of `percent` picks the ranges starting at `picked` and none at `skipped`. */
function seedThat(percent: number, picked: readonly number[], skipped: readonly number[]): number {
  for (let seed = 1; ; seed++) {
    const pick = sampleSelector(seed, percent);
    if (picked.every(pick) && !skipped.some(pick)) return seed;
  }
}

void describe('sampled verification', () => {
  void it('reads sample:<percent> and refuses what is not a mode', () => {
    assert.equal(parseVerifyMode('sample:5'), 'sample:5');
    assert.equal(parseVerifyMode(' Sample:12.5 '), 'sample:12.5');
    assert.equal(parseVerifyMode('changed'), 'changed');
    assert.equal(samplePercent('sample:12.5'), 12.5);
    assert.equal(samplePercent('changed'), undefined);
    for (const bad of ['sample:0', 'sample:101', 'sample:', 'sample:-1', 'some'])
      assert.throws(
        () => parseVerifyMode(bad),
        (e: unknown) => e instanceof DiskDeltaError && e.code === 'InvalidVerifyMode' && /sample:<percent>/.test(e.hint ?? ''),
      );
  });

  void it('picks about the share asked for, the same ranges for the same seed', () => {
    const pick = sampleSelector(1234, 10);
    const offsets = Array.from({ length: 20_000 }, (_, i) => i * 8192 + 2 ** 40);
    const picked = offsets.filter(pick).length;
    assert.ok(picked > 1700 && picked < 2300, `${picked} of 20,000 picked at 10%`);
    assert.deepEqual(offsets.filter(sampleSelector(1234, 10)), offsets.filter(pick));
    assert.notDeepEqual(offsets.filter(sampleSelector(4321, 10)), offsets.filter(pick));
    assert.equal(offsets.filter(sampleSelector(1, 100)).length, offsets.length);
  });

  void it('detects a corrupted byte when the sample covers it, and says what it sampled', async () => {
    const s = scenario();
    const seed = seedThat(30, [CORRUPT], []);
    const notices: CopyNotice[] = [];
    const req = s.request({ upTo: s.snapshots[0]!.id, verify: 'sample:30', verifySeed: seed, onNotice: (n) => notices.push(n) });
    const blob = req.store.blob(targetBlobName(s.snapshots[0]!.familyId!, s.snapshots[0]!.sourceResourceId, 'x')) as FakeBlob;
    blob.corruptAt.add(CORRUPT);
    await assert.rejects(
      new ChainCopy(s.azure.compute, s.azure.dataPlane).run(req),
      (e: unknown) => e instanceof VerificationFailedError && e.mismatches.some((m) => m.offset === CORRUPT),
    );
    assert.ok(
      notices.some((n) => n.code === 'VerifySample' && n.message.includes(`seed ${seed}`) && n.message.includes('30%')),
      'the sample and its seed are reported',
    );
    assert.equal(blob.blobSnapshots.size, 0, 'no blob snapshot of a bad copy');
  });

  void it('reports the seed and the bytes it hashed, fewer than a full check of the changed ranges', async () => {
    const s = scenario();
    // The first snapshot's writes start at 0, 3 MiB + 512 (then every 4 MiB), 20 MiB and the disk's end.
    const seed = seedThat(30, [3 * MiB + 512], [CORRUPT]);
    const req = s.request({ upTo: s.snapshots[0]!.id, verify: 'sample:30', verifySeed: seed });
    // What a sample does not pick, it does not check: a fault there goes unseen, which is why the seed is reported.
    (req.store.blob(targetBlobName(s.snapshots[0]!.familyId!, s.snapshots[0]!.sourceResourceId, 'x')) as FakeBlob).corruptAt.add(CORRUPT);
    const sampled = await new ChainCopy(s.azure.compute, s.azure.dataPlane).run(req);
    const step = sampled.summaries[0]!;
    assert.equal(step.verifySeed, seed);
    assert.ok(step.verifiedBytes! > 0 && step.verifiedBytes! < step.bytesCopied, `${step.verifiedBytes} of ${step.bytesCopied} bytes hashed`);
    assert.ok(step.verifiedRanges! > 0);

    const other = scenario();
    const all = await new ChainCopy(other.azure.compute, other.azure.dataPlane).run(other.request({ upTo: other.snapshots[0]!.id }));
    assert.equal(all.summaries[0]!.verifySeed, undefined);
    assert.ok(all.summaries[0]!.verifiedBytes! >= all.summaries[0]!.bytesCopied, 'verify changed hashes every changed byte');
  });
});
