/**
 * The cached block reader over a ranged read: widened to aligned granules, adjacent misses coalesced
 * into one read, reads in flight bounded, cached bytes bounded (least recently used go first), and
 * every answer byte-exact.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { CachedBlockReader } from '../../src/core/filesystems/reader';
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
