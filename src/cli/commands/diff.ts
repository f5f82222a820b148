import type { Command } from 'commander';
import { formatBytes } from '../../core/format';
import { withSnapshotDiff } from '../../core/diff';
import type { DiffKind } from '../../core/model';
import { DiskDeltaError } from '../../core/errors';
import { resolveSnapshotRef } from '../../core/resolve';
import { snapshotFileDiff } from '../../core/filesystems/snapshotFileDiff';
import type { CliContext } from '../context';
import { formatTable } from '../output';
import { resourceGroupOption } from '../options';
import { withExamples, type CliRuntime } from '../runtime';

export interface DiffOptions {
  from: string;
  to: string;
  csv?: boolean;
  files?: boolean;
  resourceGroup?: string;
}

export function registerDiff(program: Command, rt: CliRuntime): void {
  const cmd = program
    .command('diff')
    .description('list the ranges changed and cleared between two snapshots of one family (either order)')
    .requiredOption('--from <id-or-name>', 'one snapshot: its id, or its name')
    .requiredOption('--to <id-or-name>', 'the other snapshot')
    .option('--csv', 'CSV: offset,length,kind (streamed)')
    .option('--files', 'map the changes to files (ext4, XFS, NTFS): changed files, free space, metadata')
    .addOption(resourceGroupOption('where snapshot names are looked up'))
    .action(rt.run((ctx, o: DiffOptions) => diffCommand(ctx, o)));
  cmd.addHelpText(
    'after',
    '\n-o json (or --json) and --csv are streamed as the ranges are listed, whatever their number; -o jsonc,\n' +
      'table, tsv, yaml and --query hold the whole diff in memory first.\n',
  );
  withExamples(cmd, [
    ['what changed between two snapshots, by name', 'disk-delta diff --from orders-db-20261119 --to orders-db-20261120'],
    ['every range as CSV', 'disk-delta diff --from orders-db-20261119 --to orders-db-20261120 --csv > ranges.csv'],
    ['only the totals', 'disk-delta diff --from orders-db-20261119 --to orders-db-20261120 --query "{changed:changedBytes, cleared:clearedBytes}" -o tsv'],
  ]);
}

/** Bytes of output gathered before a write (each range's line is under 100 bytes, ASCII). */
const OUTPUT_CHUNK = 64 * 1024;
const COMMA = 0x2c;

/** Writes `n`, a non-negative safe integer, in decimal at `at`; returns the position after it. */
export function putDecimal(buffer: Buffer, at: number, n: number): number {
  let digits = 1;
  for (let v = n; v >= 10; v = Math.floor(v / 10)) digits++;
  let v = n;
  for (let i = at + digits - 1; i >= at; i--) {
    buffer[i] = 0x30 + (v % 10);
    v = Math.floor(v / 10);
  }
  return at + digits;
}

interface DiffResult {
  from: string;
  to: string;
  diskSizeBytes: number;
  ranges: { offset: number; length: number; kind: DiffKind }[];
  changedBytes: number;
  clearedBytes: number;
  rangeCount: number;
}

/**
 * Streams the diff to stdout as it is listed (a 32 TiB disk can have millions of ranges): JSON
 * `{from, to, diskSizeBytes, ranges:[{offset, length, kind}], changedBytes, clearedBytes, rangeCount}` or
 * CSV. Other formats and --query take the whole result through the output layer.
 */
export async function diffCommand(ctx: CliContext, o: DiffOptions): Promise<void> {
  if (o.csv && ctx.output.structured) {
    throw new DiskDeltaError('--csv and -o/--json/--query ask for two outputs.', 'InvalidArguments', 'Pass --csv alone, or one -o format.');
  }
  const scope = ctx.scope(o.resourceGroup);
  const from = await resolveSnapshotRef(ctx.clients.compute, o.from, scope, { signal: ctx.signal });
  const to = await resolveSnapshotRef(ctx.clients.compute, o.to, scope, { signal: ctx.signal });
  if (o.files) return diffFilesCommand(ctx, { from, to, ...(o.csv ? { csv: true } : {}) });
  const stream = o.csv === true || ctx.output.streamsJson;
  const json = ctx.output.streamsJson;
  const out = process.stdout;
  const write = (data: string | Buffer) => (out.write(data) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  await withSnapshotDiff(ctx.clients.compute, ctx.clients.dataPlane, from, to, { signal: ctx.signal, onRetry: (reason) => ctx.note(reason) }, async (diff) => {
    ctx.note(`Listing changes from ${diff.older.name} to ${diff.newer.name}...`);
    let changed = 0;
    let cleared = 0;
    let count = 0;
    // Ranges are written as bytes into 64 KiB buffers, their numbers digit by digit: turning a number into
    // a string goes through V8's number-to-string cache, which lives in the old generation and so moved
    // every offset's string there - about 48 MB of garbage at a million ranges, most of the peak memory
    // left once the listing was streamed (docs/PERFORMANCE.md).
    const chunk = Buffer.allocUnsafe(OUTPUT_CHUNK + 1024);
    let used = 0;
    // One buffer, reused once the stream has written it out (its callback), so no buffer per write waits
    // for a full garbage collection either.
    const flush = async () => {
      if (used === 0) return;
      await new Promise<void>((resolve, reject) => out.write(chunk.subarray(0, used), (error) => (error ? reject(error) : resolve())));
      used = 0;
    };
    // Kept only for the formats that print the whole result at once.
    const ranges: DiffResult['ranges'] | undefined = !stream && ctx.output.structured && ctx.output.format !== 'none' ? [] : undefined;
    if (json) await write(`{"from":${JSON.stringify(diff.older.id)},"to":${JSON.stringify(diff.newer.id)},"diskSizeBytes":${diff.diskSizeBytes},"ranges":[`);
    else if (o.csv) await write('offset,length,kind\n');
    for await (const r of diff.ranges()) {
      if (r.kind === 'changed') changed += r.length;
      else cleared += r.length;
      if (json) {
        used += chunk.write(count ? ',{"offset":' : '{"offset":', used, 'latin1');
        used = putDecimal(chunk, used, r.offset);
        used += chunk.write(',"length":', used, 'latin1');
        used = putDecimal(chunk, used, r.length);
        used += chunk.write(r.kind === 'changed' ? ',"kind":"changed"}' : ',"kind":"cleared"}', used, 'latin1');
      } else if (o.csv) {
        used = putDecimal(chunk, used, r.offset);
        chunk[used++] = COMMA;
        used = putDecimal(chunk, used, r.length);
        used += chunk.write(r.kind === 'changed' ? ',changed\n' : ',cleared\n', used, 'latin1');
      } else ranges?.push({ offset: r.offset, length: r.length, kind: r.kind });
      count++;
      if (used > OUTPUT_CHUNK) await flush();
    }
    await flush();
    if (json) await write(`],"changedBytes":${changed},"clearedBytes":${cleared},"rangeCount":${count}}\n`);
    if (stream) return;
    const result: DiffResult = {
      from: diff.older.id,
      to: diff.newer.id,
      diskSizeBytes: diff.diskSizeBytes,
      ranges: ranges ?? [],
      changedBytes: changed,
      clearedBytes: cleared,
      rangeCount: count,
    };
    ctx.output.result(result, {
      compact: true,
      text: () =>
        `${diff.older.name} -> ${diff.newer.name}\n` +
        `  changed: ${formatBytes(changed)} (${changed} bytes)\n` +
        `  cleared: ${formatBytes(cleared)} (${cleared} bytes)\n` +
        `  ranges:  ${count}`,
    });
  });
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
  const cell = (v: string | number | null | undefined) =>
    v === null || v === undefined ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v);
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
      files.map((f) => [
        f.change,
        formatBytes(f.changedBytes),
        size(f.sizeBefore),
        size(f.sizeAfter),
        f.previousPath !== undefined ? `${f.previousPath} -> ${f.path}` : f.path,
      ]),
    );
    const u = d.unattributed;
    process.stdout.write(
      `${fsLines.join('\n')}\n${table}\n` +
        `not in any file: free space ${formatBytes(u.freeSpace)}, filesystem metadata ${formatBytes(u.metadata)}, outside partitions ${formatBytes(u.outsidePartitions)}\n` +
        `${files.length} files and directories; ${formatBytes(d.diffBytes)} of changes; ${formatBytes(d.bytesRead)} read from the snapshots\n`,
    );
  }
}
