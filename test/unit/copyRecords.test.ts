// Copy records of the extension (src/extension/copyRecords.ts): the target account by id, records written with
// its endpoint read as before, and blob snapshot URLs that never carry a SAS.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { blobSnapshotTime, blobSnapshotUrlWithoutSas, COPY_RECORDS_VERSION, CopyRecordFile, migrateCopyRecord } from '../../src/extension/copyRecords';
import { scratchDirectory } from './support/copyScenario';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) rmSync(dirs.pop()!, { recursive: true, force: true });
});

const ACCOUNT_ID = '/subscriptions/s/resourceGroups/storage-westus2/providers/Microsoft.Storage/storageAccounts/ddwestus20a';
const v1 = {
  familyId: 'FAM-1',
  familyName: 'app',
  subscriptionId: 's',
  targetAccount: {
    id: ACCOUNT_ID,
    name: 'ddwestus20a',
    resourceGroup: 'storage-westus2',
    location: 'westus2',
    blobEndpoint: 'https://127.0.0.1:40001/ddwestus20a',
  },
  container: 'disk-delta',
  blobName: 'app-1234.vhd',
  journalFile: '/j.jsonl',
  importKind: 'none',
  lastCopiedSnapshotId: '/snap/1',
  state: 'done',
};

void describe('copy records', () => {
  void it('reads a record that kept the endpoint as one that keeps the account id, name and region only', () => {
    const r = migrateCopyRecord(v1)!;
    assert.equal(r.targetAccountId, ACCOUNT_ID);
    assert.equal(r.targetAccountName, 'ddwestus20a');
    assert.equal(r.targetRegion, 'westus2');
    assert.equal(r.lastCopiedSnapshotId, '/snap/1');
    assert.ok(!JSON.stringify(r).includes('127.0.0.1'), 'no endpoint is kept');
    assert.equal(migrateCopyRecord({ familyId: 'x' }), undefined, 'a record without a target is dropped');
  });

  void it('migrates a version 1 file on read and writes version 2 without endpoints', async () => {
    const dir = mkdtempSync(path.join(scratchDirectory(), 'dd-records-'));
    dirs.push(dir);
    const file = path.join(dir, 'copies.json');
    writeFileSync(file, JSON.stringify({ version: 1, records: { 'fam-1': v1 } }));
    const records = new CopyRecordFile(file);
    const r = records.get('fam-1')!;
    assert.equal(r.targetAccountId, ACCOUNT_ID);
    await records.save({ ...r, state: 'failed', error: 'x' });
    const written = JSON.parse(readFileSync(file, 'utf8')) as { version: number; records: Record<string, unknown> };
    assert.equal(written.version, COPY_RECORDS_VERSION);
    assert.doesNotMatch(JSON.stringify(written), /blobEndpoint|127\.0\.0\.1/);
    assert.equal(new CopyRecordFile(file).get('FAM-1')?.state, 'failed');
  });

  void it('keeps the snapshot parameter of a blob snapshot URL and drops anything else', () => {
    const url = 'https://a.blob.core.windows.net/c/b.vhd?snapshot=2026-11-25T18%3A00%3A00.1234567Z&sv=2024&sig=SECRET';
    const clean = blobSnapshotUrlWithoutSas(url);
    assert.doesNotMatch(clean, /sig=|sv=/);
    assert.equal(blobSnapshotTime(clean), '2026-11-25T18:00:00.1234567Z');
  });
});
