/**
 * The emulator's copy-on-write page store against a page-by-page model: valid ranges and diffs
 * (PageRange/ClearRange, merged, in order, windowed, capped) must match exactly. A diff reports what
 * happened to each page since the earlier snapshot: written (PageRange) or cleared (ClearRange).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CLEARED, diffRanges, overlay, overwriteInPlace, truncate, validRanges, type Extent, type RangeOut } from '../../emulator/extentMap';

const PAGES = 48;
const P = 512;

type Op = { kind: 'write' | 'clear' | 'synthetic'; start: number; length: number } | { kind: 'snapshot' } | { kind: 'shrink'; pages: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('write' as const, 'clear' as const, 'synthetic' as const),
    start: fc.integer({ min: 0, max: PAGES - 1 }),
    length: fc.integer({ min: 1, max: 12 }),
  }),
  fc.record({ kind: fc.constant('snapshot' as const) }),
  fc.record({ kind: fc.constant('shrink' as const), pages: fc.integer({ min: PAGES - 8, max: PAGES }) }),
);

/** Page tags: undefined = never written, `d...` = data, `c...` = cleared (a run of one Clear Pages). */
function runs(tags: (string | undefined)[], prev?: (string | undefined)[]): RangeOut[] {
  const out: RangeOut[] = [];
  tags.forEach((t, p) => {
    let clear: boolean | undefined;
    const isData = t?.startsWith('d') ?? false;
    if (!prev) clear = isData ? false : undefined;
    else if (t !== undefined && t !== prev[p]) clear = !isData;
    else if (t === undefined && prev[p]?.startsWith('d')) clear = true;
    if (clear === undefined) return;
    const last = out[out.length - 1];
    if (last && last.end === p * P && last.clear === clear) last.end = (p + 1) * P;
    else out.push({ start: p * P, end: (p + 1) * P, clear });
  });
  return out;
}

function window(list: RangeOut[], from: number, to: number): RangeOut[] {
  return list.map((r) => ({ ...r, start: Math.max(r.start, from), end: Math.min(r.end, to) })).filter((r) => r.start < r.end);
}

void describe('emulator page store (extent lists)', () => {
  void it('matches a page-by-page model for writes, clears, overlays, shrinks and snapshots (property)', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 40 }),
        fc.integer({ min: 0, max: PAGES }),
        fc.integer({ min: 0, max: PAGES }),
        fc.integer({ min: 1, max: 5 }),
        (ops, a, b, cap) => {
          let extents: Extent[] = [];
          let model: (string | undefined)[] = Array.from({ length: PAGES }, () => undefined);
          const snaps: { extents: Extent[]; model: (string | undefined)[] }[] = [];
          let logPos = 0;
          let size = PAGES;
          ops.forEach((o, n) => {
            if (o.kind === 'snapshot') snaps.push({ extents: extents.slice(), model: model.slice() });
            else if (o.kind === 'shrink') {
              size = Math.min(size, o.pages);
              extents = truncate(extents, size * P);
              model = model.map((t, p) => (p < size ? t : undefined));
            } else {
              const s = Math.min(o.start, size - 1);
              const e = Math.min(size, s + o.length);
              if (e <= s) return;
              logPos += 1_000_000;
              if (o.kind === 'clear') overwriteInPlace(extents, s * P, e * P, { src: CLEARED, delta: logPos - s * P });
              else if (o.kind === 'write') overwriteInPlace(extents, s * P, e * P, { src: 0, delta: logPos - s * P });
              else extents = overlay(extents, [{ start: s * P, end: e * P, src: n + 1, delta: 0 }]);
              for (let p = s; p < e; p++) model[p] = o.kind === 'clear' ? `c${logPos}:${p - s}` : o.kind === 'write' ? `dw${logPos}:${p - s}` : `ds${n}:${p}`;
            }
          });
          for (let i = 1; i < extents.length; i++) assert.ok(extents[i - 1]!.end <= extents[i]!.start, 'sorted, non-overlapping');
          const [from, to] = [Math.min(a, b) * P, Math.max(a, b) * P];
          assert.deepEqual(validRanges(extents, 0, PAGES * P), runs(model));
          assert.deepEqual(validRanges(extents, from, to), window(runs(model), from, to));
          for (const snap of snaps) {
            const expected = runs(model, snap.model);
            assert.deepEqual(diffRanges(snap.extents, extents, 0, PAGES * P), expected);
            assert.deepEqual(diffRanges(snap.extents, extents, from, to), window(expected, from, to));
            assert.deepEqual(diffRanges(snap.extents, extents, 0, PAGES * P, cap), expected.slice(0, cap));
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  void it('diffs a million changed ranges in one linear pass and resumes at an offset', () => {
    const base: Extent[] = [];
    const top: Extent[] = [];
    for (let i = 0; i < 1_000_000; i++) top.push({ start: i * 2 * P, end: i * 2 * P + P, src: 7, delta: 0 });
    const cur = overlay(base, top);
    const all = diffRanges(base, cur, 0, Number.MAX_SAFE_INTEGER);
    assert.equal(all.length, 1_000_000);
    const page = diffRanges(base, cur, 500_000 * 2 * P, Number.MAX_SAFE_INTEGER, 10_001);
    assert.equal(page.length, 10_001);
    assert.equal(page[0]!.start, 500_000 * 2 * P);
  });
});
