import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DiffRangeStore } from '../../src/core/rangeStore';
import type { DiffRange } from '../../src/core/model';

function build(ranges: DiffRange[]): DiffRangeStore {
  const store = new DiffRangeStore();
  for (const r of ranges) store.append(r);
  return store;
}

const sortedRanges = fc
  .array(fc.record({ gap: fc.integer({ min: 0, max: 50 }), pages: fc.integer({ min: 1, max: 50 }), cleared: fc.boolean() }), { maxLength: 3000 })
  .map((items) => {
    let at = 0;
    return items.map(({ gap, pages, cleared }) => {
      const r: DiffRange = { offset: (at + gap) * 512, length: pages * 512, kind: cleared ? 'cleared' : 'changed' };
      at += gap + pages;
      return r;
    });
  });

void test('the store gives back exactly what was appended, past its first growth', () => {
  fc.assert(
    fc.property(sortedRanges, (ranges) => {
      const store = build(ranges);
      assert.equal(store.count, ranges.length);
      assert.deepEqual([...store.all()], ranges);
    }),
    { numRuns: 30 },
  );
});

void test('inWindow yields exactly the ranges overlapping the window', () => {
  fc.assert(
    fc.property(sortedRanges, fc.nat(60_000), fc.integer({ min: 1, max: 60_000 }), (ranges, start, length) => {
      const store = build(ranges);
      const window = { offset: start * 512, length: length * 512 };
      const expected = ranges.filter((r) => r.offset < window.offset + window.length && r.offset + r.length > window.offset);
      assert.deepEqual([...store.inWindow(window)], expected);
    }),
    { numRuns: 100 },
  );
});

void test('ranges out of offset order are refused', () => {
  const store = build([{ offset: 4096, length: 512, kind: 'changed' }]);
  assert.throws(() => store.append({ offset: 0, length: 512, kind: 'changed' }), { code: 'UnsortedRanges' });
});
