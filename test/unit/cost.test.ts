import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { DiffRange } from '../../src/core/model';
import { GiB, daysInMonth, estimateCost, familyCost, usedBytes } from '../../src/core/cost';
import { formatBytes, formatCost, formatDuration, formatRate } from '../../src/core/format';

const MiB = 1024 ** 2;
const TiB = 1024 ** 4;

void describe('used size', () => {
  void it('counts changed ranges of a diff, not cleared ones', async () => {
    async function* diff(): AsyncGenerator<DiffRange> {
      yield { offset: 0, length: 4 * MiB, kind: 'changed' };
      yield { offset: 8 * MiB, length: 2 * MiB, kind: 'cleared' };
      yield { offset: 16 * MiB, length: 512, kind: 'changed' };
    }
    assert.equal(await usedBytes(diff()), 4 * MiB + 512);
  });

  void it('counts every allocated range for the first snapshot', async () => {
    assert.equal(
      await usedBytes([
        { offset: 0, length: GiB },
        { offset: 2 * GiB, length: 512 },
      ]),
      GiB + 512,
    );
  });
});

void describe('cost', () => {
  void it('10 GiB in a 31-day month shows 0.3226 a day, as Azure reports it', () => {
    const c = estimateCost(10 * GiB, 0.05, new Date(Date.UTC(2026, 0, 15)));
    assert.equal(c.daysInMonth, 31);
    assert.equal(c.usedGiB, 10);
    assert.equal(c.dailyUsageGiB.toFixed(4), '0.3226');
    assert.ok(Math.abs(c.monthlyCost - 0.5) < 1e-12);
    assert.ok(Math.abs(c.dailyCost - 0.5 / 31) < 1e-12);
  });

  void it('knows the length of each month', () => {
    assert.equal(daysInMonth(new Date(Date.UTC(2026, 1, 3))), 28);
    assert.equal(daysInMonth(new Date(Date.UTC(2028, 1, 29))), 29);
    assert.equal(daysInMonth(new Date(Date.UTC(2026, 3, 30, 23, 59))), 30);
    assert.equal(daysInMonth(new Date(Date.UTC(2026, 11, 31))), 31);
  });

  void it('daily usage over a month adds up to the monthly used size (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 32 * TiB }), fc.date({ min: new Date(0), max: new Date(Date.UTC(2200, 0)), noInvalidDate: true }), (bytes, at) => {
        const c = estimateCost(bytes, 0.05, at);
        assert.ok(Math.abs(c.dailyUsageGiB * c.daysInMonth - c.usedGiB) <= 1e-9 * Math.max(1, c.usedGiB));
        assert.ok(c.daysInMonth >= 28 && c.daysInMonth <= 31);
      }),
    );
  });

  void it("a family costs the sum of its snapshots' used sizes", () => {
    const c = familyCost(
      [
        { snapshotId: 'a', usedBytes: 8 * GiB },
        { snapshotId: 'b', usedBytes: 2 * GiB },
      ],
      0.1,
      new Date(Date.UTC(2026, 10, 1)),
    );
    assert.equal(c.usedBytes, 10 * GiB);
    assert.ok(Math.abs(c.monthlyCost - 1) < 1e-12);
    assert.equal(formatCost(c.monthlyCost), '1.00');
    assert.equal(formatCost(c.dailyUsageGiB, 4), '0.3333');
  });
});

void describe('formatting', () => {
  void it('formats bytes in binary units', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1024), '1 KiB');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(4 * MiB), '4 MiB');
    assert.equal(formatBytes(1.25 * GiB), '1.25 GiB');
    assert.equal(formatBytes(123.4 * GiB), '123 GiB');
    assert.equal(formatBytes(32 * TiB), '32 TiB');
    assert.equal(formatBytes(MiB - 1), '1 MiB');
    assert.equal(formatBytes(-2048), '-2 KiB');
  });

  void it('never shows 1024 of a unit (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 52 }), (n) => {
        const text = formatBytes(n);
        const value = Number(text.split(' ')[0]);
        assert.ok(value < 1024, text);
        assert.match(text, /^\d+(\.\d{1,2})? (B|KiB|MiB|GiB|TiB|PiB)$/);
      }),
    );
  });

  void it('formats rates and durations', () => {
    assert.equal(formatRate(60 * MiB), '60 MiB/s');
    assert.equal(formatDuration(850), '850 ms');
    assert.equal(formatDuration(45_000), '45 s');
    assert.equal(formatDuration(185_000), '3 min 05 s');
    assert.equal(formatDuration((2 * 60 + 7) * 60_000), '2 h 07 min');
    assert.equal(formatDuration((3 * 24 + 4) * 3_600_000), '3 d 4 h');
    assert.equal(formatDuration(Number.NaN), '-');
  });
});
