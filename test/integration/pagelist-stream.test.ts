/**
 * Get Page Ranges with the body streamed into the page-list parser (src/azure/pageList.ts), through the
 * storage SDK's own pipeline: a managed-disk diff of 25,000 ranges (three answers of at most 10,000,
 * continued from the last range: docs/azure-behaviour.md#listing-page-ranges-and-diffs) is exact and its first
 * answer equals the SDK's own getPageRangesDiffForManagedDisks; the pipeline's retries of 503 answers are
 * kept; a refused SAS fails with the same code and status the SDK's call reports, so the diff's grant
 * renewal still recognises it.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { AnonymousCredential, newPipeline, PageBlobClient, Pipeline, type RequestPolicyFactory } from '@azure/storage-blob';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import { toDiskDeltaError } from '../../src/azure/errors';
import { classifyError } from '../../src/core/copy/retry';
import type { DiffRange, SnapshotInfo } from '../../src/core/model';
import { fromSdkRange, interleaveDiff } from '../../src/core/pageRanges';
import { ensureResourceGroup, startEmulator, type RunningEmulator } from '../support/emulator';

const COUNT = 25_000;
const LENGTH = 4096;
const STRIDE = 64 * 512;

interface Setup {
  em: RunningEmulator;
  clients: AzureClients;
  older: SnapshotInfo;
  newer: SnapshotInfo;
  sizeBytes: number;
}

async function snapshot(s: { em: RunningEmulator; clients: AzureClients }, diskId: string, name: string): Promise<SnapshotInfo> {
  const snap = await s.clients.compute.createSnapshot({
    subscriptionId: s.em.connection.subscriptionId,
    resourceGroup: 'stream',
    name,
    location: 'eastus',
    incremental: true,
    createOption: 'Copy',
    sourceResourceId: diskId,
  });
  // Creation times must differ for the family's order.
  await new Promise((r) => setTimeout(r, 20));
  return snap;
}

/** The SDK's own client over a SAS URL, trusting the emulator's CA. */
function sdkClient(url: string, ca: string): PageBlobClient {
  const agent = new Agent({ ca, keepAlive: true });
  const base = newPipeline(new AnonymousCredential(), { retryOptions: { maxTries: 1 } });
  const useAgent: RequestPolicyFactory = {
    create: (next) => ({
      sendRequest: (request) => {
        request.agent = agent;
        return next.sendRequest(request);
      },
    }),
  };
  return new PageBlobClient(url, new Pipeline([useAgent, new AnonymousCredential()], base.options));
}

async function listDiff(s: Setup): Promise<DiffRange[]> {
  const prevUrl = await s.clients.compute.grantAccess(s.older.id, 'Read', 600);
  const url = await s.clients.compute.grantAccess(s.newer.id, 'Read', 600);
  try {
    const out: DiffRange[] = [];
    const prev = s.clients.dataPlane.openSas(prevUrl);
    for await (const r of s.clients.dataPlane.openSas(url).listDiff(prev, { offset: 0, length: s.sizeBytes })) out.push(r);
    return out;
  } finally {
    await s.clients.compute.revokeAccess(s.newer.id);
    await s.clients.compute.revokeAccess(s.older.id);
  }
}

const expected: DiffRange[] = Array.from({ length: COUNT }, (_, i) => ({ offset: 1024 * 1024 + i * STRIDE, length: LENGTH, kind: 'changed' }));

void describe('Get Page Ranges streamed through the SDK pipeline', () => {
  let s: Setup | undefined;
  let started: RunningEmulator | undefined;
  before(async () => {
    const em = (started = await startEmulator({ regions: ['eastus'] }));
    await ensureResourceGroup(em, 'stream');
    const clients = connectToEmulator(em.connection, em.ca);
    const disk = await clients.compute.createDisk({
      subscriptionId: em.connection.subscriptionId,
      resourceGroup: 'stream',
      name: 'streamed',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 4,
    });
    const older = await snapshot({ em, clients }, disk.id, 'streamed-1');
    const r = await em.arm('POST', `/emulator/disks/${encodeURIComponent(disk.id)}/synthetic-writes`, {
      seed: 3,
      pattern: { count: COUNT, length: LENGTH, stride: STRIDE, start: 1024 * 1024 },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const newer = await snapshot({ em, clients }, disk.id, 'streamed-2');
    s = { em, clients, older, newer, sizeBytes: 4 * 1024 ** 3 };
  });
  // Stopped even when the set-up failed half-way, or the test process would wait on it for ever.
  after(async () => {
    await started?.stop();
  });

  void it('lists a diff of three answers exactly; its first answer is what the SDK parses', async () => {
    const setup = s!;
    assert.deepEqual(await listDiff(setup), expected);
    const prevUrl = await setup.clients.compute.grantAccess(setup.older.id, 'Read', 600);
    const url = await setup.clients.compute.grantAccess(setup.newer.id, 'Read', 600);
    try {
      const sdk = await sdkClient(url.reveal(), setup.em.ca).getPageRangesDiffForManagedDisks(0, setup.sizeBytes, prevUrl.reveal());
      const first = interleaveDiff(
        (sdk.pageRange ?? []).map((r) => fromSdkRange({ offset: r.offset, count: r.count ?? 0 })),
        (sdk.clearRange ?? []).map((r) => fromSdkRange({ offset: r.offset, count: r.count ?? 0 })),
      );
      assert.equal(first.length, 10_000, 'one answer holds at most 10,000 ranges');
      assert.deepEqual(first, expected.slice(0, first.length));
    } finally {
      await setup.clients.compute.revokeAccess(setup.newer.id);
      await setup.clients.compute.revokeAccess(setup.older.id);
    }
  });

  void it('a caller that stops early leaves the request sent ahead aborted, not rejected unhandled; the next listing is whole', async () => {
    const setup = s!;
    const prevUrl = await setup.clients.compute.grantAccess(setup.older.id, 'Read', 600);
    const url = await setup.clients.compute.grantAccess(setup.newer.id, 'Read', 600);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const prev = setup.clients.dataPlane.openSas(prevUrl);
      const seen: DiffRange[] = [];
      for await (const r of setup.clients.dataPlane.openSas(url).listDiff(prev, { offset: 0, length: setup.sizeBytes })) {
        seen.push(r);
        if (seen.length === 3) break;
      }
      assert.deepEqual(seen, expected.slice(0, 3));
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(unhandled, [], 'the request sent ahead and abandoned rejects nowhere');
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await setup.clients.compute.revokeAccess(setup.newer.id);
      await setup.clients.compute.revokeAccess(setup.older.id);
    }
    assert.deepEqual(await listDiff(setup), expected);
  });

  void it('answers of 503 are retried by the pipeline and the listing stays exact', async () => {
    const setup = s!;
    await setup.em.resetStats();
    await setup.em.setFaults({ busy: 0.3, seed: 4 });
    try {
      assert.deepEqual(await listDiff(setup), expected);
      const faults = (await setup.em.getStats()).faultsInjected;
      assert.ok((faults.busy ?? 0) > 0, `503 answers were met: ${JSON.stringify(faults)}`);
    } finally {
      await setup.em.setFaults({});
    }
  });

  void it('a refused SAS fails as the SDK reports it: 403 AuthenticationFailed, a grant to renew', async () => {
    const setup = s!;
    const prevUrl = await setup.clients.compute.grantAccess(setup.older.id, 'Read', 600);
    const url = await setup.clients.compute.grantAccess(setup.newer.id, 'Read', 600);
    await setup.em.setFaults({ sasexpiry: 1 });
    try {
      const prev = setup.clients.dataPlane.openSas(prevUrl);
      const ours = await (async () => {
        try {
          for await (const r of setup.clients.dataPlane.openSas(url).listDiff(prev, { offset: 0, length: setup.sizeBytes })) void r;
        } catch (error) {
          return error as { code?: string; statusCode?: number; message?: string };
        }
        return undefined;
      })();
      const theirs = await sdkClient(url.reveal(), setup.em.ca)
        .getPageRangesDiffForManagedDisks(0, setup.sizeBytes, prevUrl.reveal())
        .then(
          () => undefined,
          (error: unknown) => toDiskDeltaError(error, 'Listing changed ranges') as { code?: string; statusCode?: number; message?: string },
        );
      assert.ok(ours && theirs, 'both calls fail');
      assert.equal(ours.code, 'AuthenticationFailed');
      assert.equal(ours.statusCode, 403);
      assert.equal(ours.code, theirs.code);
      assert.equal(ours.statusCode, theirs.statusCode);
      // The same message but for the request's id and time.
      const stable = (m: string | undefined) => (m ?? '').replace(/RequestId:\S+|Time:\S+/g, '');
      assert.equal(stable(ours.message), stable(theirs.message));
      assert.match(ours.message ?? '', /Signed expiry time/);
      assert.equal(classifyError(ours).kind, 'sasExpired');
      assert.doesNotMatch(ours.message ?? '', /sig=/, 'no SAS in the message');
    } finally {
      await setup.em.setFaults({});
      await setup.clients.compute.revokeAccess(setup.newer.id);
      await setup.clients.compute.revokeAccess(setup.older.id);
    }
  });
});
