import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { DiffRange } from '../../src/core/model';
import type { ByteWindow } from '../../src/core/ports';
import { DiskDeltaError } from '../../src/core/errors';
import {
  BlockMapBinner,
  DiffSummaryAccumulator,
  RANGE_SIZE_BUCKETS,
  analyseDiff,
  binDiff,
  cellOf,
  cellRanges,
  histogramBucket,
  summarizeDiff,
} from '../../src/core/blockMap';
import { mergeAdjacent } from '../../src/core/pageRanges';

const KiB = 1024;
const GiB = 1024 ** 3;
const TiB = 1024 ** 4;

/** Exact fraction of cell i covered by the ranges of one kind, by integer arithmetic in units of 1/bins byte. */
function exactFractions(ranges: readonly DiffRange[], kind: DiffRange['kind'], window: ByteWindow, bins: number): number[] {
  const L = BigInt(window.length);
  const N = BigInt(bins);
  const out: number[] = [];
  for (let i = 0; i < bins; i++) {
    const cs = BigInt(i) * L;
    const ce = BigInt(i + 1) * L;
    let covered = 0n;
    for (const r of ranges) {
      if (r.kind !== kind) continue;
      const s = BigInt(r.offset - window.offset) * N;
      const e = BigInt(r.offset + r.length - window.offset) * N;
      const lo = s > cs ? s : cs;
      const hi = e < ce ? e : ce;
      if (hi > lo) covered += hi - lo;
    }
    // cell width in these units is L
    out.push(Number(covered) / Number(L));
  }
  return out;
}

async function* stream<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const item of items) yield item;
}

function assertClose(actual: Float32Array, expected: number[], label: string): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (expected[i] === 0) assert.equal(actual[i], 0, `${label} cell ${i} should be untouched`);
    else assert.ok(Math.abs(actual[i] - expected[i]) < 1e-6, `${label} cell ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

void describe('binDiff', () => {
  void it('fills whole cells and leaves untouched cells at 0', async () => {
    const map = await binDiff(
      [
        { offset: 512, length: 512, kind: 'changed' },
        { offset: 2048, length: 1024, kind: 'cleared' },
      ],
      { offset: 0, length: 4096 },
      8,
    );
    assert.deepEqual([...map.changed], [0, 1, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...map.cleared], [0, 0, 0, 0, 1, 1, 0, 0]);
  });

  void it('adds the exact share of a partial overlap', async () => {
    const map = await binDiff([{ offset: 0, length: 512, kind: 'changed' }], { offset: 0, length: 1000 }, 4);
    assert.deepEqual([...map.changed].slice(0, 2), [1, 1]);
    assert.ok(Math.abs(map.changed[2] - 12 / 250) < 1e-7);
    assert.equal(map.changed[3], 0);
  });

  void it('handles cells smaller than a byte (a few pages in thousands of cells)', async () => {
    const map = await binDiff([{ offset: 1024, length: 512, kind: 'changed' }], { offset: 512, length: 1536 }, 3000);
    assert.equal(map.changed.length, 3000);
    assert.equal(map.changed[999], 0);
    assert.equal(map.changed[1000], 1);
    assert.equal(map.changed[1999], 1);
    assert.equal(map.changed[2000], 0);
  });

  void it('bins a 32 TiB disk with a range in its last page', async () => {
    const map = await binDiff([{ offset: 32 * TiB - 512, length: 512, kind: 'changed' }], { offset: 0, length: 32 * TiB }, 4096);
    assert.ok(Math.abs(map.changed[4095] - 512 / (8 * GiB)) < 1e-12);
    assert.equal(
      map.changed.slice(0, 4095).some((v) => v !== 0),
      false,
    );
  });

  void it('ignores ranges outside the window and clips those across its edges', async () => {
    const map = await binDiff(
      [
        { offset: 0, length: 512, kind: 'changed' },
        { offset: 1024, length: 2048, kind: 'changed' },
        { offset: 8192, length: 512, kind: 'changed' },
      ],
      { offset: 2048, length: 2048 },
      2,
    );
    assert.deepEqual([...map.changed], [1, 0]);
  });

  void it('matches an exact integer model for any window and cell count (property)', async () => {
    const arbCase = fc
      .record({
        windowOffset: fc.oneof(fc.integer({ min: 0, max: 8192 }), fc.integer({ min: 0, max: 2 ** 44 })),
        windowLength: fc.oneof(fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 1, max: 2 ** 44 })),
        bins: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1000, max: 3000 })),
        ranges: fc.array(
          fc.record({
            page: fc.integer({ min: 0, max: 200 }),
            pages: fc.integer({ min: 1, max: 16 }),
            kind: fc.constantFrom<'changed' | 'cleared'>('changed', 'cleared'),
          }),
          { maxLength: 12 },
        ),
        scale: fc.constantFrom(1, 2 ** 20, 2 ** 30),
      })
      .map(({ windowOffset, windowLength, bins, ranges, scale }) => {
        const base = Math.floor(windowOffset / 512) * 512;
        const rs: DiffRange[] = ranges.map((r) => ({ offset: base + r.page * 512 * scale, length: r.pages * 512 * scale, kind: r.kind }));
        return { window: { offset: windowOffset, length: windowLength }, bins: Math.min(bins, 3000), ranges: mergeAdjacent(rs) };
      });
    await fc.assert(
      fc.asyncProperty(arbCase, async ({ window, bins, ranges }) => {
        // Each kind is disjoint, as in an Azure diff.
        const changed = mergeAdjacent(ranges.filter((r) => r.kind === 'changed'));
        const cleared = mergeAdjacent(ranges.filter((r) => r.kind === 'cleared'));
        const all = [...changed, ...cleared];
        const map = await binDiff(stream(all), window, bins);
        assertClose(map.changed, exactFractions(all, 'changed', window, bins), 'changed');
        assertClose(map.cleared, exactFractions(all, 'cleared', window, bins), 'cleared');
      }),
      { numRuns: 150 },
    );
  });

  void it('gives the same map from a stream, an array and the binner (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 1000 }), { maxLength: 30 }), async (pages) => {
        const ranges = mergeAdjacent(pages.map((p): DiffRange => ({ offset: p * 512, length: 512, kind: 'changed' })));
        const window = { offset: 0, length: 1000 * 512 };
        const a = await binDiff(stream(ranges), window, 77);
        const b = await binDiff(ranges, window, 77);
        const binner = new BlockMapBinner(window, 77);
        for (const r of ranges) binner.add(r);
        assert.deepEqual(a.changed, b.changed);
        assert.deepEqual(binner.result().changed, a.changed);
      }),
    );
  });

  void it('refuses empty windows and cell counts below 1', async () => {
    await assert.rejects(binDiff([], { offset: 0, length: 0 }, 10), DiskDeltaError);
    await assert.rejects(binDiff([], { offset: 0, length: 512 }, 0), DiskDeltaError);
  });
});

void describe('cellRanges and cellOf', () => {
  void it('gives the byte window of a cell', () => {
    assert.deepEqual(cellRanges({ offset: 4096, length: 4096 }, 1, 8), { offset: 4608, length: 512 });
    assert.deepEqual(cellRanges({ offset: 0, length: 1000 }, 1, 3), { offset: 333, length: 334 });
    assert.deepEqual(cellRanges({ offset: 0, length: 32 * TiB }, 3, 4), { offset: 24 * TiB, length: 8 * TiB });
    assert.throws(() => cellRanges({ offset: 0, length: 1000 }, 3, 3), DiskDeltaError);
    assert.equal(cellOf({ offset: 512, length: 1024 }, 4, 511), undefined);
    assert.equal(cellOf({ offset: 512, length: 1024 }, 4, 1535), 3);
  });

  void it("a range overlaps a cell exactly when it overlaps the cell's byte window (property)", async () => {
    const arb = fc.record({
      offset: fc.integer({ min: 0, max: 2 ** 40 }),
      length: fc.oneof(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 2 ** 45 })),
      bins: fc.integer({ min: 1, max: 5000 }),
      pick: fc.nat(),
      page: fc.integer({ min: 0, max: 10 }),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ offset, length, bins, pick, page }) => {
        const window = { offset, length };
        const bin = pick % bins;
        const cell = cellRanges(window, bin, bins);
        assert.ok(cell.offset >= offset && cell.offset + cell.length <= offset + length);
        assert.ok((cellOf(window, bins, cell.offset) ?? Infinity) <= bin);
        // The cell holding a byte has that byte in its window.
        const p = offset + (pick % length);
        const holder = cellOf(window, bins, p);
        assert.ok(holder !== undefined);
        const held = cellRanges(window, holder, bins);
        assert.ok(p >= held.offset && p < held.offset + held.length);
        // A one-page range placed at the cell's start: the map shows it in this cell.
        const r: DiffRange = { offset: Math.max(offset, cell.offset - page * 512), length: 512, kind: 'changed' };
        const map = await binDiff([r], window, bins);
        const overlapsWindow = r.offset < cell.offset + cell.length && r.offset + r.length > cell.offset;
        assert.equal(map.changed[bin] > 0, overlapsWindow);
      }),
      { numRuns: 200 },
    );
  });
});

void describe('DiffSummary', () => {
  void it('buckets range sizes by powers of two from 512 B to 4 GiB and more', () => {
    assert.equal(RANGE_SIZE_BUCKETS.length, 24);
    assert.deepEqual(RANGE_SIZE_BUCKETS[0], { min: 512, max: 1024 });
    assert.deepEqual(RANGE_SIZE_BUCKETS[23], { min: 4 * GiB });
    assert.equal(histogramBucket(512), 0);
    assert.equal(histogramBucket(1023), 0);
    assert.equal(histogramBucket(1024), 1);
    assert.equal(histogramBucket(4 * KiB * KiB), 13);
    assert.equal(histogramBucket(2 * GiB), 22);
    assert.equal(histogramBucket(4 * GiB - 512), 22);
    assert.equal(histogramBucket(4 * GiB), 23);
    assert.equal(histogramBucket(32 * TiB), 23);
  });

  void it('every length falls in the bucket whose bounds hold it (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1024, max: 2 ** 46 }), (n) => {
        const b = RANGE_SIZE_BUCKETS[histogramBucket(n)];
        assert.ok(n >= b.min && (b.max === undefined || n < b.max));
      }),
    );
  });

  void it('adds up a diff', async () => {
    const summary = await summarizeDiff(
      stream<DiffRange>([
        { offset: 0, length: 512, kind: 'changed' },
        { offset: 4096, length: 8192, kind: 'cleared' },
        { offset: 1 * GiB, length: 4 * KiB * KiB, kind: 'changed' },
      ]),
      10 * GiB,
    );
    assert.equal(summary.changedBytes, 512 + 4 * KiB * KiB);
    assert.equal(summary.clearedBytes, 8192);
    assert.equal(summary.rangeCount, 3);
    assert.equal(summary.changedRangeCount, 2);
    assert.equal(summary.clearedRangeCount, 1);
    assert.deepEqual(summary.largestRange, { offset: 1 * GiB, length: 4 * KiB * KiB, kind: 'changed' });
    assert.equal(summary.changedShare, (512 + 4 * KiB * KiB) / (10 * GiB));
    assert.equal(summary.changedHistogram[0], 1);
    assert.equal(summary.changedHistogram[13], 1);
    assert.equal(summary.clearedHistogram[4], 1);
    assert.equal(JSON.parse(JSON.stringify(summary)).rangeCount, 3);
  });

  void it('an empty diff has no largest range', () => {
    const summary = new DiffSummaryAccumulator(GiB).result();
    assert.equal(summary.largestRange, undefined);
    assert.equal(summary.rangeCount, 0);
    assert.equal(summary.changedShare, 0);
  });

  void it('analyseDiff gives the map and the summary in one pass', async () => {
    let pulled = 0;
    async function* counted(): AsyncGenerator<DiffRange> {
      for (let i = 0; i < 100; i++) {
        pulled++;
        yield { offset: i * 1024, length: 512, kind: i % 2 ? 'cleared' : 'changed' };
      }
    }
    const { map, summary } = await analyseDiff(counted(), { offset: 0, length: 100 * 1024 }, 100, 100 * 1024);
    assert.equal(pulled, 100);
    assert.equal(summary.changedBytes, 50 * 512);
    assert.equal(summary.clearedBytes, 50 * 512);
    assert.equal(map.changed[0], 0.5);
    assert.equal(map.cleared[1], 0.5);
    assert.equal(map.changed[1], 0);
  });
});
