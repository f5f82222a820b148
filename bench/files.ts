/**
 * The file-diff scenario: 64 GiB disks holding real ext4, XFS and NTFS filesystems (bench/fsImages.ts,
 * built with Debian's tools), 1% of their files edited through the kernel's (or ntfs-3g's) driver.
 * Rows: `disk-delta diff --files --json` end to end (the built CLI, through the emulator at Azure's per-blob
 * targets and latency), its time and the bytes it read from the two snapshots (the emulator's
 * bytesReadByBlob); and `disk-delta get` of a 1 GiB file against the per-blob read limit.
 * Checks: the diff names exactly the edited files, its totals equal the block diff's, and `get` returns the
 * source file's bytes (SHA-256).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SnapshotInfo } from '../src/core/model';
import { ensureDebianPackages } from '../scripts/ensure-debian-packages.mjs';
import { FAULTS, type CopyBench } from './copyScenarios';
import { BLOB_MIBPS, BLOB_RPS, MiB } from './fixtures';
import { buildImage, DISK_BYTES, type BuiltImage, type FsKind, type ImageSpec } from './fsImages';

const root = path.resolve(__dirname, '..');
const CLI = path.join(root, 'dist', 'cli.js');

export const FILES_SECONDS_GOAL = 10;
export const FILES_READ_GOAL = 0.02;
export const GET_TIME_GOAL = 1.15;

export interface FileDiffRow {
  readonly filesystem: FsKind;
  readonly files: number;
  readonly changedFiles: number;
  readonly diskBytes: number;
  /** wall time of `disk-delta diff --files --json` */
  readonly seconds: number;
  /** bytes the emulator served from the two snapshots during it */
  readonly bytesRead: number;
  /** Get Blob requests during it (ranged reads of the snapshots) */
  readonly readRequests: number;
  /** the block diff's changed + cleared bytes */
  readonly diffBytes: number;
  readonly diffRanges: number;
  /** entries the file diff listed (files and directories) */
  readonly listed: number;
  readonly imageBuildSeconds: number;
  readonly imageCached: boolean;
  readonly uploadSeconds: number;
  readonly note?: string;
}

export interface GetRow {
  readonly filesystem: FsKind;
  readonly bytes: number;
  readonly seconds: number;
  /** bytes / 60 MiB/s */
  readonly boundSeconds: number;
  readonly bytesRead: number;
  readonly readRequests: number;
  /** reads the emulator refused with 503 ServerBusy above the blob's targets (retried) */
  readonly throttled?: number;
}

export interface FilesResult {
  readonly rows: FileDiffRow[];
  readonly get?: GetRow;
  /** why the scenario did not run */
  readonly skipped?: string;
  /** `uptime` when it ran: the machine is shared */
  readonly load: string;
  /** when it ran (a run with `--only files` may be merged into an older full run's results) */
  readonly date?: string;
  readonly quick: boolean;
  readonly failures: string[];
}

/** Each filesystem holds 200,000 files (20,000 with --quick), 1% of them changed. */
function specs(quick: boolean): ImageSpec[] {
  const files = quick ? 20_000 : 200_000;
  return [
    { kind: 'ext4', files, changed: files / 100, bigFileBytes: quick ? 256 * MiB : 1024 * MiB },
    { kind: 'xfs', files, changed: files / 100, bigFileBytes: 0 },
    { kind: 'ntfs', files, changed: files / 100, bigFileBytes: 0 },
  ];
}

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

function runCli(connectionFile: string, args: string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [CLI, '--emulator', connectionFile, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: err, seconds: (performance.now() - start) / 1000 }));
  });
}

/** Writes runs of bytes from `file` (one after the other) to the disk through a Write grant, 4 MiB per Put Page, 16 in flight. */
async function upload(bench: CopyBench, diskId: string, file: string, runs: ReadonlyArray<readonly [number, number]>): Promise<void> {
  const pieces: Array<{ offset: number; length: number; at: number }> = [];
  let at = 0;
  for (const [offset, length] of runs) {
    for (let o = 0; o < length; o += 4 * MiB) pieces.push({ offset: offset + o, length: Math.min(4 * MiB, length - o), at: at + o });
    at += length;
  }
  const clients = bench.clients;
  const url = await clients.compute.grantAccess(diskId, 'Write', 3600);
  const fd = openSync(file, 'r');
  try {
    const target = clients.dataPlane.openWritableSas(url);
    let next = 0;
    const worker = async () => {
      while (next < pieces.length) {
        const p = pieces[next++]!;
        const buf = Buffer.alloc(p.length);
        readSync(fd, buf, 0, p.length, p.at);
        await target.putPages(p.offset, buf);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
  } finally {
    closeSync(fd);
    await clients.compute.revokeAccess(diskId);
  }
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function uptime(): string {
  const l = os.loadavg();
  return `load average ${l.map((v) => v.toFixed(2)).join(', ')} on ${os.cpus().length} cores`;
}

interface FilesJson {
  files: Array<{ path: string; change: string; changedBytes: number }>;
  unattributed: { freeSpace: number; metadata: number; outsidePartitions: number };
  filesystems: Array<{ type: string; supported: boolean; reason: string | null }>;
}

/** Builds (or takes from the cache) the images; returns them, or why they cannot be built here. */
function images(quick: boolean, kinds: readonly FsKind[], log: (line: string) => void): { built: BuiltImage[]; skipped?: string } {
  const built: BuiltImage[] = [];
  for (const spec of specs(quick).filter((x) => kinds.includes(x.kind))) {
    try {
      built.push(buildImage(spec, log, () => prerequisites()));
    } catch (error) {
      return { built, skipped: `${spec.kind} image not built: ${error instanceof Error ? error.message.split('\n').join(' ') : String(error)}` };
    }
  }
  return { built };
}

/** Building mounts images (loop devices, FUSE): root, and Debian's tools installed on first use. */
function prerequisites(): void {
  ensureDebianPackages(['e2fsprogs', 'xfsprogs', 'ntfs-3g'], { log: (l) => console.error(`bench: ${l}`) });
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error('building the images mounts them (loop devices, ntfs-3g), which needs root: sudo npm run bench -- --only files');
  }
}

export async function filesScenario(
  bench: CopyBench,
  quick: boolean,
  log: (line: string) => void,
  kinds: readonly FsKind[] = ['ext4', 'xfs', 'ntfs'],
): Promise<FilesResult> {
  const failures: string[] = [];
  const rows: FileDiffRow[] = [];
  let get: GetRow | undefined;
  const load = uptime();
  log(`scenario: file diff of 64 GiB ext4, XFS and NTFS disks, 1% of files changed; get of a large file${quick ? ' (--quick)' : ''} (${load})`);
  const { built, skipped } = images(quick, kinds, log);
  if (skipped) log(`  skipped: ${skipped}`);
  const world = bench.world;
  const work = mkdtempSync(path.join(os.tmpdir(), 'dd-bench-files-'));
  try {
    for (const image of built) {
      const spec = image.spec;
      if (!image.cached) log(`  ${spec.kind}: image built in ${image.buildSeconds.toFixed(1)} s`);
      // Uploading is set-up, not measured: the caps are lifted while it runs.
      await bench.em.setFaults({});
      const uploadStart = performance.now();
      const disk = await world.createDisk(`files-${spec.kind}`, DISK_BYTES / 1024 ** 3);
      await upload(bench, disk, path.join(image.dir, 'base.bin'), image.baseRuns);
      const before: SnapshotInfo = await world.snapshot(disk, `files-${spec.kind}-1`);
      await upload(bench, disk, path.join(image.dir, 'change.bin'), image.changeRuns);
      const after: SnapshotInfo = await world.snapshot(disk, `files-${spec.kind}-2`);
      const uploadSeconds = (performance.now() - uploadStart) / 1000;
      await bench.em.setFaults(FAULTS);
      const baseBytes = image.baseRuns.reduce((n, r) => n + r[1], 0);
      log(`  ${spec.kind}: ${(baseBytes / 1e6).toFixed(0)} MB of base and ${image.changeRuns.length} changed runs uploaded in ${uploadSeconds.toFixed(1)} s`);

      const blockDiff = await runCli(bench.connectionFile, ['--json', 'diff', '--from', before.id, '--to', after.id]);
      let diffBytes = 0;
      let diffRanges = 0;
      if (blockDiff.code !== 0)
        failures.push(`files ${spec.kind}: disk-delta diff exited with ${blockDiff.code}: ${blockDiff.stderr.trim().split('\n').pop() ?? ''}`);
      else {
        const d = JSON.parse(blockDiff.stdout) as { changedBytes: number; clearedBytes: number; rangeCount: number };
        diffBytes = d.changedBytes + d.clearedBytes;
        diffRanges = d.rangeCount;
      }

      await bench.em.resetStats();
      const r = await runCli(bench.connectionFile, ['--json', 'diff', '--from', before.id, '--to', after.id, '--files']);
      const stats = await bench.em.getStats();
      const bytesRead = Object.values(stats.bytesReadByBlob ?? {}).reduce((n, v) => n + v, 0);
      const readRequests = stats.requests['GetBlob'] ?? 0;
      let listed = 0;
      if (r.code !== 0) {
        failures.push(`files ${spec.kind}: disk-delta diff --files exited with ${r.code}: ${r.stderr.trim().split('\n').pop() ?? ''}`);
      } else {
        const d = JSON.parse(r.stdout) as FilesJson;
        listed = d.files.length;
        const unsupported = d.filesystems.find((f) => !f.supported);
        if (unsupported) failures.push(`files ${spec.kind}: the ${unsupported.type} filesystem was not read: ${unsupported.reason}`);
        const dirs = new Set(image.directories.map((p) => p.toLowerCase()));
        const named = d.files.filter((f) => !dirs.has(f.path.toLowerCase())).map((f) => f.path);
        const expected = new Set(image.changedPaths);
        const extra = named.filter((p) => !expected.has(p));
        const namedSet = new Set(named);
        const missing = image.changedPaths.filter((p) => !namedSet.has(p));
        if (extra.length || missing.length)
          failures.push(
            `files ${spec.kind}: the file diff named ${extra.length} file(s) not changed (${extra.slice(0, 3).join(', ')}) and missed ${missing.length} changed one(s) (${missing.slice(0, 3).join(', ')})`,
          );
        const wrongKind = d.files.filter((f) => expected.has(f.path) && f.change !== 'modified');
        if (wrongKind.length)
          failures.push(`files ${spec.kind}: ${wrongKind.length} edited file(s) not reported as modified (${wrongKind[0]!.path}: ${wrongKind[0]!.change})`);
        const total = d.files.reduce((n, f) => n + f.changedBytes, 0) + d.unattributed.freeSpace + d.unattributed.metadata + d.unattributed.outsidePartitions;
        if (total !== diffBytes) failures.push(`files ${spec.kind}: files and unattributed add up to ${total} bytes, the block diff has ${diffBytes}`);
      }
      log(
        `  ${spec.kind}: diff --files ${r.seconds.toFixed(2)} s, ${(bytesRead / 1e6).toFixed(1)} MB read in ${readRequests} reads (${((bytesRead / DISK_BYTES) * 100).toFixed(3)}% of the disk), ${listed} entries, block diff ${(diffBytes / 1e6).toFixed(1)} MB in ${diffRanges} ranges`,
      );
      rows.push({
        filesystem: spec.kind,
        files: spec.files,
        changedFiles: spec.changed,
        diskBytes: DISK_BYTES,
        seconds: r.seconds,
        bytesRead,
        readRequests,
        diffBytes,
        diffRanges,
        listed,
        imageBuildSeconds: image.buildSeconds,
        imageCached: image.cached,
        uploadSeconds,
      });

      if (image.bigFile) {
        const out = path.join(work, 'big.bin');
        await bench.em.resetStats();
        const g = await runCli(bench.connectionFile, ['get', '--snapshot', after.id, image.bigFile.path, '-o', out]);
        const gs = await bench.em.getStats();
        const gotBytes = Object.values(gs.bytesReadByBlob ?? {}).reduce((n, v) => n + v, 0);
        if (g.code !== 0) failures.push(`files get: disk-delta get exited with ${g.code}: ${g.stderr.trim().split('\n').pop() ?? ''}`);
        else {
          const size = statSync(out).size;
          const sum = await sha256File(out);
          if (size !== image.bigFile.size || sum !== image.bigFile.sha256)
            failures.push(
              `files get: ${image.bigFile.path} came back as ${size} bytes with SHA-256 ${sum}, expected ${image.bigFile.size} bytes, ${image.bigFile.sha256}`,
            );
        }
        rmSync(out, { force: true });
        get = {
          filesystem: spec.kind,
          bytes: image.bigFile.size,
          seconds: g.seconds,
          boundSeconds: image.bigFile.size / (BLOB_MIBPS * MiB),
          bytesRead: gotBytes,
          readRequests: gs.requests['GetBlob'] ?? 0,
          throttled: (gs.faultsInjected['rps'] ?? 0) + (gs.faultsInjected['mibps'] ?? 0),
        };
        log(
          `  get ${image.bigFile.path} (${(image.bigFile.size / MiB).toFixed(0)} MiB): ${g.seconds.toFixed(2)} s, bound ${get.boundSeconds.toFixed(2)} s, ${get.readRequests} reads, ${get.throttled} refused with 503`,
        );
      }
    }
  } finally {
    await bench.em.setFaults(FAULTS);
    rmSync(work, { recursive: true, force: true });
  }
  return { rows, ...(get ? { get } : {}), ...(skipped ? { skipped } : {}), load, date: new Date().toISOString(), quick, failures };
}

const s = (seconds: number) => `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 0)} MB`;
const n = (v: number) => v.toLocaleString('en-US');
const met = (ok: boolean) => (ok ? 'met' : '**missed**');
const pct = (v: number) => `${(v * 100).toFixed(v < 0.001 ? 4 : 3)}%`;

export function renderFiles(r: FilesResult): string[] {
  const lines = ['## File-level diff and single-file restore', ''];
  lines.push(
    `64 GiB disks holding a real filesystem (whole disk, no partition table), built with Debian's tools${r.quick ? ' (--quick: 20,000 files, a 256 MiB file for get)' : ''}; ` +
      '1% of the files edited through the driver (half rewritten in place at their start, half appended to). ' +
      `Measured${r.date ? ` on ${r.date.slice(0, 10)}` : ''} at ${r.load}.`,
    '',
  );
  if (r.skipped) lines.push(`Not measured: ${r.skipped}.`, '');
  if (r.rows.length) {
    lines.push(
      '| filesystem | files (changed) | `diff --files --json` | bytes read (share of the disk) | reads | reads ÷ (2 × 500/s) | block diff | entries listed | image build | upload (set-up) |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const f of r.rows) {
      lines.push(
        `| ${f.filesystem} | ${n(f.files)} (${n(f.changedFiles)}) | ${s(f.seconds)} | ${mb(f.bytesRead)} (${pct(f.bytesRead / f.diskBytes)}) | ${n(f.readRequests)} | ${s(f.readRequests / (2 * BLOB_RPS))} | ${mb(f.diffBytes)} in ${n(f.diffRanges)} ranges | ${n(f.listed)} | ${f.imageCached ? `cached (built in ${s(f.imageBuildSeconds)})` : s(f.imageBuildSeconds)} | ${s(f.uploadSeconds)} |`,
      );
    }
    lines.push('');
  }
  if (r.get) {
    const g = r.get;
    lines.push('| `get` | size | wall time | bound: size ÷ 60 MiB/s | ÷ bound | reads | refused with 503 |', '|---|---:|---:|---:|---:|---:|---:|');
    lines.push(
      `| ${g.filesystem}: /big.bin | ${mb(g.bytes)} | ${s(g.seconds)} | ${s(g.boundSeconds)} | ${(g.seconds / g.boundSeconds).toFixed(2)} | ${n(g.readRequests)} | ${g.throttled === undefined ? '-' : n(g.throttled)} |`,
      '',
    );
  }
  lines.push(
    'Each row runs the built CLI as a user does, against the emulator at the per-blob targets and latency above: ' +
      '`disk-delta diff --from <before> --to <after> --files --json` (granting both snapshots, listing the block diff, reading partition tables, ' +
      'filesystem metadata and directories by ranged reads, revoking). "Bytes read" is what the emulator served from the two snapshots ' +
      '(`bytesReadByBlob`), "reads" its Get Blob requests. The bench checks that the diff names exactly the edited files (as `modified`; ' +
      'directories may appear as `metadata`) and that its files and unattributed bytes add up to the block diff, and that `get` returns the ' +
      "source file's SHA-256; a difference fails the bench. The images (bench/fsImages.ts) are built on sparse image files: ext4 by " +
      '`mke2fs -d`, XFS by `mkfs.xfs -p`, NTFS by `mkntfs` and a copy through ntfs-3g; the change set through a loop mount (ntfs-3g for NTFS). ' +
      "Only the base image's non-zero 4 KiB blocks and the changed blocks are kept (.cache/bench) and uploaded, with the caps lifted; " +
      'building needs root and e2fsprogs, xfsprogs and ntfs-3g (installed with apt-get on first use). ' +
      '"Reads ÷ (2 × 500/s)" is the floor the request rate sets for the reads made: the two snapshots are two blobs, each served at up to ' +
      '500 requests/s. The records a diff needs are fetched together, with the short gaps between them read through where that is ' +
      "quicker at a blob's targets (fewer reads, more bytes), and what the block diff leaves alone is read from whichever snapshot holds it " +
      'or is less busy (src/core/filesystems/reader.ts).',
    '',
  );
  if (r.rows.some((f) => f.seconds >= FILES_SECONDS_GOAL)) {
    lines.push(
      'Where the time goes: the diff fetches the changed records (inode tables, MFT records, XFS inode chunks) of both snapshots together, ' +
        'loads each file from the cache, finds the NTFS directories whose index blocks a file change rewrote from the files they name, ' +
        'compares the changed directories, and reads directories 32 at a time, breadth first from the root, until every changed file has a ' +
        "path (the older snapshot's tree only when a compared directory names other files in it). What remains is requests that cannot be " +
        'merged (inode chunks and directory blocks scattered among file data, one request each unless the gap between them is short) and CPU ' +
        'on a 2-core machine shared with the emulator (TLS, parsing records and directory entries, garbage collection), as the load above shows.',
      '',
    );
  }
  if (r.get && r.get.seconds / r.get.boundSeconds > GET_TIME_GOAL) {
    const pieces = Math.ceil(r.get.bytes / (4 * MiB));
    lines.push(
      `\`get\`: ${n(r.get.readRequests)} reads for ${n(pieces)} pieces of 4 MiB, ${n(r.get.throttled ?? 0)} of them refused with 503 ServerBusy. ` +
        '`get` keeps 4 pieces in flight (src/cli/commands/get.ts) through a reader with 1 MiB granules, so a piece that does not start on a granule ' +
        'is two reads; reads beyond 60 MiB/s are refused and retried after the Retry-After Azure sends (1 s), which leaves the blob idle. ' +
        'Pacing reads to the byte rate, as the copy engine paces its writes, would close it.',
      '',
    );
  }
  return lines;
}

export function filesGoalRows(r: FilesResult | undefined): string[] {
  if (!r) return ['| file diff (ext4, XFS, NTFS) and get | not measured in this run | - |'];
  const rows: string[] = [];
  if (r.skipped && !r.rows.length) rows.push(`| file diff (ext4, XFS, NTFS) and get | not measured: ${r.skipped} | - |`);
  for (const f of r.rows) {
    const what = `${f.filesystem} ${n(f.files)} files, ${n(f.changedFiles)} changed`;
    rows.push(
      `| file diff ${what}: under 10 s | ${met(f.seconds < FILES_SECONDS_GOAL)} | ${s(f.seconds)} (${(f.seconds / FILES_SECONDS_GOAL).toFixed(2)} of the goal) |`,
    );
    const share = f.bytesRead / f.diskBytes;
    rows.push(
      `| file diff ${what}: reads under 2% of the disk | ${met(share < FILES_READ_GOAL)} | ${pct(share)} (${(share / FILES_READ_GOAL).toFixed(2)} of the goal) |`,
    );
  }
  if (r.get) {
    const ratio = r.get.seconds / r.get.boundSeconds;
    rows.push(
      `| get of a ${mb(r.get.bytes)} file within 1.15 × size ÷ 60 MiB/s | ${met(ratio <= GET_TIME_GOAL)} | ${ratio.toFixed(2)} × bound (${(ratio / GET_TIME_GOAL).toFixed(2)} of the goal) |`,
    );
  }
  return rows;
}
