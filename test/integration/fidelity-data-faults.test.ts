/**
 * Two of Azure's data-plane behaviours that the emulator reproduces as faults, and the product's handling
 * of them end to end through `disk-delta diff` and `disk-delta copy`:
 * - `incrementalsource=1`: Put Page From URL from a managed snapshot's SAS is refused with
 *   409 CopySourceCannotBeIncrementalCopyBlob (azure-sdk-for-net#23031, azure-storage-azcopy#2573); the copy
 *   reads and writes the pages itself, says so, and counts them in `bytesRelayed`.
 * - `partialpage=0.3`: Get Page Ranges answers cut short, sometimes to no ranges, with a NextMarker; every
 *   listing (plain, prevsnapshot and managed-disk diffs) must still be complete.
 * In both: the CLI's diff equals the fault-free one, and a three-snapshot chain copied to the other region is
 * byte-identical, writes exactly the diff's changed bytes, and leaves no SAS open
 * (docs/azure-behaviour.md#put-page-from-url-sources, docs/azure-behaviour.md#listing-page-ranges-and-diffs).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import type { DiffRange, SnapshotInfo } from '../../src/core/model';
import { parseJson, runCli } from '../support/cli';
import {
  allocatedRanges,
  assertNoActiveSas,
  assertSameBytes,
  assertSummaryShape,
  blobKey,
  lastJsonLine,
  sumLength,
  targetSnapshotSource,
  withReadGrant,
  type CopySummaryJson,
} from '../support/copyChecks';
import { ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';
import { createPhasedDisk, PHASES } from '../support/phasedDisk';

interface DiffJson {
  changedBytes: number;
  clearedBytes: number;
  ranges: DiffRange[];
}

interface Setup {
  em: RunningEmulator;
  clients: AzureClients;
  dir: string;
  file: string;
  snaps: SnapshotInfo[];
  diskId: string;
  /** the fault-free CLI diff between consecutive snapshots (index i: s[i] against s[i-1]) */
  diffs: DiffJson[];
  /** bytes each step of the chain must write: the base's allocated bytes, then each diff's changed bytes */
  writes: number[];
}

async function setUp(name: string, faults: Record<string, number> = {}): Promise<Setup> {
  // Passed as `--faults`; the set-up itself (writes, snapshots, listings) meets none of these.
  const em = await startEmulator({ faults: { seed: 7, ...faults } });
  await ensureResourceGroup(em, `fidelity-${name}`);
  const clients = connectToEmulator(em.connection, em.ca);
  const dir = mkdtempSync(path.join(os.tmpdir(), `dd-fidelity-${name}-`));
  const file = path.join(dir, 'connection.json');
  process.env.XDG_STATE_HOME = path.join(dir, 'state');
  writeFileSync(file, JSON.stringify(em.connection));
  const sub = em.connection.subscriptionId;
  const { diskId, snapshots: snaps } = await createPhasedDisk(clients, file, sub, {
    resourceGroup: `fidelity-${name}`,
    name: `disk-${name}`,
    phases: PHASES.slice(0, 3),
  });
  assert.equal(snaps.length, 3);
  const diffs: DiffJson[] = [];
  const writes = [sumLength(await allocatedRanges(clients, snaps[0]!.id))];
  for (let i = 1; i < snaps.length; i++) {
    const d = await cliDiff(file, snaps[i - 1]!, snaps[i]!);
    diffs[i] = d;
    writes.push(d.changedBytes);
  }
  return { em, clients, dir, file, snaps, diskId, diffs, writes };
}

async function cliDiff(file: string, from: SnapshotInfo, to: SnapshotInfo): Promise<DiffJson> {
  const r = await runCli(file, ['--json', 'diff', '--from', from.id, '--to', to.id]);
  assert.equal(r.code, 0, r.stderr);
  return parseJson<DiffJson>(r);
}

async function tearDown(s: Setup | undefined): Promise<void> {
  await s?.em.stop();
  if (s) rmSync(s.dir, { recursive: true, force: true });
}

/** Copies the three-snapshot family as a chain to westus2 and checks bytes, volume and grants. */
async function chainCopy(
  s: Setup,
  targetIndex: number,
  label: string,
): Promise<{ summaries: CopySummaryJson[]; stderr: string; requests: Record<string, number> }> {
  await s.em.resetStats();
  const target = storageAccount(s.em, 'westus2', targetIndex).resourceId;
  const r = await runCli(s.file, [
    '--json',
    'copy',
    '--family',
    s.diskId,
    '--target-account',
    target,
    '--journal',
    path.join(s.dir, `${label}.jsonl`),
    '--verify',
    'full',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const summaries = lastJsonLine<CopySummaryJson[]>(r.stdout);
  assert.equal(summaries.length, 3, 'one summary per snapshot');
  const stats = await s.em.getStats();
  const key = blobKey(summaries[0]!.targetBlobSnapshotUrl);
  assert.equal(
    stats.bytesWrittenByBlob[key],
    s.writes.reduce((a, b) => a + b, 0),
    `${label}: the chain writes the base and then exactly each diff's changed bytes`,
  );
  for (const [i, summary] of summaries.entries()) {
    assertSummaryShape(summary);
    assert.equal(summary.bytesCopied, s.writes[i], `${label}: s${i + 1} bytes copied`);
    const targetSource = await targetSnapshotSource(s.clients, s.em.connection.subscriptionId, summary.targetBlobSnapshotUrl);
    await withReadGrant(s.clients, s.snaps[i]!.id, (source) => assertSameBytes(source, targetSource, `${label}: s${i + 1}`));
  }
  await assertNoActiveSas(s.em, s.clients, label);
  return { summaries, stderr: r.stderr, requests: stats.requests };
}

void describe('Put Page From URL refused for managed snapshot sources (incrementalsource=1)', () => {
  let s: Setup | undefined;
  before(async () => {
    s = await setUp('incremental', { incrementalsource: 1 });
    assert.equal(((await s.em.arm('GET', '/emulator/faults')).body as { incrementalsource: number }).incrementalsource, 1, '--faults incrementalsource=1');
  });
  after(() => tearDown(s));

  void it("the fault refuses every Put Page From URL from a snapshot SAS with Azure's code and message", async () => {
    const { em, clients, snaps } = s!;
    const a = storageAccount(em, 'westus2', 1);
    const store = await clients.dataPlane.targetStore(
      { id: a.resourceId, name: a.name, resourceGroup: a.resourceGroup, location: a.region, blobEndpoint: a.blobEndpoint },
      'probe',
    );
    await store.createContainer();
    const blob = store.blob('probe.vhd');
    await blob.create(4 * 1024 * 1024, {});
    const error = await withReadGrant(clients, snaps[0]!.id, async (source) =>
      blob.putPagesFromUrl(source.readUrl(), 0, 0, 512).then(
        () => undefined,
        (e: unknown) => e as { code?: string; statusCode?: number; message?: string },
      ),
    );
    assert.equal(error?.statusCode, 409);
    assert.equal(error?.code, 'CopySourceCannotBeIncrementalCopyBlob');
    assert.match(error?.message ?? '', /Source blob of a copy operation cannot be non-snapshot incremental copy blob/);
    await assertNoActiveSas(em, clients, 'the probe');
  });

  void it('the diff is exact and the chain copy relays every page through this machine, byte-identical, and says so', async () => {
    const setup = s!;
    for (let i = 1; i < setup.snaps.length; i++) {
      assert.deepEqual(await cliDiff(setup.file, setup.snaps[i - 1]!, setup.snaps[i]!), setup.diffs[i], `diff s${i} -> s${i + 1}`);
    }
    const { summaries, stderr, requests } = await chainCopy(setup, 0, 'relayed chain');
    for (const [i, summary] of summaries.entries()) assert.equal(summary.bytesRelayed, summary.bytesCopied, `s${i + 1}: every byte relayed`);
    assert.ok((requests.PutPage ?? 0) > 0, 'pages were written with Put Page');
    assert.match(stderr, /SourceRefusedFromUrl/, 'stderr says the target refused the URL source');
    assert.match(stderr, /through this machine/, 'stderr says the data passed through this machine');
    const faults = (await setup.em.getStats()).faultsInjected;
    assert.ok((faults.incrementalsource ?? 0) >= 3, 'each step met the refusal');
  });

  void it('without the fault nothing is relayed', async () => {
    const setup = s!;
    await setup.em.setFaults({});
    const { summaries, requests } = await chainCopy(setup, 1, 'url chain');
    for (const summary of summaries) assert.equal(summary.bytesRelayed, 0);
    assert.equal(requests.PutPage ?? 0, 0);
  });
});

void describe('Get Page Ranges cut short with a NextMarker (partialpage=0.3)', () => {
  let s: Setup | undefined;
  before(async () => {
    s = await setUp('partial');
    await s.em.setFaults({ partialpage: 0.3, seed: 11 });
  });
  after(() => tearDown(s));

  void it('diffs, plain listings and the chain copy are exact', async () => {
    const setup = s!;
    await setup.em.resetStats();
    for (let round = 0; round < 4; round++) {
      for (let i = 1; i < setup.snaps.length; i++) {
        assert.deepEqual(await cliDiff(setup.file, setup.snaps[i - 1]!, setup.snaps[i]!), setup.diffs[i], `round ${round}: diff s${i} -> s${i + 1}`);
      }
    }
    // The same managed-disk diffs through the product's data plane, many times over.
    const list = async (from: SnapshotInfo, to: SnapshotInfo, times: number): Promise<DiffRange[][]> =>
      withReadGrant(setup.clients, from.id, (prev) =>
        withReadGrant(setup.clients, to.id, async (cur) => {
          const size = await cur.size();
          const out: DiffRange[][] = [];
          for (let n = 0; n < times; n++) {
            const ranges: DiffRange[] = [];
            for await (const r of cur.listDiff(prev, { offset: 0, length: size })) ranges.push(r);
            out.push(ranges);
          }
          return out;
        }),
      );
    await setup.em.setFaults({});
    // One grant per snapshot at a time (a new grant replaces the one before): one diff after the other.
    const exact: DiffRange[][] = [];
    for (const i of [1, 2]) exact[i] = (await list(setup.snaps[i - 1]!, setup.snaps[i]!, 1))[0]!;
    await setup.em.setFaults({ partialpage: 0.3, seed: 11 });
    for (const i of [1, 2]) {
      const runs = await list(setup.snaps[i - 1]!, setup.snaps[i]!, 30);
      for (const [n, ranges] of runs.entries()) assert.deepEqual(ranges, exact[i], `managed-disk diff s${i} -> s${i + 1}, run ${n}`);
    }
    // The diffs met answers with no ranges but a marker (each one drops the rest of a diff if not continued).
    const cut = (await setup.em.getStats()).faultsInjected;
    assert.ok((cut.partialpageEmpty ?? 0) > 0, `answers cut to no ranges during the diffs: ${JSON.stringify(cut)}`);
    const { summaries } = await chainCopy(setup, 0, 'partial chain');
    for (const summary of summaries) assert.equal(summary.bytesRelayed, 0);
    const faults = (await setup.em.getStats()).faultsInjected;
    assert.ok((faults.partialpage ?? 0) + (faults.partialpageEmpty ?? 0) > 0, 'listings were cut short during the copy');
  });

  void it('a managed-disk diff that keeps getting answers with no ranges and a marker fails with a clear error', async () => {
    const setup = s!;
    // Every answer cut: the last range of s1 -> s2 lies after a gap, so from its position every answer is empty.
    await setup.em.setFaults({ partialpage: 1, seed: 5 });
    try {
      const error = await withReadGrant(setup.clients, setup.snaps[0]!.id, (prev) =>
        withReadGrant(setup.clients, setup.snaps[1]!.id, async (cur) => {
          const size = await cur.size();
          try {
            for await (const r of cur.listDiff(prev, { offset: 0, length: size })) void r;
            return undefined;
          } catch (e) {
            return e as { code?: string; message?: string; hint?: string };
          }
        }),
      );
      assert.equal(error?.code, 'IncompleteDiffListing');
      assert.match(error?.message ?? '', /no ranges and a continuation marker/);
    } finally {
      await setup.em.setFaults({});
    }
    await assertNoActiveSas(setup.em, setup.clients, 'the failed diff');
  });
});
