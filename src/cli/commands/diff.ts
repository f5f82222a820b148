import { formatBytes } from '../../core/cost';

import { withSnapshotDiff } from '../../core/diff';
import { snapshotFileDiff } from '../../core/filesystems/snapshotFileDiff';
import type { CliContext } from '../context';
import { formatTable } from '../output';

/**
 * Streams the diff to stdout as it is listed (a 32 TiB disk can have millions of ranges): JSON
 * `{from, to, diskSizeBytes, ranges:[{offset, length, kind}], changedBytes, clearedBytes}` or CSV.
 */
export async function diffCommand(ctx: CliContext, o: { from: string; to: string; csv?: boolean; files?: boolean }): Promise<void> {
  if (o.files) return diffFilesCommand(ctx, o);
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

/**
 * `diff --files`: the block diff mapped to files, read from --from to --to. JSON `{from, to, filesystems,
 * files: [{path, change, changedBytes, sizeBefore, sizeAfter, partition}], unattributed}`, `previousPath`
 * on renamed files; CSV one file a line.
 */
async function diffFilesCommand(ctx: CliContext, o: { from: string; to: string; csv?: boolean }): Promise<void> {
  const d = await snapshotFileDiff(ctx.clients.compute, ctx.clients.dataPlane, o.from, o.to, {
    signal: ctx.signal,
    onRetry: (reason) => ctx.note(reason),
    onNote: (text) => ctx.note(text),
  });
  const files = d.files.map((f) => ({
    path: f.path,
    change: f.change,
    ...(f.previousPath !== undefined ? { previousPath: f.previousPath } : {}),
    changedBytes: f.changedBytes,
    sizeBefore: f.sizeBefore,
    sizeAfter: f.sizeAfter,
    partition: f.partition,
  }));
  const cell = (v: string | number | null | undefined) => (v === null || v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  if (ctx.json) {
    process.stdout.write(JSON.stringify({ from: d.from, to: d.to, filesystems: d.filesystems, files, unattributed: d.unattributed }, null, 2) + '\n');
  } else if (o.csv) {
    const lines = ['path,change,changedBytes,sizeBefore,sizeAfter,partition,previousPath'];
    for (const f of files) lines.push([f.path, f.change, f.changedBytes, f.sizeBefore, f.sizeAfter, f.partition, f.previousPath].map(cell).join(','));
    process.stdout.write(lines.join('\n') + '\n');
  } else {
    const fsLines = d.filesystems.map((v) => `  partition ${v.partition}: ${v.type}${v.label ? ` "${v.label}"` : ''}${v.supported ? '' : ` - ${v.reason}`}`);
    const size = (n: number | null) => (n === null ? '-' : formatBytes(n));
    const table = formatTable(
      ['CHANGE', 'CHANGED', 'BEFORE', 'AFTER', 'PATH'],
      files.map((f) => [f.change, formatBytes(f.changedBytes), size(f.sizeBefore), size(f.sizeAfter), f.previousPath !== undefined ? `${f.previousPath} -> ${f.path}` : f.path]),
    );
    const u = d.unattributed;
    process.stdout.write(
      `${fsLines.join('\n')}\n${table}\n` +
        `not in any file: free space ${formatBytes(u.freeSpace)}, filesystem metadata ${formatBytes(u.metadata)}, outside partitions ${formatBytes(u.outsidePartitions)}\n` +
        `${files.length} files and directories; ${formatBytes(d.diffBytes)} of changes; ${formatBytes(d.bytesRead)} read from the snapshots\n`,
    );
  }
}
