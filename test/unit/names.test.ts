import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DiskDeltaError } from '../../src/core/errors';
import {
  assertValidName,
  nameTimestamp,
  suggestRestoredDiskName,
  suggestSnapshotName,
  validateContainerName,
  validateDiskName,
  validateName,
  validateResourceGroupName,
  validateSnapshotName,
  validateStorageAccountName,
} from '../../src/core/names';

const COMPUTE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$/;

void describe('disk and snapshot names', () => {
  void it('accepts valid names', () => {
    for (const name of ['a', '1', 'web-01_os.disk_', 'x'.repeat(80), 'Disk.v2_', 'A-b.C_d9']) {
      assert.equal(validateSnapshotName(name), undefined, name);
      assert.equal(validateDiskName(name), undefined, name);
    }
  });

  void it('explains each rule that is broken', () => {
    assert.match(validateSnapshotName('') ?? '', /Enter a snapshot name/);
    assert.match(validateSnapshotName('x'.repeat(81)) ?? '', /at most 80 characters \(this one has 81\)/);
    assert.match(validateSnapshotName('my snap/1') ?? '', /not spaces, "\/"/);
    assert.match(validateSnapshotName('-snap') ?? '', /start with a letter or a digit/);
    assert.match(validateSnapshotName('_snap') ?? '', /start with a letter or a digit/);
    assert.match(validateSnapshotName('snap.') ?? '', /end with a letter, a digit or "_"/);
    assert.match(validateSnapshotName('snap-') ?? '', /end with a letter, a digit or "_"/);
    assert.match(validateDiskName('dïsk') ?? '', /^Disk names can only contain/);
  });

  void it('agrees with the rule as one regular expression (property)', () => {
    const alphabet = fc.constantFrom(...'aZ09_.- /é'.split(''));
    fc.assert(
      fc.property(
        fc.array(alphabet, { maxLength: 90 }).map((cs) => cs.join('')),
        (name) => {
          assert.equal(validateSnapshotName(name) === undefined, COMPUTE_NAME.test(name));
        },
      ),
    );
  });

  void it('assertValidName throws a DiskDeltaError with the reason in the message and a different hint', () => {
    assert.throws(
      () => assertValidName('snapshot', 'bad name'),
      (e: unknown) =>
        e instanceof DiskDeltaError &&
        e.code === 'InvalidName' &&
        /spaces/.test(e.message) &&
        !/spaces/.test(e.hint ?? '') &&
        /another snapshot name/.test(e.hint ?? ''),
    );
    assert.doesNotThrow(() => assertValidName('disk', 'good'));
  });
});

void describe('resource group names', () => {
  void it('allows parentheses, Unicode letters and up to 90 characters', () => {
    assert.equal(validateResourceGroupName('rg-prod_(west).eu'), undefined);
    assert.equal(validateResourceGroupName('gruppe-für-test'), undefined);
    assert.equal(validateResourceGroupName('r'.repeat(90)), undefined);
  });

  void it('refuses a trailing period, other characters and length', () => {
    assert.match(validateResourceGroupName('rg.') ?? '', /cannot end with a period/);
    assert.match(validateResourceGroupName('rg/1') ?? '', /not "\/"/);
    assert.match(validateResourceGroupName('r'.repeat(91)) ?? '', /at most 90/);
    assert.match(validateResourceGroupName('') ?? '', /Enter a resource group name/);
  });
});

void describe('storage names', () => {
  void it('validates container names', () => {
    for (const ok of ['abc', 'disk-delta-copies', 'a1b', 'x'.repeat(63)]) assert.equal(validateContainerName(ok), undefined, ok);
    assert.match(validateContainerName('ab') ?? '', /3 to 63/);
    assert.match(validateContainerName('x'.repeat(64)) ?? '', /3 to 63/);
    assert.match(validateContainerName('Copies') ?? '', /lowercase/);
    assert.match(validateContainerName('-abc') ?? '', /start with/);
    assert.match(validateContainerName('abc-') ?? '', /end with/);
    assert.match(validateContainerName('a--b') ?? '', /two hyphens/);
  });

  void it('validates storage account names', () => {
    assert.equal(validateStorageAccountName('diskdelta01'), undefined);
    assert.match(validateStorageAccountName('ab') ?? '', /3 to 24/);
    assert.match(validateStorageAccountName('Disk-Delta') ?? '', /lowercase letters and digits/);
    assert.equal(validateName('storageAccount', 'abc'), undefined);
  });
});

void describe('suggested names', () => {
  const when = new Date(Date.UTC(2026, 10, 22, 1, 43, 9));

  void it('uses the disk name and a UTC timestamp', () => {
    assert.equal(nameTimestamp(when), '20261122-0143');
    assert.equal(suggestSnapshotName('web-os', when), 'web-os-incr-20261122-0143');
    assert.equal(suggestSnapshotName('web-os', when, 'full'), 'web-os-full-20261122-0143');
    assert.equal(suggestRestoredDiskName('web-os-incr-20261122-0143'), 'web-os-incr-20261122-0143-restored');
  });

  void it('shortens long disk names to stay within 80 characters', () => {
    const name = suggestSnapshotName('d'.repeat(80), when);
    assert.equal(name.length, 80);
    assert.ok(name.endsWith('-incr-20261122-0143'));
    assert.equal(validateSnapshotName(name), undefined);
  });

  void it('is always valid, whatever the disk is called (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 120 }), fc.date({ min: new Date(0), max: new Date(Date.UTC(9999, 0)), noInvalidDate: true }), (disk, date) => {
        assert.equal(validateSnapshotName(suggestSnapshotName(disk, date)), undefined);
        assert.equal(validateDiskName(suggestRestoredDiskName(disk)), undefined);
      }),
    );
  });
});
