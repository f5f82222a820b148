import type { EmulatorContext } from './context';
import { overlay, overwriteInPlace, truncate, type Extent } from './extentMap';
import { guid, vhdFooter, type ManagedDisk, type ManagedSnapshot } from './state';
import { seedFilesystemDisks } from './fixtures/load';

const GIB = 1024 ** 3;
const DAY = 86_400_000;

/**
 * `--seed demo`: disks with realistic change patterns and snapshot families spread over past days,
 * so the 7-per-5-minutes rule does not get in the way. Content is synthetic: the seed is instant.
 */
export function seedDemo(ctx: EmulatorContext): void {
  const [east, west] = [ctx.state.regions[0]!, ctx.state.regions[1] ?? ctx.state.regions[0]!];
  const now = ctx.now();
  let seq = 1;
  const sub = ctx.state.subscriptionId;

  const group = (name: string, location: string): string => {
    ctx.state.resourceGroups[name.toLowerCase()] = { name, location };
    return name;
  };
  const footer = (extents: Extent[], size: number, uniqueId: string, created: number): void => {
    const pos = ctx.log.appendSync(vhdFooter(size, uniqueId, created));
    overwriteInPlace(extents, size, size + 512, { src: 0, delta: pos - size });
  };
  const disk = (rg: string, name: string, location: string, sizeGB: number, created: number, osType?: string): ManagedDisk => {
    const d: ManagedDisk = {
      id: `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/disks/${name}`,
      name,
      resourceGroup: rg,
      location,
      uniqueId: guid(),
      familyId: guid(),
      sizeBytes: sizeGB * GIB,
      sku: 'Premium_LRS',
      creationData: { createOption: 'Empty' },
      timeCreated: created,
      diskState: 'Unattached',
      extents: [],
      tags: { scenario: 'demo' },
      osType,
      snapshotTimes: [],
    };
    footer(d.extents, d.sizeBytes, d.uniqueId, created);
    ctx.state.disks[d.id.toLowerCase()] = d;
    return d;
  };
  const write = (d: ManagedDisk, ranges: { offset: number; length: number }[]): void => {
    const src = ctx.addSynthetic({ seed: 7919 * seq, version: seq });
    seq++;
    ranges.sort((a, b) => a.offset - b.offset);
    const pieces: Extent[] = [];
    for (const r of ranges) {
      const last = pieces[pieces.length - 1];
      const start = last && last.end > r.offset ? last.end : r.offset;
      const end = Math.min(r.offset + r.length, d.sizeBytes);
      if (end <= start) continue;
      if (last && last.end === start) pieces[pieces.length - 1] = { ...last, end };
      else pieces.push({ start, end, src, delta: 0 });
    }
    d.extents = overlay(d.extents, pieces);
  };
  const snapshot = (d: ManagedDisk, name: string, at: number, incremental = true): ManagedSnapshot => {
    const s: ManagedSnapshot = {
      id: `/subscriptions/${sub}/resourceGroups/${d.resourceGroup}/providers/Microsoft.Compute/snapshots/${name}`,
      name,
      resourceGroup: d.resourceGroup,
      location: d.location,
      uniqueId: guid(),
      incremental,
      familyId: incremental ? d.familyId : undefined,
      sizeBytes: d.sizeBytes,
      sku: incremental ? 'Standard_ZRS' : 'Standard_LRS',
      creationData: { createOption: 'Copy', sourceResourceId: d.id, sourceUniqueId: d.uniqueId },
      timeCreated: at,
      extents: d.extents.slice(),
      tags: { scenario: 'demo' },
      osType: d.osType,
    };
    if (incremental) d.snapshotTimes.push(at);
    ctx.state.snapshots[s.id.toLowerCase()] = s;
    return s;
  };
  let x = 12345;
  const random = (): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x / 4294967296;
  };
  const stamp = (t: number): string => new Date(t).toISOString().slice(0, 10).replace(/-/g, '');

  // A log-append disk: every day appends a few hundred MiB after the previous day's tail.
  const rgEast = group('demo-eastus', east);
  const logs = disk(rgEast, 'web-logs', east, 128, now - 10 * DAY, 'Linux');
  write(logs, [{ offset: 0, length: 2 * GIB }]);
  let tail = 2 * GIB;
  for (let day = 6; day >= 1; day--) {
    const grow = (200 + Math.floor(random() * 300)) * 1024 * 1024;
    write(logs, [
      { offset: tail, length: grow },
      { offset: 1024 * 1024, length: 64 * 1024 },
    ]);
    tail += grow;
    snapshot(logs, `web-logs-${stamp(now - day * DAY)}`, now - day * DAY + 3_600_000);
  }

  // A database disk: scattered 8 KiB page writes all over the data file.
  const db = disk(rgEast, 'orders-db', east, 512, now - 12 * DAY);
  write(db, [{ offset: 0, length: 40 * GIB }]);
  for (let day = 5; day >= 1; day--) {
    const ranges: { offset: number; length: number }[] = [];
    const n = 2000 + Math.floor(random() * 3000);
    for (let i = 0; i < n; i++) ranges.push({ offset: Math.floor(random() * ((60 * GIB) / 8192)) * 8192, length: 8192 });
    write(db, ranges);
    const s = snapshot(db, `orders-db-${stamp(now - day * DAY)}`, now - day * DAY + 7_200_000);
    if (day === 3) {
      const full = snapshot(db, 'orders-db-full', now - day * DAY + 7_300_000, false);
      full.extents = s.extents.slice();
    }
  }

  // A disk deleted and re-created under the same name: two families, the first one's disk is gone.
  const rgWest = group('demo-westus2', west);
  const oldCache = disk(rgWest, 'build-cache', west, 64, now - 20 * DAY);
  write(oldCache, [{ offset: 0, length: 4 * GIB }]);
  for (let day = 15; day >= 13; day--) {
    write(oldCache, [{ offset: Math.floor(random() * 30) * GIB, length: 256 * 1024 * 1024 }]);
    snapshot(oldCache, `build-cache-${stamp(now - day * DAY)}`, now - day * DAY);
  }
  delete ctx.state.disks[oldCache.id.toLowerCase()];
  const cache = disk(rgWest, 'build-cache', west, 64, now - 8 * DAY);
  write(cache, [{ offset: 0, length: 3 * GIB }]);
  for (let day = 4; day >= 2; day--) {
    write(cache, [{ offset: Math.floor(random() * 30) * GIB, length: 128 * 1024 * 1024 }]);
    snapshot(cache, `build-cache-v2-${stamp(now - day * DAY)}`, now - day * DAY);
  }

  // A disk resized across the 4 TB boundary: no differential between its two sides.
  const archive = disk(rgWest, 'archive-data', west, 4096, now - 30 * DAY);
  write(archive, [{ offset: 0, length: 10 * GIB }]);
  snapshot(archive, 'archive-data-before-resize-1', now - 9 * DAY);
  write(archive, [{ offset: 10 * GIB, length: GIB }]);
  snapshot(archive, 'archive-data-before-resize-2', now - 8 * DAY);
  archive.extents = truncate(archive.extents, archive.sizeBytes);
  archive.sizeBytes = 6144 * GIB;
  footer(archive.extents, archive.sizeBytes, archive.uniqueId, archive.timeCreated);
  write(archive, [{ offset: 5000 * GIB, length: 2 * GIB }]);
  snapshot(archive, 'archive-data-after-resize-1', now - 7 * DAY);
  write(archive, [{ offset: 11 * GIB, length: 512 * 1024 * 1024 }]);
  snapshot(archive, 'archive-data-after-resize-2', now - 6 * DAY);

  // Disks holding real filesystems (emulator/fixtures), so file-level diffs, ls and get show real paths.
  seedFilesystemDisks(ctx, { resourceGroup: group('demo-files', east), location: east, now, disk, snapshot: (d, name, at) => snapshot(d, name, at) });
}
