import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DiffRange, PageRange } from '../../src/core/model';
import { AdaptiveConcurrency, classifyError, crossesFourTiBBoundary, DEFAULT_RETRY_POLICY, targetBlobName } from '../../src/core/copy';
import { diffOps, windowedRanges, writeOps } from '../../src/core/copy/plan';
import { backoffDelay, withTimeout } from '../../src/core/copy/retry';
import type { ByteWindow } from '../../src/core/ports';
import { DiskDeltaError } from '../../src/core/errors';

const MiB = 1024 * 1024;

function azureError(statusCode: number, code: string, retryAfterMs?: number): DiskDeltaError {
  const e = new DiskDeltaError(code, code, undefined, statusCode);
  if (retryAfterMs !== undefined) e.retryAfterMs = retryAfterMs;
  return e;
}

/** A lister that, like Azure, clips every range to the window it was asked for. */
function clippingLister<T extends PageRange>(ranges: T[], listed: ByteWindow[] = []): (w: ByteWindow) => AsyncIterable<T> {
  return async function* (w) {
    listed.push(w);
    for (const r of ranges) {
      const start = Math.max(r.offset, w.offset);
      const end = Math.min(r.offset + r.length, w.offset + w.length);
      if (end > start) yield { ...r, offset: start, length: end - start };
    }
  };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

void describe('classifyError', () => {
  const cases: Array<[string, unknown, string]> = [
    ['503 ServerBusy', azureError(503, 'ServerBusy', 3000), 'throttled'],
    ['429', azureError(429, 'TooManyRequests'), 'throttled'],
    ['500 OperationTimedOut', azureError(500, 'OperationTimedOut'), 'throttled'],
    ['500 InternalError', azureError(500, 'InternalError'), 'transient'],
    ['502', azureError(502, 'BadGateway'), 'transient'],
    ['connection reset', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'transient'],
    ['reset as a cause', new Error('fetch failed', { cause: Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }) }), 'transient'],
    ['adapter NetworkError', azureError(0, 'NetworkError'), 'transient'],
    ['request timeout', new DiskDeltaError('stalled', 'RequestTimeout'), 'transient'],
    ['403 AuthenticationFailed', azureError(403, 'AuthenticationFailed'), 'sasExpired'],
    ['403 CannotVerifyCopySource', azureError(403, 'CannotVerifyCopySource'), 'sasExpired'],
    ['403 AuthorizationFailed (RBAC)', azureError(403, 'AuthorizationFailed'), 'fatal'],
    ['409 incremental source', azureError(409, 'CopySourceCannotBeIncrementalCopyBlob'), 'sourceRefused'],
    ['404', azureError(404, 'BlobNotFound'), 'fatal'],
    ['abort', new DOMException('x', 'AbortError'), 'aborted'],
    ['not an object', 'boom', 'fatal'],
  ];
  for (const [name, error, kind] of cases) {
    void it(`${name} -> ${kind}`, () => {
      assert.equal(classifyError(error).kind, kind);
    });
  }
  void it('carries Retry-After through', () => {
    assert.equal(classifyError(azureError(503, 'ServerBusy', 3000)).retryAfterMs, 3000);
  });
});

void describe('backoff', () => {
  void it('waits at least Retry-After, capped, and grows exponentially without it', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 10_000, maxRetryAfterMs: 20_000 };
    assert.ok(backoffDelay(policy, 0, 5000, () => 0.5) >= 5000);
    assert.ok(backoffDelay(policy, 0, 3_600_000, () => 0.5) <= 21_000);
    const d0 = backoffDelay(policy, 0, undefined, () => 1);
    const d3 = backoffDelay(policy, 3, undefined, () => 1);
    assert.equal(d3, d0 * 8);
    assert.ok(backoffDelay(policy, 30, undefined, () => 1) <= 10_000);
  });
});

void describe('AdaptiveConcurrency', () => {
  void it('halves on throttling once per generation and grows back to the maximum', async () => {
    const limiter = new AdaptiveConcurrency(16);
    const tickets = await Promise.all(Array.from({ length: 16 }, () => limiter.acquire()));
    assert.equal(limiter.inFlight, 16);
    // Sixteen requests of one generation all throttled: one halving, not sixteen.
    for (const t of tickets) limiter.release(t, 'throttled');
    assert.equal(limiter.limit, 8);
    const t2 = await limiter.acquire();
    limiter.release(t2, 'throttled');
    assert.equal(limiter.limit, 4);
    for (let i = 0; i < 400; i += 1) limiter.release(await limiter.acquire(), 'success');
    assert.equal(limiter.limit, 16);
  });

  void it('makes callers wait while the limit is reached', async () => {
    const limiter = new AdaptiveConcurrency(2);
    const a = await limiter.acquire();
    await limiter.acquire();
    let third = false;
    const p = limiter.acquire().then(() => {
      third = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(third, false);
    limiter.release(a, 'success');
    await p;
    assert.equal(third, true);
  });

  void it('rejects a waiting caller when the copy is cancelled', async () => {
    const limiter = new AdaptiveConcurrency(1);
    await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort();
    await assert.rejects(waiting, (e: Error) => e.name === 'AbortError');
  });
});

void describe('withTimeout', () => {
  void it('abandons a request that never settles and hands it over', async () => {
    const abandoned: Array<Promise<unknown>> = [];
    await assert.rejects(
      withTimeout(
        () => new Promise<never>(() => undefined),
        20,
        undefined,
        (p) => abandoned.push(p),
      ),
      (e: DiskDeltaError) => e.code === 'RequestTimeout',
    );
    assert.equal(abandoned.length, 1);
  });

  void it('aborts the request signal on timeout', async () => {
    let seen: AbortSignal | undefined;
    await assert.rejects(
      withTimeout(
        (signal) => {
          seen = signal;
          return new Promise<never>((_r, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
        },
        20,
        undefined,
        () => undefined,
      ),
    );
    assert.equal(seen?.aborted, true);
  });
});

void describe('CopyPlan streaming', () => {
  void it('chunks at range start + k * 4 MiB', async () => {
    const range = { offset: 3 * MiB + 512, length: 9 * MiB };
    const ops = await collect(writeOps(windowedRanges(64 * MiB, 64 * MiB, clippingLister([range])), 4 * MiB));
    assert.deepEqual(
      ops.map((o) => [o.offset, o.length]),
      [
        [range.offset, 4 * MiB],
        [range.offset + 4 * MiB, 4 * MiB],
        [range.offset + 8 * MiB, MiB],
      ],
    );
  });

  void it('makes no extra request for a range split across listing windows', async () => {
    // 10 MiB starting 1.5 MiB before a window boundary, listed in 1 MiB windows: still ceil(10 / 4) = 3 chunks.
    const range = { offset: 5 * MiB + MiB / 2, length: 10 * MiB };
    const ops = await collect(writeOps(windowedRanges(32 * MiB, MiB, clippingLister([range])), 4 * MiB));
    assert.equal(ops.length, 3);
    assert.equal(ops[0]!.offset, range.offset);
    assert.equal(
      ops.reduce((n, o) => n + o.length, 0),
      range.length,
    );
  });

  void it('keeps changed and cleared ranges apart, one Clear Pages per merged cleared range', async () => {
    const diff: DiffRange[] = [
      { offset: 0, length: MiB, kind: 'changed' },
      { offset: MiB, length: 3 * MiB, kind: 'cleared' },
      { offset: 4 * MiB, length: 5 * MiB, kind: 'changed' },
      { offset: 9 * MiB, length: 20 * MiB, kind: 'cleared' },
    ];
    const ops = await collect(diffOps(windowedRanges(32 * MiB, 2 * MiB, clippingLister(diff)), 4 * MiB));
    assert.deepEqual(
      ops.map((o) => [o.op, o.offset, o.length]),
      [
        ['write', 0, MiB],
        ['clear', MiB, 3 * MiB],
        ['write', 4 * MiB, 4 * MiB],
        ['write', 8 * MiB, MiB],
        ['clear', 9 * MiB, 20 * MiB],
      ],
    );
  });

  void it('lists lazily, one window at a time, so a huge disk is never held in memory', async () => {
    const TiB = 1024 ** 4;
    const listed: ByteWindow[] = [];
    // A 32 TiB disk with a range every 64 KiB would be millions of ranges; only what is consumed is listed.
    const lister = async function* (w: ByteWindow): AsyncGenerator<PageRange> {
      listed.push(w);
      for (let o = w.offset; o < w.offset + w.length; o += 64 * 1024) yield { offset: o, length: 512 };
    };
    const ops = writeOps(windowedRanges(32 * TiB, 64 * MiB, lister), 4 * MiB);
    let count = 0;
    for await (const _op of ops) {
      count += 1;
      if (count === 1500) break;
    }
    assert.equal(count, 1500);
    assert.equal(listed.length, 2);
  });

  void it('names the target blob after the disk and a short hash of the family, stably', () => {
    const disk = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/vm data';
    const a = targetBlobName('Family-1', disk, 'x');
    assert.match(a, /^vm-data-[0-9a-f]{8}\.vhd$/);
    assert.equal(targetBlobName('family-1', disk, 'y'), a);
    assert.notEqual(targetBlobName('family-2', disk, 'x'), a);
  });

  void it('detects a resize across the 4 TB boundary', () => {
    const TiB = 1024 ** 4;
    assert.equal(crossesFourTiBBoundary(TiB, 2 * TiB), false);
    assert.equal(crossesFourTiBBoundary(4 * TiB, 4 * TiB + MiB), true);
    assert.equal(crossesFourTiBBoundary(5 * TiB, 6 * TiB), false);
  });
});
