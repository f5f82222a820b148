import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { DiffRange, PageRange } from '../../src/core/model';
import { DiskDeltaError } from '../../src/core/errors';
import {
  MAX_PUT_PAGES,
  PAGE,
  assertAligned,
  chunkStream,
  clipRange,
  clipStream,
  clipToWindow,
  collect,
  fromInclusive,
  fromSdkRange,
  intersect,
  isAligned,
  iterateChunks,
  mergeAdjacent,
  mergeAdjacentStream,
  offsetWindows,
  rangeEnd,
  rangeHeader,
  splitIntoChunks,
  subtract,
  subtractStream,
  interleaveDiff,
  totalBytes,
  union,
} from '../../src/core/pageRanges';

const PAGES = 96;
const MiB = 1024 * 1024;

const arbRange: fc.Arbitrary<PageRange> = fc
  .tuple(fc.integer({ min: 0, max: PAGES - 1 }), fc.integer({ min: 1, max: 24 }))
  .map(([p, n]) => ({ offset: p * PAGE, length: Math.min(n, PAGES - p) * PAGE }));
const arbRanges = fc.array(arbRange, { maxLength: 20 });
const arbDiffRange: fc.Arbitrary<DiffRange> = fc
  .tuple(arbRange, fc.constantFrom<'changed' | 'cleared'>('changed', 'cleared'))
  .map(([r, kind]) => ({ ...r, kind }));

/** Reference model: the set of pages covered. */
function pages(ranges: Iterable<PageRange>): Set<number> {
  const s = new Set<number>();
  for (const r of ranges) for (let o = r.offset; o < rangeEnd(r); o += PAGE) s.add(o / PAGE);
  return s;
}
function sortedPages(ranges: Iterable<PageRange>): number[] {
  return [...pages(ranges)].sort((a, b) => a - b);
}
function isNormalised(ranges: readonly PageRange[]): boolean {
  for (let i = 1; i < ranges.length; i++) if (ranges[i].offset <= rangeEnd(ranges[i - 1])) return false;
  return ranges.every((r) => r.length > 0);
}

void describe('constants and Azure range forms', () => {
  void it('pages are 512 bytes and Put Page writes at most 4 MiB', () => {
    assert.equal(PAGE, 512);
    assert.equal(MAX_PUT_PAGES, 4 * MiB);
  });

  void it('reads inclusive Azure ends: one page is 0-511, length 512', () => {
    assert.deepEqual(fromInclusive(0, 511), { offset: 0, length: 512 });
    assert.deepEqual(fromInclusive(1024, 4095, 'cleared'), { offset: 1024, length: 3072, kind: 'cleared' });
  });

  void it('reads the SDK {offset, count} form where count is end - start', () => {
    assert.deepEqual(fromSdkRange({ offset: 512, count: 511 }), { offset: 512, length: 512 });
    assert.deepEqual(fromSdkRange({ offset: 0, count: 4 * MiB - 1 }, 'changed'), { offset: 0, length: 4 * MiB, kind: 'changed' });
  });

  void it('rejects misaligned Azure ranges with a DiskDeltaError', () => {
    assert.throws(
      () => fromInclusive(0, 512),
      (e: unknown) => e instanceof DiskDeltaError && e.code === 'UnalignedRange',
    );
    assert.throws(() => fromInclusive(100, 611), DiskDeltaError);
    assert.throws(() => fromSdkRange({ offset: 0, count: 512 }), DiskDeltaError);
    assert.throws(() => fromInclusive(512, 510), DiskDeltaError);
  });

  void it('writes the inclusive header form', () => {
    assert.equal(rangeHeader({ offset: 4 * MiB, length: 4 * MiB }), `bytes=${4 * MiB}-${8 * MiB - 1}`);
  });

  void it('assertAligned accepts whole pages only', () => {
    assert.equal(isAligned({ offset: 512, length: 1024 }), true);
    assert.equal(isAligned({ offset: 512, length: 0 }), false);
    assert.equal(isAligned({ offset: 1, length: 512 }), false);
    assert.doesNotThrow(() => assertAligned({ offset: 32 * 1024 ** 4 - 512, length: 512 }));
    assert.throws(() => assertAligned({ offset: 0, length: 100 }, 'Chunk'), /Chunk at offset 0 with length 100/);
  });

  void it('round-trips inclusive form for any aligned range', () => {
    fc.assert(
      fc.property(arbRange, (r) => {
        const back = fromInclusive(r.offset, rangeEnd(r) - 1);
        assert.deepEqual(back, r);
        assert.deepEqual(fromSdkRange({ offset: r.offset, count: r.length - 1 }), r);
      }),
    );
  });
});

void describe('mergeAdjacent', () => {
  void it('coalesces touching and overlapping ranges', () => {
    assert.deepEqual(
      mergeAdjacent([
        { offset: 1024, length: 512 },
        { offset: 0, length: 512 },
        { offset: 512, length: 512 },
        { offset: 4096, length: 1024 },
        { offset: 4608, length: 512 },
      ]),
      [
        { offset: 0, length: 1536 },
        { offset: 4096, length: 1024 },
      ],
    );
  });

  void it('never merges changed with cleared', () => {
    const merged = mergeAdjacent<DiffRange>([
      { offset: 0, length: 512, kind: 'changed' },
      { offset: 512, length: 512, kind: 'cleared' },
      { offset: 1024, length: 512, kind: 'cleared' },
    ]);
    assert.deepEqual(merged, [
      { offset: 0, length: 512, kind: 'changed' },
      { offset: 512, length: 1024, kind: 'cleared' },
    ]);
  });

  void it('preserves coverage, normalises, and is idempotent (property)', () => {
    fc.assert(
      fc.property(arbRanges, (rs) => {
        const m = mergeAdjacent(rs);
        assert.deepEqual(sortedPages(m), sortedPages(rs));
        assert.ok(isNormalised(m));
        assert.ok(m.every(isAligned));
        assert.deepEqual(mergeAdjacent(m), m);
        assert.equal(totalBytes(m), pages(rs).size * PAGE);
      }),
    );
  });

  void it("keeps each kind's coverage for diff ranges (property)", () => {
    fc.assert(
      fc.property(fc.array(arbDiffRange, { maxLength: 20 }), (rs) => {
        const m = mergeAdjacent(rs);
        for (const kind of ['changed', 'cleared'] as const) {
          assert.deepEqual(sortedPages(m.filter((r) => r.kind === kind)), sortedPages(rs.filter((r) => r.kind === kind)));
        }
        for (let i = 1; i < m.length; i++) {
          const touching = m[i].offset <= rangeEnd(m[i - 1]);
          assert.ok(!touching || m[i].kind !== m[i - 1].kind);
        }
      }),
    );
  });

  void it('stream version equals the array version on sorted input (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbDiffRange, { maxLength: 20 }), async (rs) => {
        const sorted = [...rs].sort((a, b) => a.offset - b.offset || a.length - b.length);
        assert.deepEqual(await collect(mergeAdjacentStream(sorted)), mergeAdjacent(sorted));
      }),
    );
  });

  void it('stream version refuses input that goes backwards', async () => {
    await assert.rejects(
      collect(
        mergeAdjacentStream([
          { offset: 1024, length: 512 },
          { offset: 0, length: 512 },
        ]),
      ),
      (e: unknown) => e instanceof DiskDeltaError && e.code === 'UnsortedRanges',
    );
  });

  void it('stream version pulls lazily from an async source', async () => {
    let produced = 0;
    async function* source(): AsyncGenerator<PageRange> {
      for (let i = 0; i < 1_000_000; i++) {
        produced++;
        // gaps between ranges so nothing merges
        yield { offset: i * 2 * PAGE, length: PAGE };
      }
    }
    const first: PageRange[] = [];
    for await (const r of mergeAdjacentStream(source())) {
      first.push(r);
      if (first.length === 3) break;
    }
    assert.deepEqual(
      first.map((r) => r.offset),
      [0, 1024, 2048],
    );
    assert.ok(produced <= 5, `read ${produced} ranges to yield 3`);
  });
});

void describe('union, subtract, intersect', () => {
  void it('subtract removes exactly the covered pages and keeps kinds', () => {
    const out = subtract<DiffRange>([{ offset: 0, length: 4096, kind: 'changed' }], [{ offset: 1024, length: 1024 }]);
    assert.deepEqual(out, [
      { offset: 0, length: 1024, kind: 'changed' },
      { offset: 2048, length: 2048, kind: 'changed' },
    ]);
  });

  void it('set laws hold against a page-set model (property)', () => {
    fc.assert(
      fc.property(arbRanges, arbRanges, (a, b) => {
        const pa = pages(a);
        const pb = pages(b);
        const sub = subtract(a, b);
        const int = intersect(a, b);
        const uni = union(a, b);
        assert.deepEqual(
          sortedPages(sub),
          [...pa].filter((p) => !pb.has(p)).sort((x, y) => x - y),
        );
        assert.deepEqual(
          sortedPages(int),
          [...pa].filter((p) => pb.has(p)).sort((x, y) => x - y),
        );
        assert.deepEqual(
          sortedPages(uni),
          [...new Set([...pa, ...pb])].sort((x, y) => x - y),
        );
        assert.ok(isNormalised(uni));
        for (const r of [...sub, ...int]) assert.ok(isAligned(r));
        // subtract then intersect with the removed part is empty; subtract is idempotent
        assert.equal(intersect(sub, b).length, 0);
        assert.deepEqual(sortedPages(subtract(sub, b)), sortedPages(sub));
        // a = (a - b) + (a ∩ b), disjointly
        assert.equal(totalBytes(union(sub)) + totalBytes(union(int)), totalBytes(union(a)));
      }),
    );
  });

  void it('stream version equals the array version (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbDiffRange, { maxLength: 20 }), arbRanges, async (a, b) => {
        const sorted = [...a].sort((x, y) => x.offset - y.offset || x.length - y.length);
        assert.deepEqual(await collect(subtractStream(sorted, b)), subtract(sorted, b));
      }),
    );
  });

  void it("interleaves the SDK's separate changed and cleared lists in offset order", () => {
    assert.deepEqual(
      interleaveDiff([fromSdkRange({ offset: 0, count: 511 }), fromSdkRange({ offset: 4096, count: 1023 })], [fromSdkRange({ offset: 1024, count: 511 })]),
      [
        { offset: 0, length: 512, kind: 'changed' },
        { offset: 1024, length: 512, kind: 'cleared' },
        { offset: 4096, length: 1024, kind: 'changed' },
      ],
    );
  });

  void it('subtracting nothing or from nothing', () => {
    assert.deepEqual(subtract([{ offset: 0, length: 512 }], []), [{ offset: 0, length: 512 }]);
    assert.deepEqual(subtract([], [{ offset: 0, length: 512 }]), []);
    assert.deepEqual(intersect([{ offset: 0, length: 512 }], []), []);
  });
});

void describe('clipToWindow', () => {
  void it('cuts ranges at the window edges, which need not be aligned', () => {
    assert.deepEqual(clipRange({ offset: 0, length: 4096 }, { offset: 100, length: 1000 }), { offset: 100, length: 1000 });
    assert.equal(clipRange({ offset: 0, length: 512 }, { offset: 512, length: 512 }), undefined);
    assert.deepEqual(
      clipToWindow<DiffRange>(
        [
          { offset: 0, length: 1024, kind: 'changed' },
          { offset: 2048, length: 1024, kind: 'cleared' },
        ],
        { offset: 512, length: 2048 },
      ),
      [
        { offset: 512, length: 512, kind: 'changed' },
        { offset: 2048, length: 512, kind: 'cleared' },
      ],
    );
  });

  void it('equals intersect with the window for aligned windows (property)', async () => {
    await fc.assert(
      fc.asyncProperty(arbRanges, arbRange, async (rs, w) => {
        const clipped = clipToWindow(rs, w);
        assert.deepEqual(sortedPages(clipped), sortedPages(intersect(rs, [w])));
        const sorted = mergeAdjacent(rs);
        assert.deepEqual(await collect(clipStream(sorted, w)), clipToWindow(sorted, w));
      }),
    );
  });
});

void describe('splitIntoChunks', () => {
  void it('chunk k starts at range.offset + k * max, not at k * max', () => {
    const range = { offset: 10 * MiB, length: 9 * MiB };
    const chunks = splitIntoChunks(range);
    assert.deepEqual(chunks, [
      { offset: 10 * MiB, length: 4 * MiB },
      { offset: 14 * MiB, length: 4 * MiB },
      { offset: 18 * MiB, length: 1 * MiB },
    ]);
    assert.notEqual(chunks[1].offset, 1 * 4 * MiB);
  });

  void it('keeps the kind and accepts a smaller chunk size', () => {
    assert.deepEqual(splitIntoChunks<DiffRange>({ offset: 512, length: 2560, kind: 'cleared' }, 1024), [
      { offset: 512, length: 1024, kind: 'cleared' },
      { offset: 1536, length: 1024, kind: 'cleared' },
      { offset: 2560, length: 512, kind: 'cleared' },
    ]);
  });

  void it('refuses chunk sizes Azure would refuse and unaligned ranges', () => {
    assert.throws(
      () => splitIntoChunks({ offset: 0, length: 512 }, 8 * MiB),
      (e: unknown) => e instanceof DiskDeltaError && e.code === 'InvalidChunkSize',
    );
    assert.throws(() => splitIntoChunks({ offset: 0, length: 512 }, 1000), DiskDeltaError);
    assert.throws(() => splitIntoChunks({ offset: 0, length: 512 }, 0), DiskDeltaError);
    assert.throws(
      () => splitIntoChunks({ offset: 3, length: 512 }),
      (e: unknown) => e instanceof DiskDeltaError && e.code === 'UnalignedRange',
    );
  });

  void it('chunks are aligned, <= max, contiguous and cover the range exactly (property)', () => {
    const arbBig = fc
      .tuple(fc.integer({ min: 0, max: 2 ** 36 }), fc.integer({ min: 1, max: 64 * 1024 }), fc.integer({ min: 1, max: MAX_PUT_PAGES / PAGE }))
      .map(([p, n, m]) => ({ range: { offset: p * PAGE, length: n * PAGE }, max: m * PAGE }));
    fc.assert(
      fc.property(arbBig, ({ range, max }) => {
        const chunks = splitIntoChunks(range, max);
        let cursor = range.offset;
        chunks.forEach((c, k) => {
          assert.ok(isAligned(c));
          assert.ok(c.length <= max && c.length <= MAX_PUT_PAGES);
          assert.equal(c.offset, range.offset + k * max);
          assert.equal(c.offset, cursor);
          cursor += c.length;
        });
        assert.equal(cursor, rangeEnd(range));
        assert.equal(totalBytes(chunks), range.length);
        assert.equal(chunks.length, Math.ceil(range.length / max));
      }),
    );
  });

  void it('iterates a 32 TiB range lazily', () => {
    const range = { offset: 0, length: 32 * 1024 ** 4 };
    const it = iterateChunks(range);
    assert.deepEqual(it.next().value, { offset: 0, length: 4 * MiB });
    assert.deepEqual(it.next().value, { offset: 4 * MiB, length: 4 * MiB });
  });

  void it('chunkStream splits every range of a stream in order (property)', async () => {
    await fc.assert(
      fc.asyncProperty(arbRanges, fc.integer({ min: 1, max: 8 }), async (rs, m) => {
        const sorted = mergeAdjacent(rs);
        const chunks = await collect(chunkStream(sorted, m * PAGE));
        assert.deepEqual(
          chunks,
          sorted.flatMap((r) => splitIntoChunks(r, m * PAGE)),
        );
        assert.equal(totalBytes(chunks), totalBytes(sorted));
      }),
    );
  });
});

void describe('offsetWindows', () => {
  void it('covers the blob in page-aligned windows', () => {
    assert.deepEqual(
      [...offsetWindows(5 * MiB + 512, 2 * MiB)],
      [
        { offset: 0, length: 2 * MiB },
        { offset: 2 * MiB, length: 2 * MiB },
        { offset: 4 * MiB, length: MiB + 512 },
      ],
    );
    assert.throws(() => [...offsetWindows(1024, 100)], DiskDeltaError);
  });
});
