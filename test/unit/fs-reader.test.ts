/**
 * The cached block reader over a ranged read: widened to aligned granules, adjacent misses coalesced
 * into one read, reads in flight bounded, cached bytes bounded (least recently used go first), and
 * every answer byte-exact.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { CachedBlockReader, sharedUnchanged } from '../../src/core/filesystems/reader';
import { FilesystemError } from '../../src/core/filesystems/types';

const KiB = 1024;

function source(size: number) {
  const bytes = randomBytes(size);
  const calls: Array<{ offset: number; length: number }> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const read = async (offset: number, length: number) => {
    calls.push({ offset, length });
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    await new Promise((r) => setTimeout(r, 2));
    inFlight--;
    return new Uint8Array(bytes.subarray(offset, offset + length));
  };
  return { bytes, calls, read, maxInFlight: () => maxInFlight };
}

void describe('CachedBlockReader', () => {
  void it('answers exactly the bytes asked for, whatever the alignment (property)', async () => {
    const s = source(1024 * KiB + 1000);
    const reader = new CachedBlockReader(s.bytes.length, s.read, { granuleBytes: 4 * KiB, maxCachedBytes: 64 * KiB });
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: s.bytes.length - 1 }), fc.nat({ max: 100 * KiB }), async (offset, len) => {
        const length = Math.min(len, s.bytes.length - offset);
        const got = await reader.read(offset, length);
        assert.deepEqual(Buffer.from(got), s.bytes.subarray(offset, offset + length));
      }),
      { numRuns: 200, seed: 99 },
    );
  });

  void it('coalesces adjacent misses into one read and serves repeats from the cache', async () => {
    const s = source(1024 * KiB);
    const reader = new CachedBlockReader(s.bytes.length, s.read, { granuleBytes: 4 * KiB });
    await reader.read(100, 40 * KiB);
    assert.deepEqual(s.calls, [{ offset: 0, length: 44 * KiB }], 'one aligned read for 11 granules');
    await reader.read(8 * KiB, 10);
    await reader.read(0, 44 * KiB);
    assert.equal(s.calls.length, 1, 'no read for cached granules');
    assert.equal(reader.stats.bytesRead, 44 * KiB);
    // A read straddling cached and missing granules fetches only the missing ones.
    await reader.read(40 * KiB, 12 * KiB);
    assert.deepEqual(s.calls[1], { offset: 44 * KiB, length: 8 * KiB });
  });

  void it('splits long runs at the largest read and bounds reads in flight', async () => {
    const s = source(4096 * KiB);
    const reader = new CachedBlockReader(s.bytes.length, s.read, { granuleBytes: 4 * KiB, maxReadBytes: 64 * KiB, concurrency: 3, maxCachedBytes: 8192 * KiB });
    const got = await reader.read(0, 1024 * KiB);
    assert.deepEqual(Buffer.from(got), s.bytes.subarray(0, 1024 * KiB));
    assert.equal(s.calls.length, 16);
    assert.ok(s.calls.every((c) => c.length === 64 * KiB));
    assert.ok(s.maxInFlight() <= 3, `at most 3 reads at once (saw ${s.maxInFlight()})`);
  });

  void it('keeps at most the byte bound cached, dropping the least recently used', async () => {
    const s = source(1024 * KiB);
    const reader = new CachedBlockReader(s.bytes.length, s.read, { granuleBytes: 4 * KiB, maxCachedBytes: 16 * KiB });
    for (const g of [0, 1, 2, 3]) await reader.read(g * 4 * KiB, 1);
    await reader.read(0, 1); // granule 0 is now the most recent
    await reader.read(4 * 4 * KiB, 1); // evicts granule 1
    const before = s.calls.length;
    await reader.read(0, 1);
    assert.equal(s.calls.length, before, 'granule 0 stayed');
    await reader.read(4 * KiB, 1);
    assert.equal(s.calls.length, before + 1, 'granule 1 was dropped');
  });

  void it('shares one read between concurrent callers of the same granule', async () => {
    const s = source(256 * KiB);
    const reader = new CachedBlockReader(s.bytes.length, s.read, { granuleBytes: 4 * KiB });
    await Promise.all([reader.read(0, 10), reader.read(100, 10), reader.read(4000, 200)]);
    assert.equal(s.calls.length, 2, 'granule 0 once, granule 1 once');
  });

  void it('refuses reads outside the image with a FilesystemError naming the offset', async () => {
    const s = source(64 * KiB);
    const reader = new CachedBlockReader(s.bytes.length, s.read);
    await assert.rejects(reader.read(60 * KiB, 8 * KiB), (e) => e instanceof FilesystemError && /disk image at byte 61440/.test(e.message));
  });
});

void describe('CachedBlockReader.prefetch', () => {
  void it('reads a short gap through when a request costs more than its bytes, keeps only the wanted granules, and then serves reads from the cache', async () => {
    const s = source(4096 * KiB);
    // 100 requests/s against 4 MiB/s, a gap's bytes weighed double: a request costs as much as 20 KiB of gap, so gaps of
    // 4 KiB are read through and one of 60 KiB is not.
    const reader = new CachedBlockReader(s.bytes.length, s.read, { granuleBytes: 4 * KiB, targets: { requestsPerSecond: 100, bytesPerSecond: 4096 * KiB } });
    const wanted = [0, 8, 16, 24, 88, 96].map((k) => ({ offset: k * KiB, length: 1 * KiB }));
    await reader.prefetch(wanted);
    assert.deepEqual(s.calls, [
      { offset: 0, length: 28 * KiB },
      { offset: 88 * KiB, length: 12 * KiB },
    ]);
    s.calls.length = 0;
    for (const w of wanted) assert.deepEqual(Buffer.from(await reader.read(w.offset, w.length)), s.bytes.subarray(w.offset, w.offset + w.length));
    assert.equal(s.calls.length, 0, 'every wanted piece came from the cache');
    await reader.read(4 * KiB, 1 * KiB);
    assert.deepEqual(s.calls, [{ offset: 4 * KiB, length: 4 * KiB }], 'a gap read through is not kept');
  });

  void it('reads no gap through when requests are cheap, and nothing already cached', async () => {
    const s = source(1024 * KiB);
    const reader = new CachedBlockReader(s.bytes.length, s.read, { granuleBytes: 4 * KiB, targets: { requestsPerSecond: 1e9, bytesPerSecond: 1024 * KiB } });
    await reader.read(0, 4 * KiB);
    s.calls.length = 0;
    await reader.prefetch([
      { offset: 0, length: 100 },
      { offset: 12 * KiB, length: 100 },
      { offset: 20 * KiB, length: 100 },
    ]);
    assert.deepEqual(s.calls, [
      { offset: 12 * KiB, length: 4 * KiB },
      { offset: 20 * KiB, length: 4 * KiB },
    ]);
  });

  void it('fetches at most half the cache at once, so that what it fetched is still there for the reads', async () => {
    const s = source(1024 * KiB);
    const reader = new CachedBlockReader(s.bytes.length, s.read, { granuleBytes: 4 * KiB, maxCachedBytes: 64 * KiB });
    const pieces = Array.from({ length: 40 }, (_, k) => ({ offset: k * 16 * KiB, length: 100 }));
    await reader.prefetch(pieces);
    s.calls.length = 0;
    for (const p of pieces.slice(0, 8)) await reader.read(p.offset, p.length);
    assert.equal(s.calls.length, 0, 'the first 8 pieces (32 KiB of granules) are cached');
    await reader.read(pieces[8]!.offset, pieces[8]!.length);
    assert.equal(s.calls.length, 1, 'the 9th was left to the read');
  });

  void it('reports nothing itself: a failed fetch fails the read that asks again', async () => {
    let fail = true;
    const bytes = randomBytes(64 * KiB);
    const reader = new CachedBlockReader(
      bytes.length,
      async (offset, length) => {
        if (fail) throw new Error('source down');
        return new Uint8Array(bytes.subarray(offset, offset + length));
      },
      { granuleBytes: 4 * KiB },
    );
    await reader.prefetch([{ offset: 0, length: 10 }]);
    await assert.rejects(reader.read(0, 10), /source down/);
    fail = false;
    assert.deepEqual(Buffer.from(await reader.read(0, 10)), bytes.subarray(0, 10));
  });
});

void describe('sharedUnchanged', () => {
  function pair() {
    // Two snapshots that differ only in [64 KiB, 68 KiB).
    const older = source(256 * KiB);
    const newerBytes = Buffer.from(older.bytes);
    randomBytes(4 * KiB).copy(newerBytes, 64 * KiB);
    const newer = { ...source(0), bytes: newerBytes, calls: [] as Array<{ offset: number; length: number }> };
    const newerRead = async (offset: number, length: number) => {
      newer.calls.push({ offset, length });
      await new Promise((r) => setTimeout(r, 2));
      return new Uint8Array(newerBytes.subarray(offset, offset + length));
    };
    const a = new CachedBlockReader(older.bytes.length, older.read, { granuleBytes: 4 * KiB });
    const b = new CachedBlockReader(newerBytes.length, newerRead, { granuleBytes: 4 * KiB });
    const [olderView, newerView] = sharedUnchanged(a, b, [{ offset: 64 * KiB, length: 4 * KiB }]);
    return { older, newer, olderView, newerView };
  }

  void it('answers each snapshot with its own bytes, whoever fetched them (property)', async () => {
    const p = pair();
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.nat({ max: 255 * KiB }), fc.integer({ min: 1, max: 32 * KiB }), async (newer, offset, len) => {
        const length = Math.min(len, 256 * KiB - offset);
        const view = newer ? p.newerView : p.olderView;
        const bytes = newer ? p.newer.bytes : p.older.bytes;
        assert.deepEqual(Buffer.from(await view.read(offset, length)), bytes.subarray(offset, offset + length));
      }),
      { numRuns: 300, seed: 42 },
    );
  });

  void it('serves an unchanged piece the other snapshot holds from its cache, and a changed one from its own snapshot', async () => {
    const p = pair();
    await p.newerView.read(0, 8 * KiB);
    await p.newerView.read(64 * KiB, 4 * KiB);
    assert.equal(p.older.calls.length, 0);
    await p.olderView.read(0, 8 * KiB);
    assert.equal(p.older.calls.length, 0, "the unchanged bytes came from the newer snapshot's cache");
    await p.olderView.read(64 * KiB, 4 * KiB);
    assert.deepEqual(p.older.calls, [{ offset: 64 * KiB, length: 4 * KiB }], 'the changed bytes came from the older snapshot');
  });

  void it('shares the unchanged pieces of one prefetch between the two snapshots', async () => {
    const p = pair();
    const pieces = [0, 16, 32, 48, 96, 112, 128, 144].map((k) => ({ offset: k * KiB, length: 1 * KiB }));
    await p.newerView.prefetch!(pieces);
    assert.ok(p.older.calls.length > 0 && p.newer.calls.length > 0, `both snapshots served: ${p.older.calls.length} + ${p.newer.calls.length}`);
    const before = p.older.calls.length + p.newer.calls.length;
    for (const piece of pieces)
      assert.deepEqual(Buffer.from(await p.newerView.read(piece.offset, piece.length)), p.newer.bytes.subarray(piece.offset, piece.offset + piece.length));
    assert.equal(p.older.calls.length + p.newer.calls.length, before, 'the reads that followed came from the caches');
  });
});
