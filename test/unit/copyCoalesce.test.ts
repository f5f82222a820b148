import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { DiffRange } from '../../src/core/model';
import { boundOf, boundSeconds, coalesceOps, coalesceStream, type CoalescedOp } from '../../src/core/copy/coalesce';
import { diffOps, type PageOp } from '../../src/core/copy/plan';

const PAGE = 512;
const KiB = 1024;
const MiB = 1024 * KiB;

async function* stream<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const x of items) yield await Promise.resolve(x);
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** A diff over a disk of `pages` pages: per page 0 = unchanged, 1 = changed, 2 = cleared, as merged DiffRanges. */
function diffFromPages(kinds: readonly number[]): DiffRange[] {
  const out: DiffRange[] = [];
  for (let i = 0; i < kinds.length;) {
    const k = kinds[i]!;
    let j = i;
    while (j < kinds.length && kinds[j] === k) j++;
    if (k !== 0) out.push({ offset: i * PAGE, length: (j - i) * PAGE, kind: k === 1 ? 'changed' : 'cleared' });
    i = j;
  }
  return out;
}

void describe('coalescing a differential copy', () => {
  void it('applying the coalesced plan onto the previous snapshot gives the new snapshot, within every rule', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(0, 0, 0, 1, 1, 2), { minLength: 1, maxLength: 200 }),
        fc.array(fc.integer({ min: 1, max: 255 }), { minLength: 200, maxLength: 200 }),
        fc.integer({ min: 1, max: 16 }),
        fc.double({ min: 1, max: 10_000, noNaN: true }),
        fc.double({ min: 1, max: 100 * MiB, noNaN: true }),
        fc.integer({ min: 1, max: 200 }),
        async (kinds, contents, chunkPages, requestsPerSecond, bytesPerSecond, batchOps) => {
          const maxChunk = chunkPages * PAGE;
          // One value per page stands for its 512 bytes.
          const previous = kinds.map((_k, i) => 1000 + i);
          const source = kinds.map((k, i) => (k === 1 ? contents[i]! : k === 2 ? 0 : previous[i]!));
          const ops = await collect(diffOps(stream(diffFromPages(kinds)), maxChunk));
          const plan = await collect(coalesceStream(stream(ops), { requestsPerSecond, bytesPerSecond }, maxChunk, batchOps));

          const target = [...previous];
          const covered = kinds.map(() => false);
          let last = -1;
          for (const op of plan) {
            assert.ok(op.offset % PAGE === 0 && op.length % PAGE === 0 && op.length > 0, 'aligned and not empty');
            assert.ok(op.offset >= last, 'offset order');
            last = op.offset + op.length;
            for (let p = op.offset / PAGE; p < (op.offset + op.length) / PAGE; p++) {
              if (op.op === 'write') {
                assert.ok(op.length <= maxChunk, `write of ${op.length} bytes over the ${maxChunk}-byte limit`);
                assert.notEqual(kinds[p], 2, `a write covers cleared page ${p}`);
                target[p] = source[p]!;
              } else {
                target[p] = 0;
              }
              covered[p] = true;
            }
          }
          assert.deepEqual(target, source);
          kinds.forEach((k, p) => {
            if (k !== 0) assert.ok(covered[p], `changed or cleared page ${p} not covered`);
          });
          // The counts the summary reports add up.
          const changed = plan.reduce((n, o) => n + (o.op === 'write' ? (o.changedBytes ?? o.length) : 0), 0);
          assert.equal(changed, kinds.filter((k) => k === 1).length * PAGE);
          const gaps = plan.reduce((n, o) => n + (o.coalescedGaps ?? 0), 0);
          assert.equal(plan.length + gaps, ops.length);
          // Coalescing never makes the bound worse.
          const bytes = (list: readonly PageOp[]) => list.reduce((n, o) => n + (o.op === 'write' ? o.length : 0), 0);
          const rates = { requestsPerSecond, bytesPerSecond };
          assert.ok(boundSeconds(bytes(plan), plan.length, rates) <= boundSeconds(bytes(ops), ops.length, rates) * (1 + 1e-12));
        },
      ),
      { numRuns: 300 },
    );
  });

  void it('leaves a bytes-bound copy alone', () => {
    // 5,000 ranges of 134 KiB: 655 MiB is ~10.9 s at 60 MiB/s against 10 s of requests at 500/s.
    const ops: PageOp[] = Array.from({ length: 5000 }, (_, i) => ({ offset: i * 13 * MiB, length: 268 * PAGE, op: 'write' as const }));
    const rates = { requestsPerSecond: 500, bytesPerSecond: 60 * MiB };
    const plan = coalesceOps(ops, rates, 4 * MiB);
    assert.equal(plan.length, ops.length);
    assert.equal(boundOf(268 * PAGE * 5000, 5000, rates), 'bytes');
  });

  void it('trades bytes for requests until the two terms meet when requests bound the copy', () => {
    // 10,000 changes of 4 KiB, 8 KiB apart in runs of 20, the runs 64 MiB apart.
    const ops: PageOp[] = [];
    for (let run = 0; run < 500; run++) for (let i = 0; i < 20; i++) ops.push({ offset: run * 64 * MiB + i * 12 * KiB, length: 4 * KiB, op: 'write' });
    const rates = { requestsPerSecond: 500, bytesPerSecond: 60 * MiB };
    const before = boundSeconds(ops.length * 4 * KiB, ops.length, rates);
    const plan = coalesceOps(ops, rates, 4 * MiB);
    const moved = plan.reduce((n, o) => n + o.length, 0);
    const after = boundSeconds(moved, plan.length, rates);
    assert.equal(before, 20);
    // Merging every gap would give 500 requests (1 s) of 236 KiB (1.9 s); merging stops where the terms meet,
    // at ~1.83 s: more than ten times faster than the 20 s of the minimal-request plan.
    assert.ok(plan.length > 500 && plan.length < 1000, `${plan.length} requests`);
    assert.ok(after < 1.9, `bound ${after} s`);
    const bytesSeconds = moved / rates.bytesPerSecond;
    const requestSeconds = plan.length / rates.requestsPerSecond;
    assert.ok(
      Math.abs(bytesSeconds - requestSeconds) < (8 * KiB) / rates.bytesPerSecond + 1 / rates.requestsPerSecond,
      `${bytesSeconds} s of bytes against ${requestSeconds} s of requests`,
    );
  });

  void it('never merges across a cleared range or past the chunk limit', () => {
    const ops: PageOp[] = [
      { offset: 0, length: PAGE, op: 'write' },
      { offset: 2 * PAGE, length: PAGE, op: 'clear' },
      { offset: 4 * PAGE, length: PAGE, op: 'write' },
      { offset: 6 * PAGE, length: PAGE, op: 'write' },
      { offset: 8 * PAGE, length: PAGE, op: 'write' },
    ];
    const plan: CoalescedOp[] = coalesceOps(ops, { requestsPerSecond: 1, bytesPerSecond: 1e12 }, 3 * PAGE);
    assert.deepEqual(
      plan.map((o) => [o.op, o.offset / PAGE, o.length / PAGE]),
      [
        ['write', 0, 1],
        ['clear', 2, 1],
        ['write', 4, 3],
        ['write', 8, 1],
      ],
    );
  });
});
