/**
 * Replays, as raw HTTPS (nothing normalises the answers), the Microsoft.Compute exchanges Azure's own
 * recordings and REST examples show, and checks the emulator answers the same way: status codes, the
 * long-running-operation headers, the operation status resource and the resources' JSON shape.
 *
 * Sources (read, not copied; the expectations are written out here):
 * - R1: Azure/azure-sdk-for-net
 *   sdk/compute/Microsoft.Azure.Management.Compute/tests/SessionRecords/DiskRPCreateOptionTests/CopyStartSnapshotPositiveTest.json
 *   (disk PUT 202, operation status with properties.output, incremental snapshot PUT 202, CopyStart PUT 202 whose
 *   target then reports completionPercent 0.0 for minutes and 100.0 after, beginGetAccess 202 with no body whose
 *   operation output is {accessSAS}, x-ms-ratelimit-remaining-resource buckets on every answer, 404 ResourceNotFound).
 * - R2: Azure/azure-rest-api-specs
 *   specification/compute/resource-manager/Microsoft.Compute/DiskRP/stable/2025-01-02/examples/snapshotExamples/
 *   Snapshot_BeginGetAccess.json, Snapshot_EndGetAccess.json (202 + Location with monitor=true, then 200 {accessSAS}),
 *   Snapshot_Create_FromAnExistingSnapshotInDifferentRegion.json (CopyStart: 202 with provisioningState Updating),
 *   Snapshot_GetIncrementalSnapshot.json (the incremental snapshot's properties).
 * - azure-sdk-for-net#24959 (Import of a blob without a VHD footer fails inside the operation, BadRequest, cookie
 *   'conectix'); azure-cli#29431 (SAS longer than 5,184,000 s refused).
 */
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import { blobServiceClient, ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';

interface Exchange {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: Record<string, unknown> | undefined;
}

type Json = Record<string, unknown>;

const API = 'api-version=2022-03-02';

void describe('conformance: Microsoft.Compute exchanges recorded from Azure', { timeout: 300_000 }, () => {
  let em: RunningEmulator;
  let agent: https.Agent;
  let sub: string;
  const rgA = 'crptestar3189';
  const rgB = 'crptestar402';

  before(async () => {
    em = await startEmulator({ regions: ['eastus', 'westus2'] });
    await ensureResourceGroup(em, [rgA, rgB]);
    agent = new https.Agent({ ca: em.ca, keepAlive: false });
    sub = em.connection.subscriptionId;
  });
  after(async () => {
    agent?.destroy();
    await em?.stop();
  });

  function raw(method: string, pathOrUrl: string, body?: unknown): Promise<Exchange> {
    return new Promise((resolve, reject) => {
      const url = new URL(pathOrUrl, em.connection.armEndpoint);
      const text = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        url,
        {
          method,
          agent,
          headers: {
            authorization: `Bearer ${em.connection.token}`,
            ...(text ? { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const t = Buffer.concat(chunks).toString('utf8');
            let parsed: Json | undefined;
            try {
              parsed = t ? (JSON.parse(t) as Json) : undefined;
            } catch {
              parsed = undefined;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text: t, body: parsed });
          });
        },
      );
      req.on('error', reject);
      req.end(text);
    });
  }

  const header = (x: Exchange, name: string): string => {
    const v = x.headers[name.toLowerCase()];
    return Array.isArray(v) ? v.join(',') : (v ?? '');
  };
  const props = (x: Json | undefined): Json => (x?.['properties'] ?? {}) as Json;
  const resourcePath = (rg: string, kind: string, name: string) => `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/${kind}/${name}`;

  /** R1: every long-running answer is 202 with both operation URLs (one with monitor=true) and Retry-After. */
  function assertAccepted(x: Exchange, location: string, bucket: string): { asyncOp: string; monitor: string } {
    assert.equal(x.status, 202, x.text);
    const asyncOp = header(x, 'azure-asyncoperation');
    const monitor = header(x, 'location');
    const opPath = new RegExp(
      `/subscriptions/${sub}/providers/Microsoft\\.Compute/locations/${location}/DiskOperations/[0-9a-f-]{36}\\?p=[0-9a-f-]+&(monitor=true&)?api-version=`,
    );
    assert.match(asyncOp, opPath);
    assert.match(monitor, opPath);
    assert.match(monitor, /&monitor=true&/);
    assert.doesNotMatch(asyncOp, /monitor=true/);
    assert.equal(new URL(asyncOp).pathname, new URL(monitor).pathname);
    assert.match(header(x, 'retry-after'), /^\d+$/);
    assert.match(
      header(x, 'x-ms-ratelimit-remaining-resource'),
      new RegExp(`^Microsoft\\.Compute/${bucket}3Min;\\d+,Microsoft\\.Compute/${bucket}30Min;\\d+$`),
    );
    return { asyncOp, monitor };
  }

  /** R1: the status resource: startTime, endTime, status, properties.output, name (= the operation id). */
  async function operationStatus(asyncOp: string): Promise<Json> {
    for (let i = 0; i < 100; i++) {
      const x = await raw('GET', asyncOp);
      assert.equal(x.status, 200, x.text);
      assert.match(header(x, 'x-ms-ratelimit-remaining-resource'), /^Microsoft\.Compute\/GetOperation3Min;\d+,Microsoft\.Compute\/GetOperation30Min;\d+$/);
      const b = x.body!;
      assert.equal(b['name'], new URL(asyncOp).pathname.split('/').pop());
      assert.ok(!Number.isNaN(Date.parse(String(b['startTime']))), x.text);
      if (b['status'] === 'InProgress') {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      assert.ok(!Number.isNaN(Date.parse(String(b['endTime']))), x.text);
      return b;
    }
    assert.fail('the operation never ended');
  }

  let diskId = '';
  let diskUniqueId = '';
  let snapshotId = '';
  let familyId = '';

  void it('R1: disk PUT (Empty, 5 GB) answers 202 Updating; its operation output is the disk', async () => {
    const put = await raw('PUT', `${resourcePath(rgA, 'disks', 'diskrp4432')}?${API}`, {
      sku: { name: 'Standard_LRS' },
      properties: { osType: 'Linux', creationData: { createOption: 'Empty' }, diskSizeGB: 5 },
      location: 'eastus',
    });
    const { asyncOp } = assertAccepted(put, 'eastus', 'CreateUpdateDisks');
    assert.equal(header(put, 'content-type').split(';')[0], 'application/json');
    assert.equal(put.body?.['name'], 'diskrp4432');
    assert.equal(put.body?.['location'], 'eastus');
    assert.equal(props(put.body)['provisioningState'], 'Updating');
    assert.deepEqual(props(put.body)['creationData'], { createOption: 'Empty' });

    const op = await operationStatus(asyncOp);
    assert.equal(op['status'], 'Succeeded');
    const out = props(op)['output'] as Json;
    assert.equal(out['name'], 'diskrp4432');
    assert.equal(out['type'], 'Microsoft.Compute/disks');
    assert.equal(String(out['id']).toLowerCase(), resourcePath(rgA, 'disks', 'diskrp4432').toLowerCase());
    assert.deepEqual(out['sku'], { name: 'Standard_LRS', tier: 'Standard' });
    const p = props(out);
    assert.equal(p['provisioningState'], 'Succeeded');
    assert.equal(p['diskState'], 'Unattached');
    assert.equal(p['diskSizeGB'], 5);
    assert.equal(p['diskSizeBytes'], 5_368_709_120);
    assert.equal(p['osType'], 'Linux');
    assert.deepEqual(p['encryption'], { type: 'EncryptionAtRestWithPlatformKey' });
    assert.match(String(p['uniqueId']), /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(String(p['timeCreated']))));

    const get = await raw('GET', `${resourcePath(rgA, 'disks', 'diskrp4432')}?${API}`);
    assert.equal(get.status, 200);
    assert.match(header(get, 'x-ms-ratelimit-remaining-resource'), /^Microsoft\.Compute\/LowCostGet3Min;\d+,Microsoft\.Compute\/LowCostGet30Min;\d+$/);
    assert.equal(props(get.body)['uniqueId'], p['uniqueId']);
    diskId = String(get.body!['id']);
    diskUniqueId = String(p['uniqueId']);
  });

  void it('R1/R2: incremental snapshot PUT answers 202 with the source; its output has the family id', async () => {
    const put = await raw('PUT', `${resourcePath(rgA, 'snapshots', 'diskrp4767')}?${API}`, {
      sku: { name: 'Standard_LRS' },
      properties: { creationData: { createOption: 'Copy', sourceResourceId: diskId }, incremental: true },
      location: 'eastus',
    });
    const { asyncOp } = assertAccepted(put, 'eastus', 'HighCostSnapshotCreateHydrate');
    const accepted = props(put.body);
    assert.equal(accepted['provisioningState'], 'Updating');
    assert.equal(accepted['incremental'], true);
    assert.deepEqual(accepted['creationData'], { createOption: 'Copy', sourceResourceId: diskId, sourceUniqueId: diskUniqueId });

    const op = await operationStatus(asyncOp);
    assert.equal(op['status'], 'Succeeded');
    const out = props(op)['output'] as Json;
    assert.equal(out['type'], 'Microsoft.Compute/snapshots');
    const p = props(out);
    assert.equal(p['incremental'], true);
    assert.equal(p['provisioningState'], 'Succeeded');
    assert.equal(p['diskSizeBytes'], 5_368_709_120);
    assert.match(String(p['incrementalSnapshotFamilyId']), /^[0-9a-f-]{36}$/);
    assert.deepEqual(p['creationData'], { createOption: 'Copy', sourceResourceId: diskId, sourceUniqueId: diskUniqueId });
    snapshotId = String(out['id']);
    familyId = String(p['incrementalSnapshotFamilyId']);
  });

  void it('R1/R2: CopyStart PUT answers 202; the operation succeeds at once, then completionPercent is 0.0 for a while, then 100', async () => {
    await em.setFaults({ copystall: 3 });
    try {
      const put = await raw('PUT', `${resourcePath(rgB, 'snapshots', 'diskrp5132')}?${API}`, {
        sku: { name: 'Standard_LRS' },
        properties: { creationData: { createOption: 'CopyStart', sourceResourceId: snapshotId }, incremental: true },
        location: 'westus2',
      });
      const { asyncOp } = assertAccepted(put, 'westus2', 'HighCostSnapshotCreateHydrate');
      assert.equal(props(put.body)['provisioningState'], 'Updating');
      assert.equal((props(put.body)['creationData'] as Json)['createOption'], 'CopyStart');
      const started = Date.now();
      const op = await operationStatus(asyncOp);
      assert.equal(op['status'], 'Succeeded');
      assert.ok(Date.now() - started < 2500, 'the create operation ends before the copy does');

      const first = await raw('GET', `${resourcePath(rgB, 'snapshots', 'diskrp5132')}?${API}`);
      assert.equal(first.status, 200);
      const p = props(first.body);
      assert.equal(p['provisioningState'], 'Succeeded');
      assert.equal(p['completionPercent'], 0);
      assert.equal(p['incremental'], true);
      assert.notEqual(p['incrementalSnapshotFamilyId'], familyId, 'copies in another region form their own family');
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(props((await raw('GET', `${resourcePath(rgB, 'snapshots', 'diskrp5132')}?${API}`)).body)['completionPercent'], 0);
      let last = 0;
      for (let i = 0; i < 100 && last < 100; i++) {
        await new Promise((r) => setTimeout(r, 200));
        last = Number(props((await raw('GET', `${resourcePath(rgB, 'snapshots', 'diskrp5132')}?${API}`)).body)['completionPercent']);
        assert.ok(last === 0 || last === 100, `completionPercent jumps from 0 to 100, saw ${last}`);
      }
      assert.equal(last, 100);
    } finally {
      await em.setFaults({});
    }
  });

  void it('R1/R2: beginGetAccess answers 202 with no body; the output (and the monitor URL) carries accessSAS; endGetAccess answers 202', async () => {
    const post = await raw('POST', `${resourcePath(rgB, 'snapshots', 'diskrp5132')}/beginGetAccess?${API}`, { access: 'Read', durationInSeconds: 1000 });
    const { asyncOp, monitor } = assertAccepted(post, 'westus2', 'HighCostSnapshotCreateHydrate');
    assert.equal(post.text, '');
    assert.equal(header(post, 'content-length'), '0');
    const op = await operationStatus(asyncOp);
    assert.equal(op['status'], 'Succeeded');
    const output = props(op)['output'] as Json;
    assert.deepEqual(Object.keys(output), ['accessSAS']);
    assert.match(String(output['accessSAS']), /^https:\/\/.+\/abcd\?.*sv=.*&sr=b&.*sig=/);
    const viaMonitor = await raw('GET', monitor);
    assert.equal(viaMonitor.status, 200);
    assert.equal(viaMonitor.body?.['accessSAS'], output['accessSAS']);
    const get = await raw('GET', `${resourcePath(rgB, 'snapshots', 'diskrp5132')}?${API}`);
    assert.equal(props(get.body)['diskState'], 'ActiveSAS');

    const end = await raw('POST', `${resourcePath(rgB, 'snapshots', 'diskrp5132')}/endGetAccess?${API}`);
    const ended = assertAccepted(end, 'westus2', 'HighCostSnapshotCreateHydrate');
    assert.equal((await operationStatus(ended.asyncOp))['status'], 'Succeeded');
    assert.equal((await raw('GET', ended.monitor)).status, 200);
    assert.equal(props((await raw('GET', `${resourcePath(rgB, 'snapshots', 'diskrp5132')}?${API}`)).body)['diskState'], 'Unattached');
  });

  void it('azure-cli#29431: a grant longer than 60 days (5,184,000 s) is refused; 60 days is accepted', async () => {
    const tooLong = await raw('POST', `${resourcePath(rgA, 'snapshots', 'diskrp4767')}/beginGetAccess?${API}`, {
      access: 'Read',
      durationInSeconds: 5_184_001,
    });
    assert.equal(tooLong.status, 400, tooLong.text);
    const error = tooLong.body?.['error'] as Json;
    assert.equal(error['code'], 'InvalidParameter');
    assert.match(String(error['message']), /5184000/);
    const ok = await raw('POST', `${resourcePath(rgA, 'snapshots', 'diskrp4767')}/beginGetAccess?${API}`, { access: 'Read', durationInSeconds: 5_184_000 });
    assert.equal(ok.status, 202);
    await raw('POST', `${resourcePath(rgA, 'snapshots', 'diskrp4767')}/endGetAccess?${API}`);
  });

  void it('azure-sdk-for-net#24959: Import of a blob that is not a fixed VHD is accepted (202) and fails inside the operation', async () => {
    const account = storageAccount(em, 'eastus');
    const container = blobServiceClient(em, account).getContainerClient('conformance');
    await container.createIfNotExists();
    const blob = container.getPageBlobClient('not-a-vhd.vhd');
    await blob.create(1024 * 1024 + 512);
    const put = await raw('PUT', `${resourcePath(rgA, 'snapshots', 'imported')}?${API}`, {
      location: 'eastus',
      properties: { creationData: { createOption: 'Import', sourceUri: blob.url, storageAccountId: account.resourceId } },
    });
    const { asyncOp, monitor } = assertAccepted(put, 'eastus', 'HighCostSnapshotCreateHydrate');
    const op = await operationStatus(asyncOp);
    assert.equal(op['status'], 'Failed');
    assert.equal(props(op)['output'], undefined);
    const error = op['error'] as Json;
    assert.equal(error['code'], 'BadRequest');
    assert.match(String(error['message']), /cookie value/);
    assert.match(String(error['message']), /'conectix'/);
    assert.notEqual((await raw('GET', monitor)).status, 200);
    assert.equal((await raw('GET', `${resourcePath(rgA, 'snapshots', 'imported')}?${API}`)).status, 404);
  });

  void it('R1: DELETE answers 202 and a GET afterwards is 404 ResourceNotFound', async () => {
    const del = await raw('DELETE', `${resourcePath(rgB, 'snapshots', 'diskrp5132')}?${API}`);
    const { asyncOp } = assertAccepted(del, 'westus2', 'DeleteDisks');
    assert.equal((await operationStatus(asyncOp))['status'], 'Succeeded');
    const gone = await raw('GET', `${resourcePath(rgB, 'snapshots', 'diskrp5132')}?${API}`);
    assert.equal(gone.status, 404);
    const error = gone.body?.['error'] as Json;
    assert.equal(error['code'], 'ResourceNotFound');
    assert.match(String(error['message']), new RegExp(`The Resource 'Microsoft.Compute/snapshots/diskrp5132' under resource group '${rgB}' was not found`));
    const again = await raw('DELETE', `${resourcePath(rgB, 'snapshots', 'diskrp5132')}?${API}`);
    assert.equal(again.status, 204);
  });

  void it('throttling (docs/azure-behaviour.md#arm-throttling): 429 with Retry-After and the bucket, counts on successes too', async () => {
    await em.setFaults({ armthrottle: 3 });
    try {
      const seen: Exchange[] = [];
      for (let i = 0; i < 5; i++) seen.push(await raw('GET', `/subscriptions/${sub}/providers/Microsoft.Compute/snapshots?${API}`));
      const ok = seen.filter((x) => x.status === 200);
      const refused = seen.filter((x) => x.status === 429);
      assert.equal(ok.length, 3);
      assert.equal(refused.length, 2);
      const counts = ok.map((x) => Number(/GetDisk3Min;(\d+)/.exec(header(x, 'x-ms-ratelimit-remaining-resource'))?.[1]));
      assert.deepEqual(counts, [2, 1, 0]);
      const r = refused[0]!;
      assert.match(header(r, 'retry-after'), /^[1-9]\d*$/);
      assert.match(header(r, 'x-ms-ratelimit-remaining-resource'), /^Microsoft\.Compute\/GetDisk3Min;0,Microsoft\.Compute\/GetDisk30Min;\d+$/);
      const error = r.body?.['error'] as Json;
      assert.equal(error['code'], 'OperationNotAllowed');
      assert.equal((error['details'] as Json[])[0]!['code'], 'TooManyRequests');
      // Another operation group has its own bucket.
      assert.equal((await raw('GET', `${resourcePath(rgA, 'disks', 'diskrp4432')}?${API}`)).status, 200);
    } finally {
      await em.setFaults({});
    }
    const after = await raw('GET', `/subscriptions/${sub}/providers/Microsoft.Compute/snapshots?${API}`);
    assert.equal(after.status, 200);
    assert.match(header(after, 'x-ms-ratelimit-remaining-resource'), /^Microsoft\.Compute\/GetDisk3Min;\d{4,},/);
  });
});
