import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import { resolvePath } from '../../core/filesystems/paths';
import { withSnapshotImage } from '../../core/filesystems/snapshotImage';
import { DiskDeltaError } from '../../core/ports';
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
    { signal: ctx.signal, onRetry: (r) => ctx.note(r), reader: { granuleBytes: 1024 * 1024, maxCachedBytes: 32 * 1024 * 1024 } },
    async ({ snapshot, disk, reader }) => {
      const fs = volumeFor(disk, o.partition);
      const found = await resolvePath(fs, path, { followLast: true, signal: ctx.signal });
      if (!found) throw fileNotFound(path, snapshot.name);
      if (found.stat.type !== 'file') {
        throw new DiskDeltaError(`${found.path} is a ${found.stat.type === 'dir' ? 'directory' : found.stat.type}, not a file.`, 'NotAFile', 'List it with disk-delta ls.');
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
