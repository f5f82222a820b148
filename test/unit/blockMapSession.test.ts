import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DiffRange } from '../../src/core/model';
import { DiffRangeStore } from '../../src/core/rangeStore';
import { summarizeDiff } from '../../src/core/blockMap';
import { BlockMapSession, exportFileName, type BlockMapLog, type BlockMapUi, type ExportSink } from '../../src/extension/blockMap/session';
import { blockMapSourceFromStore } from '../../src/extension/blockMap/storeSource';
import { toBlockMapSummary } from '../../src/extension/blockMap/summary';
import { MAX_CELL_RANGES, validateToWebviewMessage, type MapWindow, type ToWebviewMessage } from '../../src/shared/blockMapProtocol';
import type { BlockMapDataSource } from '../../src/extension/blockMap/dataSource';

const GiB = 2 ** 30;
const DISK = 64 * GiB;

function rangesFixture(): DiffRange[] {
  const out: DiffRange[] = [];
  for (let i = 0; i < 2000; i++) out.push({ offset: i * 2 ** 20, length: 512 * (1 + (i % 8)), kind: i % 5 === 4 ? 'cleared' : 'changed' });
  out.push({ offset: 32 * GiB, length: 4 * GiB, kind: 'changed' });
  return out;
}

function storeOf(ranges: DiffRange[]): DiffRangeStore {
  const store = new DiffRangeStore();
  for (const r of ranges) store.append(r);
  return store;
}

interface Harness {
  session: BlockMapSession;
  posted: ToWebviewMessage[];
  logs: string[];
  clipboard: string[];
  titles: string[];
  sinks: { written: string[]; closed: boolean; discarded: boolean }[];
  chooseFile: { value: boolean };
}

function harness(source: BlockMapDataSource): Harness {
  const posted: ToWebviewMessage[] = [];
  const logs: string[] = [];
  const clipboard: string[] = [];
  const titles: string[] = [];
  const sinks: Harness['sinks'] = [];
  const chooseFile = { value: true };
  const log: BlockMapLog = {
    info: (m) => logs.push(`info ${m}`),
    warn: (m) => logs.push(`warn ${m}`),
    error: (m) => logs.push(`error ${m}`),
  };
  const ui: BlockMapUi = {
    // Everything posted must pass the webview's own validation, as structured clone delivers it.
    post: (m) => {
      const checked = validateToWebviewMessage(structuredClone(m));
      assert.ok(checked.ok, `host posted an invalid message: ${checked.ok ? '' : checked.reason}`);
      posted.push(m);
    },
    chooseExportTarget: () => {
      if (!chooseFile.value) return Promise.resolve(undefined);
      const record = { written: [] as string[], closed: false, discarded: false };
      sinks.push(record);
      const sink: ExportSink = {
        displayName: '/tmp/out',
        write: (text) => {
          record.written.push(text);
          return Promise.resolve();
        },
        close: () => {
          record.closed = true;
          return Promise.resolve();
        },
        discard: () => {
          record.discarded = true;
          return Promise.resolve();
        },
      };
      return Promise.resolve(sink);
    },
    withExportProgress: (_title, task) => task(new AbortController().signal),
    writeClipboard: (text) => {
      clipboard.push(text);
      return Promise.resolve();
    },
    setTitle: (t) => titles.push(t),
  };
  return { session: new BlockMapSession(source, 'snap-1 → snap-2', ui, log), posted, logs, clipboard, titles, sinks, chooseFile };
}

const of = <T extends ToWebviewMessage['type']>(posted: ToWebviewMessage[], type: T) =>
  posted.filter((m): m is Extract<ToWebviewMessage, { type: T }> => m.type === type);

void describe('block map session (host side)', () => {
  const ranges = rangesFixture();
  const source = () => blockMapSourceFromStore(storeOf(ranges), { diskSizeBytes: DISK, restoreKey: '{"from":"a","to":"b"}' });

  void it('answers ready with init, then the summary', async () => {
    const h = harness(source());
    await h.session.receive({ type: 'ready' });
    assert.deepEqual(h.posted[0], { type: 'init', title: 'snap-1 → snap-2', diskSizeBytes: DISK, restoreKey: '{"from":"a","to":"b"}' });
    const [summary] = of(h.posted, 'summary');
    assert.ok(summary);
    assert.equal(summary.summary.rangeCount, ranges.length);
    assert.equal(summary.summary.largestRangeBytes, 4 * GiB);
    assert.equal(
      summary.summary.changedBytes + summary.summary.clearedBytes,
      ranges.reduce((s, r) => s + r.length, 0),
    );
  });

  void it('bins a window into exactly the cells asked, as ArrayBuffers', async () => {
    const h = harness(source());
    const window: MapWindow = { offset: 32 * GiB, length: 8 * GiB };
    await h.session.receive({ type: 'bin', requestId: 9, window, bins: 8 });
    const [bins] = of(h.posted, 'bins');
    assert.ok(bins);
    assert.equal(bins.requestId, 9);
    assert.ok(bins.changed instanceof ArrayBuffer);
    const changed = [...new Float32Array(bins.changed)];
    assert.deepEqual(changed, [1, 1, 1, 1, 0, 0, 0, 0], 'the 4 GiB range fills the first half of the window');
  });

  void it('gives the same bins for a window asked again, unaffected by what the caller did with the last ones', async () => {
    const src = source();
    const window = { offset: 0, length: DISK };
    const first = await src.bin(window, 64, new AbortController().signal);
    const expected = [...first.changed];
    first.changed.fill(7);
    const again = await src.bin(window, 64, new AbortController().signal);
    assert.deepEqual([...again.changed], expected);
    assert.ok(expected.some((v) => v > 0));
  });

  void it('drops an older binning when a newer one arrives', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const slow: BlockMapDataSource = {
      ...source(),
      async bin(window, bins, signal) {
        if (window.offset === 0) await gate;
        signal.throwIfAborted();
        return { changed: new Float32Array(bins), cleared: new Float32Array(bins) };
      },
    };
    const h = harness(slow);
    const first = h.session.receive({ type: 'bin', requestId: 1, window: { offset: 0, length: GiB }, bins: 4 });
    await h.session.receive({ type: 'bin', requestId: 2, window: { offset: GiB, length: GiB }, bins: 4 });
    release();
    await first;
    assert.deepEqual(
      of(h.posted, 'bins').map((m) => m.requestId),
      [2],
    );
    assert.deepEqual(of(h.posted, 'error'), [], 'an abandoned binning is not an error');
  });

  void it('lists the ranges of a cell, capped, with the total', async () => {
    const h = harness(source());
    await h.session.receive({ type: 'cellRanges', requestId: 3, window: { offset: 0, length: 100 * 2 ** 20 }, max: 8 });
    const [cell] = of(h.posted, 'cellRanges');
    assert.ok(cell);
    assert.equal(cell.ranges.length, 8);
    assert.equal(cell.total, 100);
    assert.deepEqual(cell.ranges[0], ranges[0]);
  });

  void it('caps a source that returns more ranges than asked', async () => {
    const many: BlockMapDataSource = {
      ...source(),
      rangesInCell: () => Promise.resolve({ ranges: ranges.slice(0, 1000), total: 1000 }),
    };
    const h = harness(many);
    await h.session.receive({ type: 'cellRanges', requestId: 3, window: { offset: 0, length: GiB }, max: MAX_CELL_RANGES });
    assert.equal(of(h.posted, 'cellRanges')[0]?.ranges.length, MAX_CELL_RANGES);
  });

  void it('drops and logs malformed messages without answering', async () => {
    const h = harness(source());
    await h.session.receive({ type: 'bin', requestId: 1, window: { offset: -1, length: 1 }, bins: 4 });
    await h.session.receive({ type: 'runCommand', command: 'x' });
    await h.session.receive('ready');
    assert.deepEqual(h.posted, []);
    assert.equal(h.logs.filter((l) => l.startsWith('warn Block map: dropped a malformed message')).length, 3);
  });

  void it('reports a failing source as an error for the request, with secrets redacted', async () => {
    const failing: BlockMapDataSource = {
      ...source(),
      bin: () => Promise.reject(new Error('403 on https://md-x.blob.core.windows.net/abc?sv=2020&sig=SECRETSIG')),
    };
    const h = harness(failing);
    await h.session.receive({ type: 'bin', requestId: 5, window: { offset: 0, length: GiB }, bins: 4 });
    const [error] = of(h.posted, 'error');
    assert.equal(error?.requestId, 5);
    assert.doesNotMatch(error?.message ?? '', /SECRETSIG/);
    assert.ok(h.logs.every((l) => !l.includes('SECRETSIG')));
  });

  void it('exports every range as CSV or JSON through the chosen file, in the shape `disk-delta diff` prints', async () => {
    const pair = {
      from: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/snap-1',
      to: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/snap-2',
    };
    const h = harness(blockMapSourceFromStore(storeOf(ranges), { diskSizeBytes: DISK, pair }));
    await h.session.receive({ type: 'export', requestId: 1, format: 'csv' });
    await h.session.receive({ type: 'export', requestId: 2, format: 'json' });
    const [csv, json] = h.sinks;
    assert.ok(csv?.closed && json?.closed);
    const csvLines = csv.written.join('').trim().split('\n');
    assert.equal(csvLines[0], 'offset,length,kind');
    assert.equal(csvLines.length, ranges.length + 1);
    assert.equal(csvLines[1], `${ranges[0]!.offset},${ranges[0]!.length},${ranges[0]!.kind}`);
    const sum = (kind: string) => ranges.filter((r) => r.kind === kind).reduce((n, r) => n + r.length, 0);
    assert.deepEqual(JSON.parse(json.written.join('')), {
      from: pair.from,
      to: pair.to,
      diskSizeBytes: DISK,
      ranges: ranges.map((r) => ({ offset: r.offset, length: r.length, kind: r.kind })),
      changedBytes: sum('changed'),
      clearedBytes: sum('cleared'),
      rangeCount: ranges.length,
    });
    assert.ok(sum('cleared') > 0 && sum('changed') > 0, 'the sample has both kinds');
    assert.deepEqual(
      of(h.posted, 'exportDone').map((m) => [m.requestId, m.outcome, m.rangeCount]),
      [
        [1, 'saved', ranges.length],
        [2, 'saved', ranges.length],
      ],
    );
  });

  void it('reports a cancelled save dialog and discards a failed export', async () => {
    const h = harness({ ...source(), exportRanges: () => Promise.reject(new Error('stream broke')) });
    h.chooseFile.value = false;
    await h.session.receive({ type: 'export', requestId: 1, format: 'csv' });
    h.chooseFile.value = true;
    await h.session.receive({ type: 'export', requestId: 2, format: 'csv' });
    assert.deepEqual(
      of(h.posted, 'exportDone').map((m) => m.outcome),
      ['cancelled', 'failed'],
    );
    assert.equal(h.sinks[0]?.discarded, true);
    assert.equal(h.sinks[0]?.closed, false);
  });

  void it('copies the summary text to the clipboard', async () => {
    const h = harness(source());
    await h.session.receive({ type: 'copySummary', requestId: 1 });
    assert.match(h.clipboard[0] ?? '', /^snap-1 → snap-2\nChanged: /);
    assert.match(h.clipboard[0] ?? '', new RegExp(`Ranges: ${ranges.length}`));
    assert.equal(of(h.posted, 'notice').length, 1);
  });

  void it('switches to another pair of the family and retitles the panel', async () => {
    const other = blockMapSourceFromStore(storeOf(ranges.slice(0, 10)), {
      diskSizeBytes: DISK,
      restoreKey: 'pair-2',
      extras: { fromLabel: 'snap-2', toLabel: 'snap-3' },
    });
    const first = blockMapSourceFromStore(storeOf(ranges), {
      diskSizeBytes: DISK,
      familyBars: () => Promise.resolve({ bars: [{ fromLabel: 'snap-1', toLabel: 'snap-2', changedBytes: 1, clearedBytes: 0 }], selected: 0 }),
      withPair: (index) => (index === 2 ? Promise.resolve(other) : Promise.reject(new Error('no such pair'))),
    });
    const h = harness(first);
    await h.session.receive({ type: 'ready' });
    assert.equal(of(h.posted, 'family').length, 1);
    await h.session.receive({ type: 'selectPair', requestId: 4, index: 2 });
    const [selected] = of(h.posted, 'pairSelected');
    assert.deepEqual(selected, { type: 'pairSelected', requestId: 4, index: 2, title: 'snap-2 → snap-3', diskSizeBytes: DISK, restoreKey: 'pair-2' });
    assert.equal(of(h.posted, 'summary').at(-1)?.summary.rangeCount, 10);
    assert.deepEqual(h.titles, ['snap-2 → snap-3']);
    assert.equal(h.session.source, other);
  });

  void it('posts nothing after it is disposed', async () => {
    const h = harness(source());
    h.session.dispose();
    await h.session.receive({ type: 'ready' });
    assert.deepEqual(h.posted, []);
  });
});

void describe('block map summary from the core diff summary', () => {
  void it('merges both kinds into one power-of-two histogram and keeps the totals', async () => {
    const ranges: DiffRange[] = [
      { offset: 0, length: 512, kind: 'changed' },
      { offset: 1024, length: 512, kind: 'cleared' },
      { offset: 4096, length: 3 * 1024, kind: 'changed' },
      { offset: 16 * GiB, length: 8 * GiB, kind: 'changed' },
    ];
    const s = toBlockMapSummary(await summarizeDiff(ranges, DISK), { usedBytes: GiB, fromLabel: 'a', toLabel: 'b' });
    assert.equal(s.rangeCount, 4);
    assert.equal(s.changedRangeCount, 3);
    assert.equal(s.clearedRangeCount, 1);
    assert.equal(s.largestRangeBytes, 8 * GiB);
    assert.equal(s.sizeHistogram[9], 2, 'two 512-byte ranges');
    assert.equal(s.sizeHistogram[11], 1, 'one range of 2-4 KiB');
    assert.equal(s.sizeHistogram[s.sizeHistogram.length - 1], 1, 'the open-ended last bucket holds the 8 GiB range');
    assert.equal(s.sizeHistogramOpenEnded, true);
    assert.equal(s.shareOfDisk, (8 * GiB + 512 * 2 + 3072) / DISK);
    assert.equal(s.usedBytes, GiB);
    assert.equal(validateToWebviewMessage({ type: 'summary', summary: s }).ok, true);
  });

  void it('names export files safely', () => {
    assert.equal(exportFileName('disk-1: snap-1 → snap-2', 'csv'), 'disk-1-snap-1-snap-2.csv');
    assert.equal(exportFileName('→', 'json'), 'changed-ranges.json');
  });
});
