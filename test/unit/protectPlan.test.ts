/** Retention, disk selection, sharding, schedules and the lease claim: the rules apart from Azure. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { DiskInfo, SnapshotInfo } from '../../src/core/model';
import {
  claimFamily,
  inShard,
  lockBlobName,
  parsePolicyText,
  parseShard,
  scheduleDefinition,
  scheduleInterval,
  selectDisks,
  shardOf,
  sourceSnapshotsToPrune,
  targetPointsToPrune,
  type HeldLease,
  type Lease,
} from '../../src/core/protect';
import { importsToPrune } from '../../src/core/protect/retention';
import { parseDocument } from 'yaml';

const sub = '11111111-1111-1111-1111-111111111111';
const diskId = (rg: string, name: string) => `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/disks/${name}`;

function snap(i: number): SnapshotInfo {
  return {
    id: `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/snapshots/s${i}`,
    name: `s${i}`,
    resourceGroup: 'rg',
    subscriptionId: sub,
    location: 'eastus',
    incremental: true,
    sizeBytes: 1 << 30,
    timeCreated: new Date(Date.UTC(2026, 0, 1, i)).toISOString(),
    uniqueId: `u${i}`,
    familyId: 'f',
  };
}

function disk(rg: string, name: string, tags?: Record<string, string>): DiskInfo {
  return {
    id: diskId(rg, name),
    name,
    resourceGroup: rg,
    subscriptionId: sub,
    location: 'eastus',
    sizeBytes: 1 << 30,
    uniqueId: `${name}-u`,
    ...(tags ? { tags } : {}),
  };
}

void describe('retention', () => {
  const family = [snap(1), snap(2), snap(3), snap(4), snap(5)];
  void it('source.keep N keeps the N newest', () => {
    assert.deepEqual(
      sourceSnapshotsToPrune(family, 2, snap(5).id).map((s) => s.name),
      ['s1', 's2', 's3'],
    );
    assert.deepEqual(sourceSnapshotsToPrune(family, 5, snap(5).id), []);
    assert.deepEqual(sourceSnapshotsToPrune(family, undefined, snap(5).id), []);
  });
  void it("never prunes the newest copied snapshot, the next diff's base, when failed copies left newer ones", () => {
    assert.deepEqual(
      sourceSnapshotsToPrune(family, 2, snap(2).id).map((s) => s.name),
      ['s1'],
    );
    assert.deepEqual(
      sourceSnapshotsToPrune(family, 1, snap(3).id).map((s) => s.name),
      ['s1', 's2'],
    );
  });
  const now = new Date(Date.UTC(2026, 0, 31));
  const points = [1, 2, 10, 20, 29, 30].map((d) => ({ snapshot: new Date(Date.UTC(2026, 0, d)).toISOString(), metadata: {} }));
  void it('target.keep N keeps the N newest points', () => {
    assert.deepEqual(
      targetPointsToPrune(points, 4, undefined, now).map((p) => p.snapshot.slice(0, 10)),
      ['2026-01-01', '2026-01-02'],
    );
  });
  void it('maxAge removes older points, never the newest', () => {
    assert.deepEqual(
      targetPointsToPrune(points, undefined, 15 * 86400, now).map((p) => p.snapshot.slice(0, 10)),
      ['2026-01-01', '2026-01-02', '2026-01-10'],
    );
    assert.deepEqual(
      targetPointsToPrune(points.slice(0, 2), 30, 86400, now).map((p) => p.snapshot.slice(0, 10)),
      ['2026-01-01'],
    );
    assert.deepEqual(targetPointsToPrune(points.slice(0, 1), 1, 1, now), []);
  });
  void it('imports follow the same rule', () => {
    const imports = points.map((p, i) => ({ id: `i${i}`, timeCreated: p.snapshot }));
    assert.deepEqual(
      importsToPrune(imports, 4, undefined, now).map((i) => i.id),
      ['i0', 'i1'],
    );
  });
});

void describe('disk selection and shards', () => {
  const disks = [
    disk('orders', 'a', { dr: 'gold' }),
    disk('Orders', 'b', { DR: 'gold' }),
    disk('orders', 'c', { dr: 'silver' }),
    disk('billing', 'd', { dr: 'gold' }),
  ];
  const policy = (disksYaml: string) =>
    parsePolicyText(
      'p.yaml',
      `policies:\n  - name: p\n    disks: ${disksYaml}\n    target: { storageAccount: /subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/abc }\n    rpo: 1h\n`,
    ).policies[0]!;
  void it('every condition must match (resource groups case-insensitively, tag names case-insensitively)', () => {
    assert.deepEqual(
      selectDisks(policy('{ resourceGroups: [orders], tags: { dr: gold } }'), disks).map((d) => d.name),
      ['a', 'b'],
    );
    assert.deepEqual(
      selectDisks(policy(`{ ids: [${diskId('billing', 'd')}], tags: { dr: gold } }`), disks).map((d) => d.name),
      ['d'],
    );
    assert.deepEqual(selectDisks(policy(`{ ids: [${diskId('billing', 'd')}], resourceGroups: [orders] }`), disks), []);
    assert.deepEqual(selectDisks(policy(`{ subscription: 22222222-2222-2222-2222-222222222222, resourceGroups: [orders] }`), disks), []);
  });
  void it('--shard i/n splits disks deterministically and completely', () => {
    const ids = Array.from({ length: 200 }, (_, i) => diskId('rg', `disk-${i}`));
    const counts = [0, 1, 2, 3].map((i) => ids.filter((id) => inShard(id, { index: i, count: 4 })).length);
    assert.equal(
      counts.reduce((a, b) => a + b, 0),
      200,
    );
    for (const c of counts) assert.ok(c > 30 && c < 70, `balanced: ${counts.join(',')}`);
    assert.equal(shardOf(ids[7]!, 4), shardOf(ids[7]!.toUpperCase(), 4), 'case-insensitive ids');
    assert.deepEqual(parseShard('3/4'), { index: 3, count: 4 });
    for (const bad of ['4/4', '1', '-1/4', 'a/b', '1/0']) assert.throws(() => parseShard(bad), /--shard/);
  });
});

void describe('schedules', () => {
  void it('run a quarter of the RPO apart, on steps cron keeps evenly', () => {
    assert.deepEqual(scheduleInterval(300), { cron: '*/5 * * * *', minutes: 5 });
    assert.deepEqual(scheduleInterval(3600), { cron: '*/15 * * * *', minutes: 15 });
    assert.deepEqual(scheduleInterval(4 * 3600), { cron: '0 * * * *', minutes: 60 });
    assert.deepEqual(scheduleInterval(24 * 3600), { cron: '0 */6 * * *', minutes: 360 });
    assert.deepEqual(scheduleInterval(30 * 86400), { cron: '0 0 * * *', minutes: 1440 });
  });
  void it('the Kubernetes definition is an Indexed Job whose pods take --shard from their completion index', () => {
    const file = parsePolicyText(
      'p.yaml',
      'policies:\n  - name: p\n    disks: { resourceGroups: [a] }\n    target: { storageAccount: /subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/abc }\n    rpo: 4h\n',
    );
    const k8s = scheduleDefinition('k8s-cronjob', file, { policyPath: 'p.yaml', image: 'img:1', shards: 5 });
    assert.match(k8s, /completionMode: Indexed/);
    assert.match(k8s, /completions: 5/);
    assert.match(k8s, /--shard \\"\$JOB_COMPLETION_INDEX\/5\\"/);
    assert.match(k8s, /schedule: '0 \* \* \* \*'/);
    assert.match(k8s, /azure\.workload\.identity\/use: "true"/);
    const gh = scheduleDefinition('github-actions', file, { policyPath: 'p.yaml', image: 'img:1', shards: 1 });
    assert.match(gh, /id-token: write/);
    assert.match(gh, /AZURE_FEDERATED_TOKEN_FILE/);
    assert.match(gh, /img:1 protect run --policy '\/work\/p\.yaml' --json/);
    assert.match(scheduleDefinition('azure-pipelines', file, { policyPath: 'p.yaml', image: 'img:1', shards: 1 }), /addSpnToEnvironment: true/);
    assert.match(scheduleDefinition('container-apps-job', file, { policyPath: 'p.yaml', image: 'img:1', shards: 1 }), /triggerType: Schedule/);
    for (const kind of ['github-actions', 'azure-pipelines', 'k8s-cronjob', 'container-apps-job'] as const) {
      const doc = parseDocument(scheduleDefinition(kind, file, { policyPath: 'p.yaml', image: 'img:1', shards: 3 }));
      assert.deepEqual(doc.errors, [], `${kind}: valid YAML`);
    }
    const job = parseDocument(k8s).toJS() as { spec: { jobTemplate: { spec: { template: { spec: { containers: { args: string[] }[] } } } } } };
    assert.match(job.spec.jobTemplate.spec.template.spec.containers[0]!.args[0]!, /--shard "\$JOB_COMPLETION_INDEX\/5"$/);
  });
});

void describe('the claim on a family', () => {
  /** Leases as Azure keeps them: one holder until released or expired. */
  class Leases implements Lease {
    held = new Map<string, { id: string; until: number }>();
    renewals = 0;
    failRenew = false;
    now = 0;
    async tryAcquire(lock: { blobName: string }, seconds: number): Promise<HeldLease | undefined> {
      const h = this.held.get(lock.blobName);
      if (h && h.until > this.now) return undefined;
      const id = `lease-${this.held.size + 1}`;
      this.held.set(lock.blobName, { id, until: this.now + seconds * 1000 });
      return {
        leaseId: id,
        renew: async () => {
          this.renewals += 1;
          if (this.failRenew) throw new Error('LeaseLost');
          this.held.get(lock.blobName)!.until = this.now + seconds * 1000;
        },
        release: async () => void this.held.delete(lock.blobName),
      };
    }
  }
  const account = {
    id: '/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/abc',
    name: 'abc',
    resourceGroup: 'g',
    location: 'westus2',
    blobEndpoint: 'https://abc',
  };
  const d = disk('orders', 'a');
  void it('one holder at a time; released at the end; an expired claim is taken over', async () => {
    const leases = new Leases();
    const first = await claimFamily(leases, account, 'c', d, { renewEveryMs: 10 });
    assert.ok(first);
    assert.equal(await claimFamily(leases, account, 'c', d), undefined, 'busy while held');
    for (let i = 0; i < 500 && leases.renewals < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(leases.renewals >= 2, 'renewed while running');
    await first.release();
    const second = await claimFamily(leases, account, 'c', d);
    assert.ok(second, 'free after release');
    leases.now += 61_000;
    const third = await claimFamily(leases, account, 'c', d);
    assert.ok(third, 'taken over after expiry');
    await second.release();
    await third.release();
  });
  void it('a failed renewal aborts the work', async () => {
    const leases = new Leases();
    leases.failRenew = true;
    const claim = await claimFamily(leases, account, 'c', d, { renewEveryMs: 10 });
    for (let i = 0; i < 500 && !claim!.lost.aborted; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(claim!.lost.aborted, true);
    await claim!.release().catch(() => undefined);
  });
  void it('the lock blob is per disk incarnation (id and uniqueId)', () => {
    assert.notEqual(lockBlobName(d), lockBlobName({ ...d, uniqueId: 'other' }));
    assert.equal(lockBlobName(d), lockBlobName({ ...d, id: d.id.toUpperCase() }));
    assert.match(lockBlobName(d), /^a-[0-9a-f]{8}\.lock$/);
  });
});

void describe('RPO badges', () => {
  void it('within, at risk from three quarters of the RPO, breached at the RPO or without a point', async () => {
    const { rpoBadge } = await import('../../src/core/protect');
    assert.equal(rpoBadge(0, 3600), 'within');
    assert.equal(rpoBadge(2699, 3600), 'within');
    assert.equal(rpoBadge(2700, 3600), 'atRisk');
    assert.equal(rpoBadge(3599, 3600), 'atRisk');
    assert.equal(rpoBadge(3600, 3600), 'breached');
    assert.equal(rpoBadge(null, 3600), 'breached');
  });
});
