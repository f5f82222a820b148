/**
 * The same plain page-blob operations against the emulator and against Azurite (the Azure Storage
 * emulator), which implements them faithfully; their observable results must be identical.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AnonymousCredential,
  BlobSASPermissions,
  BlobServiceClient,
  PageBlobClient,
  StorageSharedKeyCredential,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { blobServiceClient, sasPipelineOptions, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';

const MIB = 1024 * 1024;
// Azurite's documented development account.
const AZURITE_ACCOUNT = 'devstoreaccount1';
const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

interface Target {
  service: BlobServiceClient;
  pipeline: StoragePipelineOptions;
}

function startAzurite(dir: string): Promise<{ child: ChildProcess; port: number }> {
  const bin = path.resolve(__dirname, '../../node_modules/azurite/dist/src/blob/main.js');
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [bin, '--blobHost', '127.0.0.1', '--blobPort', '0', '--inMemoryPersistence', '--disableTelemetry', '--skipApiVersionCheck', '--silent'],
      {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    const timer = setTimeout(() => reject(new Error(`azurite did not start: ${out}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`azurite exited with ${code}: ${out}`));
    });
  });
}

/**
 * Azurite reports adjacent ranges written by separate calls as separate entries; the emulator (like
 * Azure after compaction) may merge them. Clients must not depend on either, so compare merged lists.
 */
function merged(ranges: { offset: number; count?: number }[] | undefined): [number, number][] {
  const out: [number, number][] = [];
  for (const r of ranges ?? []) {
    const last = out[out.length - 1];
    if (last && last[1] + 1 === r.offset) last[1] = r.offset + (r.count ?? 0);
    else out.push([r.offset, r.offset + (r.count ?? 0)]);
  }
  return out;
}

function sha(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}

function errorOf(e: unknown): string {
  const x = e as { statusCode?: number; code?: string };
  return `${x.statusCode} ${x.code}`;
}

/** One scripted sequence of plain page-blob operations; returns everything a client can observe. */
async function runSequence(t: Target): Promise<unknown[]> {
  const seen: unknown[] = [];
  const container = t.service.getContainerClient('crosscheck');
  await container.create();
  const blob = container.getPageBlobClient('disk.vhd');
  await blob.create(8 * MIB);
  const fill = (n: number, seed: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 17) & 0xff;
    return b;
  };
  await blob.uploadPages(fill(64 * 1024, 1), 0, 64 * 1024);
  await blob.uploadPages(fill(4096, 2), 64 * 1024, 4096);
  await blob.uploadPages(fill(8192, 3), 2 * MIB, 8192);
  await blob.uploadPages(fill(4 * MIB, 4), 4 * MIB, 4 * MIB);
  await blob.uploadPages(fill(1024, 5), 1024, 1024);
  await blob.clearPages(8192, 4096);
  await blob.clearPages(5 * MIB, MIB);
  seen.push(['ranges', merged((await blob.getPageRanges()).pageRange)]);
  seen.push(['window', merged((await blob.getPageRanges(4096, 2 * MIB)).pageRange)]);
  const snap = await blob.createSnapshot();
  await blob.uploadPages(fill(512, 6), 3 * MIB, 512);
  await blob.clearPages(0, 512);
  seen.push(['after-snapshot', merged((await blob.getPageRanges()).pageRange)]);
  const snapshotClient = blob.withSnapshot(snap.snapshot!);
  seen.push(['snapshot-ranges', merged((await snapshotClient.getPageRanges()).pageRange)]);
  seen.push(['snapshot-bytes', sha(await snapshotClient.downloadToBuffer(0, 8 * MIB))]);
  seen.push(['blob-bytes', sha(await blob.downloadToBuffer(0, 8 * MIB))]);
  seen.push(['partial-read', sha(await blob.downloadToBuffer(1000, 70_000))]);
  const sas = await snapshotClient.generateSasUrl({ permissions: BlobSASPermissions.parse('r'), expiresOn: new Date(Date.now() + 3_600_000) });
  const viaSas = new PageBlobClient(sas, new AnonymousCredential(), t.pipeline);
  seen.push(['snapshot-sas-bytes', sha(await viaSas.downloadToBuffer(2 * MIB, MIB))]);
  const props = await blob.getProperties();
  seen.push(['props', props.contentLength, props.blobType, props.blobSequenceNumber]);
  await blob.resize(12 * MIB);
  seen.push(['grown', (await blob.getProperties()).contentLength, merged((await blob.getPageRanges()).pageRange)]);
  await blob.resize(3 * MIB);
  seen.push(['shrunk', (await blob.getProperties()).contentLength, merged((await blob.getPageRanges()).pageRange)]);
  seen.push(['shrunk-bytes', sha(await blob.downloadToBuffer(0, 3 * MIB))]);
  const listed = [];
  for await (const b of container.listBlobsFlat({ includeSnapshots: true }))
    listed.push([b.name, b.snapshot === undefined ? 'base' : 'snapshot', b.properties.contentLength, b.properties.blobType]);
  seen.push(['list', listed]);
  // Azurite answers 416 without an x-ms-error-code here; Azure's code is InvalidPageRange (checked elsewhere).
  seen.push([
    'misaligned',
    await blob.uploadPages(Buffer.alloc(512), 100, 512).then(
      () => 'ok',
      (e: unknown) => (e as { statusCode?: number }).statusCode,
    ),
  ]);
  seen.push(['delete-with-snapshots', await blob.delete().then(() => 'ok', errorOf)]);
  await blob.delete({ deleteSnapshots: 'include' });
  seen.push(['deleted', await blob.getProperties().then(() => 'ok', errorOf)]);
  return seen;
}

void describe('emulator against Azurite: plain page-blob operations', () => {
  let em: RunningEmulator;
  let azurite: ChildProcess | undefined;
  let azuriteUrl = '';
  let workDir = '';

  before(async () => {
    workDir = mkdtempSync(path.join(os.tmpdir(), 'dd-azurite-'));
    const [started, emulator] = await Promise.all([startAzurite(workDir), startEmulator()]);
    azurite = started.child;
    azuriteUrl = `http://127.0.0.1:${started.port}/${AZURITE_ACCOUNT}`;
    em = emulator;
  });
  after(async () => {
    await em.stop();
    if (azurite && azurite.exitCode === null) {
      const exited = new Promise((r) => azurite!.once('exit', r));
      azurite.kill('SIGTERM');
      await exited;
    }
    rmSync(workDir, { recursive: true, force: true });
  });

  void it('gives identical observable results', async () => {
    const ours = await runSequence({ service: blobServiceClient(em, storageAccount(em)), pipeline: sasPipelineOptions(em) });
    const theirs = await runSequence({
      service: new BlobServiceClient(azuriteUrl, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY)),
      pipeline: {},
    });
    assert.equal(ours.length, theirs.length);
    for (let i = 0; i < ours.length; i++) assert.deepEqual(ours[i], theirs[i], `step ${JSON.stringify((theirs[i] as unknown[])[0])}`);
  });
});
