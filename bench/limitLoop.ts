/**
 * The practical limit: a plain loop issuing exactly the minimal request set (one Put Page From URL per
 * <= 4 MiB chunk of the changed ranges) with `concurrency` requests in flight, each failed request tried
 * again after 20-60 ms (no Retry-After honoured). No planning, journal, grants or verification: nothing a real copy
 * could go faster than on the same emulator.
 */
import type { PageRange } from '../src/core/model';
import type { PageTarget } from '../src/core/ports';
import type { Secret } from '../src/core/secret';

export interface LimitLoopResult {
  readonly concurrency: number;
  readonly seconds: number;
  readonly requests: number;
  readonly retries: number;
}

export function chunks(ranges: readonly PageRange[], maxChunk = 4 * 1024 * 1024): PageRange[] {
  const out: PageRange[] = [];
  for (const r of ranges) for (let at = 0; at < r.length; at += maxChunk) out.push({ offset: r.offset + at, length: Math.min(maxChunk, r.length - at) });
  return out;
}

export async function limitLoop(source: Secret, target: PageTarget, ops: readonly PageRange[], concurrency: number): Promise<LimitLoopResult> {
  let next = 0;
  let requests = 0;
  let retries = 0;
  const start = performance.now();
  const worker = async () => {
    while (next < ops.length) {
      const op = ops[next++]!;
      for (let attempt = 0; ; attempt++) {
        requests++;
        try {
          await target.putPagesFromUrl(source, op.offset, op.offset, op.length);
          break;
        } catch (error) {
          // Past a blob's MiB/s cap a 4 MiB request can be refused many times in a row before its turn comes.
          if (attempt >= 2000) throw error;
          retries++;
          await new Promise((r) => setTimeout(r, 20 + Math.random() * 40));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { concurrency, seconds: (performance.now() - start) / 1000, requests, retries };
}
