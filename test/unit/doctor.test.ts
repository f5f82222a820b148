import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allows, doctorExitCode, formatDoctorMarkdown, formatDoctorReport, runDoctor, type DiagnosticsApi, type PermissionSet } from '../../src/core/doctor';
import type { DiskInfo, StorageAccountInfo, SubscriptionInfo } from '../../src/core/model';
import { type ComputeApi, type DataPlane, type TargetStore } from '../../src/core/ports';
import { DiskDeltaError } from '../../src/core/errors';

const SUB = '00000000-0000-0000-0000-000000000001';
const ACCOUNT: StorageAccountInfo = {
  id: `/subscriptions/${SUB}/resourceGroups/storage/providers/Microsoft.Storage/storageAccounts/target`,
  name: 'target',
  resourceGroup: 'storage',
  location: 'westus2',
  blobEndpoint: 'https://target.blob.core.windows.net/',
};

interface World {
  signIn?: () => Promise<string>;
  subscriptions?: SubscriptionInfo[];
  providers?: Record<string, string>;
  permissions?: Record<string, PermissionSet[] | undefined>;
  unreachable?: Set<string>;
  containerError?: unknown;
}

function setup(w: World = {}) {
  const disk = {
    id: `/subscriptions/${SUB}/resourceGroups/src/providers/Microsoft.Compute/disks/d1`,
    name: 'd1',
    resourceGroup: 'src',
    subscriptionId: SUB,
  } as DiskInfo;
  const compute = {
    listSubscriptions: () => Promise.resolve(w.subscriptions ?? [{ subscriptionId: SUB, displayName: 'Prod' }]),
    listDisks: async function* () {
      await Promise.resolve();
      yield disk;
    },
    listStorageAccounts: () => Promise.resolve([ACCOUNT]),
  } as unknown as ComputeApi;
  const all: PermissionSet[] = [
    { actions: ['*'], notActions: [], dataActions: ['Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*'], notDataActions: [] },
  ];
  const diagnostics: DiagnosticsApi = {
    signIn: w.signIn ?? (() => Promise.resolve('user@example.com')),
    providerState: (_s, ns) => Promise.resolve(w.providers?.[ns] ?? 'Registered'),
    permissions: (scope) => Promise.resolve(w.permissions && scope in w.permissions ? w.permissions[scope] : all),
    listResourceGroup: () => Promise.resolve({ disks: 1, snapshots: 3 }),
    reachable: (url) =>
      w.unreachable?.has(url) ? Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' })) : Promise.resolve(),
  };
  const dataPlane = {
    targetStore: () =>
      Promise.resolve({ containerExists: () => (w.containerError ? Promise.reject(w.containerError) : Promise.resolve(false)) } as unknown as TargetStore),
  } as unknown as DataPlane;
  return { compute, diagnostics, dataPlane };
}

void describe('doctor', () => {
  void it('passes when every read works, with one result per check', async () => {
    const checks = await runDoctor({ ...setup(), subscriptionId: SUB, targetAccountId: ACCOUNT.id });
    assert.deepEqual(
      checks.map((c) => [c.check, c.status]),
      [
        ['sign-in', 'ok'],
        ['subscription', 'ok'],
        ['provider Microsoft.Compute', 'ok'],
        ['provider Microsoft.Storage', 'ok'],
        ['resource group src', 'ok'],
        ['target account', 'ok'],
        ['target account permissions', 'ok'],
        ['container target/disk-delta', 'ok'],
        ['blob endpoint target', 'ok'],
      ],
    );
    assert.ok(checks.every((c) => c.fix === '' && Object.keys(c).join() === 'check,status,detail,fix'));
    assert.equal(doctorExitCode(checks), 0);
    assert.match(formatDoctorReport(checks), /All checks passed\.$/);
    assert.match(formatDoctorMarkdown(checks), /\| ✅ \| sign-in \|/);
  });

  void it('stops at a failed sign-in and says how to sign in', async () => {
    const checks = await runDoctor({ ...setup({ signIn: () => Promise.reject(new Error('DefaultAzureCredential failed to retrieve a token')) }) });
    assert.equal(checks.length, 1);
    assert.equal(checks[0]!.status, 'fail');
    assert.match(checks[0]!.fix, /az login/);
    assert.equal(doctorExitCode(checks), 1);
  });

  void it('asks for a subscription when several are available and none was given', async () => {
    const checks = await runDoctor({
      ...setup({
        subscriptions: [
          { subscriptionId: SUB, displayName: 'a' },
          { subscriptionId: 'other', displayName: 'b' },
        ],
      }),
    });
    assert.equal(checks[1]!.status, 'fail');
    assert.match(checks[1]!.fix, /--subscription/);
  });

  void it('fails an unregistered provider with the command that registers it', async () => {
    const checks = await runDoctor({ ...setup({ providers: { 'Microsoft.Compute': 'NotRegistered' } }), subscriptionId: SUB });
    const c = checks.find((x) => x.check === 'provider Microsoft.Compute')!;
    assert.equal(c.status, 'fail');
    assert.match(c.fix, /az provider register --namespace Microsoft\.Compute/);
    assert.equal(doctorExitCode(checks), 1);
  });

  void it('names the actions missing on a source resource group (Reader only)', async () => {
    const reader: PermissionSet[] = [{ actions: ['*/read'], notActions: [] }];
    const checks = await runDoctor({ ...setup({ permissions: { [`/subscriptions/${SUB}/resourceGroups/src`]: reader } }), subscriptionId: SUB });
    const c = checks.find((x) => x.check === 'resource group src')!;
    assert.equal(c.status, 'fail');
    assert.match(c.detail, /Microsoft\.Compute\/snapshots\/write/);
    assert.match(c.detail, /beginGetAccess\/action/);
    assert.doesNotMatch(c.detail, /disks\/read/);
    assert.match(c.fix, /Disk Snapshot Contributor/);
  });

  void it('warns when permissions cannot be read, fails an unreachable endpoint and a refused container read', async () => {
    const refused = new DiskDeltaError('This request is not authorized to perform this operation.', 'AuthorizationFailure', undefined, 403);
    const checks = await runDoctor({
      ...setup({
        permissions: { [`/subscriptions/${SUB}/resourceGroups/src`]: undefined },
        unreachable: new Set([ACCOUNT.blobEndpoint]),
        containerError: refused,
      }),
      subscriptionId: SUB,
      targetAccountId: ACCOUNT.id,
    });
    assert.equal(checks.find((x) => x.check === 'resource group src')!.status, 'warn');
    const container = checks.find((x) => x.check === 'container target/disk-delta')!;
    assert.equal(container.status, 'fail');
    assert.match(container.fix, /Storage Blob Data Contributor/);
    const endpoint = checks.find((x) => x.check === 'blob endpoint target')!;
    assert.equal(endpoint.status, 'fail');
    assert.match(endpoint.detail, /ENOTFOUND/);
  });

  void it('fails the target account when only the keys (Owner, Contributor) and no blob data role are held', async () => {
    const owner: PermissionSet[] = [{ actions: ['*'], notActions: [], dataActions: [], notDataActions: [] }];
    const checks = await runDoctor({
      ...setup({ permissions: { [`/subscriptions/${SUB}/resourceGroups/storage`]: owner } }),
      subscriptionId: SUB,
      targetAccountId: ACCOUNT.id,
    });
    const c = checks.find((x) => x.check === 'target account permissions')!;
    assert.equal(c.status, 'fail');
    assert.match(c.detail, /data action Microsoft\.Storage\/storageAccounts\/blobServices\/containers\/blobs\/write/);
    assert.match(c.fix, /Storage Blob Data Contributor/);
  });

  void it('refuses a target that is not a storage account id', async () => {
    const checks = await runDoctor({
      ...setup(),
      subscriptionId: SUB,
      targetAccountId: `/subscriptions/${SUB}/resourceGroups/x/providers/Microsoft.Compute/disks/d`,
    });
    assert.equal(checks.find((x) => x.check === 'target account')!.status, 'fail');
  });

  void it('matches RBAC action patterns and notActions', () => {
    const contributor: PermissionSet[] = [{ actions: ['*'], notActions: ['Microsoft.Authorization/*/Write'] }];
    assert.equal(allows(contributor, 'Microsoft.Compute/snapshots/write'), true);
    assert.equal(allows(contributor, 'Microsoft.Authorization/roleAssignments/write'), false);
    const snapshotOnly: PermissionSet[] = [{ actions: ['Microsoft.Compute/snapshots/*'], notActions: [] }];
    assert.equal(allows(snapshotOnly, 'Microsoft.Compute/snapshots/beginGetAccess/action'), true);
    assert.equal(allows(snapshotOnly, 'Microsoft.Compute/disks/read'), false);
    assert.equal(
      allows(
        [{ actions: [], notActions: [], dataActions: ['Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*'] }],
        'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write',
        true,
      ),
      true,
    );
  });
});
