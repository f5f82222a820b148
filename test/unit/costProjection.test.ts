import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GiB } from '../../src/core/cost';
import { projectFamilyCost } from '../../src/core/costProjection';
import { costChartSvg, niceMax } from '../../src/extension/cost/chart';

const snaps = [
  { id: '/s/A', name: 'db-1', timeCreated: '2026-11-01T00:00:00Z' },
  { id: '/s/C', name: 'db-3', timeCreated: '2026-11-03T00:00:00Z' },
  { id: '/s/B', name: 'db-2', timeCreated: '2026-11-02T00:00:00Z' },
];
const used = new Map([
  ['/s/a', 10 * GiB],
  ['/s/b', 2 * GiB],
  ['/s/c', 1 * GiB],
]);

void describe('family cost projection', () => {
  void it('adds used sizes over time on the source side, in creation order', () => {
    const p = projectFamilyCost({ snapshots: snaps, usedBytes: used, pricePerGiBMonth: 0.05, currency: 'EUR' });
    assert.deepEqual(
      p.points.map((x) => x.name),
      ['db-1', 'db-2', 'db-3'],
    );
    assert.deepEqual(
      p.points.map((x) => x.sourceBytes / GiB),
      [10, 12, 13],
    );
    assert.ok(Math.abs(p.sourceMonthly - 0.65) < 1e-12);
    assert.equal(p.target, undefined);
    assert.equal(p.currency, 'EUR');
    assert.equal(p.unknown, 0);
  });

  void it('holds on the target the first copy in the base blob and later changes in blob snapshots, up to the copied snapshot', () => {
    const p = projectFamilyCost({ snapshots: snaps, usedBytes: used, pricePerGiBMonth: 0.05, currency: 'USD', copiedUpTo: '/S/B' });
    assert.equal(p.target?.baseBlobBytes, 10 * GiB);
    assert.equal(p.target?.blobSnapshotBytes, 2 * GiB);
    assert.ok(Math.abs((p.target?.monthly ?? 0) - 0.6) < 1e-12);
    assert.equal(p.target?.upTo, 'db-2');
    assert.deepEqual(
      p.points.map((x) => x.targetBytes),
      [10 * GiB, 12 * GiB, undefined],
    );
  });

  void it('counts unknown used sizes and leaves them out of the totals', () => {
    const p = projectFamilyCost({ snapshots: snaps, usedBytes: new Map([['/s/a', GiB]]), pricePerGiBMonth: 1, currency: 'USD' });
    assert.equal(p.unknown, 2);
    assert.equal(p.sourceMonthly, 1);
    assert.equal(p.points[1]!.usedBytes, undefined);
  });
});

void describe('cost chart', () => {
  void it('draws a bar per snapshot, a line per side and the currency, escaping names', () => {
    const p = projectFamilyCost({
      snapshots: [...snaps, { id: '/s/D', name: 'db-<4>', timeCreated: '2026-11-04T00:00:00Z' }],
      usedBytes: used,
      pricePerGiBMonth: 0.05,
      currency: 'EUR',
      copiedUpTo: '/s/c',
    });
    const svg = costChartSvg(p, { title: 'db: storage' });
    assert.equal((svg.match(/<rect class="bar"/g) ?? []).length, 3 + 1, 'three known bars and the legend swatch');
    assert.equal((svg.match(/<rect class="bar unknown"/g) ?? []).length, 1);
    assert.match(svg, /<path class="line source" d="M[^"]+L[^"]+L[^"]+L/);
    assert.match(svg, /<path class="line target" d="M[^"]+L[^"]+L/);
    assert.match(svg, /0\.65 EUR \/ month/);
    assert.match(svg, /db-&#60;4&#62;/);
    assert.match(svg, />10 GiB</, 'byte axis in whole GiB');
    assert.match(svg, />5 GiB</);
    assert.doesNotMatch(svg, /db-<4>/);
  });

  void it('shows small monthly bills with enough digits to tell them apart', () => {
    const p = projectFamilyCost({ snapshots: snaps.slice(0, 1), usedBytes: new Map([['/s/a', 6 * 1024 ** 2]]), pricePerGiBMonth: 0.05, currency: 'EUR' });
    const svg = costChartSvg(p, { title: 'small' });
    assert.match(svg, /source 0\.000293 EUR \/ month/);
    assert.match(svg, />0\.000500 EUR</, 'axis top');
  });

  void it('rounds axis maxima to 1, 2 or 5 times a power of ten', () => {
    assert.equal(niceMax(0), 1);
    assert.equal(niceMax(0.65), 1);
    assert.equal(niceMax(13), 20);
    assert.equal(niceMax(450), 500);
  });
});

void describe('cost page', () => {
  void it('runs no script and allows only its own nonce-d style', async () => {
    const { costCsp, costPage } = await import('../../src/extension/cost/html');
    const csp = costCsp('abc123');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'none'/);
    assert.match(csp, /style-src 'nonce-abc123'/);
    const html = costPage('<svg class="cost-chart"></svg>', 'Cost: <db>', 'abc123');
    assert.doesNotMatch(html, /<script/);
    assert.match(html, /<style nonce="abc123">/);
    assert.match(html, /<title>Cost: &#60;db&#62;<\/title>/);
  });
});
