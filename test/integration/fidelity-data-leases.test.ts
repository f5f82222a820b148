/**
 * Blob leases and conditional headers on the emulator's data plane, through @azure/storage-blob's
 * BlobLeaseClient and access conditions (docs/azure-behaviour.md#conditional-requests-and-leases).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { ContainerClient, PageBlobClient } from '@azure/storage-blob';
import { blobServiceClient, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';

const MIB = 1024 * 1024;

function status(err: unknown): { statusCode?: number; code?: string } {
  const e = err as { statusCode?: number; code?: string; details?: { errorCode?: string } };
  return { statusCode: e.statusCode, code: e.details?.errorCode ?? e.code };
}

/** renewLease's declared type leaves out the raw response it carries. */
function leaseStatus(r: unknown): number {
  return (r as { _response: { status: number } })._response.status;
}

async function failsWith(p: Promise<unknown>, statusCode: number, code: string): Promise<void> {
  const r = await p.then(
    () => ({ statusCode: 0, code: 'succeeded' }),
    (e: unknown) => status(e),
  );
  assert.deepEqual(r, { statusCode, code });
}

void describe('emulator blob leases and conditional requests', () => {
  let em: RunningEmulator;
  let container: ContainerClient;
  let n = 0;

  const advance = async (ms: number): Promise<void> => {
    const r = await em.arm('POST', '/emulator/clock', { advanceMs: ms });
    assert.equal(r.status, 200);
  };

  const newBlob = async (): Promise<PageBlobClient> => {
    const blob = container.getPageBlobClient(`leased-${++n}`);
    await blob.create(1 * MIB);
    return blob;
  };

  before(async () => {
    em = await startEmulator();
    container = blobServiceClient(em, storageAccount(em, 'eastus')).getContainerClient('leases');
    await container.create();
  });
  after(async () => {
    await em.stop();
  });

  void it('acquires (201) with a proposed id, reports the lease on properties, and releases (200)', async () => {
    const blob = await newBlob();
    const id = crypto.randomUUID();
    const lease = blob.getBlobLeaseClient(id);
    const acquired = await lease.acquireLease(30);
    assert.equal(acquired._response.status, 201);
    assert.equal(acquired.leaseId, id);
    assert.ok(acquired.etag && acquired.lastModified);
    const props = await blob.getProperties();
    assert.equal(props.leaseState, 'leased');
    assert.equal(props.leaseStatus, 'locked');
    assert.equal(props.leaseDuration, 'fixed');
    const listed = [];
    for await (const b of container.listBlobsFlat({ prefix: `leased-${n}` })) listed.push(b);
    assert.equal(listed[0]?.properties.leaseState, 'leased');
    assert.equal(listed[0]?.properties.leaseDuration, 'fixed');
    const released = await lease.releaseLease();
    assert.equal(released._response.status, 200);
    const after2 = await blob.getProperties();
    assert.equal(after2.leaseState, 'available');
    assert.equal(after2.leaseStatus, 'unlocked');
    assert.equal(after2.leaseDuration, undefined);
  });

  void it('acquires without a proposed id: the service picks one; infinite leases say so', async () => {
    const blob = await newBlob();
    const lease = blob.getBlobLeaseClient();
    const r = await lease.acquireLease(-1);
    assert.match(r.leaseId ?? '', /^[0-9a-f-]{36}$/);
    assert.equal((await blob.getProperties()).leaseDuration, 'infinite');
  });

  void it('refuses durations outside 15-60 s (and not -1) with 400 InvalidHeaderValue', async () => {
    const blob = await newBlob();
    await failsWith(blob.getBlobLeaseClient().acquireLease(14), 400, 'InvalidHeaderValue');
    await failsWith(blob.getBlobLeaseClient().acquireLease(61), 400, 'InvalidHeaderValue');
    await failsWith(blob.getBlobLeaseClient().acquireLease(0), 400, 'InvalidHeaderValue');
  });

  void it('a second acquire with another id is 409 LeaseAlreadyPresent; the same id re-acquires', async () => {
    const blob = await newBlob();
    const a = blob.getBlobLeaseClient(crypto.randomUUID());
    await a.acquireLease(15);
    await failsWith(blob.getBlobLeaseClient(crypto.randomUUID()).acquireLease(15), 409, 'LeaseAlreadyPresent');
    const again = await a.acquireLease(60);
    assert.equal(again._response.status, 201);
  });

  void it('writes, metadata, resize, overwrite and delete need the lease id (412 LeaseIdMissing / LeaseIdMismatchWithBlobOperation)', async () => {
    const blob = await newBlob();
    const lease = blob.getBlobLeaseClient(crypto.randomUUID());
    await lease.acquireLease(-1);
    const leaseId = lease.leaseId;
    const wrong = { leaseId: crypto.randomUUID() };
    await failsWith(blob.uploadPages(Buffer.alloc(512, 1), 0, 512), 412, 'LeaseIdMissing');
    await failsWith(blob.uploadPages(Buffer.alloc(512, 1), 0, 512, { conditions: wrong }), 412, 'LeaseIdMismatchWithBlobOperation');
    await failsWith(blob.clearPages(0, 512), 412, 'LeaseIdMissing');
    await failsWith(blob.setMetadata({ a: 'b' }), 412, 'LeaseIdMissing');
    await failsWith(blob.resize(2 * MIB), 412, 'LeaseIdMissing');
    await failsWith(blob.create(1 * MIB), 412, 'LeaseIdMissing');
    await failsWith(blob.delete(), 412, 'LeaseIdMissing');
    await failsWith(blob.delete({ conditions: wrong }), 412, 'LeaseIdMismatchWithBlobOperation');
    // Snapshot Blob takes the lease id optionally; a wrong one is refused.
    await failsWith(blob.createSnapshot({ conditions: wrong }), 412, 'LeaseIdMismatchWithBlobOperation');
    const snap = await blob.createSnapshot();
    assert.ok(snap.snapshot);
    // Reads need no lease id.
    assert.equal((await blob.downloadToBuffer(0, 512)).length, 512);
    // With the id, all of them work.
    const ok = { leaseId };
    await blob.uploadPages(Buffer.alloc(512, 7), 0, 512, { conditions: ok });
    await blob.setMetadata({ a: 'b' }, { conditions: ok });
    await blob.resize(2 * MIB, { conditions: ok });
    assert.equal((await blob.downloadToBuffer(0, 512))[0], 7);
    // A lease id sent where there is no lease: 412 LeaseNotPresentWithBlobOperation.
    const other = await newBlob();
    await failsWith(other.setMetadata({ a: 'b' }, { conditions: { leaseId: crypto.randomUUID() } }), 412, 'LeaseNotPresentWithBlobOperation');
    await blob.delete({ deleteSnapshots: 'include', conditions: ok });
  });

  void it('renews (200) and changes (200) the id; a wrong id is 409 LeaseIdMismatchWithLeaseOperation', async () => {
    const blob = await newBlob();
    const lease = blob.getBlobLeaseClient(crypto.randomUUID());
    await lease.acquireLease(15);
    const renewed = await lease.renewLease();
    assert.equal(leaseStatus(renewed), 200);
    const stranger = blob.getBlobLeaseClient(crypto.randomUUID());
    await failsWith(stranger.renewLease(), 409, 'LeaseIdMismatchWithLeaseOperation');
    await failsWith(stranger.releaseLease(), 409, 'LeaseIdMismatchWithLeaseOperation');
    const next = crypto.randomUUID();
    const changed = await lease.changeLease(next);
    assert.equal(changed._response.status, 200);
    assert.equal(changed.leaseId, next);
    assert.equal(lease.leaseId, next);
    await blob.setMetadata({ x: 'y' }, { conditions: { leaseId: next } });
  });

  void it('lease operations on a blob without a lease are 409 LeaseNotPresentWithLeaseOperation', async () => {
    const blob = await newBlob();
    const lease = blob.getBlobLeaseClient(crypto.randomUUID());
    await failsWith(lease.renewLease(), 409, 'LeaseNotPresentWithLeaseOperation');
    await failsWith(lease.releaseLease(), 409, 'LeaseNotPresentWithLeaseOperation');
    await failsWith(lease.changeLease(crypto.randomUUID()), 409, 'LeaseNotPresentWithLeaseOperation');
    await failsWith(lease.breakLease(0), 409, 'LeaseNotPresentWithLeaseOperation');
  });

  void it('expires by the emulator clock: an expired lease frees the blob and can still be renewed until a write', async () => {
    const blob = await newBlob();
    const lease = blob.getBlobLeaseClient(crypto.randomUUID());
    await lease.acquireLease(15);
    await advance(16_000);
    const props = await blob.getProperties();
    assert.equal(props.leaseState, 'expired');
    assert.equal(props.leaseStatus, 'unlocked');
    // Another client may now take it.
    const renewed = await lease.renewLease();
    assert.equal(leaseStatus(renewed), 200);
    assert.equal((await blob.getProperties()).leaseState, 'leased');
    await advance(16_000);
    // A write without the id is allowed once expired, and ends the old lease for good.
    await blob.setMetadata({ after: 'expiry' });
    await failsWith(lease.renewLease(), 409, 'LeaseNotPresentWithLeaseOperation');
    const taken = await blob.getBlobLeaseClient(crypto.randomUUID()).acquireLease(15);
    assert.equal(taken._response.status, 201);
  });

  void it('breaks: 202 with x-ms-lease-time; breaking blocks acquire until the period ends (409 LeaseIsBreakingAndCannotBeAcquired)', async () => {
    const blob = await newBlob();
    const lease = blob.getBlobLeaseClient(crypto.randomUUID());
    await lease.acquireLease(-1);
    const broken = await blob.getBlobLeaseClient().breakLease(10);
    assert.equal(broken._response.status, 202);
    assert.equal(broken.leaseTime, 10);
    assert.equal((await blob.getProperties()).leaseState, 'breaking');
    assert.equal((await blob.getProperties()).leaseStatus, 'locked');
    await failsWith(lease.acquireLease(-1), 409, 'LeaseIsBreakingAndCannotBeAcquired');
    await failsWith(blob.getBlobLeaseClient(crypto.randomUUID()).acquireLease(-1), 409, 'LeaseAlreadyPresent');
    await failsWith(lease.changeLease(crypto.randomUUID()), 409, 'LeaseIsBreakingAndCannotBeChanged');
    // Still locked while breaking: writes need the id.
    await failsWith(blob.setMetadata({ a: 'b' }), 412, 'LeaseIdMissing');
    await advance(10_000);
    assert.equal((await blob.getProperties()).leaseState, 'broken');
    await failsWith(lease.renewLease(), 409, 'LeaseIsBrokenAndCannotBeRenewed');
    await blob.setMetadata({ a: 'b' });
    const again = await blob.getBlobLeaseClient(crypto.randomUUID()).acquireLease(20);
    assert.equal(again._response.status, 201);
    // A fixed lease with no break period breaks when it would have ended.
    const fixed = await blob.getBlobLeaseClient().breakLease(undefined as unknown as number);
    assert.ok(fixed.leaseTime !== undefined && fixed.leaseTime > 0 && fixed.leaseTime <= 20, `leaseTime ${fixed.leaseTime}`);
    // An infinite lease broken with period 0 is broken at once.
    const other = await newBlob();
    await other.getBlobLeaseClient().acquireLease(-1);
    const now = await other.getBlobLeaseClient().breakLease(0);
    assert.equal(now.leaseTime, 0);
    assert.equal((await other.getProperties()).leaseState, 'broken');
  });

  void it('If-Match / If-None-Match / If-Modified-Since / If-Unmodified-Since: 412 ConditionNotMet on writes, 304 on reads', async () => {
    const blob = await newBlob();
    const props = await blob.getProperties();
    const etag = props.etag!;
    const modified = props.lastModified!;
    const earlier = new Date(modified.getTime() - 60_000);
    const later = new Date(modified.getTime() + 60_000);
    await failsWith(blob.uploadPages(Buffer.alloc(512), 0, 512, { conditions: { ifMatch: '"0x0"' } }), 412, 'ConditionNotMet');
    await failsWith(blob.uploadPages(Buffer.alloc(512), 0, 512, { conditions: { ifNoneMatch: etag } }), 412, 'ConditionNotMet');
    await failsWith(blob.setMetadata({}, { conditions: { ifUnmodifiedSince: earlier } }), 412, 'ConditionNotMet');
    await failsWith(blob.setMetadata({}, { conditions: { ifModifiedSince: later } }), 412, 'ConditionNotMet');
    await failsWith(blob.getPageRanges(0, 512, { conditions: { ifMatch: '"garbage"' } }), 412, 'ConditionNotMet');
    await failsWith(blob.getBlobLeaseClient().acquireLease(15, { conditions: { ifMatch: '"0x0"' } }), 412, 'ConditionNotMet');
    // Reads answer 304 Not Modified where the resource did not change.
    await failsWith(blob.getProperties({ conditions: { ifNoneMatch: etag } }), 304, 'ConditionNotMet');
    await failsWith(blob.download(0, 512, { conditions: { ifModifiedSince: later } }), 304, 'ConditionNotMet');
    // Conditions that hold let the request through; each write changes the ETag.
    const w = await blob.uploadPages(Buffer.alloc(512, 3), 0, 512, { conditions: { ifMatch: etag, ifUnmodifiedSince: later } });
    assert.notEqual(w.etag, etag);
    await failsWith(blob.uploadPages(Buffer.alloc(512), 0, 512, { conditions: { ifMatch: etag } }), 412, 'ConditionNotMet');
    const got = await blob.download(0, 512, { conditions: { ifMatch: w.etag } });
    assert.equal(got.etag, w.etag);
    assert.ok(got.lastModified);
    // Put Blob with If-None-Match: * only creates.
    await failsWith(blob.create(1 * MIB, { conditions: { ifNoneMatch: '*' } }), 409, 'BlobAlreadyExists');
  });

  void it('echoes x-ms-client-request-id, errors included', async () => {
    const blob = await newBlob();
    const ok = await blob.getProperties();
    assert.ok(ok.clientRequestId);
    assert.equal(ok._response.headers.get('x-ms-client-request-id'), ok._response.request.headers.get('x-ms-client-request-id'));
    const err = await blob.getProperties({ conditions: { ifMatch: '"0x0"' } }).then(
      () => undefined,
      (e: unknown) => e as { response?: { headers: { get(n: string): string | undefined }; request: { headers: { get(n: string): string | undefined } } } },
    );
    assert.ok(err?.response);
    assert.equal(err.response.headers.get('x-ms-client-request-id'), err.response.request.headers.get('x-ms-client-request-id'));
  });
});
