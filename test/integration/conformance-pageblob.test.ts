/**
 * Conformance of the emulator's page-blob data plane with Azure's own recorded answers.
 *
 * Each test replays, as raw HTTPS requests (node:https with the emulator's CA; account SAS or the disk's
 * SAS for authentication, so no SDK sits between the wire and the assertions), the exchanges one of the
 * Azure SDKs' published test recordings shows, and checks the status, the headers that matter, the XML
 * shape and the order of its elements against what the recording shows Azure answered. The recordings are
 * cited by repository and path; their contents are not copied here, only the requests and the expected
 * answers they show (docs/azure-behaviour.md#listing-page-ranges-and-diffs,
 * docs/azure-behaviour.md#conditional-requests-and-leases, docs/azure-behaviour.md#integrity-headers).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import type { ComputeManagementClient } from '@azure/arm-compute';
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  generateAccountSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import { writeDisk } from '../support/disks';
import { computeClient, ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';

const VERSION = '2021-12-02';

interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
  body: Buffer;
  text: string;
}

/** One request, exactly as given, and the answer exactly as it came. */
function raw(em: RunningEmulator, method: string, url: string, headers: Record<string, string> = {}, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const clientRequestId = crypto.randomUUID();
    const all: Record<string, string | number> = { 'x-ms-version': VERSION, 'x-ms-client-request-id': clientRequestId, ...headers };
    if (body) all['content-length'] = body.length;
    else if (method === 'PUT') all['content-length'] = 0;
    const req = https.request(new URL(url), { method, ca: em.ca, headers: all, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const h: Record<string, string | undefined> = {};
        for (const [k, v] of Object.entries(res.headers)) h[k] = Array.isArray(v) ? v.join(', ') : v;
        const b = Buffer.concat(chunks);
        // Every recorded answer carries the request's x-ms-client-request-id back.
        assert.equal(h['x-ms-client-request-id'], clientRequestId, `${method} ${new URL(url).pathname}: x-ms-client-request-id echoed`);
        assert.ok(h['x-ms-request-id'], 'x-ms-request-id');
        assert.ok(h['x-ms-version'], 'x-ms-version');
        resolve({ status: res.statusCode ?? 0, headers: h, body: b, text: b.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The element sequence of a <PageList>: kind and inclusive bounds, in document order, and its NextMarker. */
function pageList(xml: string): { ranges: string[]; next: string | undefined } {
  assert.match(xml, /^\uFEFF?<\?xml version="1\.0" encoding="utf-8"\?>\s*<PageList>/, 'a PageList document');
  const ranges = [...xml.matchAll(/<(PageRange|ClearRange)><Start>(\d+)<\/Start><End>(\d+)<\/End><\/\1>/g)].map((m) => `${m[1]} ${m[2]}-${m[3]}`);
  const next = /<NextMarker>([^<]*)<\/NextMarker>/.exec(xml)?.[1];
  return { ranges, next: next || undefined };
}

function errorCode(a: Answer): { status: number; header: string | undefined; code: string | undefined; message: string | undefined } {
  return {
    status: a.status,
    header: a.headers['x-ms-error-code'],
    code: /<Code>([^<]+)<\/Code>/.exec(a.text)?.[1],
    message: /<Message>([^\n<]+)/.exec(a.text)?.[1],
  };
}

function withQuery(url: string, query: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  return u.toString();
}

void describe('page-blob conformance with Azure SDK recordings', () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let compute: ComputeManagementClient;
  let sas: string;
  let endpoint: string;
  const rg = 'rg-conformance';

  const url = (path: string, query: Record<string, string> = {}): string => {
    const u = new URL(`${endpoint}/${path}?${sas}`);
    for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
    return u.toString();
  };

  before(async () => {
    em = await startEmulator();
    await ensureResourceGroup(em, rg);
    clients = connectToEmulator(em.connection, em.ca);
    compute = computeClient(em);
    const account = storageAccount(em, 'eastus');
    endpoint = account.blobEndpoint;
    sas = generateAccountSASQueryParameters(
      {
        expiresOn: new Date(Date.now() + 3_600_000),
        permissions: AccountSASPermissions.parse('rwdlacup'),
        resourceTypes: AccountSASResourceTypes.parse('sco').toString(),
        services: AccountSASServices.parse('b').toString(),
        protocol: SASProtocol.Https,
        version: '2021-12-02',
      },
      new StorageSharedKeyCredential(account.name, account.accountKey),
    ).toString();
    const c = await raw(em, 'PUT', url('conformance', { restype: 'container' }));
    assert.equal(c.status, 201);
    assert.ok(c.headers.etag && c.headers['last-modified']);
  });
  after(async () => {
    await em.stop();
  });

  // azure-sdk-for-python sdk/storage/azure-storage-blob/tests/recordings/test_page_blob.test_get_page_ranges_diff.yaml
  void it('prevsnapshot diffs: PageRange and ClearRange interleaved in offset order (python test_get_page_ranges_diff)', async () => {
    const blob = 'conformance/diff2048';
    const created = await raw(em, 'PUT', url(blob), { 'x-ms-blob-type': 'PageBlob', 'x-ms-blob-content-length': '2048' });
    assert.equal(created.status, 201);
    assert.equal(created.headers['x-ms-request-server-encrypted'], 'true');
    assert.ok(created.headers.etag && created.headers['last-modified']);

    const snap1 = await raw(em, 'PUT', url(blob, { comp: 'snapshot' }));
    assert.equal(snap1.status, 201);
    assert.match(snap1.headers['x-ms-snapshot'] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
    assert.equal(snap1.headers.etag, created.headers.etag, 'a snapshot answers the ETag of the blob it was taken from');
    assert.equal(snap1.headers['x-ms-request-server-encrypted'], 'false');

    const put = await raw(
      em,
      'PUT',
      url(blob, { comp: 'page' }),
      { 'x-ms-page-write': 'update', 'x-ms-range': 'bytes=0-1535', 'content-type': 'application/octet-stream' },
      Buffer.alloc(1536, 'a'),
    );
    assert.equal(put.status, 201);
    assert.equal(put.headers['x-ms-blob-sequence-number'], '0');
    assert.equal(put.headers['x-ms-content-crc64'], 'h0C9OBmisio=', 'the CRC64 Azure answered for these 1,536 bytes');
    assert.equal(put.headers['x-ms-request-server-encrypted'], 'true');
    assert.notEqual(put.headers.etag, created.headers.etag);

    const snap2 = await raw(em, 'PUT', url(blob, { comp: 'snapshot' }));
    assert.equal(snap2.status, 201);
    const clear = await raw(em, 'PUT', url(blob, { comp: 'page' }), { 'x-ms-page-write': 'clear', 'x-ms-range': 'bytes=512-1023' });
    assert.equal(clear.status, 201);
    assert.equal(clear.headers['x-ms-blob-sequence-number'], '0');
    assert.equal(clear.headers['x-ms-content-crc64'], undefined, 'Clear Pages answers no CRC64');
    assert.equal(clear.headers['x-ms-request-server-encrypted'], undefined, 'Clear Pages answers no encryption flag');

    const diff1 = await raw(em, 'GET', url(blob, { prevsnapshot: snap1.headers['x-ms-snapshot']!, comp: 'pagelist' }));
    assert.equal(diff1.status, 200);
    assert.equal(diff1.headers['content-type'], 'application/xml');
    assert.equal(diff1.headers.etag, clear.headers.etag, "the blob's current ETag");
    assert.ok(diff1.headers['last-modified']);
    assert.equal(diff1.headers['x-ms-blob-content-length'], '2048');
    assert.deepEqual(pageList(diff1.text), { ranges: ['PageRange 0-511', 'ClearRange 512-1023', 'PageRange 1024-1535'], next: undefined });

    const diff2 = await raw(em, 'GET', url(blob, { prevsnapshot: snap2.headers['x-ms-snapshot']!, comp: 'pagelist' }));
    assert.equal(diff2.status, 200);
    assert.deepEqual(pageList(diff2.text), { ranges: ['ClearRange 512-1023'], next: undefined });
  });

  // azure-sdk-for-js sdk/storage/storage-blob/recordings/node/pageblobclient/recording_verify_pagedasynciterableiteratorbypage__continuationtoken_for_listpagerangesdiff.json
  void it('maxresults pages a diff with NextMarker, ClearRange counting toward maxresults (js listPageRangesDiff byPage)', async () => {
    const blob = 'conformance/paged4096';
    assert.equal((await raw(em, 'PUT', url(blob), { 'x-ms-blob-type': 'PageBlob', 'x-ms-blob-content-length': '4096' })).status, 201);
    const base = await raw(em, 'PUT', url(blob, { comp: 'page' }), { 'x-ms-page-write': 'update', 'x-ms-range': 'bytes=0-4095' }, Buffer.alloc(4096, 'b'));
    assert.equal(base.headers['x-ms-content-crc64'], 'hZKj+vsuWCQ=', 'the CRC64 Azure answered for 4,096 bytes of "b"');
    const snap = (await raw(em, 'PUT', url(blob, { comp: 'snapshot' }))).headers['x-ms-snapshot']!;
    for (let at = 0; at < 4096; at += 1024) {
      const w = await raw(
        em,
        'PUT',
        url(blob, { comp: 'page' }),
        { 'x-ms-page-write': 'update', 'x-ms-range': `bytes=${at}-${at + 511}` },
        Buffer.alloc(512, 'a'),
      );
      assert.equal(w.headers['x-ms-content-crc64'], 'u661BimQ84c=', 'the CRC64 Azure answered for 512 bytes of "a"');
      assert.equal(
        (await raw(em, 'PUT', url(blob, { comp: 'page' }), { 'x-ms-page-write': 'clear', 'x-ms-range': `bytes=${at + 512}-${at + 1023}` })).status,
        201,
      );
    }
    const pages: string[][] = [];
    let marker: string | undefined;
    for (let n = 0; n < 10; n++) {
      const q: Record<string, string> = { maxresults: '2', comp: 'pagelist', prevsnapshot: snap };
      if (marker) q.marker = marker;
      const a = await raw(em, 'GET', url(blob, q), { 'x-ms-range': 'bytes=0-4095' });
      assert.equal(a.status, 200);
      assert.equal(a.headers['x-ms-blob-content-length'], '4096');
      const p = pageList(a.text);
      pages.push(p.ranges);
      marker = p.next;
      if (!marker) break;
    }
    assert.deepEqual(pages.slice(0, 2), [
      ['PageRange 0-511', 'ClearRange 512-1023'],
      ['PageRange 1024-1535', 'ClearRange 1536-2047'],
    ]);
    assert.deepEqual(pages.flat(), [
      'PageRange 0-511',
      'ClearRange 512-1023',
      'PageRange 1024-1535',
      'ClearRange 1536-2047',
      'PageRange 2048-2559',
      'ClearRange 2560-3071',
      'PageRange 3072-3583',
      'ClearRange 3584-4095',
    ]);
    assert.equal(marker, undefined, 'the listing ends with no NextMarker');
  });

  // azure-sdk-for-python sdk/storage/azure-storage-blob/tests/recordings/test_page_blob.test_upload_pages_from_url.yaml
  void it('Put Page From URL copies 4 KiB ranges from a SAS source; the target reads as a plain page blob (python test_upload_pages_from_url)', async () => {
    const source = 'conformance/source8192';
    const target = 'conformance/target8192';
    const data = crypto.randomBytes(8192);
    assert.equal((await raw(em, 'PUT', url(source), { 'x-ms-blob-type': 'PageBlob', 'x-ms-blob-content-length': '8192' })).status, 201);
    assert.equal((await raw(em, 'PUT', url(source, { comp: 'page' }), { 'x-ms-page-write': 'update', 'x-ms-range': 'bytes=0-8191' }, data)).status, 201);
    const created = await raw(em, 'PUT', url(target), { 'x-ms-blob-type': 'PageBlob', 'x-ms-blob-content-length': '8192' });
    assert.equal(created.status, 201);
    for (const at of [0, 4096]) {
      const r = await raw(em, 'PUT', url(target, { comp: 'page' }), {
        'x-ms-copy-source': url(source),
        'x-ms-page-write': 'update',
        'x-ms-range': `bytes=${at}-${at + 4095}`,
        'x-ms-source-range': `bytes=${at}-${at + 4095}`,
      });
      assert.equal(r.status, 201, r.text);
      assert.ok(r.headers.etag && r.headers['last-modified']);
      assert.equal(r.headers['x-ms-blob-sequence-number'], '0');
      assert.equal(r.headers['x-ms-request-server-encrypted'], 'true');
    }
    const head = await raw(em, 'HEAD', url(target));
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '8192');
    assert.equal(head.headers['x-ms-blob-type'], 'PageBlob');
    assert.equal(head.headers['accept-ranges'], 'bytes');
    assert.equal(head.headers['x-ms-blob-sequence-number'], '0');
    assert.equal(head.headers['x-ms-lease-state'], 'available');
    assert.equal(head.headers['x-ms-lease-status'], 'unlocked');
    assert.equal(head.headers['x-ms-server-encrypted'], 'true');
    assert.ok(head.headers['x-ms-creation-time'] && head.headers.etag && head.headers['last-modified']);
    // The recorded download asks for more than the blob holds: 206 with the blob's own bytes.
    const got = await raw(em, 'GET', url(target), { 'x-ms-range': 'bytes=0-33554431' });
    assert.equal(got.status, 206);
    assert.equal(got.headers['content-range'], 'bytes 0-8191/8192');
    assert.ok(got.body.equals(data));
  });

  void describe('managed-disk snapshots (azure-sdk-for-net ManagedDiskTests)', () => {
    let s1Sas: string;
    let s2Sas: string;
    let size: number;

    before(async () => {
      await compute.disks.beginCreateOrUpdateAndWait(rg, 'md', { location: 'eastus', creationData: { createOption: 'Empty' }, diskSizeGB: 1 });
      const disk = await compute.disks.get(rg, 'md');
      size = disk.diskSizeBytes! + 512;
      await writeDisk(clients, disk.id!, [
        { offset: 0, length: 64 * 1024 },
        { offset: 558452736, length: 4096 },
        { offset: 600 * 1024 * 1024, length: 8192 },
      ]);
      await compute.snapshots.beginCreateOrUpdateAndWait(rg, 'md-s1', {
        location: 'eastus',
        incremental: true,
        creationData: { createOption: 'Copy', sourceResourceId: disk.id! },
      });
      await writeDisk(clients, disk.id!, [
        { offset: 4096, length: 4096 },
        { offset: 600 * 1024 * 1024, length: 4096, clear: true },
        { offset: 900 * 1024 * 1024, length: 12288 },
      ]);
      await compute.snapshots.beginCreateOrUpdateAndWait(rg, 'md-s2', {
        location: 'eastus',
        incremental: true,
        creationData: { createOption: 'Copy', sourceResourceId: disk.id! },
      });
      s1Sas = (await compute.snapshots.beginGrantAccessAndWait(rg, 'md-s1', { access: 'Read', durationInSeconds: 3600 })).accessSAS!;
      s2Sas = (await compute.snapshots.beginGrantAccessAndWait(rg, 'md-s2', { access: 'Read', durationInSeconds: 3600 })).accessSAS!;
    });
    after(async () => {
      await compute.snapshots.beginRevokeAccessAndWait(rg, 'md-s1');
      await compute.snapshots.beginRevokeAccessAndWait(rg, 'md-s2');
    });

    // azure-sdk-for-net sdk/storage/Azure.Storage.Blobs/tests/SessionRecords/ManagedDiskTests/CanDiffPagesBetweenSnapshots.json
    void it('diffs with x-ms-previous-snapshot-url: ranges in offset order, ClearRange among them; range reads answer 206 (CanDiffPagesBetweenSnapshots)', async () => {
      const diff = await raw(em, 'GET', withQuery(s2Sas, { comp: 'pagelist' }), { 'x-ms-previous-snapshot-url': s1Sas });
      assert.equal(diff.status, 200, diff.text);
      assert.equal(diff.headers['content-type'], 'application/xml');
      assert.equal(diff.headers['x-ms-blob-content-length'], String(size));
      assert.ok(diff.headers.etag && diff.headers['last-modified']);
      assert.deepEqual(pageList(diff.text), {
        ranges: [
          `PageRange 4096-8191`,
          `ClearRange ${600 * 1024 * 1024}-${600 * 1024 * 1024 + 4095}`,
          `PageRange ${900 * 1024 * 1024}-${900 * 1024 * 1024 + 12287}`,
        ],
        next: undefined,
      });
      const read = await raw(em, 'GET', s1Sas, { 'x-ms-range': 'bytes=558452736-558456831' });
      assert.equal(read.status, 206);
      assert.equal(read.headers['content-length'], '4096');
      assert.equal(read.headers['content-range'], `bytes 558452736-558456831/${size}`);
      assert.equal(read.headers['accept-ranges'], 'bytes');
      assert.equal(read.headers['content-type'], 'application/octet-stream');
      assert.equal(read.headers['x-ms-blob-type'], 'PageBlob');
      assert.ok(read.headers.etag && read.headers['last-modified']);
    });

    // azure-sdk-for-net sdk/storage/Azure.Storage.Blobs/tests/SessionRecords/ManagedDiskTests/GetManagedDiskPageRangesDiffAsync_Error.json
    void it('Get Page Ranges with a range past the end: 416 InvalidRange (GetManagedDiskPageRangesDiffAsync_Error)', async () => {
      const past = await raw(em, 'GET', withQuery(s2Sas, { comp: 'pagelist' }), { 'x-ms-range': `bytes=${size + 1024 * 1024}-${size + 1024 * 1024 + 4095}` });
      assert.deepEqual(errorCode(past), {
        status: 416,
        header: 'InvalidRange',
        code: 'InvalidRange',
        message: 'The range specified is invalid for the current size of the resource.',
      });
      assert.equal(past.headers['content-type'], 'application/xml');
    });

    // azure-sdk-for-net sdk/storage/Azure.Storage.Blobs/tests/SessionRecords/ManagedDiskTests/GetManagedDiskPageRangesDiffAsync_AccessConditionsFail.json
    void it('conditions that fail: 304 for If-Modified-Since and If-None-Match, 412 ConditionNotMet for If-Unmodified-Since and If-Match (GetManagedDiskPageRangesDiffAsync_AccessConditionsFail)', async () => {
      const list = withQuery(s2Sas, { comp: 'pagelist' });
      const common = { 'x-ms-previous-snapshot-url': s1Sas, 'x-ms-range': 'bytes=0-1023' };
      const day = 24 * 3600_000;
      const head = await raw(em, 'HEAD', s2Sas);
      assert.equal(head.status, 200);
      // The snapshot's blob reads as a completed incremental copy.
      assert.equal(head.headers['x-ms-incremental-copy'], 'true');
      assert.equal(head.headers['x-ms-copy-status'], 'success');
      assert.equal(head.headers['x-ms-copy-progress'], `${size}/${size}`);
      assert.ok(head.headers['x-ms-copy-completion-time'] && head.headers['x-ms-copy-id'] && head.headers['x-ms-copy-destination-snapshot']);
      assert.equal(head.headers['x-ms-blob-type'], 'PageBlob');
      assert.equal(head.headers['content-length'], String(size));
      const modified = Date.parse(head.headers['last-modified']!);

      const notModified = await raw(em, 'GET', list, { ...common, 'if-modified-since': new Date(modified + day).toUTCString() });
      assert.equal(notModified.status, 304);
      assert.equal(notModified.headers['x-ms-error-code'], 'ConditionNotMet');
      assert.equal(notModified.body.length, 0);

      const unmodified = await raw(em, 'GET', list, { ...common, 'if-unmodified-since': new Date(modified - day).toUTCString() });
      assert.deepEqual(errorCode(unmodified), {
        status: 412,
        header: 'ConditionNotMet',
        code: 'ConditionNotMet',
        message: 'The condition specified using HTTP conditional header(s) is not met.',
      });

      const match = await raw(em, 'GET', list, { ...common, 'if-match': '"garbage"' });
      assert.deepEqual(errorCode(match), {
        status: 412,
        header: 'ConditionNotMet',
        code: 'ConditionNotMet',
        message: 'The condition specified using HTTP conditional header(s) is not met.',
      });

      // The recording sends the ETag unquoted.
      const noneMatch = await raw(em, 'GET', list, { ...common, 'if-none-match': head.headers.etag!.replace(/"/g, '') });
      assert.equal(noneMatch.status, 304);
      assert.equal(noneMatch.headers['x-ms-error-code'], 'ConditionNotMet');

      // Conditions that hold let the diff through.
      const ok = await raw(em, 'GET', list, { ...common, 'if-match': head.headers.etag!, 'if-unmodified-since': new Date(modified + day).toUTCString() });
      assert.equal(ok.status, 200);
    });
  });
});
