import type { FileId, FileStat, Filesystem } from './types';

/** Symbolic links followed while resolving one path, as Linux bounds it (MAXSYMLINKS = 40). */
const MAX_LINKS = 40;

export interface ResolvedPath {
  /** The path as normalised ("/" separated, no "." or ".."), of the entry itself. */
  readonly path: string;
  readonly id: FileId;
  readonly stat: FileStat;
}

function split(path: string): string[] {
  return path.split(/[/\\]+/).filter((p) => p !== '' && p !== '.');
}

/**
 * Finds a path in a filesystem: symbolic links in the middle of the path are followed (like `/bin` ->
 * `usr/bin` on current Ubuntu images), the last component is followed only when `followLast`. Names
 * are compared exactly, except on NTFS where Windows compares them case-insensitively.
 * Undefined when any component does not exist.
 */
export async function resolvePath(
  fs: Filesystem,
  path: string,
  options: { followLast?: boolean; signal?: AbortSignal } = {},
): Promise<ResolvedPath | undefined> {
  const signal = options.signal;
  let links = 0;
  let pending = split(path);
  const stack: Array<{ id: FileId; name: string }> = [];
  const here = () => (stack.length ? stack[stack.length - 1]!.id : fs.rootId);
  const foldCase = fs.type === 'ntfs';
  while (pending.length) {
    const name = pending.shift()!;
    if (name === '..') {
      stack.pop();
      continue;
    }
    const entries = await fs.readDir(here(), signal);
    const entry = entries.find((e) => e.name === name) ?? (foldCase ? entries.find((e) => e.name.toLowerCase() === name.toLowerCase()) : undefined);
    if (!entry) return undefined;
    const stat = await fs.stat(entry.id, signal);
    if (stat.type === 'symlink' && (pending.length > 0 || options.followLast)) {
      if (++links > MAX_LINKS) return undefined;
      const target = await fs.readLink(entry.id, signal);
      if (target.startsWith('/')) stack.length = 0;
      pending = [...split(target), ...pending];
      continue;
    }
    if (pending.length > 0 && stat.type !== 'dir') return undefined;
    stack.push({ id: entry.id, name: entry.name });
  }
  const id = here();
  return { path: '/' + stack.map((s) => s.name).join('/'), id, stat: await fs.stat(id, signal) };
}
