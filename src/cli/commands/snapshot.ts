import { createFullSnapshot, createIncrementalSnapshot, deleteSnapshot, restoreDisk, revokeAccess } from '../../core/snapshots';
import type { DiskInfo, SnapshotInfo } from '../../core/model';
import type { CliContext } from '../context';
import { formatBytes } from '../../core/cost';
import { printJson } from '../output';

export function parseTags(values: readonly string[] | undefined): Record<string, string> | undefined {
  if (!values || values.length === 0) return undefined;
  const tags: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    if (i <= 0) throw new Error(`Tag "${v}" is not key=value.`);
    tags[v.slice(0, i)] = v.slice(i + 1);
  }
  return tags;
}

function printSnapshot(ctx: CliContext, s: SnapshotInfo, verb: string): void {
  if (ctx.json) printJson(s);
  else process.stdout.write(`${verb} ${s.incremental ? 'incremental' : 'full'} snapshot ${s.name} (${formatBytes(s.sizeBytes)}, ${s.sku ?? ''}, ${s.location})\n${s.id}\n`);
}

export async function snapshotCreateCommand(ctx: CliContext, o: { disk: string; name: string; sku?: string; tag?: string[]; resourceGroup?: string }): Promise<void> {
  ctx.note(`Creating incremental snapshot ${o.name}...`);
  const s = await createIncrementalSnapshot(
    ctx.clients.compute,
    { diskId: o.disk, name: o.name, sku: o.sku ?? 'auto', tags: parseTags(o.tag), resourceGroup: o.resourceGroup },
    { signal: ctx.signal },
  );
  printSnapshot(ctx, s, 'Created');
}

export async function snapshotFullCommand(ctx: CliContext, o: { snapshot: string; name: string; resourceGroup?: string; sku?: string }): Promise<void> {
  ctx.note(`Creating full snapshot ${o.name}...`);
  const s = await createFullSnapshot(ctx.clients.compute, { snapshotId: o.snapshot, name: o.name, resourceGroup: o.resourceGroup, sku: o.sku }, { signal: ctx.signal });
  printSnapshot(ctx, s, 'Created');
}

export async function snapshotDeleteCommand(ctx: CliContext, id: string): Promise<void> {
  ctx.note(`Deleting snapshot ${id}...`);
  await deleteSnapshot(ctx.clients.compute, id, { signal: ctx.signal });
  if (ctx.json) printJson({ deleted: id });
  else process.stdout.write(`Deleted ${id}\n`);
}

export async function restoreCommand(ctx: CliContext, o: { snapshot: string; name: string; resourceGroup?: string; sku?: string }): Promise<void> {
  ctx.note(`Restoring disk ${o.name}...`);
  const d: DiskInfo = await restoreDisk(ctx.clients.compute, { snapshotId: o.snapshot, name: o.name, resourceGroup: o.resourceGroup, sku: o.sku }, { signal: ctx.signal });
  if (ctx.json) printJson(d);
  else process.stdout.write(`Restored disk ${d.name} (${formatBytes(d.sizeBytes)}, ${d.location})\n${d.id}\n`);
}

export async function accessRevokeCommand(ctx: CliContext, id: string): Promise<void> {
  await revokeAccess(ctx.clients.compute, id, { signal: ctx.signal });
  if (ctx.json) printJson({ revoked: id });
  else process.stdout.write(`Access revoked on ${id}\n`);
}
