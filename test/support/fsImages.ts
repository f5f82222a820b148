/**
 * XFS and NTFS images built at test time with Debian's own tools (xfsprogs, ntfs-3g), over a source tree
 * whose bytes the tests know, so the readers can be checked against the tools and against the sources.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync, writeSync, fsyncSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensureDebianPackages, filesystemPackages } from '../../scripts/ensure-debian-packages.mjs';

export const MiB = 1024 * 1024;

/** Deterministic bytes (xorshift32) so every run builds the same files. */
export function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
    if (i + 1 < length) out[i + 1] = (x >>> 8) & 0xff;
    if (i + 2 < length) out[i + 2] = (x >>> 16) & 0xff;
    if (i + 3 < length) out[i + 3] = (x >>> 24) & 0xff;
  }
  return out;
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Runs a tool with TZ=UTC, so the dates it prints are UTC. */
export function run(cmd: string, args: string[], opts: { input?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * MiB, env: { ...process.env, TZ: 'UTC' }, ...opts });
}

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** What a test expects at a path of the image. */
export interface ExpectedEntry {
  type: 'file' | 'dir' | 'symlink';
  sha256?: string;
  size?: number;
  target?: string;
}

export type Expected = Map<string, ExpectedEntry>;

function mountLoop(image: string, dir: string, options: string): void {
  const r = spawnSync('mount', ['-o', `loop,${options}`, image, dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`mount -o loop ${image} failed (${r.stderr.trim()}): the XFS fragmentation image needs root and a loop device`);
  }
}

function unmount(dir: string): void {
  for (let i = 0; i < 20; i++) {
    const r = spawnSync('umount', [dir], { encoding: 'utf8' });
    if (r.status === 0) return;
    spawnSync('sleep', ['0.2']);
  }
  throw new Error(`umount ${dir} failed`);
}

// ---------------------------------------------------------------- XFS

/** Installs xfsprogs and ntfs-3g when missing (as root), else throws with the apt-get command to run. */
export function ensureXfsTools(): void {
  ensureDebianPackages(filesystemPackages);
}

/**
 * An image made by `mkfs.xfs -p <protofile>` (no mount, no privileges): shortform, block and node
 * directories, local and remote symlinks, an empty file, a unicode name, the label.
 */
export function buildXfsProtoImage(dir: string, variant: 'v5' | 'v4' = 'v5'): { image: string; expected: Expected } {
  const src = path.join(dir, `src-${variant}`);
  mkdirSync(src, { recursive: true });
  const expected: Expected = new Map();
  const lines = ['/dev/null', '0 0', 'd--755 0 0'];
  const file = (name: string, bytes: Uint8Array, indent: string, p: string) => {
    const f = path.join(src, `f${expected.size}`);
    writeFileSync(f, bytes);
    lines.push(`${indent}${name} ---644 0 0 ${f}`);
    expected.set(p, { type: 'file', sha256: sha256(bytes), size: bytes.length });
  };
  file('hello.txt', new TextEncoder().encode('hello, xfs\n'), ' ', '/hello.txt');
  file('empty', new Uint8Array(0), ' ', '/empty');
  file('random-200k.bin', pseudoRandomBytes(200_000, 7), ' ', '/random-200k.bin');
  file('große-datei.txt', new TextEncoder().encode('unicode name\n'), ' ', '/große-datei.txt');
  lines.push(' etc d--755 0 0');
  expected.set('/etc', { type: 'dir' });
  file('hosts', new TextEncoder().encode('127.0.0.1 localhost\n'), '  ', '/etc/hosts');
  lines.push('  nginx d--755 0 0');
  expected.set('/etc/nginx', { type: 'dir' });
  file('nginx.conf', pseudoRandomBytes(5000, 11), '   ', '/etc/nginx/nginx.conf');
  lines.push('   $', '  $');
  lines.push(' link-short l--777 0 0 etc/hosts');
  expected.set('/link-short', { type: 'symlink', target: 'etc/hosts' });
  const longTarget = Array.from({ length: 60 }, (_, i) => `segment${String(i).padStart(3, '0')}`).join('/');
  lines.push(` link-long l--777 0 0 ${longTarget}`);
  expected.set('/link-long', { type: 'symlink', target: longTarget });
  // 40 entries: a single-block directory; 1500 entries: leaf / node format with several data blocks.
  for (const [name, count] of [
    ['block-dir', 40],
    ['node-dir', 1500],
  ] as const) {
    lines.push(` ${name} d--755 0 0`);
    expected.set(`/${name}`, { type: 'dir' });
    for (let i = 0; i < count; i++)
      file(
        `entry-with-a-fairly-long-name-${String(i).padStart(5, '0')}`,
        new TextEncoder().encode(`${name} ${i}\n`),
        '  ',
        `/${name}/entry-with-a-fairly-long-name-${String(i).padStart(5, '0')}`,
      );
    lines.push('  $');
  }
  lines.push('$');
  const proto = path.join(dir, `proto-${variant}.txt`);
  writeFileSync(proto, lines.join('\n') + '\n');
  const image = path.join(dir, `proto-${variant}.xfs`);
  // mkfs.xfs refuses filesystems under 300 MiB; a sparse file costs only what is written.
  execFileSync('truncate', ['-s', '300M', image]);
  // v4 (no CRCs, 256-byte inodes) with 8 KiB directory blocks, as older RHEL images have.
  const options = variant === 'v4' ? ['-m', 'crc=0', '-i', 'size=256', '-n', 'size=8192'] : [];
  run('mkfs.xfs', ['-q', '-f', ...options, '-L', 'PROTOXFS', '-p', proto, image]);
  return { image, expected };
}

/**
 * An image written through the kernel's XFS (loop mount, speculative preallocation off): two files
 * fragmented by interleaved synced appends, a sparse file with 48 extents (btree-format data fork), a
 * file with an unwritten (fallocated) tail.
 */
export function buildXfsMountedImage(dir: string): { image: string; expected: Expected } {
  const image = path.join(dir, 'mounted.xfs');
  execFileSync('truncate', ['-s', '300M', image]);
  run('mkfs.xfs', ['-q', '-f', '-L', 'FRAGXFS', image]);
  const mnt = path.join(dir, 'mnt');
  mkdirSync(mnt, { recursive: true });
  mountLoop(image, mnt, 'allocsize=4096');
  const expected: Expected = new Map();
  try {
    mkdirSync(path.join(mnt, 'frag'));
    expected.set('/frag', { type: 'dir' });
    const chunks = 24;
    const chunk = 64 * 1024;
    const a = pseudoRandomBytes(chunks * chunk, 21);
    const b = pseudoRandomBytes(chunks * chunk, 22);
    const fa = openSync(path.join(mnt, 'frag', 'a.bin'), 'w');
    const fb = openSync(path.join(mnt, 'frag', 'b.bin'), 'w');
    for (let i = 0; i < chunks; i++) {
      writeSync(fa, a, i * chunk, chunk);
      fsyncSync(fa);
      writeSync(fb, b, i * chunk, chunk);
      fsyncSync(fb);
    }
    closeSync(fa);
    closeSync(fb);
    expected.set('/frag/a.bin', { type: 'file', sha256: sha256(a), size: a.length });
    expected.set('/frag/b.bin', { type: 'file', sha256: sha256(b), size: b.length });

    const sparseBlocks = 48;
    const sparse = new Uint8Array(sparseBlocks * 2 * 4096);
    const fs = openSync(path.join(mnt, 'sparse.bin'), 'w');
    for (let i = 0; i < sparseBlocks; i++) {
      const blk = pseudoRandomBytes(4096, 100 + i);
      sparse.set(blk, i * 8192);
      writeSync(fs, blk, 0, 4096, i * 8192);
    }
    closeSync(fs);
    expected.set('/sparse.bin', { type: 'file', sha256: sha256(sparse.subarray(0, (sparseBlocks - 1) * 8192 + 4096)), size: (sparseBlocks - 1) * 8192 + 4096 });

    const longTarget = Array.from({ length: 50 }, (_, i) => `dir${String(i).padStart(3, '0')}`).join('/');
    symlinkSync(longTarget, path.join(mnt, 'link-long'));
    expected.set('/link-long', { type: 'symlink', target: longTarget });

    const head = pseudoRandomBytes(4096, 300);
    writeFileSync(path.join(mnt, 'prealloc.bin'), head);
    run('xfs_io', ['-c', 'falloc 0 65536', path.join(mnt, 'prealloc.bin')]);
    const pre = new Uint8Array(65536);
    pre.set(head);
    expected.set('/prealloc.bin', { type: 'file', sha256: sha256(pre), size: pre.length });
  } finally {
    unmount(mnt);
  }
  return { image, expected };
}

/** `xfs_db -r` with the given commands. */
export function xfsDb(image: string, ...commands: string[]): string {
  return run('xfs_db', ['-r', ...commands.flatMap((c) => ['-c', c]), image]);
}

// ---------------------------------------------------------------- NTFS

export function ensureNtfsTools(): void {
  ensureDebianPackages(filesystemPackages);
}

/**
 * An NTFS image made by mkntfs and filled through the ntfs-3g FUSE driver: nested directories, a
 * directory large enough for $INDEX_ALLOCATION, resident and non-resident files, a file written back to
 * front in 4 KiB pieces (hundreds of runs, so its $DATA spreads over extension records named by an
 * $ATTRIBUTE_LIST), a $MFT fragmented by growing while the volume was full, a sparse file, a compressed
 * file, a symbolic link, a hard link and a unicode name.
 */
export function buildNtfsImage(dir: string): { image: string; expected: Expected; compressed: string } {
  const image = path.join(dir, 'volume.ntfs');
  execFileSync('truncate', ['-s', '64M', image]);
  run('mkntfs', ['-F', '-f', '-q', '-L', 'WINDATA', image]);
  const mnt = path.join(dir, 'mnt');
  mkdirSync(mnt, { recursive: true });
  const m = spawnSync('ntfs-3g', ['-o', 'compression', image, mnt], { encoding: 'utf8' });
  if (m.status !== 0) throw new Error(`ntfs-3g ${image} failed (${m.stderr.trim()}): the NTFS image needs /dev/fuse and root`);
  const expected: Expected = new Map();
  const put = (p: string, bytes: Uint8Array) => {
    writeFileSync(path.join(mnt, p), bytes);
    expected.set(p, { type: 'file', sha256: sha256(bytes), size: bytes.length });
  };
  const mkdir = (p: string) => {
    mkdirSync(path.join(mnt, p));
    expected.set(p, { type: 'dir' });
  };
  try {
    // Fill the volume, free a 2 MiB hole, then create files: the $MFT has to grow into the hole.
    writeFileSync(path.join(mnt, 'hole.bin'), pseudoRandomBytes(2 * MiB, 5));
    const fill = openSync(path.join(mnt, 'fill.bin'), 'w');
    const zeros = new Uint8Array(MiB);
    try {
      for (let i = 0; i < 128; i++) writeSync(fill, zeros);
    } catch {
      // ENOSPC: the volume is full, as intended.
    }
    closeSync(fill);
    rmSync(path.join(mnt, 'hole.bin'));
    mkdir('/Users');
    for (let i = 0; i < 400; i++) put(`/Users/document-with-a-long-name-${String(i).padStart(4, '0')}.txt`, new TextEncoder().encode(`doc ${i}\n`));
    execFileSync('truncate', ['-s', String(24 * MiB), path.join(mnt, 'fill.bin')]);
    expected.set('/fill.bin', { type: 'file', sha256: sha256(new Uint8Array(24 * MiB)), size: 24 * MiB });

    put('/hello.txt', new TextEncoder().encode('hello, ntfs\n'));
    put('/empty', new Uint8Array(0));
    put('/random-300k.bin', pseudoRandomBytes(300_000, 8));
    put('/große-datei.txt', new TextEncoder().encode('unicode name\n'));
    put('/A Long File Name With Spaces.txt', new TextEncoder().encode('win32 and dos names\n'));
    // A separate DOS 8.3 name: the file then has a Win32 name and a DOS name, listed once.
    setxattr(path.join(mnt, 'A Long File Name With Spaces.txt'), 'system.ntfs_dos_name', [...new TextEncoder().encode('ALONGF~1.TXT')]);
    mkdir('/Windows');
    mkdir('/Windows/System32');
    put('/Windows/System32/config.sys', pseudoRandomBytes(5000, 12));

    mkdir('/frag');
    const pieces = 512;
    const rev = pseudoRandomBytes(pieces * 4096, 31);
    const fr = openSync(path.join(mnt, 'frag/reverse.bin'), 'w');
    for (let i = pieces - 1; i >= 0; i--) {
      writeSync(fr, rev, i * 4096, 4096, i * 4096);
      if (i % 8 === 0) fsyncSync(fr);
    }
    closeSync(fr);
    expected.set('/frag/reverse.bin', { type: 'file', sha256: sha256(rev), size: rev.length });

    const sparse = new Uint8Array(4 * MiB);
    const tail = pseudoRandomBytes(8192, 40);
    sparse.set(tail, 3 * MiB);
    const fs = openSync(path.join(mnt, 'sparse.bin'), 'w');
    writeSync(fs, tail, 0, tail.length, 3 * MiB);
    closeSync(fs);
    execFileSync('truncate', ['-s', String(4 * MiB), path.join(mnt, 'sparse.bin')]);
    expected.set('/sparse.bin', { type: 'file', sha256: sha256(sparse), size: sparse.length });

    // A directory with the compressed attribute (0x800) makes ntfs-3g compress what is written in it.
    mkdir('/packed');
    setxattr(path.join(mnt, 'packed'), 'system.ntfs_attrib_be', [0, 0, 0x08, 0x10]);
    const text = new TextEncoder().encode('compress me '.repeat(20000));
    writeFileSync(path.join(mnt, 'packed/text.txt'), text);
    expected.set('/packed/text.txt', { type: 'file', size: text.length });

    symlinkSync('Windows/System32/config.sys', path.join(mnt, 'config-link'));
    expected.set('/config-link', { type: 'symlink', target: 'Windows/System32/config.sys' });
    // Windows symbolic links: a reparse point (IO_REPARSE_TAG_SYMLINK, relative) on a file and on a directory.
    const reparse = windowsSymlinkReparse('Windows\\System32\\config.sys');
    writeFileSync(path.join(mnt, 'winlink'), '');
    setxattr(path.join(mnt, 'winlink'), 'system.ntfs_reparse_data', reparse);
    expected.set('/winlink', { type: 'symlink', target: 'Windows/System32/config.sys' });
    mkdirSync(path.join(mnt, 'dirlink'));
    setxattr(path.join(mnt, 'dirlink'), 'system.ntfs_reparse_data', reparse);
    expected.set('/dirlink', { type: 'symlink', target: 'Windows/System32/config.sys' });
    execFileSync('ln', [path.join(mnt, 'hello.txt'), path.join(mnt, 'Windows/hello-hardlink.txt')]);
    expected.set('/Windows/hello-hardlink.txt', expected.get('/hello.txt') as ExpectedEntry);
  } finally {
    unmount(mnt);
  }
  return { image, expected, compressed: '/packed/text.txt' };
}

/**
 * An NTFS volume with 512-byte clusters (MFT records span two clusters; $Bitmap spans several 64 KiB
 * pages), written without mounting: mkntfs, then ntfscp.
 */
export function buildNtfsSmallClusterImage(dir: string): { image: string; expected: Expected } {
  const image = path.join(dir, 'small-clusters.ntfs');
  execFileSync('truncate', ['-s', '320M', image]);
  run('mkntfs', ['-F', '-f', '-q', '-c', '512', '-L', 'SMALLCL', image]);
  const bytes = pseudoRandomBytes(1_000_000, 77);
  const src = path.join(dir, 'r1m.bin');
  writeFileSync(src, bytes);
  run('ntfscp', [image, src, '/r1m.bin']);
  return { image, expected: new Map([['/r1m.bin', { type: 'file', sha256: sha256(bytes), size: bytes.length }]]) };
}

/** A symbolic-link reparse buffer: tag, data length, then substitute and print names (both `target`), flag 1 = relative. */
function windowsSymlinkReparse(target: string): number[] {
  const name = [...target].flatMap((ch) => [ch.charCodeAt(0) & 0xff, ch.charCodeAt(0) >> 8]);
  const u16 = (v: number) => [v & 0xff, v >> 8];
  const data = [...u16(0), ...u16(name.length), ...u16(name.length), ...u16(name.length), 1, 0, 0, 0, ...name, ...name];
  return [0x0c, 0x00, 0x00, 0xa0, ...u16(data.length), 0, 0, ...data];
}

function setxattr(file: string, name: string, value: number[]): void {
  const hex = '0x' + value.map((v) => v.toString(16).padStart(2, '0')).join('');
  const r = spawnSync('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3][2:]))', file, name, hex], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`setting ${name} on ${file} failed: ${r.stderr.trim()}`);
}

export function removeDir(dir: string): void {
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
}

export function readImage(image: string): Uint8Array {
  return new Uint8Array(readFileSync(image));
}
