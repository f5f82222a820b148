/**
 * Small things Azure's data plane answers that clients notice, through @azure/storage-blob against the
 * emulator: snapshot SAS blobs read as completed incremental copies, integrity headers (Content-MD5,
 * x-ms-content-crc64), 416 InvalidRange for page ranges past the end, and large reads that leave no
 * listener warnings behind (docs/azure-behaviour.md#integrity-headers,
 * docs/azure-behaviour.md#listing-page-ranges-and-diffs).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { ComputeManagementClient } from '@azure/arm-compute';
import type { ContainerClient } from '@azure/storage-blob';
import { Crc64 } from '../../emulator/integrity';
import { blobServiceClient, computeClient, ensureResourceGroup, sasBlobClient, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';

const MIB = 1024 * 1024;

function status(err: unknown): { statusCode?: number; code?: string } {
  const e = err as { statusCode?: number; code?: string; details?: { errorCode?: string } };
  return { statusCode: e.statusCode, code: e.details?.errorCode ?? e.code };
}

async function failsWith(p: Promise<unknown>, statusCode: number, code: string): Promise<void> {
  const r = await p.then(
    () => ({ statusCode: 0, code: 'succeeded' }),
    (e: unknown) => status(e),
  );
  assert.deepEqual(r, { statusCode, code });
}

void describe('emulator data-plane details clients notice', () => {
  let em: RunningEmulator;
  let compute: ComputeManagementClient;
  let container: ContainerClient;
  let stderr = '';
  const rg = 'rg-fidelity-blobs';

  before(async () => {
    em = await startEmulator();
    await ensureResourceGroup(em, rg);
    em.process.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    compute = computeClient(em);
    container = blobServiceClient(em, storageAccount(em, 'eastus')).getContainerClient('details');
    await container.create();
  });
  after(async () => {
    await em.stop();
  });

  void it('a managed snapshot SAS blob reads as a completed incremental copy', async () => {
    await compute.disks.beginCreateOrUpdateAndWait(rg, 'd1', { location: 'eastus', creationData: { createOption: 'Empty' }, diskSizeGB: 1 });
    const disk = await compute.disks.get(rg, 'd1');
    await compute.snapshots.beginCreateOrUpdateAndWait(rg, 's1', {
      location: 'eastus',
      incremental: true,
      creationData: { createOption: 'Copy', sourceResourceId: disk.id! },
    });
    const grant = await compute.snapshots.beginGrantAccessAndWait(rg, 's1', { access: 'Read', durationInSeconds: 600 });
    try {
      const blob = sasBlobClient(em, grant.accessSAS!);
      const props = await blob.getProperties();
      assert.equal(props.isIncrementalCopy, true);
      assert.equal(props.copyStatus, 'success');
      assert.equal(props.copyProgress, `${props.contentLength}/${props.contentLength}`);
      assert.ok(props.copyCompletedOn instanceof Date);
      assert.ok(props.etag);
      assert.ok(props.lastModified);
      // The disk's own SAS is not a copy.
      const diskGrant = await compute.disks.beginGrantAccessAndWait(rg, 'd1', { access: 'Read', durationInSeconds: 600 });
      try {
        const diskProps = await sasBlobClient(em, diskGrant.accessSAS!).getProperties();
        assert.equal(diskProps.isIncrementalCopy, undefined);
        assert.equal(diskProps.copyStatus, undefined);
      } finally {
        await compute.disks.beginRevokeAccessAndWait(rg, 'd1');
      }
      // Get Page Ranges over a range that starts past the end: 416 InvalidRange (azure-sdk-for-net
      // ManagedDiskTests/GetManagedDiskPageRangesDiffAsync_Error.json).
      await failsWith(blob.getPageRanges(props.contentLength! + 1024 * 1024, 4096), 416, 'InvalidRange');
    } finally {
      await compute.snapshots.beginRevokeAccessAndWait(rg, 's1');
    }
  });

  void it('Get Page Ranges past the end of an account blob is 416 InvalidRange; at the last page it answers', async () => {
    const blob = container.getPageBlobClient('past-end');
    await blob.create(1 * MIB);
    await blob.uploadPages(Buffer.alloc(512, 1), MIB - 512, 512);
    await failsWith(blob.getPageRanges(MIB, 512), 416, 'InvalidRange');
    await failsWith(blob.getPageRanges(2 * MIB, 4096), 416, 'InvalidRange');
    const last = await blob.getPageRanges(MIB - 512, 512);
    assert.deepEqual(last.pageRange, [{ offset: MIB - 512, count: 511 }]);
  });

  void it('Put Page checks Content-MD5 and x-ms-content-crc64 (400 Md5Mismatch / Crc64Mismatch) and answers them', async () => {
    const blob = container.getPageBlobClient('integrity');
    await blob.create(1 * MIB);
    const body = crypto.randomBytes(4096);
    const md5 = crypto.createHash('md5').update(body).digest();
    await failsWith(blob.uploadPages(body, 0, body.length, { transactionalContentMD5: crypto.createHash('md5').update('other').digest() }), 400, 'Md5Mismatch');
    assert.equal((await blob.getPageRanges(0, MIB)).pageRange?.length ?? 0, 0, 'a refused write changes nothing');
    const ok = await blob.uploadPages(body, 0, body.length, { transactionalContentMD5: md5 });
    assert.equal(Buffer.from(ok.contentMD5!).toString('base64'), md5.toString('base64'));
    const crc = Buffer.from(new Crc64().update(body).base64(), 'base64');
    const bad = Buffer.from(crc);
    bad[0] = bad[0]! ^ 0xff;
    await failsWith(blob.uploadPages(body, 4096, body.length, { transactionalContentCrc64: bad }), 400, 'Crc64Mismatch');
    const okCrc = await blob.uploadPages(body, 4096, body.length, { transactionalContentCrc64: crc });
    assert.equal(Buffer.from(okCrc.xMsContentCrc64!).toString('base64'), crc.toString('base64'));
    // A range read of at most 4 MiB answers the range's MD5 when asked.
    const read = await blob.download(0, 8192, { rangeGetContentMD5: true });
    const expected = crypto
      .createHash('md5')
      .update(Buffer.concat([body, body]))
      .digest('base64');
    assert.equal(Buffer.from(read.contentMD5!).toString('base64'), expected);
    const read64 = await blob.download(4096, 4096, { rangeGetContentCrc64: true });
    assert.equal(Buffer.from(read64.contentCrc64!).toString('base64'), crc.toString('base64'));
    const big = container.getPageBlobClient('integrity-big');
    await big.create(8 * MIB);
    await failsWith(big.download(0, 4 * MIB + 512, { rangeGetContentMD5: true }), 400, 'OutOfRangeInput');
  });

  void it("the CRC64 is Azure's (CRC-64/NVME check value), answered on every Put Page sent without Content-MD5", async () => {
    assert.equal(new Crc64().update(Buffer.from('123456789')).hex(), 'ae8b14860a799888');
    assert.equal(
      new Crc64().update(Buffer.alloc(13, 1)).update(Buffer.alloc(3000, 2)).base64(),
      new Crc64().update(Buffer.concat([Buffer.alloc(13, 1), Buffer.alloc(3000, 2)])).base64(),
      'fed in pieces',
    );
    const blob = container.getPageBlobClient('crc-answer');
    await blob.create(1 * MIB);
    const body = crypto.randomBytes(8192);
    const r = await blob.uploadPages(body, 0, body.length);
    assert.equal(Buffer.from(r.xMsContentCrc64!).toString('base64'), new Crc64().update(body).base64());
    assert.equal(r.contentMD5, undefined);
  });

  void it('reads of 4 MiB and more leave no MaxListenersExceededWarning in the emulator', async () => {
    const blob = container.getPageBlobClient('large-reads');
    const size = 32 * MIB;
    await blob.create(size);
    const data = crypto.randomBytes(4 * MIB);
    for (let at = 0; at < size; at += 4 * MIB) await blob.uploadPages(data, at, data.length);
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        [0, 4, 8, 12, 16, 19].map(async (mib) => {
          const got = await blob.downloadToBuffer(mib * MIB, (round + 1) * 4 * MIB + 512, { blockSize: 16 * MIB, concurrency: 1 });
          assert.equal(got.length, (round + 1) * 4 * MIB + 512);
          const within = (mib % 4) * MIB;
          assert.ok(got.subarray(0, MIB).equals(data.subarray(within, within + MIB)), 'the pages read back');
        }),
      );
    }
    // Give the emulator's stderr a moment to arrive.
    await new Promise((r) => setTimeout(r, 300));
    assert.doesNotMatch(stderr, /MaxListenersExceededWarning/);
    assert.doesNotMatch(stderr, /Warning/);
  });

  void it('a blob snapshot keeps the metadata it was taken with, or the metadata given on Snapshot Blob', async () => {
    // https://learn.microsoft.com/rest/api/storageservices/snapshot-blob: without x-ms-meta-* the snapshot keeps
    // the base blob's metadata of that moment; with them, they are the snapshot's metadata instead
    // (docs/azure-behaviour.md#blob-snapshots-as-protected-points).
    const blob = container.getPageBlobClient('snapshot-metadata');
    await blob.create(4 * MIB, { metadata: { point: 'base-1' } });
    const inherited = (await blob.createSnapshot()).snapshot!;
    const given = (await blob.createSnapshot({ metadata: { point: 'given', extra: 'yes' } })).snapshot!;
    const metaOf = async (snapshot?: string) => (await (snapshot ? blob.withSnapshot(snapshot) : blob).getProperties()).metadata;
    assert.deepEqual(await metaOf(inherited), { point: 'base-1' });
    assert.deepEqual(await metaOf(given), { point: 'given', extra: 'yes' });
    // Snapshot Blob with metadata leaves the base blob's own metadata as it was.
    assert.deepEqual(await metaOf(), { point: 'base-1' });

    await blob.setMetadata({ point: 'base-2' });
    assert.deepEqual(await metaOf(), { point: 'base-2' });
    assert.deepEqual(await metaOf(inherited), { point: 'base-1' });
    assert.deepEqual(await metaOf(given), { point: 'given', extra: 'yes' });
    const later = (await blob.createSnapshot()).snapshot!;
    assert.deepEqual(await metaOf(later), { point: 'base-2' });

    // List Blobs with include=snapshots,metadata lists each snapshot with its own metadata.
    const listed = new Map<string, Record<string, string> | undefined>();
    for await (const item of container.listBlobsFlat({ prefix: 'snapshot-metadata', includeSnapshots: true, includeMetadata: true }))
      listed.set(item.snapshot ?? '', item.metadata);
    assert.deepEqual(listed.get(inherited), { point: 'base-1' });
    assert.deepEqual(listed.get(given), { point: 'given', extra: 'yes' });
    assert.deepEqual(listed.get(later), { point: 'base-2' });
    assert.deepEqual(listed.get(''), { point: 'base-2' });
  });
});
