import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Prefetch } from '../../src/core/copy/prefetch';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A source that counts what was pulled from it and whether it was ended early. */
function counted(count: number, failAt?: number) {
  const state = { pulled: 0, ended: false };
  async function* source(): AsyncGenerator<number> {
    try {
      for (let i = 0; i < count; i += 1) {
        await tick();
        if (i === failAt) throw new Error(`listing failed at ${i}`);
        state.pulled += 1;
        yield i;
      }
    } finally {
      state.ended = true;
    }
  }
  return { state, source: source() };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 50; i += 1) await tick();
}

void describe('Prefetch', () => {
  void it('reads ahead up to its limit before anyone asks, then hands over every item in order', async () => {
    const { state, source } = counted(100);
    const ahead = new Prefetch(source, 10);
    await settle();
    assert.equal(state.pulled, 10);
    assert.equal(ahead.buffered, 10);
    const seen: number[] = [];
    for await (const n of ahead) seen.push(n);
    assert.deepEqual(
      seen,
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.equal(state.ended, true);
  });

  void it("throws the source's error after the items before it", async () => {
    const { source } = counted(20, 7);
    const ahead = new Prefetch(source, 4);
    await settle();
    const seen: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const n of ahead) seen.push(n);
      })(),
      /listing failed at 7/,
    );
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6]);
  });

  void it('stops reading and ends the source when closed, or when its consumer stops early', async () => {
    const closed = counted(100);
    const unused = new Prefetch(closed.source, 5);
    await settle();
    unused.close();
    await settle();
    assert.equal(closed.state.pulled, 5);
    assert.equal(closed.state.ended, true);
    assert.equal(unused.buffered, 0);

    const early = counted(100);
    const ahead = new Prefetch(early.source, 5);
    for await (const n of ahead) if (n === 2) break;
    await settle();
    assert.ok(early.state.pulled <= 8, `pulled ${early.state.pulled}`);
    assert.equal(early.state.ended, true);
  });

  void it('is consumed once', async () => {
    const ahead = new Prefetch(counted(3).source, 2);
    for await (const _ of ahead) void _;
    await assert.rejects(async () => {
      for await (const _ of ahead) void _;
    }, /consumed once/);
  });
});
