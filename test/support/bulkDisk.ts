/**
 * A disk with many scattered ranges written by the emulator's synthetic writes (no bytes travel from
 * the test), so a copy of it makes hundreds of requests: what crash and soak tests need.
 */
import assert from 'node:assert/strict';
import type { AzureClients } from '../../src/azure';
import { vhdFooter } from '../../emulator/state';
import type { RunningEmulator } from './emulator';

const MiB = 1024 * 1024;

export async function createBulkDisk(
  em: RunningEmulator,
  clients: AzureClients,
  o: { resourceGroup: string; name: string; ranges: number; rangeBytes: number; seed: number; location?: string; sizeMiB?: number },
): Promise<string> {
  const sizeBytes = (o.sizeMiB ?? 256) * MiB;
  const stride = Math.floor(sizeBytes / o.ranges / 512) * 512;
  assert.ok(stride > o.rangeBytes, 'the ranges fit apart on the disk');
  const disk = await clients.compute.createDisk({
    subscriptionId: em.connection.subscriptionId,
    resourceGroup: o.resourceGroup,
    name: o.name,
    location: o.location ?? 'eastus',
    createOption: 'Upload',
    uploadSizeBytes: sizeBytes + 512,
  });
  // An upload carries its own VHD footer (docs/azure-behaviour.md#import-and-upload).
  const url = await clients.compute.grantAccess(disk.id, 'Write', 600);
  try {
    await clients.dataPlane.openWritableSas(url).putPages(sizeBytes, vhdFooter(sizeBytes, disk.uniqueId, Date.now()));
  } finally {
    await clients.compute.revokeAccess(disk.id);
  }
  await syntheticWrites(em, disk.id, { seed: o.seed, pattern: { count: o.ranges, length: o.rangeBytes, stride, start: 0 } });
  return disk.id;
}

export async function syntheticWrites(em: RunningEmulator, diskId: string, body: unknown): Promise<void> {
  const r = await em.arm('POST', `/emulator/disks/${encodeURIComponent(diskId)}/synthetic-writes`, body);
  assert.equal(r.status, 200, JSON.stringify(r.body));
}
