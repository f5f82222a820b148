/**
 * A small disk (96 MiB, created for upload so that whole-disk comparisons stay cheap) written in four phases with an incremental snapshot after each (s1..s4), made through
 * the CLI: cleared ranges, ranges over 4 MiB that start off a chunk boundary, and writes next to the
 * VHD footer (the disk's last pages).
 */
import assert from 'node:assert/strict';
import type { AzureClients } from '../../src/azure';
import type { SnapshotInfo } from '../../src/core/model';
import { parseJson, runCli } from './cli';
import { writeDisk, type DiskWrite } from './disks';
import { vhdFooter } from '../../emulator/state';

const MiB = 1024 * 1024;
const PAGE = 512;

export const PHASED_DISK_BYTES = 96 * MiB;
const D = PHASED_DISK_BYTES;

export const PHASES: DiskWrite[][] = [
  [
    { offset: 0, length: 64 * 1024 },
    { offset: 10 * MiB + 4096, length: 6 * MiB + 1024 },
    { offset: 40 * MiB, length: MiB },
    { offset: D - PAGE, length: PAGE },
  ],
  [
    { offset: 32 * 1024, length: 64 * 1024 },
    { offset: 40 * MiB, length: 512 * 1024, clear: true },
    { offset: 13 * MiB, length: 8 * MiB },
    { offset: D - 3 * PAGE, length: PAGE },
  ],
  [
    { offset: 10 * MiB + 4096, length: 2 * MiB, clear: true },
    { offset: 70 * MiB + 512, length: 4 * MiB + 1024 },
    { offset: D - PAGE, length: PAGE },
    { offset: MiB, length: PAGE },
  ],
  [
    { offset: 0, length: 64 * 1024, clear: true },
    { offset: 80 * MiB, length: 9 * MiB },
    { offset: D - 2 * PAGE, length: 2 * PAGE },
    { offset: 40 * MiB + 512 * 1024, length: 512 * 1024, clear: true },
  ],
];

/** Creates the disk and snapshots `<name>-s1..s<phases>`; returns the disk id and the snapshots, oldest first. */
export async function createPhasedDisk(
  clients: AzureClients,
  connectionFile: string,
  subscriptionId: string,
  options: { resourceGroup: string; name: string; location?: string; phases?: DiskWrite[][] },
): Promise<{ diskId: string; snapshots: SnapshotInfo[] }> {
  const disk = await clients.compute.createDisk({
    subscriptionId,
    resourceGroup: options.resourceGroup,
    name: options.name,
    location: options.location ?? 'eastus',
    // An upload disk may be any whole number of MiB (plus the footer); Empty disks start at 1 GiB.
    createOption: 'Upload',
    uploadSizeBytes: PHASED_DISK_BYTES + PAGE,
  });
  // An upload carries its own VHD footer (docs/azure-behaviour.md#import-and-upload): write one, as `az disk upload` would.
  const url = await clients.compute.grantAccess(disk.id, 'Write', 600);
  try {
    await clients.dataPlane.openWritableSas(url).putPages(PHASED_DISK_BYTES, vhdFooter(PHASED_DISK_BYTES, disk.uniqueId, Date.now()));
  } finally {
    await clients.compute.revokeAccess(disk.id);
  }
  const snapshots: SnapshotInfo[] = [];
  for (const [i, phase] of (options.phases ?? PHASES).entries()) {
    await writeDisk(clients, disk.id, phase);
    const r = await runCli(connectionFile, ['--json', 'snapshot', 'create', '--disk', disk.id, '--name', `${options.name}-s${i + 1}`]);
    assert.equal(r.code, 0, r.stderr);
    snapshots.push(parseJson<SnapshotInfo>(r));
  }
  return { diskId: disk.id, snapshots };
}

/** Writes `count` phases of pseudo-random writes and clears (seeded), for long chains. */
export function randomPhases(count: number, seed: number, diskBytes = PHASED_DISK_BYTES): DiskWrite[][] {
  let s = seed >>> 0 || 1;
  const rand = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  const pages = diskBytes / PAGE;
  const phases: DiskWrite[][] = [];
  for (let p = 0; p < count; p++) {
    const writes: DiskWrite[] = [];
    const n = 2 + Math.floor(rand() * 3);
    for (let i = 0; i < n; i++) {
      const lengthPages = 1 + Math.floor(rand() * (rand() < 0.2 ? 12_000 : 256));
      const start = Math.floor(rand() * (pages - lengthPages));
      writes.push({ offset: start * PAGE, length: lengthPages * PAGE, clear: i > 0 && rand() < 0.25 });
    }
    if (p % 3 === 0) writes.push({ offset: diskBytes - PAGE, length: PAGE });
    phases.push(writes);
  }
  return phases;
}
