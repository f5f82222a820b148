import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import type { ComputeManagementClient } from '@azure/arm-compute';
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  BlobSASPermissions,
  StorageSharedKeyCredential,
  BlobServiceClient,
  type ContainerClient,
  type PageBlobClient,
} from '@azure/storage-blob';
import {
  blobServiceClient,
  computeClient,
  ensureResourceGroup,
  sasBlobClient,
  sasPipelineOptions,
  startEmulator,
  storageAccount,
  type RunningEmulator,
} from '../support/emulator';

const GIB = 1024 ** 3;
const MIB = 1024 * 1024;
const TIB = 1024 ** 4;

function status(err: unknown): { statusCode?: number; code?: string } {
  const e = err as { statusCode?: number; code?: string; details?: { errorCode?: string } };
  return { statusCode: e.statusCode, code: e.code ?? e.details?.errorCode };
}

async function failsWith(p: Promise<unknown>, statusCode: number, code: string): Promise<void> {
  const r = await p.then(
    () => undefined,
    (e: unknown) => status(e),
  );
  assert.deepEqual(r, { statusCode, code });
}

async function readAll(blob: PageBlobClient, offset: number, count: number): Promise<Buffer> {
  return blob.downloadToBuffer(offset, count);
}

/** A raw Get Page Ranges request, to see exactly what is on the wire. */
function rawPageList(em: RunningEmulator, url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    u.searchParams.set('comp', 'pagelist');
    const req = https.request(u, { method: 'GET', ca: em.ca, headers: { 'x-ms-version': '2025-11-05', ...headers } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

void describe('emulator page-blob data plane', () => {
  let em: RunningEmulator;
  let compute: ComputeManagementClient;
  let container: ContainerClient;
  const rg = 'rg-blob-test';

  before(async () => {
    em = await startEmulator();
    await ensureResourceGroup(em, rg);
    compute = computeClient(em);
    container = blobServiceClient(em, storageAccount(em, 'eastus')).getContainerClient('pages');
    await container.create();
  });
  after(async () => {
    await em.stop();
  });

  void it('creates and lists containers', async () => {
    const service = blobServiceClient(em, storageAccount(em, 'eastus'));
    await service.getContainerClient('second').create();
    await failsWith(service.getContainerClient('second').create(), 409, 'ContainerAlreadyExists');
    const names = [];
    for await (const c of service.listContainers()) names.push(c.name);
    assert.deepEqual(names, ['pages', 'second']);
  });

  void it('writes, reads and lists pages with inclusive range ends', async () => {
    const blob = container.getPageBlobClient('basic');
    await blob.create(4 * MIB);
    await blob.uploadPages(Buffer.alloc(1024, 0xab), 512, 1024);
    await blob.uploadPages(Buffer.alloc(512, 0xcd), 1536, 512);
    const raw = await rawPageList(em, blob.url, {});
    assert.equal(raw.status, 404, 'anonymous requests do not see private blobs');
    const ranges = await blob.getPageRanges(0, 4 * MIB);
    assert.match(ranges._response.bodyAsText ?? '', /<PageRange><Start>512<\/Start><End>2047<\/End><\/PageRange>/);
    assert.deepEqual(ranges.pageRange, [{ offset: 512, count: 1535 }]);
    const data = await readAll(blob, 0, 2560);
    assert.ok(data.subarray(0, 512).every((b) => b === 0));
    assert.ok(data.subarray(512, 1536).every((b) => b === 0xab));
    assert.ok(data.subarray(1536, 2048).every((b) => b === 0xcd));
    const props = await blob.getProperties();
    assert.equal(props.contentLength, 4 * MIB);
    assert.equal(props.blobType, 'PageBlob');
  });

  void it('enforces the 512-byte alignment and 4 MiB rules', async () => {
    const blob = container.getPageBlobClient('rules');
    await blob.create(16 * MIB);
    await failsWith(blob.uploadPages(Buffer.alloc(512), 100, 512), 416, 'InvalidPageRange');
    await failsWith(blob.uploadPages(Buffer.alloc(100), 0, 100), 416, 'InvalidPageRange');
    await failsWith(blob.uploadPages(Buffer.alloc(512), 16 * MIB, 512), 416, 'InvalidPageRange');
    await failsWith(blob.uploadPages(Buffer.alloc(4 * MIB + 512), 0, 4 * MIB + 512), 413, 'RequestBodyTooLarge');
    await blob.uploadPages(Buffer.alloc(4 * MIB, 1), 0, 4 * MIB);
    await failsWith(container.getPageBlobClient('odd').create(1000), 400, 'InvalidHeaderValue');
    await failsWith(container.getPageBlobClient('missing').getProperties(), 404, 'BlobNotFound');
  });

  void it('diffs against a blob snapshot with prevsnapshot: PageRange and ClearRange interleaved, paged by marker', async () => {
    const blob = container.getPageBlobClient('diffed');
    await blob.create(64 * MIB);
    for (let i = 0; i < 8; i++) await blob.uploadPages(Buffer.alloc(4096, i + 1), i * MIB, 4096);
    const base = await blob.createSnapshot();
    await blob.clearPages(2 * MIB, 4096);
    await blob.uploadPages(Buffer.alloc(512, 9), 3 * MIB, 512);
    await blob.clearPages(5 * MIB, 4096);
    await blob.uploadPages(Buffer.alloc(512, 9), 40 * MIB, 512);
    // Written and cleared again after the snapshot: still reported, as cleared.
    await blob.uploadPages(Buffer.alloc(1024, 9), 50 * MIB, 1024);
    await blob.clearPages(50 * MIB, 1024);
    const diff = await blob.getPageRangesDiff(0, 64 * MIB, base.snapshot!);
    const xml = diff._response.bodyAsText ?? '';
    const order = [...xml.matchAll(/<(PageRange|ClearRange)><Start>(\d+)<\/Start><End>(\d+)<\/End>/g)].map((m) => `${m[1]}:${m[2]}-${m[3]}`);
    assert.deepEqual(order, [
      `ClearRange:${2 * MIB}-${2 * MIB + 4095}`,
      `PageRange:${3 * MIB}-${3 * MIB + 511}`,
      `ClearRange:${5 * MIB}-${5 * MIB + 4095}`,
      `PageRange:${40 * MIB}-${40 * MIB + 511}`,
      `ClearRange:${50 * MIB}-${50 * MIB + 1023}`,
    ]);
    assert.deepEqual(diff.clearRange, [
      { offset: 2 * MIB, count: 4095 },
      { offset: 5 * MIB, count: 4095 },
      { offset: 50 * MIB, count: 1023 },
    ]);
    assert.equal(diff.pageRange?.length, 2);

    // A range window: only what lies inside it.
    const windowed = await blob.getPageRangesDiff(3 * MIB, 3 * MIB, base.snapshot!);
    assert.deepEqual(windowed.pageRange, [{ offset: 3 * MIB, count: 511 }]);
    assert.deepEqual(windowed.clearRange, [{ offset: 5 * MIB, count: 4095 }]);

    const pages = [];
    for await (const page of blob.listPageRangesDiff(0, 64 * MIB, base.snapshot!).byPage({ maxPageSize: 3 })) pages.push(page);
    assert.equal(pages.length, 2);
    assert.ok(pages[0]!.continuationToken);
    assert.equal((pages[0]!.pageRange?.length ?? 0) + (pages[0]!.clearRange?.length ?? 0), 3);
    assert.equal((pages[1]!.pageRange?.length ?? 0) + (pages[1]!.clearRange?.length ?? 0), 2);
  });

  void it('refuses x-ms-previous-snapshot-url against a normal storage account', async () => {
    const blob = container.getPageBlobClient('diffed');
    await failsWith(blob.getPageRangesDiffForManagedDisks(0, MIB, `${blob.url}?snapshot=x`), 400, 'UnsupportedHeaderForNonManagedDisksAccount');
  });

  void it('resizes, deletes with snapshots and lists blobs with snapshots', async () => {
    const blob = container.getPageBlobClient('resized');
    await blob.create(2 * MIB);
    await blob.uploadPages(Buffer.alloc(512, 1), MIB, 512);
    await blob.createSnapshot();
    await blob.resize(8 * MIB);
    assert.equal((await blob.getProperties()).contentLength, 8 * MIB);
    await blob.resize(MIB);
    assert.deepEqual((await blob.getPageRanges()).pageRange ?? [], []);
    const listed = [];
    for await (const b of container.listBlobsFlat({ includeSnapshots: true, prefix: 'resized' })) listed.push(b.snapshot ?? 'base');
    assert.equal(listed.length, 2);
    await failsWith(blob.delete(), 409, 'SnapshotsPresent');
    await blob.delete({ deleteSnapshots: 'include' });
    await failsWith(blob.getProperties(), 404, 'BlobNotFound');
  });

  void it('validates account SAS, service SAS and shared key', async () => {
    const account = storageAccount(em, 'eastus');
    const blob = container.getPageBlobClient('basic');
    const accountSas = blobServiceClient(em, account).generateAccountSasUrl(
      new Date(Date.now() + 3_600_000),
      AccountSASPermissions.parse('rl'),
      AccountSASResourceTypes.parse('sco').toString(),
    );
    const viaAccountSas = new BlobServiceClient(accountSas, undefined, sasPipelineOptions(em)).getContainerClient('pages').getPageBlobClient('basic');
    assert.equal((await viaAccountSas.getProperties()).contentLength, 4 * MIB);
    await failsWith(viaAccountSas.uploadPages(Buffer.alloc(512), 0, 512), 403, 'AuthorizationPermissionMismatch');

    const readSas = await blob.generateSasUrl({ permissions: BlobSASPermissions.parse('r'), expiresOn: new Date(Date.now() + 3_600_000) });
    assert.equal((await sasBlobClient(em, readSas).getProperties()).contentLength, 4 * MIB);
    await failsWith(sasBlobClient(em, readSas).uploadPages(Buffer.alloc(512), 0, 512), 403, 'AuthorizationPermissionMismatch');
    const expired = await blob.generateSasUrl({
      permissions: BlobSASPermissions.parse('r'),
      startsOn: new Date(Date.now() - 7_200_000),
      expiresOn: new Date(Date.now() - 3_600_000),
    });
    await failsWith(sasBlobClient(em, expired).getProperties(), 403, 'AuthenticationFailed');
    const tampered = readSas.replace(/sp=r/, 'sp=rw');
    await failsWith(sasBlobClient(em, tampered).getProperties(), 403, 'AuthenticationFailed');

    const wrongKey = new BlobServiceClient(
      account.blobEndpoint,
      new StorageSharedKeyCredential(account.name, Buffer.alloc(64, 1).toString('base64')),
      sasPipelineOptions(em),
    );
    await failsWith(wrongKey.getContainerClient('pages').getPageBlobClient('basic').getProperties(), 403, 'AuthenticationFailed');
  });

  void it('copies a snapshot range with Put Page From URL and counts exactly the bytes written', async () => {
    const disk = await compute.disks.createOrUpdate(rg, 'src', { location: 'eastus', creationData: { createOption: 'Empty' }, diskSizeGB: 1 });
    const w = await compute.disks.grantAccess(rg, 'src', { access: 'Write', durationInSeconds: 600 });
    const pattern = Buffer.alloc(2 * MIB);
    for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 7) & 0xff;
    await sasBlobClient(em, w.accessSAS!).uploadPages(pattern, 8 * MIB, 2 * MIB);
    await compute.disks.revokeAccess(rg, 'src');
    await compute.snapshots.createOrUpdate(rg, 'src-s1', {
      location: 'eastus',
      incremental: true,
      creationData: { createOption: 'Copy', sourceResourceId: disk.id },
    });
    const r = await compute.snapshots.grantAccess(rg, 'src-s1', { access: 'Read', durationInSeconds: 600 });

    const target = blobServiceClient(em, storageAccount(em, 'westus2')).getContainerClient('copies');
    await target.create();
    const base = target.getPageBlobClient('base.vhd');
    await base.create(GIB + 512);
    await em.resetStats();
    await base.uploadPagesFromURL(r.accessSAS!, 8 * MIB, 8 * MIB, 2 * MIB);
    await base.uploadPagesFromURL(r.accessSAS!, GIB, GIB, 512);
    const stats = await em.getStats();
    assert.equal(stats.bytesWrittenByBlob[`${storageAccount(em, 'westus2').name}/copies/base.vhd`], 2 * MIB + 512);
    assert.equal(stats.requests['PutPageFromURL'], 2);
    assert.deepEqual(await readAll(base, 8 * MIB, 2 * MIB), pattern);
    assert.equal((await readAll(base, GIB, 512)).toString('ascii', 0, 8), 'conectix');
    await compute.snapshots.revokeAccess(rg, 'src-s1');
  });

  void it('answers a managed-disk diff in one request without paging (10,000 ranges), ranges as {offset, count: end - start}', async () => {
    const disk = await compute.disks.createOrUpdate(rg, 'frag', { location: 'eastus', creationData: { createOption: 'Empty' }, diskSizeGB: 4096 });
    await compute.snapshots.createOrUpdate(rg, 'frag-s1', {
      location: 'eastus',
      incremental: true,
      creationData: { createOption: 'Copy', sourceResourceId: disk.id },
    });
    const w = await em.arm('POST', `/emulator/disks/${encodeURIComponent(disk.id!)}/synthetic-writes`, {
      seed: 3,
      pattern: { count: 15_000, length: 512, stride: 1024, start: 2 * TIB },
    });
    assert.equal(w.status, 200);
    assert.equal((w.body as { bytes: number }).bytes, 15_000 * 512);
    await compute.snapshots.createOrUpdate(rg, 'frag-s2', {
      location: 'eastus',
      incremental: true,
      creationData: { createOption: 'Copy', sourceResourceId: disk.id },
    });
    const a = await compute.snapshots.grantAccess(rg, 'frag-s2', { access: 'Read', durationInSeconds: 600 });
    const b = await compute.snapshots.grantAccess(rg, 'frag-s1', { access: 'Read', durationInSeconds: 600 });
    await em.resetStats();
    const diff = await sasBlobClient(em, a.accessSAS!).getPageRangesDiffForManagedDisks(0, 4096 * 1024 * MIB, b.accessSAS!);
    assert.equal((await em.getStats()).requests['GetPageRangesDiff'], 1);
    assert.equal(diff.pageRange?.length, 10_000);
    assert.deepEqual(diff.pageRange?.[0], { offset: 2 * TIB, count: 511 });
    const raw = await rawPageList(em, a.accessSAS!, { 'x-ms-previous-snapshot-url': b.accessSAS! });
    assert.match(raw.body, /<NextMarker>[^<]+<\/NextMarker>/);
    const marker = /<NextMarker>([^<]+)<\/NextMarker>/.exec(raw.body)![1]!;
    const u = new URL(a.accessSAS!);
    u.searchParams.set('marker', marker);
    const rest = await rawPageList(em, u.toString(), { 'x-ms-previous-snapshot-url': b.accessSAS! });
    assert.equal([...rest.body.matchAll(/<PageRange>/g)].length, 5_000);
    assert.doesNotMatch(rest.body, /<NextMarker>/);

    // The previous snapshot must be in the same family.
    const other = await compute.disks.createOrUpdate(rg, 'other', { location: 'eastus', creationData: { createOption: 'Empty' }, diskSizeGB: 1 });
    await compute.snapshots.createOrUpdate(rg, 'other-s1', {
      location: 'eastus',
      incremental: true,
      creationData: { createOption: 'Copy', sourceResourceId: other.id },
    });
    const c = await compute.snapshots.grantAccess(rg, 'other-s1', { access: 'Read', durationInSeconds: 600 });
    await failsWith(sasBlobClient(em, a.accessSAS!).getPageRangesDiffForManagedDisks(0, MIB, c.accessSAS!), 409, 'PreviousSnapshotOperationNotSupported');
    // A managed-disk SAS signs its snapshot parameter: strip it and the request fails.
    const stripped = new URL(a.accessSAS!);
    stripped.searchParams.delete('snapshot');
    await failsWith(sasBlobClient(em, stripped.toString()).getProperties(), 403, 'AuthenticationFailed');
    for (const s of ['frag-s1', 'frag-s2', 'other-s1']) await compute.snapshots.revokeAccess(rg, s);
  });

  void it('stores pages sparsely and copy-on-write: a 4 TiB disk and its snapshots cost only written pages', async () => {
    const before = (await em.getStats()).pageLogBytes;
    const disk = await compute.disks.createOrUpdate(rg, 'sparse', { location: 'eastus', creationData: { createOption: 'Empty' }, diskSizeGB: 4096 });
    const w = await compute.disks.grantAccess(rg, 'sparse', { access: 'Write', durationInSeconds: 600 });
    const writer = sasBlobClient(em, w.accessSAS!);
    await writer.uploadPages(Buffer.alloc(MIB, 1), 0, MIB);
    await writer.uploadPages(Buffer.alloc(MIB, 2), 3 * TIB, MIB);
    await compute.disks.revokeAccess(rg, 'sparse');
    const afterWrites = (await em.getStats()).pageLogBytes;
    assert.ok(afterWrites - before < 3 * MIB, `wrote ${afterWrites - before} bytes for a 4 TiB disk`);
    for (let i = 0; i < 3; i++)
      await compute.snapshots.createOrUpdate(rg, `sparse-s${i}`, {
        location: 'eastus',
        incremental: true,
        creationData: { createOption: 'Copy', sourceResourceId: disk.id },
      });
    assert.equal((await em.getStats()).pageLogBytes, afterWrites, 'snapshots share pages with the disk');
  });
});
