import { formatBytes } from '../../core/cost';

import { withSnapshotDiff } from '../../core/diff';
import type { CliContext } from '../context';

/**
 * Streams the diff to stdout as it is listed (a 32 TiB disk can have millions of ranges): JSON
 * `{from, to, diskSizeBytes, ranges:[{offset, length, kind}], changedBytes, clearedBytes}` or CSV.
 */
export async function diffCommand(ctx: CliContext, o: { from: string; to: string; csv?: boolean }): Promise<void> {
  const out = process.stdout;
  const write = (text: string) => (out.write(text) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  await withSnapshotDiff(
    ctx.clients.compute,
    ctx.clients.dataPlane,
    o.from,
    o.to,
    { signal: ctx.signal, onRetry: (reason) => ctx.note(reason) },
    async (diff) => {
      ctx.note(`Listing changes from ${diff.older.name} to ${diff.newer.name}...`);
      let changed = 0;
      let cleared = 0;
      let count = 0;
      let buffer = '';
      const flush = async () => {
        if (buffer) await write(buffer);
        buffer = '';
      };
      if (ctx.json) buffer += `{"from":${JSON.stringify(diff.older.id)},"to":${JSON.stringify(diff.newer.id)},"diskSizeBytes":${diff.diskSizeBytes},"ranges":[`;
      else if (o.csv) buffer += 'offset,length,kind\n';
      for await (const r of diff.ranges()) {
        if (r.kind === 'changed') changed += r.length;
        else cleared += r.length;
        if (ctx.json) buffer += `${count ? ',' : ''}{"offset":${r.offset},"length":${r.length},"kind":"${r.kind}"}`;
        else if (o.csv) buffer += `${r.offset},${r.length},${r.kind}\n`;
        count++;
        if (buffer.length > 64 * 1024) await flush();
      }
      if (ctx.json) buffer += `],"changedBytes":${changed},"clearedBytes":${cleared},"rangeCount":${count}}\n`;
      else if (!o.csv) {
        buffer +=
          `${diff.older.name} -> ${diff.newer.name}\n` +
          `  changed: ${formatBytes(changed)} (${changed} bytes)\n` +
          `  cleared: ${formatBytes(cleared)} (${cleared} bytes)\n` +
          `  ranges:  ${count}\n`;
      }
      await flush();
    },
  );
}
