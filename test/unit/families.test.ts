import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { DiskInfo, SnapshotInfo } from '../../src/core/model';
import { DiskDeltaError } from '../../src/core/errors';
import {
  MAX_SNAPSHOTS_PER_DISK,
  RESIZE_BOUNDARY_BYTES,
  SNAPSHOT_WINDOW_MS,
  assertDiffPair,
  checkCreateAllowed,
  crossesResizeBoundary,
  findFamily,
  groupFamilies,
  previousInFamily,
  sameFamily,
  validateDiffPair,
} from '../../src/core/families';

const SUB = '00000000-0000-0000-0000-000000000001';
const GiB = 1024 ** 3;
const diskId = (name: string): string => `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/disks/${name}`;

function disk(name: string, uniqueId: string): DiskInfo {
  return { id: diskId(name), name, resourceGroup: 'rg', subscriptionId: SUB, location: 'westeurope', sizeBytes: 128 * GiB, uniqueId };
}

function snap(name: string, minute: number, over: Partial<SnapshotInfo> = {}): SnapshotInfo {
  return {
    id: `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/snapshots/${name}`,
    name,
    resourceGroup: 'rg',
    subscriptionId: SUB,
    location: 'westeurope',
    incremental: true,
    sizeBytes: 128 * GiB,
    timeCreated: new Date(Date.UTC(2026, 10, 22, 0, minute)).toISOString(),
    uniqueId: `u-${name}`,
    sourceResourceId: diskId('web'),
    sourceUniqueId: 'disk-web-1',
    ...over,
  };
}

void describe('groupFamilies', () => {
  void it('groups by source id (case-insensitive) and source uniqueId, oldest first', () => {
    const c = snap('c', 30);
    const a = snap('a', 10, { sourceResourceId: diskId('web').toUpperCase() });
    const b = snap('b', 20);
    const other = snap('x', 5, { sourceResourceId: diskId('db'), sourceUniqueId: 'disk-db-1' });
    const { families, fullSnapshots } = groupFamilies([c, other, a, b]);
    assert.equal(families.length, 2);
    assert.deepEqual(fullSnapshots, []);
    const web = families.find((f) => f.sourceName.toLowerCase() === 'web');
    assert.ok(web);
    assert.deepEqual(
      web.snapshots.map((s) => s.name),
      ['a', 'b', 'c'],
    );
    assert.equal(web.sourceDiskState, 'unknown');
  });

  void it('splits a re-created disk into two families and marks the old one', () => {
    const old1 = snap('old1', 1);
    const old2 = snap('old2', 2);
    const new1 = snap('new1', 3, { sourceUniqueId: 'disk-web-2' });
    const { families } = groupFamilies([old1, new1, old2], [disk('web', 'disk-web-2')]);
    assert.equal(families.length, 2);
    const oldFamily = families.find((f) => f.sourceUniqueId === 'disk-web-1');
    const newFamily = families.find((f) => f.sourceUniqueId === 'disk-web-2');
    assert.equal(oldFamily?.sourceDiskState, 'recreated');
    assert.equal(oldFamily?.disk, undefined);
    assert.equal(newFamily?.sourceDiskState, 'present');
    assert.equal(newFamily?.disk?.name, 'web');
  });

  void it('keeps families of deleted disks', () => {
    const { families } = groupFamilies([snap('a', 1), snap('b', 2)], []);
    assert.equal(families.length, 1);
    assert.equal(families[0].sourceDiskState, 'deleted');
    assert.equal(families[0].snapshots.length, 2);
  });

  void it('puts full snapshots apart', () => {
    const full = snap('full', 4, { incremental: false });
    const { families, fullSnapshots } = groupFamilies([snap('a', 1), full]);
    assert.deepEqual(
      fullSnapshots.map((s) => s.name),
      ['full'],
    );
    assert.deepEqual(
      families[0].snapshots.map((s) => s.name),
      ['a'],
    );
  });

  void it('uses incrementalSnapshotFamilyId as the id, and joins snapshots that lack it by source', () => {
    const { families } = groupFamilies([snap('a', 1, { familyId: 'FAM-1' }), snap('b', 2)]);
    assert.equal(families.length, 1);
    assert.equal(families[0].id, 'FAM-1');
    assert.equal(families[0].snapshots.length, 2);
    const without = groupFamilies([snap('a', 1)]).families[0];
    assert.equal(without.id, `${diskId('web').toLowerCase()}|disk-web-1`);
  });

  void it('finds the previous snapshot in a family', () => {
    const catalog = groupFamilies([snap('b', 2), snap('a', 1), snap('c', 3)]);
    const fam = findFamily(catalog, snap('b', 0).id.toUpperCase());
    assert.ok(fam);
    assert.equal(previousInFamily(fam, snap('b', 0).id)?.name, 'a');
    assert.equal(previousInFamily(fam, snap('a', 0).id), undefined);
    assert.equal(previousInFamily(fam, snap('c', 0).id)?.name, 'b');
  });

  void it('every incremental snapshot lands in exactly one family, in time order (property)', () => {
    const arbSnap = fc
      .record({
        n: fc.integer({ min: 0, max: 10_000 }),
        minute: fc.integer({ min: 0, max: 59 }),
        disk: fc.constantFrom('web', 'db', 'WEB'),
        gen: fc.constantFrom('1', '2'),
        incremental: fc.boolean(),
      })
      .map((r) =>
        snap(`s${r.n}`, r.minute, { sourceResourceId: diskId(r.disk), sourceUniqueId: `${r.disk.toLowerCase()}-${r.gen}`, incremental: r.incremental }),
      );
    fc.assert(
      fc.property(fc.uniqueArray(arbSnap, { selector: (s) => s.name, maxLength: 30 }), (snaps) => {
        const { families, fullSnapshots } = groupFamilies(snaps);
        const placed = families.flatMap((f) => f.snapshots);
        assert.equal(placed.length + fullSnapshots.length, snaps.length);
        for (const f of families) {
          for (let i = 1; i < f.snapshots.length; i++) {
            assert.ok(Date.parse(f.snapshots[i - 1].timeCreated) <= Date.parse(f.snapshots[i].timeCreated));
            assert.ok(sameFamily(f.snapshots[0], f.snapshots[i]));
          }
        }
        assert.ok(families.length <= 4);
      }),
    );
  });
});

void describe('checkCreateAllowed', () => {
  const now = new Date(Date.UTC(2026, 10, 22, 1, 0));
  const at = (msAgo: number, i: number): SnapshotInfo => snap(`r${i}`, 0, { timeCreated: new Date(now.getTime() - msAgo).toISOString() });

  void it('allows up to 6 in the last 5 minutes', () => {
    const six = Array.from({ length: 6 }, (_, i) => at(i * 10_000, i));
    assert.deepEqual(checkCreateAllowed(six, now), { ok: true });
  });

  void it('refuses the 8th within 5 minutes and says when the next is allowed', () => {
    // 7 in the window, the oldest 4 minutes ago: the next fits once that one is 5 minutes old.
    const seven = Array.from({ length: 7 }, (_, i) => at(i * 40_000, i));
    const check = checkCreateAllowed(seven, now);
    assert.equal(check.ok, false);
    assert.ok(!check.ok && check.reason === 'RateLimit');
    assert.equal(check.nextAllowedAt.getTime(), now.getTime() - 6 * 40_000 + SNAPSHOT_WINDOW_MS);
    assert.equal(check.error.code, 'RateLimit');
    assert.match(check.error.hint ?? '', /Try again after/);
  });

  void it('ignores snapshots older than the window and full snapshots', () => {
    const old = Array.from({ length: 10 }, (_, i) => at(SNAPSHOT_WINDOW_MS + i * 1000, i));
    const fulls = Array.from({ length: 10 }, (_, i) => ({ ...at(1000, 100 + i), incremental: false }));
    assert.equal(checkCreateAllowed([...old, ...fulls], now).ok, true);
  });

  void it('refuses the 501st snapshot of a disk', () => {
    const many = Array.from({ length: MAX_SNAPSHOTS_PER_DISK }, (_, i) => at(SNAPSHOT_WINDOW_MS * 2 + i * 60_000, i));
    const check = checkCreateAllowed(many, now);
    assert.ok(!check.ok && check.reason === 'CountLimit');
    assert.ok(check.error instanceof DiskDeltaError);
    assert.equal(checkCreateAllowed(many.slice(1), now).ok, true);
  });

  void it('the next allowed time really is allowed (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: SNAPSHOT_WINDOW_MS * 2 }), { maxLength: 20 }), (agos) => {
        const snaps = agos.map((ms, i) => at(ms, i));
        const check = checkCreateAllowed(snaps, now);
        const inWindow = agos.filter((ms) => ms < SNAPSHOT_WINDOW_MS).length;
        assert.equal(check.ok, inWindow < 7);
        if (!check.ok && check.reason === 'RateLimit') {
          assert.ok(check.nextAllowedAt.getTime() > now.getTime());
          assert.equal(checkCreateAllowed(snaps, check.nextAllowedAt).ok, true);
          assert.equal(checkCreateAllowed(snaps, new Date(check.nextAllowedAt.getTime() - 1)).ok, false);
        }
      }),
    );
  });
});

void describe('diff pairs', () => {
  void it('orders any two snapshots of a family older first', () => {
    const a = snap('a', 1);
    const b = snap('b', 2);
    assert.deepEqual(validateDiffPair(b, a), { ok: true, older: a, newer: b });
    assert.deepEqual(assertDiffPair(a, b), { older: a, newer: b });
  });

  const codeOf = (x: SnapshotInfo, y: SnapshotInfo): string | undefined => {
    const r = validateDiffPair(x, y);
    return r.ok ? undefined : r.error.code;
  };

  void it('refuses the same snapshot twice', () => {
    assert.equal(codeOf(snap('a', 1), snap('a', 1)), 'SameSnapshot');
  });

  void it('refuses full snapshots', () => {
    assert.equal(codeOf(snap('a', 1), snap('f', 2, { incremental: false })), 'NotIncremental');
  });

  void it('refuses different families, including a re-created disk', () => {
    assert.equal(codeOf(snap('a', 1), snap('b', 2, { sourceResourceId: diskId('db') })), 'DifferentFamilies');
    assert.equal(codeOf(snap('a', 1), snap('b', 2, { sourceUniqueId: 'disk-web-2' })), 'DifferentFamilies');
    assert.equal(codeOf(snap('a', 1, { familyId: 'f1' }), snap('b', 2, { familyId: 'f2' })), 'DifferentFamilies');
    assert.equal(codeOf(snap('a', 1, { familyId: 'F1' }), snap('b', 2, { familyId: 'f1', sourceResourceId: diskId('WEB') })), undefined);
  });

  void it('refuses a resize across 4 TiB and says what to do', () => {
    const small = snap('a', 1, { sizeBytes: RESIZE_BOUNDARY_BYTES });
    const big = snap('b', 2, { sizeBytes: RESIZE_BOUNDARY_BYTES + GiB });
    assert.equal(crossesResizeBoundary(small, big), true);
    assert.equal(crossesResizeBoundary(snap('x', 1, { sizeBytes: 1024 * GiB }), small), false);
    assert.equal(crossesResizeBoundary(big, snap('y', 3, { sizeBytes: 8192 * GiB })), false);
    const r = validateDiffPair(big, small);
    assert.ok(!r.ok);
    assert.equal(r.error.code, 'ResizeBoundary');
    assert.match(r.error.hint ?? '', /full copy of "b"/);
    assert.throws(() => assertDiffPair(small, big), DiskDeltaError);
  });
});
