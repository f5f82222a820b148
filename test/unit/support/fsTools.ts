/**
 * Disk images built with Debian's own tools (e2fsprogs' mke2fs -d and debugfs, sfdisk) for the
 * filesystem readers' oracle tests. A missing tool is installed the way the project installs its other
 * Debian packages (scripts/ensure-debian-packages.mjs, as root), or the test fails naming the command.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureDebianPackages } from '../../../scripts/ensure-debian-packages.mjs';

const TOOL_PACKAGES: Record<string, string> = {
  mke2fs: 'e2fsprogs',
  debugfs: 'e2fsprogs',
  sfdisk: 'fdisk',
  sgdisk: 'gdisk',
  'mkfs.xfs': 'xfsprogs',
  mkntfs: 'ntfs-3g',
};

const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { env: { ...process.env, PATH }, stdio: 'ignore' }).status === 0;
}

/** Makes sure the tools exist (installing their Debian packages when root), else throws with the command to run. */
export function requireTools(...tools: string[]): void {
  const missing = tools.filter((t) => !has(t));
  if (missing.length === 0) return;
  ensureDebianPackages([...new Set(missing.map((t) => TOOL_PACKAGES[t] ?? t))], { log: () => undefined });
  const still = missing.filter((t) => !has(t));
  if (still.length) throw new Error(`missing tools ${still.join(', ')}: run node scripts/ensure-debian-packages.mjs --filesystems`);
}

export function run(tool: string, args: readonly string[], input?: string): string {
  try {
    return execFileSync(tool, args, {
      env: { ...process.env, PATH, E2FSPROGS_FAKE_TIME: '' },
      input,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch (error) {
    const e = error as { stderr?: string; status?: number };
    throw new Error(`${tool} ${args.join(' ')} failed (exit ${e.status}): ${e.stderr ?? ''}`, { cause: error });
  }
}

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes a tree of files: string values are file contents, `{ symlink }` is a link, `{}` an empty directory. */
export type Tree = Record<string, string | Uint8Array | { symlink: string } | Record<string, never>>;

export function writeTree(root: string, tree: Tree): void {
  for (const [rel, content] of Object.entries(tree)) {
    const full = path.join(root, rel);
    mkdirSync(path.dirname(full), { recursive: true });
    if (typeof content === 'string' || content instanceof Uint8Array) writeFileSync(full, content);
    else if ('symlink' in content) spawnSync('ln', ['-s', content.symlink, full]);
    else mkdirSync(full, { recursive: true });
  }
}

/** mke2fs -t ext4 -d <dir> into a fresh image of `sizeMiB`; extra options go before the image path. */
export function makeExt4(image: string, sourceDir: string, sizeMiB: number, options: readonly string[] = []): void {
  requireTools('mke2fs');
  run('truncate', ['-s', `${sizeMiB}M`, image]);
  run('mke2fs', ['-q', '-F', '-t', 'ext4', '-E', 'lazy_itable_init=0,lazy_journal_init=0', ...options, '-d', sourceDir, image]);
}

/** Runs debugfs requests (one per line) on the image; `-w` when writing. */
export function debugfs(image: string, requests: readonly string[], write = false): string {
  requireTools('debugfs');
  return run('debugfs', [...(write ? ['-w'] : []), '-f', '-', image], requests.join('\n') + '\n');
}
