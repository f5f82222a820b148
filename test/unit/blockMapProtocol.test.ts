import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_BINS,
  MAX_CELL_RANGES,
  parseViewState,
  validateFromWebviewMessage,
  validateToWebviewMessage,
  type BlockMapSummary,
  type FromWebviewMessage,
} from '../../src/shared/blockMapProtocol';
import { formatBytes, formatHex, formatPercent } from '../../src/core/format';
import { summaryText } from '../../src/extension/blockMap/summary';

const summary: BlockMapSummary = {
  diskSizeBytes: 4 * 2 ** 40,
  changedBytes: 3 * 2 ** 30,
  clearedBytes: 2 ** 20,
  rangeCount: 12,
  largestRangeBytes: 2 ** 30,
  shareOfDisk: 0.0007,
  sizeHistogram: [0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 8],
};

function rejectedTo(message: unknown): string {
  const r = validateToWebviewMessage(message);
  assert.equal(r.ok, false, `${JSON.stringify(message)} should be rejected`);
  return r.ok ? '' : r.reason;
}

function rejectedFrom(message: unknown): string {
  const r = validateFromWebviewMessage(message);
  assert.equal(r.ok, false, `${JSON.stringify(message)} should be rejected`);
  return r.ok ? '' : r.reason;
}

void describe('block map protocol: webview -> host', () => {
  const window = { offset: 512, length: 2 ** 40 };
  const valid: FromWebviewMessage[] = [
    { type: 'ready' },
    { type: 'bin', requestId: 1, window, bins: 10_000 },
    { type: 'cellRanges', requestId: 2, window, max: 8 },
    { type: 'selectPair', requestId: 3, index: 4 },
    { type: 'export', requestId: 4, format: 'csv' },
    { type: 'export', requestId: 5, format: 'json' },
    { type: 'copySummary', requestId: 6 },
  ];

  void it('accepts every request kind as sent, after structured cloning', () => {
    for (const m of valid) assert.deepEqual(validateFromWebviewMessage(structuredClone(m)), { ok: true, message: m });
  });

  void it('keeps only known fields', () => {
    const r = validateFromWebviewMessage({ type: 'copySummary', requestId: 1, extra: 'x' });
    assert.deepEqual(r, { ok: true, message: { type: 'copySummary', requestId: 1 } });
  });

  void it('rejects unknown, malformed and out-of-range requests with a reason', () => {
    assert.match(rejectedFrom({ type: 'eval', code: '1' }), /unknown message type/);
    assert.match(rejectedFrom(null), /not an object/);
    assert.match(rejectedFrom([{ type: 'ready' }]), /not an object/);
    assert.match(rejectedFrom('ready'), /not an object/);
    assert.match(rejectedFrom({ type: 'bin', requestId: 1, window, bins: MAX_BINS + 1 }), /bins/);
    assert.match(rejectedFrom({ type: 'bin', requestId: 1, window, bins: 0 }), /bins is 0/);
    assert.match(rejectedFrom({ type: 'bin', requestId: -1, window, bins: 4 }), /requestId/);
    assert.match(rejectedFrom({ type: 'bin', requestId: 1.5, window, bins: 4 }), /requestId/);
    assert.match(rejectedFrom({ type: 'bin', requestId: 1, window: { offset: -512, length: 512 }, bins: 4 }), /window.offset/);
    assert.match(rejectedFrom({ type: 'bin', requestId: 1, window: { offset: 0, length: 0 }, bins: 4 }), /length is 0/);
    assert.match(rejectedFrom({ type: 'bin', requestId: 1, window: { offset: 2 ** 52, length: 2 ** 52 }, bins: 4 }), /2\^53/);
    assert.match(rejectedFrom({ type: 'bin', requestId: 1, window: { offset: '0', length: 512 }, bins: 4 }), /window.offset/);
    assert.match(rejectedFrom({ type: 'cellRanges', requestId: 1, window, max: MAX_CELL_RANGES + 1 }), /max/);
    assert.match(rejectedFrom({ type: 'export', requestId: 1, format: 'xml' }), /format/);
    assert.match(rejectedFrom({ type: 'selectPair', requestId: 1, index: Number.NaN }), /index/);
  });

  void it('never throws, whatever it is given', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const r = validateFromWebviewMessage(value);
        assert.equal(typeof r.ok, 'boolean');
      }),
    );
  });
});

void describe('block map protocol: host -> webview', () => {
  const window = { offset: 0, length: 4096 };

  void it('accepts bins as ArrayBuffers of exactly bins * 4 bytes', () => {
    const changed = new Float32Array([0, 0.5, 1, 0.25]);
    const cleared = new Float32Array(4);
    const r = validateToWebviewMessage(structuredClone({ type: 'bins', requestId: 7, window, bins: 4, changed: changed.buffer, cleared: cleared.buffer }));
    assert.ok(r.ok && r.message.type === 'bins');
    assert.deepEqual([...new Float32Array(r.message.changed)], [0, 0.5, 1, 0.25]);
  });

  void it('accepts a typed-array view in place of the buffer, copying only its bytes', () => {
    const backing = new Float32Array([9, 0.5, 1, 9]);
    const view = backing.subarray(1, 3);
    const r = validateToWebviewMessage({ type: 'bins', requestId: 1, window, bins: 2, changed: view, cleared: new Float32Array(2) });
    assert.ok(r.ok && r.message.type === 'bins');
    assert.deepEqual([...new Float32Array(r.message.changed)], [0.5, 1]);
  });

  void it('rejects bins of the wrong size or type', () => {
    assert.match(
      rejectedTo({ type: 'bins', requestId: 1, window, bins: 4, changed: new ArrayBuffer(8), cleared: new ArrayBuffer(16) }),
      /changed holds 8 bytes/,
    );
    assert.match(rejectedTo({ type: 'bins', requestId: 1, window, bins: 4, changed: [0, 0, 0, 0], cleared: new ArrayBuffer(16) }), /ArrayBuffer/);
  });

  void it('accepts summaries, family bars, cell ranges and notices', () => {
    for (const m of [
      { type: 'init', title: 'a → b', diskSizeBytes: 2 ** 40, restoreKey: 'k' },
      { type: 'summary', summary: { ...summary, usedBytes: 10, monthlyCost: { amount: 0.5, currency: 'USD' }, fromLabel: 'a', toLabel: 'b' } },
      { type: 'family', family: { bars: [{ fromLabel: 'a', toLabel: 'b', changedBytes: 1, clearedBytes: 0, time: '2026-01-01T00:00:00Z' }], selected: 0 } },
      { type: 'family', family: { bars: [], selected: -1 } },
      { type: 'cellRanges', requestId: 3, window, ranges: [{ offset: 0, length: 512, kind: 'cleared' }], total: 9 },
      { type: 'pairSelected', requestId: 4, index: 1, title: 'b → c', diskSizeBytes: 2 ** 30 },
      { type: 'exportDone', requestId: 5, outcome: 'saved', rangeCount: 3, message: 'ok' },
      { type: 'notice', message: 'copied' },
      { type: 'error', message: 'failed' },
    ]) {
      const r = validateToWebviewMessage(structuredClone(m));
      assert.equal(r.ok, true, `${m.type}: ${r.ok ? '' : r.reason}`);
    }
  });

  void it('rejects malformed summaries, lists and unknown kinds', () => {
    assert.match(rejectedTo({ type: 'summary', summary: { ...summary, shareOfDisk: 1.5 } }), /shareOfDisk/);
    assert.match(rejectedTo({ type: 'summary', summary: { ...summary, changedBytes: -1 } }), /changedBytes/);
    assert.match(rejectedTo({ type: 'summary', summary: { ...summary, sizeHistogram: new Array(65).fill(0) } }), /sizeHistogram/);
    assert.match(rejectedTo({ type: 'family', family: { bars: [], selected: 0 } }), /selected/);
    assert.match(rejectedTo({ type: 'cellRanges', requestId: 1, window, ranges: [{ offset: 0, length: 512, kind: 'written' }], total: 1 }), /kind/);
    const tooMany = Array.from({ length: MAX_CELL_RANGES + 1 }, (_, i) => ({ offset: i * 512, length: 512, kind: 'changed' }));
    assert.match(rejectedTo({ type: 'cellRanges', requestId: 1, window, ranges: tooMany, total: tooMany.length }), /at most/);
    assert.match(rejectedTo({ type: 'init', title: 'x'.repeat(5000), diskSizeBytes: 1 }), /title/);
    assert.match(rejectedTo({ type: 'exportDone', requestId: 1, outcome: 'maybe', rangeCount: 0, message: '' }), /outcome/);
    assert.match(rejectedTo({ type: 'sas', url: 'https://x/?sig=abc' }), /unknown message type/);
  });
});

void describe('block map view state', () => {
  void it('keeps valid fields and drops the rest', () => {
    assert.deepEqual(parseViewState({ restoreKey: 'k', title: 't', window: { offset: 0, length: 512 }, selectedOffset: 1024 }), {
      restoreKey: 'k',
      title: 't',
      window: { offset: 0, length: 512 },
      selectedOffset: 1024,
    });
    assert.deepEqual(parseViewState({ restoreKey: 5, window: { offset: -1, length: 1 }, selectedOffset: 'x', title: 'ok' }), { title: 'ok' });
    assert.deepEqual(parseViewState(undefined), {});
    assert.deepEqual(parseViewState('junk'), {});
  });
});

void describe('block map display formats', () => {
  void it('formats bytes in binary units, exact below 1 KiB', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(64 * 2 ** 30), '64 GiB');
    assert.equal(formatBytes(4 * 2 ** 40), '4 TiB');
    assert.equal(formatBytes(423_540_736), '404 MiB');
  });

  void it('formats offsets as upper-case hex and fractions as percentages', () => {
    assert.equal(formatHex(2 ** 40), '0x10000000000');
    assert.equal(formatHex(511), '0x1FF');
    assert.equal(formatPercent(0), '0%');
    assert.equal(formatPercent(0.5), '50.0%');
    assert.equal(formatPercent(0.0309), '3.09%');
    assert.equal(formatPercent(1e-7), '<0.01%');
  });

  void it('puts exact byte counts in the copied summary', () => {
    const text = summaryText('disk-1: snap-1 → snap-2', { ...summary, usedBytes: 2 ** 30, monthlyCost: { amount: 0.05, currency: 'USD' } });
    assert.match(text, /^disk-1: snap-1 → snap-2\n/);
    assert.match(text, /Changed: 3 GiB \(3221225472 bytes\)/);
    assert.match(text, /Ranges: 12/);
    assert.match(text, /Estimated cost: 0\.05 USD per month/);
    assert.doesNotMatch(summaryText('t', summary), /cost/i);
  });
});

void describe('block map offsets in human units', () => {
  void it('keeps three decimals when asked, so neighbouring cells read differently', () => {
    assert.equal(formatBytes(19.146 * 2 ** 30, true), '19.146 GiB');
    assert.equal(formatBytes(2 ** 40, true), '1 TiB');
    assert.equal(formatBytes(100, true), '100 B');
  });
});
