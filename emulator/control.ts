/**
 * The emulator's own control endpoints under `/emulator/` (not Azure's): counters (`stats`), fault
 * injection (`faults`), the clock tests move forward (`clock`), content written as a VM would
 * (`disks/{id}/synthetic-writes`) and bulk seeding (`bulk`). They take the same bearer token as ARM and
 * answer errors in ARM's shape; emulator/README.md documents them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { addFooter, ArmError, checkLocation, checkName, GIB, json, LIMITS, pruneGrants, readJson, resourceId, rgName, withArmAuth, ZRS_REGIONS } from './arm';
import type { EmulatorContext } from './context';
import { overlay, type Extent } from './extentMap';
import { mergeFaults } from './faults';
import { guid, type ManagedDisk } from './state';
import type { EmulatorStats } from './stats';

export async function handleControlRequest(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  return withArmAuth(ctx, req, res, url, routeControl);
}

async function routeControl(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const method = req.method ?? 'GET';
  const path = url.pathname.replace(/\/+$/, '');
  const lower = path.toLowerCase();
  if (lower === '/emulator/stats' && method === 'GET') return json(res, 200, statsJson(ctx));
  if (lower === '/emulator/stats/reset' && method === 'POST') {
    ctx.resetStats();
    return json(res, 200, statsJson(ctx));
  }
  if (lower === '/emulator/faults' && method === 'GET') return json(res, 200, ctx.faults.settings);
  if (lower === '/emulator/faults' && method === 'PUT') {
    try {
      ctx.faults.replace(mergeFaults(ctx.faults.settings, await readJson(req)));
      ctx.armLimits.reset();
    } catch (e) {
      throw new ArmError(400, 'InvalidParameter', (e as Error).message);
    }
    return json(res, 200, ctx.faults.settings);
  }
  if (lower === '/emulator/clock' && method === 'POST') {
    const body = await readJson(req);
    ctx.state.clockOffsetMs += Number(body['advanceMs'] ?? 0);
    ctx.markDirty();
    return json(res, 200, { now: new Date(ctx.now()).toISOString(), offsetMs: ctx.state.clockOffsetMs });
  }
  const m = /^\/emulator\/disks\/(.+)\/synthetic-writes$/.exec(path);
  if (m && method === 'POST') return syntheticWrites(ctx, req, res, decodeURIComponent(m[1]!));
  if (lower === '/emulator/bulk' && method === 'POST') return bulkSeed(ctx, req, res);
  throw new ArmError(404, 'NotFound', 'Unknown emulator endpoint.');
}

function statsJson(ctx: EmulatorContext): EmulatorStats {
  pruneGrants(ctx);
  return { ...ctx.stats, faultsInjected: { ...ctx.faults.injected }, activeSasGrants: ctx.activeGrants(), pageLogBytes: ctx.log.size };
}

/** Emulator-only: content written "as a VM would", generated from (seed, version), without sending bytes. */
async function syntheticWrites(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
  const disk = ctx.state.disks[id.toLowerCase()];
  if (!disk) throw new ArmError(404, 'ResourceNotFound', `Disk '${id}' was not found.`);
  const body = await readJson(req);
  const seed = Number(body['seed'] ?? 1) >>> 0;
  const version = ctx.state.nextSyntheticId;
  const src = ctx.addSynthetic({ seed, version });
  const ranges: { offset: number; length: number }[] = [];
  if (Array.isArray(body['ranges'])) {
    for (const r of body['ranges'] as { offset: number; length: number }[]) ranges.push({ offset: Number(r.offset), length: Number(r.length) });
  }
  const pattern = body['pattern'] as { count?: number; length?: number; start?: number; stride?: number; random?: boolean } | undefined;
  if (pattern) {
    const count = Number(pattern.count ?? 1);
    const length = Number(pattern.length ?? 4096);
    const start = Number(pattern.start ?? 0);
    if (pattern.random) {
      let x = seed || 1;
      const pages = Math.floor((disk.sizeBytes - length) / 512);
      for (let i = 0; i < count; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        const page = Math.floor((x / 4294967296) * pages);
        ranges.push({ offset: page * 512, length });
      }
    } else {
      const stride = Number(pattern.stride ?? length);
      for (let i = 0; i < count; i++) ranges.push({ offset: start + i * stride, length });
    }
  }
  ranges.sort((a, b) => a.offset - b.offset);
  const pieces: Extent[] = [];
  let bytes = 0;
  for (const r of ranges) {
    if (r.offset % 512 !== 0 || r.length % 512 !== 0 || r.length <= 0 || r.offset + r.length > disk.sizeBytes) {
      throw new ArmError(400, 'InvalidParameter', `Range ${r.offset}+${r.length} must be 512-aligned and inside the disk (${disk.sizeBytes} bytes).`);
    }
    const last = pieces[pieces.length - 1];
    const start = last && last.end > r.offset ? last.end : r.offset;
    const end = r.offset + r.length;
    if (end <= start) continue;
    if (last && last.end === start) pieces[pieces.length - 1] = { ...last, end };
    else pieces.push({ start, end, src, delta: 0 });
    bytes += end - start;
  }
  disk.extents = overlay(disk.extents, pieces);
  ctx.countWrite('synthetic', id.toLowerCase(), bytes);
  ctx.markDirty();
  json(res, 200, { ranges: pieces.length, bytes, extents: disk.extents.length });
}

/**
 * Emulator-only: many disks and incremental snapshots at once, without rate limits or content, so that
 * a subscription the size of a real one can be listed in tests. Body:
 * `{resourceGroup, location?, disks, snapshotsPerDisk?, diskSizeGB?, prefix?}`.
 */
async function bulkSeed(ctx: EmulatorContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJson(req);
  const location = checkLocation(ctx, body['location'] ?? ctx.state.regions[0]);
  const rg = rgName(ctx, String(body['resourceGroup'] ?? 'bulk'), location);
  const disks = Number(body['disks'] ?? 0);
  const perDisk = Number(body['snapshotsPerDisk'] ?? 0);
  const sizeGB = Number(body['diskSizeGB'] ?? 1);
  const prefix = String(body['prefix'] ?? 'bulk');
  if (
    !Number.isInteger(disks) ||
    disks < 0 ||
    disks > 10_000 ||
    !Number.isInteger(perDisk) ||
    perDisk < 0 ||
    perDisk > LIMITS.snapshotsPerDisk ||
    !Number.isInteger(sizeGB) ||
    sizeGB < 1
  ) {
    throw new ArmError(400, 'InvalidParameter', `disks must be 0-10000, snapshotsPerDisk 0-${LIMITS.snapshotsPerDisk} and diskSizeGB a positive whole number.`);
  }
  const start = ctx.now() - (perDisk + 1) * 3_600_000;
  let snapshots = 0;
  for (let i = 0; i < disks; i++) {
    const name = `${prefix}-disk-${String(i).padStart(4, '0')}`;
    checkName(name, 'disk');
    const id = resourceId(ctx, rg, 'disks', name);
    const uniqueId = guid();
    const extents: Extent[] = [];
    const sizeBytes = sizeGB * GIB;
    addFooter(ctx, extents, sizeBytes, uniqueId, start);
    const disk: ManagedDisk = {
      id,
      name,
      resourceGroup: rg,
      location,
      uniqueId,
      familyId: guid(),
      sizeBytes,
      sku: 'Premium_LRS',
      creationData: { createOption: 'Empty' },
      timeCreated: start,
      diskState: 'Unattached',
      extents,
      tags: { seed: prefix },
      snapshotTimes: [],
    };
    ctx.state.disks[id.toLowerCase()] = disk;
    for (let j = 0; j < perDisk; j++) {
      const sname = `${name}-s${String(j).padStart(3, '0')}`;
      const sid = resourceId(ctx, rg, 'snapshots', sname);
      ctx.state.snapshots[sid.toLowerCase()] = {
        id: sid,
        name: sname,
        resourceGroup: rg,
        location,
        uniqueId: guid(),
        incremental: true,
        familyId: disk.familyId,
        sizeBytes,
        sku: ZRS_REGIONS.has(location) ? 'Standard_ZRS' : 'Standard_LRS',
        creationData: { createOption: 'Copy', sourceResourceId: id, sourceUniqueId: uniqueId },
        timeCreated: start + (j + 1) * 3_600_000,
        extents: extents.slice(),
        tags: { seed: prefix },
      };
      snapshots += 1;
    }
  }
  ctx.markDirty();
  json(res, 200, { resourceGroup: rg, disks, snapshots });
}
