import type { Command } from 'commander';
import { resolveSnapshotRef } from '../../core/resolve';
import { integerIn, resourceGroupOption } from '../options';
import { withExamples, type CliRuntime } from '../runtime';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import { resolvePath } from '../../core/filesystems/paths';
import { withSnapshotImage } from '../../core/filesystems/snapshotImage';
import { DiskDeltaError } from '../../core/errors';
import { AZURE_TARGET_PACE } from '../../core/copy';
import type { CliContext } from '../context';
import { fileNotFound, volumeFor } from './ls';

/** Bytes asked of the filesystem at once; a few pieces are read ahead while one is written. */
const PIECE_BYTES = 4 * 1024 * 1024;
const READ_AHEAD = 4;

/**
 * `disk-delta get --snapshot <id> <path> [--partition n] [-o <file>]`: the file's exact bytes as the
 * snapshot holds them (single-file restore), to a file or stdout. A partial output file is removed.
 */
export async function getCommand(ctx: CliContext, path: string, o: { snapshot: string; partition?: number; output?: string }): Promise<void> {
  await withSnapshotImage(
    ctx.clients.compute,
    ctx.clients.dataPlane,
    o.snapshot,
    {
      signal: ctx.signal,
      onRetry: (r) => ctx.note(r),
      // A whole file is read ahead faster than one blob serves it: pace at its targets rather than meet 503s.
      pace: AZURE_TARGET_PACE,
      reader: { granuleBytes: 1024 * 1024, maxCachedBytes: 32 * 1024 * 1024 },
    },
    async ({ snapshot, disk, reader }) => {
      const fs = volumeFor(disk, o.partition);
      const found = await resolvePath(fs, path, { followLast: true, signal: ctx.signal });
      if (!found) throw fileNotFound(path, snapshot.name);
      if (found.stat.type !== 'file') {
        throw new DiskDeltaError(
          `${found.path} is a ${found.stat.type === 'dir' ? 'directory' : found.stat.type}, not a file.`,
          'NotAFile',
          'List it with disk-delta ls.',
        );
      }
      const size = found.stat.sizeBytes;
      const out = o.output ? createWriteStream(o.output) : process.stdout;
      let complete = false;
      try {
        const pending: Array<Promise<Uint8Array>> = [];
        let next = 0;
        const schedule = () => {
          while (pending.length < READ_AHEAD && next < size) {
            const p = fs.readFile(found.id, next, Math.min(PIECE_BYTES, size - next), ctx.signal);
            p.catch(() => undefined);
            pending.push(p);
            next += PIECE_BYTES;
          }
        };
        schedule();
        while (pending.length) {
          const bytes = await pending.shift()!;
          schedule();
          if (!out.write(bytes)) await once(out, 'drain');
        }
        complete = true;
      } finally {
        if (o.output) {
          const file = out as ReturnType<typeof createWriteStream>;
          file.end();
          await once(file, 'close');
          if (!complete) await rm(o.output, { force: true });
        }
      }
      if (o.output) ctx.note(`Wrote ${size} bytes of ${found.path} from ${snapshot.name} to ${o.output} (${reader.stats.bytesRead} bytes read).`);
    },
  );
}

/** `disk-delta get`: registered with the other commands in main.ts. Its -o names the file written (as cp does). */
export function registerGet(program: Command, rt: CliRuntime): void {
  const cmd = program
    .command('get')
    .description("write one file's exact bytes from a snapshot (single-file restore)")
    .argument('<path>', 'the file')
    .requiredOption('--snapshot <id-or-name>', 'the snapshot: its id, or its name')
    .option('--partition <n>', 'partition number (0: a filesystem on the whole disk); needed when several are readable', integerIn(0, 128))
    .option('-o, --output-file <file>', 'write to this file (default: stdout)')
    .addOption(resourceGroupOption('where snapshot names are looked up'))
    .action(
      rt.run(async (ctx, path: string, o: { snapshot: string; partition?: number; outputFile?: string; resourceGroup?: string }) => {
        const snapshot = await resolveSnapshotRef(ctx.clients.compute, o.snapshot, ctx.scope(o.resourceGroup), { signal: ctx.signal });
        await getCommand(ctx, path, {
          snapshot,
          ...(o.partition !== undefined ? { partition: o.partition } : {}),
          ...(o.outputFile ? { output: o.outputFile } : {}),
        });
      }),
    );
  withExamples(cmd, [['a configuration file as it was in a snapshot', 'disk-delta get --snapshot linux-web-01-day1 /etc/nginx/nginx.conf -o nginx.conf']]);
}
