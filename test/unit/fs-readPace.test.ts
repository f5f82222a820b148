/**
 * Reads of a snapshot image, paced: `disk-delta get` reads a long file ahead faster than one blob serves
 * it, so its reads leave evenly under the blob's byte rate instead of meeting 503s.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReadGrant } from '../../src/core/access';
import type { DataPlane } from '../../src/core/ports';
import { Secret } from '../../src/core/secret';
import { grantRead } from '../../src/core/filesystems/snapshotImage';

const MiB = 1024 * 1024;

function recordingPlane(sent: number[]): DataPlane {
  return {
    openSas: () => ({
      read: (_offset: number, length: number) => {
        sent.push(Date.now());
        return Promise.resolve(new Uint8Array(length));
      },
    }),
  } as unknown as DataPlane;
}

const grant: ReadGrant = {
  resourceId: '/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/snapshots/a',
  url: () => new Secret('https://account.blob.core.windows.net/c/b?sig=x'),
  renew: () => Promise.resolve(new Secret('https://account.blob.core.windows.net/c/b?sig=y')),
};

void describe('paced snapshot reads', () => {
  void it('at 20 MiB/s, eleven 2 MiB reads asked at once leave over at least a second', async () => {
    const sent: number[] = [];
    const read = grantRead(recordingPlane(sent), grant, undefined, { requestsPerSecond: 500, bytesPerSecond: 20 * MiB });
    await Promise.all(Array.from({ length: 11 }, (_, i) => read(i * 2 * MiB, 2 * MiB)));
    assert.equal(sent.length, 11);
    // 10 x 2 MiB after the first take 20 MiB: a second at 20 MiB/s (less the pacer's 20 ms of tolerance).
    assert.ok(sent[10]! - sent[0]! >= 950, `spread over ${sent[10]! - sent[0]!} ms`);
  });

  void it('without a pace, reads go at once', async () => {
    const sent: number[] = [];
    const read = grantRead(recordingPlane(sent), grant);
    const started = Date.now();
    await Promise.all(Array.from({ length: 11 }, (_, i) => read(i * 2 * MiB, 2 * MiB)));
    assert.equal(sent.length, 11);
    assert.ok(sent.every((t) => t - started < 500));
  });
});
