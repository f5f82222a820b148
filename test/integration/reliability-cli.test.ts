/**
 * Every bad input the CLI can meet is answered with one clear line carrying an error code, a non-zero
 * exit and no change of state (no new snapshot, disk, container or blob, no bytes written, no grant left
 * open), and the family's 5-SAS limit met without touching the grants others hold.
 */
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import type { SnapshotInfo } from '../../src/core/model';
import { targetBlobName } from '../../src/core/copy';
import { resourceId } from '../../src/core/resourceId';
import { blobServiceClient, ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';
import { parseJson, runCli, type CliResult } from '../support/cli';
import { assertNoActiveSas } from '../support/copyChecks';
import { writeDisk } from '../support/disks';

const MiB = 1024 * 1024;

interface BadInput {
  readonly name: string;
  readonly args: readonly string[];
  /** The error code the one-line message carries. */
  readonly code: RegExp;
  /** Another connection file (missing, malformed, wrong token...). */
  readonly connection?: string;
}

/** The error line: `disk-delta: error <Code>[ (HTTP n)]: <message>`, exactly once, no stack trace. */
function assertOneErrorLine(r: CliResult, code: RegExp, what: string): void {
  assert.notEqual(r.code, 0, `${what}: non-zero exit`);
  const lines = r.stderr.split('\n').filter((l) => /^disk-delta: error /.test(l));
  assert.equal(lines.length, 1, `${what}: one error line in ${JSON.stringify(r.stderr)}`);
  const m = /^disk-delta: error (\w+)(?: \(HTTP \d+\))?: (.+)$/.exec(lines[0]!);
  assert.ok(m, `${what}: "error <Code>: <message>" in ${lines[0]}`);
  assert.match(m[1]!, code, `${what}: code in ${lines[0]}`);
  assert.ok(m[2]!.length > 15, `${what}: a message that says something`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: no stack trace`);
  assert.equal(r.stdout.trim(), '', `${what}: nothing on stdout`);
}

void describe('the CLI answers bad input clearly and changes nothing', () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let dir: string;
  let file: string;
  let sub: string;
  let rel: SnapshotInfo[];
  let relDiskId: string;
  let other: SnapshotInfo;
  let busyDiskId: string;
  const files: Record<string, string> = {};

  /** Everything a failed command must leave as it was. */
  const fingerprint = async (): Promise<string> => {
    const parts: string[] = [];
    for await (const s of clients.compute.listSnapshots(sub)) parts.push(`snapshot ${s.id} ${s.diskState ?? ''}`);
    for await (const d of clients.compute.listDisks(sub)) parts.push(`disk ${d.id} ${d.diskState ?? ''}`);
    for (const a of em.connection.storageAccounts) {
      const svc = blobServiceClient(em, a);
      for await (const c of svc.listContainers()) {
        parts.push(`container ${a.name}/${c.name}`);
        for await (const b of svc.getContainerClient(c.name).listBlobsFlat({ includeSnapshots: true, includeMetadata: true })) {
          parts.push(`blob ${a.name}/${c.name}/${b.name} ${b.snapshot ?? ''} ${b.properties.contentLength} ${JSON.stringify(b.metadata ?? {})}`);
        }
      }
    }
    return parts.sort().join('\n');
  };

  before(async () => {
    em = await startEmulator({ seed: 'demo' });
    await ensureResourceGroup(em, 'rel');
    clients = connectToEmulator(em.connection, em.ca);
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-reliability-'));
    process.env.XDG_STATE_HOME = path.join(dir, 'state');
    file = path.join(dir, 'connection.json');
    writeFileSync(file, JSON.stringify(em.connection));
    sub = em.connection.subscriptionId;

    const disk = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: 'rel',
      name: 'rel',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 1,
    });
    relDiskId = disk.id;
    rel = [];
    for (const name of ['rel-s1', 'rel-s2']) {
      await writeDisk(clients, disk.id, [{ offset: rel.length * 8 * MiB, length: 6 * MiB }]);
      const r = await runCli(file, ['--json', 'snapshot', 'create', '--disk', disk.id, '--name', name]);
      assert.equal(r.code, 0, r.stderr);
      rel.push(parseJson<SnapshotInfo>(r));
    }
    const otherDisk = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: 'rel',
      name: 'other',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 1,
    });
    await writeDisk(clients, otherDisk.id, [{ offset: 0, length: MiB }]);
    other = parseJson<SnapshotInfo>(await runCli(file, ['--json', 'snapshot', 'create', '--disk', otherDisk.id, '--name', 'other-s1']));

    // 7 snapshots in the last 5 minutes: the 8th is refused.
    const busy = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: 'rel',
      name: 'busy',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 1,
    });
    busyDiskId = busy.id;
    for (let i = 0; i < 7; i++)
      await clients.compute.createSnapshot({
        subscriptionId: sub,
        resourceGroup: 'rel',
        name: `busy-${i}`,
        location: 'eastus',
        incremental: true,
        createOption: 'Copy',
        sourceResourceId: busy.id,
      });

    // The default container exists in the first westus2 account; in the second, a page blob with the
    // name a copy of rel would use, written by someone else (no Disk Delta metadata).
    await blobServiceClient(em, storageAccount(em, 'westus2', 0))
      .getContainerClient('disk-delta')
      .create();
    const foreign = blobServiceClient(em, storageAccount(em, 'westus2', 1)).getContainerClient('disk-delta');
    await foreign.create();
    await foreign.getPageBlobClient(targetBlobName(rel[0]!.familyId!, rel[0]!.sourceResourceId, rel[0]!.name)).create(MiB + 512);

    files.missing = path.join(dir, 'no-such-connection.json');
    files.malformed = path.join(dir, 'malformed.json');
    writeFileSync(files.malformed, '{"armEndpoint": "https://127.0.0.1:1", ');
    files.noToken = path.join(dir, 'no-token.json');
    const { token: _token, ...withoutToken } = em.connection;
    writeFileSync(files.noToken, JSON.stringify(withoutToken));
    files.noAccounts = path.join(dir, 'no-accounts.json');
    const { storageAccounts: _accounts, ...withoutAccounts } = em.connection;
    writeFileSync(files.noAccounts, JSON.stringify(withoutAccounts));
    files.noCa = path.join(dir, 'no-ca.json');
    writeFileSync(files.noCa, JSON.stringify({ ...em.connection, caCertPath: path.join(dir, 'gone.pem') }));
    files.array = path.join(dir, 'array.json');
    writeFileSync(files.array, '[]');
    files.expired = path.join(dir, 'expired.json');
    writeFileSync(files.expired, JSON.stringify({ ...em.connection, token: 'expired.bearer.token' }));

    // A journal of another copy (another family and target), well-formed.
    files.foreignJournal = path.join(dir, 'foreign.jsonl');
    const header = { t: 'journal', v: 1, family: 'another-family', target: 'https://127.0.0.1/elsewhere/c/b.vhd' };
    writeFileSync(
      files.foreignJournal,
      `${JSON.stringify({ r: header, h: createHash('sha256').update(JSON.stringify(header)).digest('hex').slice(0, 16) })}\n`,
    );
    await assertNoActiveSas(em, clients, 'setting up');
  });

  after(async () => {
    await em?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  void it('answers 30+ bad inputs with one coded line, a non-zero exit and no change of state', async () => {
    const east = storageAccount(em, 'eastus', 0).resourceId;
    const west = storageAccount(em, 'westus2', 0).resourceId;
    const westForeign = storageAccount(em, 'westus2', 1).resourceId;
    const unknownSnapshot = resourceId(sub, 'rel', 'Microsoft.Compute', 'snapshots', 'no-such-snapshot');
    const unknownDisk = resourceId(sub, 'rel', 'Microsoft.Compute', 'disks', 'no-such-disk');
    const families = parseJson<{ sourceName: string; snapshots: { id: string; name: string; incremental?: boolean }[] }[]>(
      await runCli(file, ['--json', 'families']),
    );
    const archive = families.find((f) => f.sourceName === 'archive-data')!.snapshots;
    const beforeResize = archive.filter((s) => s.name.includes('before'));
    const afterResize = archive.filter((s) => s.name.includes('after'));
    assert.equal(beforeResize.length, 2);
    assert.equal(afterResize.length, 2);
    const full = resourceId(sub, 'demo-eastus', 'Microsoft.Compute', 'snapshots', 'orders-db-full');
    assert.ok(await clients.compute.getSnapshot(full), 'the demo full snapshot');
    const s1 = rel[0]!.id;

    const cases: BadInput[] = [
      // invalid names
      { name: 'snapshot name starting with a dash', args: ['snapshot', 'create', '--disk', relDiskId, '--name', '-bad'], code: /^InvalidName$/ },
      { name: 'snapshot name ending with a dot', args: ['snapshot', 'create', '--disk', relDiskId, '--name', 'bad.'], code: /^InvalidName$/ },
      { name: 'snapshot name of 81 characters', args: ['snapshot', 'create', '--disk', relDiskId, '--name', 'x'.repeat(81)], code: /^InvalidName$/ },
      { name: 'snapshot name with a space', args: ['snapshot', 'create', '--disk', relDiskId, '--name', 'has space'], code: /^InvalidName$/ },
      { name: 'restored disk name with a slash', args: ['restore', '--snapshot', s1, '--name', 'a/b'], code: /^InvalidName$/ },
      { name: 'full snapshot name with a star', args: ['snapshot', 'full', '--snapshot', s1, '--name', 'full*'], code: /^InvalidName$/ },
      {
        name: 'container name with capitals',
        args: ['copy', '--snapshot', s1, '--target-account', west, '--container', 'Bad_Container'],
        code: /^InvalidName$/,
      },
      // unknown ids
      { name: 'diff from an unknown snapshot', args: ['diff', '--from', unknownSnapshot, '--to', s1], code: /NotFound/ },
      { name: 'copy of an unknown snapshot', args: ['copy', '--snapshot', unknownSnapshot, '--target-account', west], code: /NotFound/ },
      { name: 'copy of an unknown disk family', args: ['copy', '--family', unknownDisk, '--target-account', west], code: /NotFound/ },
      { name: 'snapshot of an unknown disk', args: ['snapshot', 'create', '--disk', unknownDisk, '--name', 'ghost-s1'], code: /NotFound/ },
      { name: 'restore of an unknown snapshot', args: ['restore', '--snapshot', unknownSnapshot, '--name', 'ghost-disk'], code: /NotFound/ },
      {
        name: 'copy to an unknown storage account',
        args: ['copy', '--snapshot', s1, '--target-account', resourceId(sub, 'storage-westus2', 'Microsoft.Storage', 'storageAccounts', 'nosuchaccount')],
        code: /NotFound/,
      },
      { name: 'native copy of an unknown snapshot', args: ['copy', '--native', '--snapshot', unknownSnapshot, '--target-region', 'westus2'], code: /NotFound/ },
      // malformed ids
      // "not-an-id" is a valid snapshot name (names are looked up); with spaces it is neither id nor name.
      { name: 'diff with a malformed id', args: ['diff', '--from', 'not an id', '--to', s1], code: /Invalid/ },
      { name: 'copy of a malformed snapshot id', args: ['copy', '--snapshot', '/subscriptions/x', '--target-account', west], code: /Invalid/ },
      { name: 'target account that is not an id', args: ['copy', '--snapshot', s1, '--target-account', 'foo'], code: /Invalid/ },
      { name: 'target account that is a disk id', args: ['copy', '--snapshot', s1, '--target-account', relDiskId], code: /^InvalidTargetAccount$/ },
      // families and kinds
      { name: 'diff across two families', args: ['diff', '--from', s1, '--to', other.id], code: /^DifferentFamilies$/ },
      { name: 'copy of a full snapshot', args: ['copy', '--snapshot', full, '--target-account', west], code: /^NotIncremental$/ },
      { name: 'diff with a full snapshot', args: ['diff', '--from', full, '--to', s1], code: /NotIncremental|DifferentFamilies/ },
      {
        name: 'native copy of a full snapshot',
        args: ['copy', '--native', '--snapshot', full, '--target-region', 'westus2'],
        code: /NotIncremental|BadRequest/,
      },
      // 4 TB boundary pairs
      { name: '4 TB boundary: first pair', args: ['diff', '--from', beforeResize[0]!.id, '--to', afterResize[0]!.id], code: /^ResizeBoundary$/ },
      { name: '4 TB boundary: last pair', args: ['diff', '--from', beforeResize[1]!.id, '--to', afterResize[1]!.id], code: /^ResizeBoundary$/ },
      { name: '4 TB boundary: reversed', args: ['diff', '--from', afterResize[1]!.id, '--to', beforeResize[0]!.id], code: /^ResizeBoundary$/ },
      // targets
      { name: 'target account in the source region', args: ['copy', '--snapshot', s1, '--target-account', east], code: /^TargetInSourceRegion$/ },
      { name: 'native copy into the source region', args: ['copy', '--native', '--snapshot', s1, '--target-region', 'eastus'], code: /^TargetInSourceRegion$/ },
      { name: 'native copy into an unknown region', args: ['copy', '--native', '--snapshot', s1, '--target-region', 'atlantis'], code: /Location|Region/ },
      {
        name: 'target blob that is not ours',
        args: ['copy', '--snapshot', s1, '--target-account', westForeign, '--container', 'disk-delta'],
        code: /^TargetNotOurs$/,
      },
      {
        name: 'target container missing',
        args: ['copy', '--snapshot', s1, '--target-account', west, '--container', 'no-such-container'],
        code: /^ContainerNotFound$/,
      },
      {
        name: 'journal of another copy',
        args: ['copy', '--snapshot', s1, '--target-account', west, '--journal', files.foreignJournal!],
        code: /^JournalMismatch$/,
      },
      // arguments
      { name: 'both --family and --snapshot', args: ['copy', '--family', relDiskId, '--snapshot', s1, '--target-account', west], code: /^InvalidArguments$/ },
      { name: 'neither --family nor --snapshot', args: ['copy', '--target-account', west], code: /^MissingSource$/ },
      { name: 'no target account', args: ['copy', '--snapshot', s1], code: /^MissingTarget$/ },
      { name: 'native copy without a region', args: ['copy', '--native', '--snapshot', s1], code: /^MissingTarget$/ },
      { name: 'concurrency 0', args: ['copy', '--snapshot', s1, '--target-account', west, '--concurrency', '0'], code: /^InvalidArguments$/ },
      // limits
      { name: '8th snapshot within 5 minutes', args: ['snapshot', 'create', '--disk', busyDiskId, '--name', 'busy-7'], code: /RateLimit/ },
      // credentials and connection files
      { name: 'expired credentials (families)', args: ['families'], code: /Authentication|Unauthorized|Token/, connection: files.expired },
      {
        name: 'expired credentials (copy)',
        args: ['copy', '--snapshot', s1, '--target-account', west],
        code: /Authentication|Unauthorized|Token/,
        connection: files.expired,
      },
      { name: 'connection file missing', args: ['families'], code: /^ConnectionFileMissing$/, connection: files.missing },
      { name: 'connection file not JSON', args: ['families'], code: /^InvalidConnectionFile$/, connection: files.malformed },
      { name: 'connection file without a token', args: ['families'], code: /^InvalidConnectionFile$/, connection: files.noToken },
      { name: 'connection file without storage accounts', args: ['families'], code: /^InvalidConnectionFile$/, connection: files.noAccounts },
      { name: 'connection file that is an array', args: ['families'], code: /^InvalidConnectionFile$/, connection: files.array },
      { name: 'connection file whose CA is gone', args: ['families'], code: /^ConnectionFileInvalid$|^InvalidConnectionFile$/, connection: files.noCa },
    ];
    assert.ok(cases.length >= 30);

    const before = await fingerprint();
    await em.resetStats();
    const failures: string[] = [];
    // A few at a time: each is a separate process. Differential copies of one family take its lock, and two at
    // once are rightly refused with CopyInProgress: those run one by one.
    const takesFamilyLock = (c: BadInput): boolean => c.args[0] === 'copy' && !c.args.includes('--native');
    const batches: BadInput[][] = cases.filter(takesFamilyLock).map((c) => [c]);
    const others = cases.filter((c) => !takesFamilyLock(c));
    for (let i = 0; i < others.length; i += 3) batches.push(others.slice(i, i + 3));
    for (const batch of batches) {
      await Promise.all(
        batch.map(async (c) => {
          const r = await runCli(c.connection ?? file, c.args);
          try {
            assertOneErrorLine(r, c.code, c.name);
          } catch (error) {
            failures.push((error as Error).message);
          }
        }),
      );
    }
    assert.deepEqual(failures, [], 'every bad input answered clearly');
    const stats = await em.getStats();
    assert.deepEqual(stats.bytesWrittenByBlob, {}, 'no bytes written');
    assert.deepEqual(stats.bytesClearedByBlob, {}, 'no pages cleared');
    assert.equal(await fingerprint(), before, 'no snapshot, disk, container or blob made, changed or deleted');
    await assertNoActiveSas(em, clients, 'the bad inputs');
  });

  void it('refuses a copy when the family already holds 5 SAS grants, and leaves those grants alone', async () => {
    // Five other snapshots of the family hold a grant each; the copy needs one more, for s1.
    const extra = [];
    for (let i = 3; i <= 6; i++)
      extra.push(
        (
          await clients.compute.createSnapshot({
            subscriptionId: sub,
            resourceGroup: 'rel',
            name: `rel-s${i}`,
            location: 'eastus',
            incremental: true,
            createOption: 'Copy',
            sourceResourceId: relDiskId,
          })
        ).id,
      );
    const holders = [rel[1]!.id, ...extra];
    for (const id of holders) await clients.compute.grantAccess(id, 'Read', 600);
    try {
      const before = await fingerprint();
      await em.resetStats();
      const r = await runCli(file, ['copy', '--snapshot', rel[0]!.id, '--target-account', storageAccount(em, 'westus2', 0).resourceId]);
      assertOneErrorLine(r, /^OperationNotAllowed$/, '5 SAS per family');
      const stats = await em.getStats();
      assert.equal(stats.activeSasGrants, 5, 'the five grants someone else holds are untouched, and none added');
      assert.deepEqual(stats.bytesWrittenByBlob, {});
      // The grants held are the only difference a refused copy may see; the resources are the same.
      assert.equal(await fingerprint(), before);
    } finally {
      for (const id of holders) await clients.compute.revokeAccess(id);
      for (const id of extra) await clients.compute.deleteSnapshot(id);
    }
    await assertNoActiveSas(em, clients, 'the SAS limit');
  });
});
