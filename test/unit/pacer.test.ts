import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BlobPacer } from '../../src/core/copy/retry';

void test('requests arriving at once are spread to the request rate', () => {
  const pacer = new BlobPacer({ requestsPerSecond: 100, bytesPerSecond: 1e12 }, 0);
  const waits = Array.from({ length: 5 }, () => pacer.reserve(0, 1000));
  assert.deepEqual(waits, [0, 10, 20, 30, 40]);
});

void test('large writes are spread to the byte rate', () => {
  const MiB = 1024 * 1024;
  const pacer = new BlobPacer({ requestsPerSecond: 1e6, bytesPerSecond: 4 * MiB }, 0);
  assert.equal(pacer.reserve(4 * MiB, 0), 0);
  assert.equal(pacer.reserve(4 * MiB, 0), 1000);
  assert.equal(pacer.reserve(2 * MiB, 0), 2000);
  assert.equal(pacer.reserve(0, 5000), 0, 'idle time is not banked beyond the tolerance');
});

void test('over any span, what is let through stays within rate × span + one burst', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ gap: fc.integer({ min: 0, max: 20 }), bytes: fc.integer({ min: 0, max: 4 * 1024 * 1024 }) }), { minLength: 1, maxLength: 300 }),
      (reqs) => {
        const rate = { requestsPerSecond: 500, bytesPerSecond: 60 * 1024 * 1024 };
        const pacer = new BlobPacer(rate, 100);
        let now = 0;
        const sent: { at: number; bytes: number }[] = [];
        for (const r of reqs) {
          now += r.gap;
          sent.push({ at: now + pacer.reserve(r.bytes, now), bytes: r.bytes });
        }
        sent.sort((a, b) => a.at - b.at);
        for (let i = 0; i < sent.length; i++) {
          for (let j = i; j < sent.length; j++) {
            const span = sent[j]!.at - sent[i]!.at;
            const count = j - i + 1;
            assert.ok(count <= (span / 1000) * rate.requestsPerSecond + 1 + 0.1 * rate.requestsPerSecond + 1e-6, `${count} requests in ${span} ms`);
          }
        }
      },
    ),
    { numRuns: 50 },
  );
});
