/**
 * The file-diff benchmark's disk images, built with Debian's own tools on sparse 64 GiB image files:
 * ext4 by `mke2fs -d` from a generated tree (no mount), XFS by `mkfs.xfs -p` from a protofile (no mount),
 * NTFS by `mkntfs` then a copy of the tree through the ntfs-3g FUSE driver. The change set is made through
 * the kernel's driver (a loop mount; ntfs-3g for NTFS) on a sparse copy of the image, as a VM would write
 * it: some files edited in place, some appended to. What the emulator needs is kept, not the images: the
 * base image's non-zero 4 KiB blocks and the 4 KiB blocks the change set wrote, as [offset, length] runs
 * and their bytes, under .cache/bench/files-<version>/<fs>/, so a rerun only uploads them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';

/** Bumped whenever what is built changes: the cache is keyed by it. */
export const IMAGE_VERSION = 'files-v1';
export const DISK_BYTES = 64 * 1024 ** 3;
const BLOCK = 4096;
const MiB = 1024 * 1024;
const root = path.resolve(__dirname, '..');
const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` };

export type FsKind = 'ext4' | 'xfs' | 'ntfs';

export interface ImageSpec {
  readonly kind: FsKind;
  readonly files: number;
  /** files the change set edits (every files/changed-th one) */
  readonly changed: number;
  /** a file of this many bytes at /big.bin for `get` (0: none) */
  readonly bigFileBytes: number;
}

export interface BuiltImage {
  readonly spec: ImageSpec;
  readonly dir: string;
  /** the base image's non-zero 4 KiB blocks, merged into runs; bytes in base.bin one after the other */
  readonly baseRuns: Array<[number, number]>;
  /** the 4 KiB blocks the change set wrote; bytes in change.bin */
  readonly changeRuns: Array<[number, number]>;
  /** paths of the files the change set edited */
  readonly changedPaths: string[];
  /** every directory of the tree (they may show as `metadata`) */
  readonly directories: string[];
  readonly bigFile?: { path: string; size: number; sha256: string };
  /** seconds the build took (as recorded when it was built, when it comes from the cache) */
  readonly buildSeconds: number;
  readonly cached: boolean;
}

interface Manifest extends Omit<BuiltImage, 'dir' | 'cached' | 'spec'> {
  readonly key: string;
}

function run(tool: string, args: string[], input?: string): string {
  return execFileSync(tool, args, { env, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 256 * MiB });
}

/** Deterministic bytes, fast: AES-128-CTR over zeros with a key from the seed. */
function streamBytes(seed: string, length: number): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const c = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return c.update(Buffer.alloc(length));
}

/** Directory `d`'s name and file `i`'s path: 1,000 files per directory, 20 directories per top directory. */
const DIR_FILES = 1000;
function dirOf(i: number): string {
  const d = Math.floor(i / DIR_FILES);
  return `/srv/data/g${String(Math.floor(d / 20)).padStart(2, '0')}/d${String(d).padStart(4, '0')}`;
}
function fileOf(i: number): string {
  return `${dirOf(i)}/file-${String(i).padStart(6, '0')}.dat`;
}
/** Sizes from 200 bytes to ~7.8 KiB, varied by index (mean ~4 KiB). */
function sizeOf(i: number): number {
  return 200 + (((i * 2654435761) >>> 0) % 7800);
}

/** Writes the source tree under `src`; returns the directories (image paths). */
function writeTree(src: string, spec: ImageSpec): string[] {
  const dirs = new Set<string>();
  // One stream for all small files, cut into pieces: one cipher call instead of 200,000.
  let pool: Buffer = Buffer.alloc(0);
  let at = 0;
  for (let i = 0; i < spec.files; i++) {
    const dir = dirOf(i);
    if (!dirs.has(dir)) {
      mkdirSync(path.join(src, dir), { recursive: true });
      dirs.add(dir);
    }
    const size = sizeOf(i);
    if (at + size > pool.length) {
      pool = streamBytes(`pool-${i}`, 64 * MiB);
      at = 0;
    }
    writeFileSync(path.join(src, fileOf(i)), pool.subarray(at, at + size));
    at += size;
  }
  const all = new Set<string>(['/']);
  for (const d of dirs) for (let p = d; p !== '/'; p = path.posix.dirname(p)) all.add(p);
  return [...all].sort();
}

function writeBigFile(file: string, bytes: number): string {
  const h = createHash('sha256');
  const fd = openSync(file, 'w');
  try {
    for (let at = 0; at < bytes; at += 64 * MiB) {
      const piece = streamBytes(`big-${at}`, Math.min(64 * MiB, bytes - at));
      h.update(piece);
      writeSync(fd, piece);
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** The data extents of a sparse file (SEEK_DATA / SEEK_HOLE, which Node does not expose). */
function dataExtents(file: string): Array<[number, number]> {
  const script = [
    'import os, sys, json',
    'fd = os.open(sys.argv[1], os.O_RDONLY); end = os.fstat(fd).st_size; o = 0; out = []',
    'while o < end:',
    '    try: s = os.lseek(fd, o, os.SEEK_DATA)',
    '    except OSError: break',
    '    e = os.lseek(fd, s, os.SEEK_HOLE); out.append([s, e]); o = e',
    'print(json.dumps(out))',
  ].join('\n');
  return JSON.parse(run('python3', ['-c', script, file])) as Array<[number, number]>;
}

function mergeExtents(a: Array<[number, number]>, b: Array<[number, number]>): Array<[number, number]> {
  const all = [...a, ...b].sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [];
  for (const [s, e] of all) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/**
 * Walks the data extents of `next` (and of `prev`, when given) in 4 MiB pieces and writes to `out` the
 * 4 KiB blocks that differ from `prev` (without `prev`: that are not zero). Returns their runs.
 */
function blockRuns(next: string, prev: string | undefined, out: string): Array<[number, number]> {
  const extents = prev ? mergeExtents(dataExtents(next), dataExtents(prev)) : dataExtents(next);
  const fdN = openSync(next, 'r');
  const fdP = prev ? openSync(prev, 'r') : undefined;
  const fdO = openSync(out, 'w');
  const runs: Array<[number, number]> = [];
  const a = Buffer.alloc(4 * MiB);
  const b = Buffer.alloc(4 * MiB);
  const zero = Buffer.alloc(BLOCK);
  try {
    for (const [s0, e0] of extents) {
      const s = Math.floor(s0 / BLOCK) * BLOCK;
      const e = Math.ceil(e0 / BLOCK) * BLOCK;
      for (let at = s; at < e; at += a.length) {
        const n = Math.min(a.length, e - at);
        a.fill(0, 0, n);
        readSync(fdN, a, 0, n, at);
        if (fdP !== undefined) {
          b.fill(0, 0, n);
          readSync(fdP, b, 0, n, at);
        }
        for (let o = 0; o < n; o += BLOCK) {
          const blk = a.subarray(o, o + BLOCK);
          const same = fdP !== undefined ? blk.equals(b.subarray(o, o + BLOCK)) : blk.equals(zero);
          if (same) continue;
          writeSync(fdO, blk);
          const last = runs[runs.length - 1];
          if (last && last[0] + last[1] === at + o) last[1] += BLOCK;
          else runs.push([at + o, BLOCK]);
        }
      }
    }
  } finally {
    closeSync(fdN);
    if (fdP !== undefined) closeSync(fdP);
    closeSync(fdO);
  }
  return runs;
}

function mount(kind: FsKind, image: string, at: string): void {
  mkdirSync(at, { recursive: true });
  if (kind === 'ntfs') run('ntfs-3g', ['-o', 'big_writes', image, at]);
  // noinit_itable: the kernel would otherwise zero ext4's lazily initialised inode tables in the background.
  else run('mount', ['-o', `loop,noatime${kind === 'ext4' ? ',noinit_itable' : ''}`, image, at]);
}

function unmount(at: string): void {
  for (let i = 0; i < 50; i++) {
    if (spawnSync('umount', [at], { env }).status === 0) return;
    spawnSync('sleep', ['0.2']);
  }
  throw new Error(`umount ${at} failed`);
}

/** Edits every (files / changed)-th file through the mount: even ones rewritten in place at their start, odd ones appended to. */
function applyChanges(mnt: string, spec: ImageSpec): string[] {
  const step = Math.floor(spec.files / spec.changed);
  const changed: string[] = [];
  for (let k = 0; k < spec.changed; k++) {
    const i = k * step + Math.floor(step / 2);
    const p = fileOf(i);
    const fd = openSync(path.join(mnt, p), 'r+');
    try {
      const bytes = streamBytes(`change-${i}`, k % 2 === 0 ? Math.min(512, sizeOf(i)) : 3000);
      writeSync(fd, bytes, 0, bytes.length, k % 2 === 0 ? 0 : sizeOf(i));
    } finally {
      closeSync(fd);
    }
    changed.push(p);
  }
  return changed;
}

function makeFilesystem(spec: ImageSpec, image: string, src: string, work: string): void {
  rmSync(image, { force: true });
  run('truncate', ['-s', String(DISK_BYTES), image]);
  if (spec.kind === 'ext4') {
    run('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-L', 'benchroot', '-E', 'lazy_itable_init=1,lazy_journal_init=1', '-d', src, image]);
  } else if (spec.kind === 'xfs') {
    run('mkfs.xfs', ['-q', '-f', '-L', 'benchxfs', '-p', protofile(src, work), image]);
  } else {
    run('mkntfs', ['-q', '-F', '-f', '-L', 'BenchNTFS', image]);
    const mnt = path.join(work, 'mnt');
    mount('ntfs', image, mnt);
    try {
      run('cp', ['-r', `${src}/.`, mnt]);
    } finally {
      unmount(mnt);
    }
  }
}

/** mkfs.xfs's protofile for the tree under `src`: every file names its source. */
function protofile(src: string, work: string): string {
  const lines = ['/dev/null', '0 0', 'd--755 0 0'];
  const walk = (rel: string, depth: number) => {
    const pad = ' '.repeat(depth);
    const entries = run('ls', ['-1', '-p', '--sort=none', path.join(src, rel)])
      .split('\n')
      .filter(Boolean)
      .sort();
    for (const e of entries) {
      if (e.endsWith('/')) {
        lines.push(`${pad}${e.slice(0, -1)} d--755 0 0`);
        walk(path.join(rel, e), depth + 1);
        lines.push(`${pad}$`);
      } else {
        lines.push(`${pad}${e} ---644 0 0 ${path.join(src, rel, e)}`);
      }
    }
  };
  walk('', 1);
  lines.push('$');
  const file = path.join(work, 'proto.txt');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

export function cacheDir(): string {
  return path.join(root, '.cache', 'bench', IMAGE_VERSION);
}

function keyOf(spec: ImageSpec): string {
  return `${IMAGE_VERSION}:${spec.kind}:${spec.files}:${spec.changed}:${spec.bigFileBytes}`;
}

/** The image's runs and bytes from the cache, or built now (root only: mounts). */
export function buildImage(spec: ImageSpec, log: (line: string) => void, prerequisites: () => void = () => undefined): BuiltImage {
  const dir = path.join(cacheDir(), `${spec.kind}-${spec.files}`);
  const manifestFile = path.join(dir, 'manifest.json');
  if (existsSync(manifestFile)) {
    const m = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
    if (m.key === keyOf(spec)) return { ...m, spec, dir, cached: true };
  }
  prerequisites();
  const started = performance.now();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const work = path.join(dir, 'work');
  const src = path.join(work, 'src');
  mkdirSync(src, { recursive: true });
  try {
    log(`  ${spec.kind}: writing a tree of ${spec.files.toLocaleString('en-US')} files`);
    const directories = writeTree(src, spec);
    const bigFile = spec.bigFileBytes
      ? { path: '/big.bin', size: spec.bigFileBytes, sha256: writeBigFile(path.join(src, 'big.bin'), spec.bigFileBytes) }
      : undefined;
    const base = path.join(work, 'base.img');
    log(`  ${spec.kind}: making the filesystem on a sparse 64 GiB image`);
    makeFilesystem(spec, base, src, work);
    rmSync(src, { recursive: true, force: true });
    const next = path.join(work, 'next.img');
    run('cp', ['--sparse=always', base, next]);
    log(`  ${spec.kind}: editing ${spec.changed.toLocaleString('en-US')} files through the ${spec.kind === 'ntfs' ? 'ntfs-3g' : 'kernel'} driver`);
    const mnt = path.join(work, 'mnt');
    mount(spec.kind, next, mnt);
    let changedPaths: string[];
    try {
      changedPaths = applyChanges(mnt, spec);
    } finally {
      unmount(mnt);
    }
    log(`  ${spec.kind}: collecting the blocks to upload`);
    const baseRuns = blockRuns(base, undefined, path.join(dir, 'base.bin'));
    const changeRuns = blockRuns(next, base, path.join(dir, 'change.bin'));
    const manifest: Manifest = {
      key: keyOf(spec),
      baseRuns,
      changeRuns,
      changedPaths,
      directories,
      ...(bigFile ? { bigFile } : {}),
      buildSeconds: (performance.now() - started) / 1000,
    };
    writeFileSync(`${manifestFile}.tmp`, JSON.stringify(manifest));
    renameSync(`${manifestFile}.tmp`, manifestFile);
    return { ...manifest, spec, dir, cached: false };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
