/**
 * The block map's Files panel, host side: the `files` message and its validation, the mapping of a file
 * diff to the panel's list (ranking, caps), of file extents to map cells, and when the session sends it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { FileChange } from '../../src/core/filesystems/fileDiff';
import type { DiffRange } from '../../src/core/model';
import { DiffRangeStore } from '../../src/core/rangeStore';
import { filesMessage, unreadableReason } from '../../src/extension/blockMap/files';
import { BlockMapSession, type BlockMapUi } from '../../src/extension/blockMap/session';
import { blockMapSourceFromStore } from '../../src/extension/blockMap/storeSource';
import {
  MAX_FILE_EXTENTS,
  MAX_FILES,
  parseViewState,
  validateToWebviewMessage,
  type ChangedFile,
  type FilesMessage,
  type ToWebviewMessage,
} from '../../src/shared/blockMapProtocol';
import { capExtents, cellsOfExtents, filesInWindow, filterFiles } from '../../src/shared/fileCells';

const GiB = 2 ** 30;
const ext4 = { partition: 1, type: 'ext4', label: '', offsetBytes: 1 << 20, sizeBytes: 8 * GiB, supported: true, reason: null };

function change(path: string, changedBytes: number, extra: Partial<FileChange> = {}): FileChange {
  return { path, change: 'modified', changedBytes, sizeBefore: 10, sizeAfter: 10, partition: 1, type: 'file', ...extra };
}

function file(path: string, changedBytes: number, extents: { offset: number; length: number }[]): ChangedFile {
  return { path, change: 'modified', changedBytes, partition: 1, dir: false, extents };
}

function rejected(message: unknown): string {
  const r = validateToWebviewMessage(message);
  assert.equal(r.ok, false, `${JSON.stringify(message)} should be rejected`);
  return r.ok ? '' : r.reason;
}

void describe('files message (protocol)', () => {
  const good: FilesMessage = {
    type: 'files',
    state: 'ready',
    files: [
      { path: '/var/log/syslog', change: 'modified', changedBytes: 4096, partition: 1, dir: false, extents: [{ offset: 2 * GiB, length: 4096 }] },
      { path: '/etc/new', change: 'renamed', previousPath: '/etc/old', changedBytes: 0, partition: 1, dir: true, extents: [], coarse: true },
    ],
    total: 7,
  };

  void it('accepts a ready list, a computing state and an unavailable state with its reason', () => {
    assert.deepEqual(validateToWebviewMessage(structuredClone(good)), { ok: true, message: good });
    const computing = { type: 'files', state: 'computing', files: [], total: 0 };
    assert.deepEqual(validateToWebviewMessage(computing), { ok: true, message: computing });
    const unavailable = { type: 'files', state: 'unavailable', reason: 'partition 1 (BitLocker): encrypted', files: [], total: 0 };
    assert.deepEqual(validateToWebviewMessage(unavailable), { ok: true, message: unavailable });
  });

  void it('rejects what the webview could not trust', () => {
    const f = good.files[0]!;
    assert.match(rejected({ ...good, state: 'done' }), /state/);
    assert.match(rejected({ type: 'files', state: 'unavailable', files: [], total: 0 }), /no reason/);
    assert.match(rejected({ ...good, total: 1 }), /total is less/);
    assert.match(rejected({ ...good, files: [{ ...f, change: 'exploded' }] }), /change/);
    assert.match(rejected({ ...good, files: [{ ...f, changedBytes: -1 }] }), /changedBytes/);
    assert.match(rejected({ ...good, files: [{ ...f, dir: 'no' }] }), /dir/);
    assert.match(rejected({ ...good, files: [{ ...f, path: 'x'.repeat(5000) }] }), /path/);
    assert.match(rejected({ ...good, files: [{ ...f, extents: [{ offset: 0, length: 0 }] }] }), /length is 0/);
    assert.match(
      rejected({
        ...good,
        files: [
          {
            ...f,
            extents: [
              { offset: 100, length: 10 },
              { offset: 105, length: 10 },
            ],
          },
        ],
      }),
      /out of order or overlaps/,
    );
    const tooMany = Array.from({ length: MAX_FILE_EXTENTS + 1 }, (_, i) => ({ offset: i * 1024, length: 512 }));
    assert.match(rejected({ ...good, files: [{ ...f, extents: tooMany }] }), /at most 64/);
    assert.match(rejected({ ...good, files: Array.from({ length: MAX_FILES + 1 }, () => f), total: MAX_FILES + 1 }), /at most 5000 files/);
  });

  void it('the filter and the lit file survive in the view state; junk is dropped', () => {
    assert.deepEqual(parseViewState({ fileFilter: 'nginx', selectedFile: '/etc/nginx/nginx.conf' }), {
      fileFilter: 'nginx',
      selectedFile: '/etc/nginx/nginx.conf',
    });
    assert.deepEqual(parseViewState({ fileFilter: 42, selectedFile: { path: 1 } }), {});
  });
});

void describe('file diff to the Files panel (host mapping)', () => {
  void it('ranks by changed bytes (then path), keeps kinds, directories, renames and each file its extents', () => {
    const a = change('/b', 100);
    const b = change('/a', 100);
    const dir = change('/etc', 0, { change: 'metadata', type: 'dir' });
    const moved = change('/new', 5000, { change: 'renamed', previousPath: '/old' });
    const extents = new Map<FileChange, DiffRange[]>([
      [moved, [{ offset: GiB, length: 4096, kind: 'changed' }]],
      [a, [{ offset: 2 * GiB, length: 100, kind: 'changed' }]],
    ]);
    const m = filesMessage({ filesystems: [ext4], files: [a, dir, b, moved], extents });
    assert.equal(m.state, 'ready');
    assert.equal(m.total, 4);
    assert.deepEqual(
      m.files.map((f) => f.path),
      ['/new', '/a', '/b', '/etc'],
    );
    assert.deepEqual(m.files[0], {
      path: '/new',
      change: 'renamed',
      previousPath: '/old',
      changedBytes: 5000,
      partition: 1,
      dir: false,
      extents: [{ offset: GiB, length: 4096 }],
    });
    assert.equal(m.files[3]!.dir, true);
    assert.deepEqual(m.files[3]!.extents, []);
    assert.ok(validateToWebviewMessage(structuredClone(m)).ok);
  });

  void it('caps the list at the largest MAX_FILES, with the true total', () => {
    const files = Array.from({ length: MAX_FILES + 10 }, (_, i) => change(`/f${i}`, i));
    const m = filesMessage({ filesystems: [ext4], files });
    assert.equal(m.files.length, MAX_FILES);
    assert.equal(m.total, MAX_FILES + 10);
    assert.equal(m.files[0]!.changedBytes, MAX_FILES + 9);
    assert.equal(m.files[MAX_FILES - 1]!.changedBytes, 10);
    assert.ok(validateToWebviewMessage(structuredClone(m)).ok);
  });

  void it('names why no file can be named: encrypted, unsupported or no filesystem', () => {
    const luks = { ...ext4, type: 'luks', supported: false, reason: 'encrypted (LUKS): its files cannot be read' };
    const m = filesMessage({ filesystems: [luks], files: [] });
    assert.equal(m.state, 'unavailable');
    assert.match(m.reason ?? '', /partition 1 \(luks\): encrypted \(LUKS\)/);
    assert.match(unreadableReason([]) ?? '', /No partition table or filesystem/);
    assert.equal(unreadableReason([luks, ext4]), undefined, 'one readable filesystem is enough');
  });

  void it('capExtents keeps up to the cap as they are, and beyond it closes the smallest gaps, covering every byte', () => {
    const few = [
      { offset: 0, length: 10 },
      { offset: 10, length: 5 },
      { offset: 100, length: 1 },
    ];
    assert.deepEqual(capExtents(few, 4), {
      extents: [
        { offset: 0, length: 15 },
        { offset: 100, length: 1 },
      ],
      coarse: false,
    });
    const many = [
      { offset: 0, length: 1 },
      { offset: 2, length: 1 },
      { offset: 100, length: 1 },
      { offset: 103, length: 1 },
      { offset: 1000, length: 1 },
    ];
    assert.deepEqual(capExtents(many, 3), {
      extents: [
        { offset: 0, length: 3 },
        { offset: 100, length: 4 },
        { offset: 1000, length: 1 },
      ],
      coarse: true,
    });
    fc.assert(
      fc.property(
        fc.array(fc.record({ offset: fc.integer({ min: 0, max: 1e6 }), length: fc.integer({ min: 1, max: 5000 }) }), { maxLength: 300 }),
        fc.integer({ min: 1, max: 64 }),
        (ranges, max) => {
          const { extents } = capExtents(ranges, max);
          assert.ok(extents.length <= max);
          for (let i = 1; i < extents.length; i++) assert.ok(extents[i]!.offset > extents[i - 1]!.offset + extents[i - 1]!.length - 1);
          for (const r of ranges)
            assert.ok(
              extents.some((e) => e.offset <= r.offset && r.offset + r.length <= e.offset + e.length),
              'every byte covered',
            );
        },
      ),
    );
  });

  void it('maps extents to the cells of the grid shown, clipped to it', () => {
    const grid = { offset: 1000, bytesPerCell: 100, cells: 10 };
    const mask = cellsOfExtents(
      [
        { offset: 0, length: 1050 },
        { offset: 1250, length: 100 },
        { offset: 1999, length: 5000 },
      ],
      grid,
    );
    assert.deepEqual([...mask], [1, 0, 1, 1, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual([...cellsOfExtents([{ offset: 5000, length: 10 }], grid)], new Array(10).fill(0), 'off screen lights nothing');
  });

  void it('finds the files whose extents intersect a cell, largest first, capped with a total', () => {
    const files = [
      file('/small', 10, [{ offset: 150, length: 10 }]),
      file('/big', 900, [
        { offset: 0, length: 100 },
        { offset: 190, length: 20 },
      ]),
      file('/elsewhere', 5000, [{ offset: 10_000, length: 100 }]),
      file('/dir', 0, []),
    ];
    assert.deepEqual(
      filesInWindow(files, { offset: 100, length: 100 }, 5).files.map((f) => f.path),
      ['/big', '/small'],
    );
    assert.deepEqual(
      filesInWindow(files, { offset: 100, length: 50 }, 5).files.map((f) => f.path),
      [],
      'a window ending where an extent starts holds none of it',
    );
    const capped = filesInWindow(files, { offset: 0, length: 20_000 }, 2);
    assert.deepEqual(
      capped.files.map((f) => f.path),
      ['/elsewhere', '/big'],
    );
    assert.equal(capped.total, 3);
    assert.deepEqual(
      filterFiles(files, 'ELSE').map((f) => f.path),
      ['/elsewhere'],
    );
  });
});

void describe('block map session: the Files panel', () => {
  const store = new DiffRangeStore();
  store.append({ offset: 0, length: 4096, kind: 'changed' });

  function run(changedFiles?: (signal: AbortSignal) => Promise<FilesMessage>) {
    const posted: ToWebviewMessage[] = [];
    const ui: BlockMapUi = {
      post: (m) => {
        const checked = validateToWebviewMessage(structuredClone(m));
        assert.ok(checked.ok, checked.ok ? '' : checked.reason);
        posted.push(m);
      },
      chooseExportTarget: () => Promise.resolve(undefined),
      withExportProgress: (_t, task) => task(new AbortController().signal),
      writeClipboard: () => Promise.resolve(),
      setTitle: () => undefined,
    };
    const logs: string[] = [];
    const log = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) };
    const source = blockMapSourceFromStore(store, { diskSizeBytes: GiB, ...(changedFiles ? { changedFiles } : {}) });
    return { session: new BlockMapSession(source, 't', ui, log), posted, logs };
  }

  const ready: FilesMessage = { type: 'files', state: 'ready', files: [file('/a', 4096, [{ offset: 0, length: 4096 }])], total: 1 };

  void it('starts the file diff only after the first bins went out, once, and re-sends its result to a webview shown again', async () => {
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const h = run(async () => {
      calls++;
      await gate;
      return ready;
    });
    await h.session.receive({ type: 'ready' });
    assert.equal(calls, 0, 'ready (before the first paint) does not start it');
    assert.equal(
      h.posted.some((m) => m.type === 'files'),
      false,
    );
    await h.session.receive({ type: 'bin', requestId: 1, window: { offset: 0, length: GiB }, bins: 16 });
    const types = h.posted.map((m) => m.type);
    assert.ok(types.indexOf('bins') < types.indexOf('files'), 'the bins go out before the file list is started');
    assert.deepEqual(h.posted.at(-1), { type: 'files', state: 'computing', files: [], total: 0 });
    await h.session.receive({ type: 'bin', requestId: 2, window: { offset: 0, length: GiB }, bins: 8 });
    assert.equal(calls, 1, 'started once');
    release();
    await gate;
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(h.posted.at(-1), ready);
    h.posted.length = 0;
    await h.session.receive({ type: 'ready' });
    assert.deepEqual(
      h.posted.filter((m) => m.type === 'files'),
      [ready],
      'a webview rebuilt after being hidden gets the list at once',
    );
    assert.equal(calls, 1);
    h.session.dispose();
  });

  void it("waits for the family's bars (diffs sharing this pair's snapshots) before it starts: grants never overlap", async () => {
    let release!: () => void;
    const familyGate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const posted: ToWebviewMessage[] = [];
    const ui: BlockMapUi = {
      post: (m) => posted.push(m),
      chooseExportTarget: () => Promise.resolve(undefined),
      withExportProgress: (_t, task) => task(new AbortController().signal),
      writeClipboard: () => Promise.resolve(),
      setTitle: () => undefined,
    };
    const source = blockMapSourceFromStore(store, {
      diskSizeBytes: GiB,
      familyBars: async () => {
        await familyGate;
        return { bars: [], selected: -1 };
      },
      changedFiles: () => {
        calls++;
        return Promise.resolve(ready);
      },
    });
    const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const session = new BlockMapSession(source, 't', ui, log);
    const readyDone = session.receive({ type: 'ready' });
    await session.receive({ type: 'bin', requestId: 1, window: { offset: 0, length: GiB }, bins: 16 });
    await new Promise((r) => setImmediate(r));
    assert.equal(calls, 0, 'not while the family is being diffed');
    release();
    await readyDone;
    await new Promise((r) => setImmediate(r));
    assert.equal(calls, 1);
    assert.deepEqual(posted.at(-1), ready);
    session.dispose();
  });

  void it('a failure becomes an unavailable state with the reason, secrets redacted', async () => {
    const h = run(() => Promise.reject(new Error('read failed on https://acct.blob.core.windows.net/abcd?sv=2020&sig=SECRETSIG')));
    await h.session.receive({ type: 'bin', requestId: 1, window: { offset: 0, length: GiB }, bins: 16 });
    await new Promise((r) => setImmediate(r));
    const last = h.posted.at(-1);
    assert.equal(last?.type, 'files');
    assert.equal(last.type === 'files' && last.state, 'unavailable');
    assert.match((last.type === 'files' && last.reason) || '', /^The file-level diff failed: read failed/);
    assert.ok(!JSON.stringify(h.posted).includes('SECRETSIG'), 'no SAS signature reaches the webview');
    assert.ok(!h.logs.join('\n').includes('SECRETSIG'), 'nor the log');
  });

  void it('a source without file names sends no files message; disposing cancels a running file diff', async () => {
    const none = run();
    await none.session.receive({ type: 'bin', requestId: 1, window: { offset: 0, length: GiB }, bins: 16 });
    assert.equal(
      none.posted.some((m) => m.type === 'files'),
      false,
    );
    let seen: AbortSignal | undefined;
    const h = run(
      (signal) =>
        new Promise((_resolve, reject) => {
          seen = signal;
          signal.addEventListener('abort', () => reject(new DOMException('cancelled', 'AbortError')));
        }),
    );
    await h.session.receive({ type: 'bin', requestId: 1, window: { offset: 0, length: GiB }, bins: 16 });
    h.session.dispose();
    assert.equal(seen?.aborted, true);
  });
});
