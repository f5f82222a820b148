import { CommanderError, type Command } from 'commander';
import { resolveSnapshotRef } from '../../core/resolve';
import { integerIn, resourceGroupOption } from '../options';
import { withExamples, type CliRuntime } from '../runtime';
import { chooseVolume, VolumeChoiceError, type DiskImage } from '../../core/filesystems/disk';
import { resolvePath } from '../../core/filesystems/paths';
import { withSnapshotImage } from '../../core/filesystems/snapshotImage';
import type { FileType, Filesystem } from '../../core/filesystems/types';
import { DiskDeltaError } from '../../core/errors';
import type { CliContext } from '../context';
import { formatTable, printJson } from '../output';

export interface LsEntry {
  readonly path: string;
  readonly type: FileType;
  readonly sizeBytes: number;
  readonly modified: string;
}

/**
 * The filesystem a command reads: `--partition n`, else the only readable one. Several readable ones and
 * no --partition is a usage error (exit 2) that lists them.
 */
export function volumeFor(disk: DiskImage, partition: number | undefined): Filesystem {
  try {
    return chooseVolume(disk, partition).filesystem;
  } catch (error) {
    if (!(error instanceof VolumeChoiceError)) throw error;
    if (error.code === 'PartitionRequired') {
      process.stderr.write(`disk-delta: ${error.message}\n  ${error.hint.replace(/\n/g, '\n  ')}\n`);
      throw new CommanderError(2, 'disk-delta.partitionRequired', error.message);
    }
    throw new DiskDeltaError(error.message, error.code, error.hint.replace(/\n/g, '\n  '));
  }
}

export function fileNotFound(path: string, snapshot: string): DiskDeltaError {
  return new DiskDeltaError(
    `${path} does not exist in snapshot ${snapshot}.`,
    'FileNotFound',
    'Check the path with disk-delta ls --snapshot <id> <directory>.',
  );
}

/** `disk-delta ls --snapshot <id> [<path>] [--partition n]`: a directory's entries (or one file) as the snapshot holds them. */
export async function lsCommand(ctx: CliContext, path: string | undefined, o: { snapshot: string; partition?: number }): Promise<void> {
  const entries = await withSnapshotImage(
    ctx.clients.compute,
    ctx.clients.dataPlane,
    o.snapshot,
    { signal: ctx.signal, onRetry: (r) => ctx.note(r) },
    async ({ snapshot, disk }) => {
      const fs = volumeFor(disk, o.partition);
      const found = await resolvePath(fs, path ?? '/', { followLast: true, signal: ctx.signal });
      if (!found) throw fileNotFound(path ?? '/', snapshot.name);
      const modified = (d: Date) => (Number.isNaN(d.getTime()) ? '' : d.toISOString());
      if (found.stat.type !== 'dir') {
        return [{ path: found.path, type: found.stat.type, sizeBytes: found.stat.sizeBytes, modified: modified(found.stat.modified) }];
      }
      const out: LsEntry[] = [];
      const prefix = found.path === '/' ? '' : found.path;
      for (const e of await fs.readDir(found.id, ctx.signal)) {
        if (e.name === '.' || e.name === '..') continue;
        const st = await fs.stat(e.id, ctx.signal);
        out.push({ path: `${prefix}/${e.name}`, type: st.type, sizeBytes: st.sizeBytes, modified: modified(st.modified) });
      }
      return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    },
  );
  if (ctx.json) {
    printJson(entries);
    return;
  }
  process.stdout.write(
    formatTable(
      ['TYPE', 'SIZE', 'MODIFIED', 'PATH'],
      entries.map((e) => [e.type, String(e.sizeBytes), e.modified.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), e.path]),
    ) + '\n',
  );
}

/** `disk-delta ls`: registered with the other commands in main.ts. */
export function registerLs(program: Command, rt: CliRuntime): void {
  const cmd = program
    .command('ls')
    .description('list a directory (or one file) inside a snapshot, read in place')
    .argument('[path]', 'directory or file', '/')
    .requiredOption('--snapshot <id-or-name>', 'the snapshot: its id, or its name')
    .option('--partition <n>', 'partition number (0: a filesystem on the whole disk); needed when several are readable', integerIn(0, 128))
    .addOption(resourceGroupOption('where snapshot names are looked up'))
    .action(
      rt.run(async (ctx, path: string, o: { snapshot: string; partition?: number; resourceGroup?: string }) => {
        const snapshot = await resolveSnapshotRef(ctx.clients.compute, o.snapshot, ctx.scope(o.resourceGroup), { signal: ctx.signal });
        await lsCommand(ctx, path, { ...o, snapshot });
      }),
    );
  withExamples(cmd, [
    ['the root directory of a snapshot', 'disk-delta ls --snapshot linux-web-01-day1'],
    ['one directory, as JSON', 'disk-delta ls --snapshot linux-web-01-day1 /etc --json'],
  ]);
}
