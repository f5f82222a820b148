import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import type { SnapshotInfo } from '../../src/core/model';
import type { CreateSnapshotRequest } from '../../src/core/ports';
import {
  COMPUTE_DISK_API_VERSION,
  DEPLOYMENT_TEMPLATE_SCHEMA,
  armDiskTemplate,
  armSnapshotTemplate,
  azDiskCreate,
  azDiskCreateFromSnapshot,
  azSnapshotCreate,
  formatArmTemplate,
  fullSnapshotRequest,
  restoreDiskRequest,
  shellQuote,
} from '../../src/core/exportCommands';

const SUB = '00000000-0000-0000-0000-000000000001';
const DISK_ID = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks/web-os`;
const SNAP_ID = `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/snapshots/web-os-incr-1`;

/** The argv bash makes of a command line (the words after the command name are printed NUL-separated). */
function bashWords(line: string): string[] {
  const r = spawnSync('bash', ['-c', `f() { printf '%s\\0' "$@"; }; f ${line.replace(/^az /, '')}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\0').slice(0, -1);
}

const createRequest: CreateSnapshotRequest = {
  subscriptionId: SUB,
  resourceGroup: 'rg',
  name: 'web-os-incr-20261122-0143',
  location: 'westeurope',
  incremental: true,
  createOption: 'Copy',
  sourceResourceId: DISK_ID,
  sku: 'Standard_ZRS',
  tags: { owner: 'ops team', note: "it's [fine]" },
};

const snapshot: SnapshotInfo = {
  id: SNAP_ID,
  name: 'web-os-incr-1',
  resourceGroup: 'rg',
  subscriptionId: SUB,
  location: 'westeurope',
  incremental: true,
  sizeBytes: 128 * 1024 ** 3,
  timeCreated: '2026-11-22T01:43:00Z',
  uniqueId: 'u1',
};

void describe('shellQuote', () => {
  void it('leaves plain words bare and quotes the rest', () => {
    assert.equal(shellQuote('Standard_ZRS'), 'Standard_ZRS');
    assert.equal(shellQuote(DISK_ID), DISK_ID);
    assert.equal(shellQuote('a b'), "'a b'");
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
    assert.equal(shellQuote(''), "''");
  });

  void it('bash reads back exactly the original arguments (property)', () => {
    const arb = fc.array(fc.string({ unit: fc.constantFrom(...'ab $`"\'\\!*?;&|<>(){}[]~#=\n\t-/.é'.split('')), maxLength: 12 }), {
      minLength: 1,
      maxLength: 40,
    });
    const samples = fc.sample(arb, 25);
    for (const args of samples) assert.deepEqual(bashWords(args.map(shellQuote).join(' ')), args);
  });
});

void describe('az commands', () => {
  void it('creates an incremental snapshot with SKU and tags', () => {
    const line = azSnapshotCreate(createRequest);
    assert.ok(line.startsWith('az snapshot create '));
    assert.deepEqual(bashWords(line), [
      'snapshot',
      'create',
      '--subscription',
      SUB,
      '--resource-group',
      'rg',
      '--name',
      'web-os-incr-20261122-0143',
      '--location',
      'westeurope',
      '--source',
      DISK_ID,
      '--incremental',
      'true',
      '--sku',
      'Standard_ZRS',
      '--tags',
      'owner=ops team',
      "note=it's [fine]",
    ]);
  });

  void it('multiline form is the same command for bash', () => {
    const line = azSnapshotCreate(createRequest, { multiline: true });
    assert.ok(line.includes(' \\\n  --name '));
    assert.deepEqual(bashWords(line), bashWords(azSnapshotCreate(createRequest)));
  });

  void it('full snapshot and CopyStart variants', () => {
    const full = azSnapshotCreate(fullSnapshotRequest(snapshot, { name: 'web-os-full' }));
    assert.match(full, /--source \/subscriptions\/.*\/snapshots\/web-os-incr-1 --incremental false$/);
    const copy = azSnapshotCreate({ ...createRequest, createOption: 'CopyStart', sourceResourceId: SNAP_ID, location: 'northeurope', tags: undefined });
    assert.match(copy, /--location northeurope .*--incremental true --copy-start true --sku Standard_ZRS$/);
  });

  void it('import never shows a SAS', () => {
    const line = azSnapshotCreate({
      ...createRequest,
      createOption: 'Import',
      sourceResourceId: undefined,
      sourceUri: 'https://acct.blob.core.windows.net/c/b.vhd?snapshot=2026-11-22T01:00:00.0000000Z&sig=SECRETSIG&se=2026',
      storageAccountId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct',
      tags: undefined,
    });
    assert.ok(!line.includes('SECRETSIG'));
    assert.ok(line.includes('snapshot=2026-11-22T01:00:00.0000000Z'));
    assert.ok(line.includes('--source-storage-account-id'));
  });

  void it('restores a disk from a snapshot', () => {
    const req = restoreDiskRequest(snapshot, { name: 'web-os-restored', sku: 'Premium_LRS', diskSizeGB: 256 });
    const line = azDiskCreateFromSnapshot(req);
    assert.deepEqual(bashWords(line), [
      'disk',
      'create',
      '--subscription',
      SUB,
      '--resource-group',
      'rg',
      '--name',
      'web-os-restored',
      '--location',
      'westeurope',
      '--source',
      SNAP_ID,
      '--size-gb',
      '256',
      '--sku',
      'Premium_LRS',
    ]);
    assert.throws(() => azDiskCreateFromSnapshot({ ...req, createOption: 'Empty' }));
    assert.match(azDiskCreate({ ...req, createOption: 'Empty', sourceResourceId: undefined }), /^az disk create .* --size-gb 256 --sku Premium_LRS$/);
  });
});

function parametersUsed(value: unknown, out = new Set<string>()): Set<string> {
  if (typeof value === 'string') for (const m of value.matchAll(/parameters\('([^']+)'\)/g)) out.add(m[1]);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) parametersUsed(v, out);
  return out;
}

void describe('ARM templates', () => {
  void it('a snapshot template is deployable JSON with incremental: true', () => {
    const text = formatArmTemplate(armSnapshotTemplate(createRequest));
    const t = JSON.parse(text) as Record<string, unknown> & { resources: Record<string, unknown>[]; parameters: Record<string, { defaultValue?: unknown }> };
    assert.equal(t.$schema, DEPLOYMENT_TEMPLATE_SCHEMA);
    assert.match(String(t.$schema), /2019-04-01\/deploymentTemplate\.json#$/);
    assert.equal(t.contentVersion, '1.0.0.0');
    const [res] = t.resources;
    assert.equal(res.type, 'Microsoft.Compute/snapshots');
    assert.equal(res.apiVersion, COMPUTE_DISK_API_VERSION);
    assert.match(String(res.apiVersion), /^\d{4}-\d{2}-\d{2}$/);
    const props = res.properties as { incremental: boolean; creationData: Record<string, string> };
    assert.equal(props.incremental, true);
    assert.equal(props.creationData.createOption, 'Copy');
    assert.equal(props.creationData.sourceResourceId, "[parameters('sourceResourceId')]");
    assert.equal(t.parameters.sourceResourceId.defaultValue, DISK_ID);
    assert.equal(t.parameters.snapshotName.defaultValue, createRequest.name);
    assert.equal(t.parameters.sku.defaultValue, 'Standard_ZRS');
    // A literal starting with "[" is escaped so ARM does not evaluate it.
    assert.deepEqual(res.tags, { owner: 'ops team', note: "it's [fine]" });
    assert.equal(armSnapshotTemplate({ ...createRequest, tags: { a: '[x]' } }).resources[0].tags?.a, '[[x]');
    for (const p of parametersUsed(t)) assert.ok(p in t.parameters, `parameter ${p} is declared`);
  });

  void it('a restore template creates a disk by Copy from the snapshot', () => {
    const t = JSON.parse(formatArmTemplate(armDiskTemplate(restoreDiskRequest(snapshot, { name: 'restored', sku: 'Premium_LRS', diskSizeGB: 256 })))) as {
      resources: { type: string; apiVersion: string; sku: { name: string }; properties: { creationData: Record<string, string>; diskSizeGB: string } }[];
      parameters: Record<string, { type: string; defaultValue: unknown }>;
      outputs: Record<string, { value: string }>;
    };
    const [res] = t.resources;
    assert.equal(res.type, 'Microsoft.Compute/disks');
    assert.equal(res.apiVersion, COMPUTE_DISK_API_VERSION);
    assert.equal(res.properties.creationData.createOption, 'Copy');
    assert.equal(t.parameters.sourceResourceId.defaultValue, SNAP_ID);
    assert.equal(t.parameters.diskSizeGB.type, 'int');
    assert.equal(t.parameters.diskSizeGB.defaultValue, 256);
    assert.equal(res.sku.name, "[parameters('sku')]");
    assert.match(t.outputs.diskId.value, /Microsoft\.Compute\/disks/);
    for (const p of parametersUsed(t)) assert.ok(p in t.parameters, `parameter ${p} is declared`);
  });

  void it('a full snapshot template says incremental: false', () => {
    const t = armSnapshotTemplate(fullSnapshotRequest(snapshot, { name: 'full' }));
    assert.equal((t.resources[0].properties as { incremental: boolean }).incremental, false);
    assert.equal(t.resources[0].sku, undefined);
  });

  void it('refuses a request that lacks its source', () => {
    assert.throws(() => armSnapshotTemplate({ ...createRequest, sourceResourceId: undefined }), /no source/);
    assert.throws(() => azSnapshotCreate({ ...createRequest, sourceResourceId: undefined }), /no source/);
  });
});
