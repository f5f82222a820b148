import { Option, type Command } from 'commander';
import { createFullSnapshot, createIncrementalSnapshot, deleteSnapshot, restoreDisk, revokeAccess } from '../../core/snapshots';
import type { DiskInfo, SnapshotInfo } from '../../core/model';
import { assertValidName } from '../../core/names';
import { DiskDeltaError } from '../../core/errors';
import { resolveDiskRef, resolveRef, resolveSnapshotRef } from '../../core/resolve';
import type { CliContext } from '../context';
import { formatBytes } from '../../core/format';
import { collectTag, resourceGroupOption } from '../options';
import { withExamples, type CliRuntime } from '../runtime';

/** Disk SKUs a restore can ask for (az disk create --sku). */
export const DISK_SKUS = ['Standard_LRS', 'Premium_LRS', 'StandardSSD_LRS', 'UltraSSD_LRS', 'Premium_ZRS', 'StandardSSD_ZRS', 'PremiumV2_LRS'] as const;

export function parseTags(values: readonly string[] | undefined): Record<string, string> | undefined {
  if (!values || values.length === 0) return undefined;
  const tags: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    if (i <= 0) throw new DiskDeltaError(`Tag "${v}" is not key=value.`, 'InvalidArguments', 'Pass --tag key=value.');
    tags[v.slice(0, i)] = v.slice(i + 1);
  }
  return tags;
}

interface CreateOptions {
  disk: string;
  name: string;
  sku?: string;
  tag?: string[];
  resourceGroup?: string;
}
interface FullOptions {
  snapshot: string;
  name: string;
  resourceGroup?: string;
  sku?: string;
}
interface RestoreOptions {
  snapshot: string;
  name: string;
  resourceGroup?: string;
  sku?: string;
}

export function registerSnapshot(program: Command, rt: CliRuntime): void {
  const snapshot = program.command('snapshot').description('create, copy to full, or delete snapshots');
  withExamples(snapshot, [['an incremental snapshot of a disk named orders-db', 'disk-delta snapshot create --disk orders-db --name orders-db-20261120']]);
  withExamples(
    snapshot
      .command('create')
      .description('create an incremental snapshot of a disk (name and limits checked first)')
      .requiredOption('--disk <id-or-name>', 'the disk: its resource id, or its name')
      .requiredOption('--name <name>', 'snapshot name')
      .addOption(new Option('--sku <sku>', 'snapshot storage').choices(['auto', 'Standard_ZRS', 'Standard_LRS']).default('auto'))
      .addOption(resourceGroupOption("where a --disk name is looked up, and the snapshot's resource group (default: the disk's)"))
      .option('--tag <key=value>', 'a tag (repeatable)', collectTag)
      .action(rt.run((ctx, o: CreateOptions) => snapshotCreateCommand(ctx, o))),
    [
      ['a snapshot of the disk orders-db (found by name in the subscription)', 'disk-delta snapshot create --disk orders-db --name orders-db-20261120'],
      [
        'the same disk by id, zone-redundant, tagged; print only the new id',
        'disk-delta snapshot create --disk /subscriptions/<sub>/resourceGroups/demo-eastus/providers/Microsoft.Compute/disks/orders-db --name orders-db-20261121 --sku Standard_ZRS --tag env=prod --query id -o tsv',
      ],
    ],
  );
  withExamples(
    snapshot
      .command('full')
      .description('create a full snapshot from an incremental one')
      .requiredOption('--snapshot <id-or-name>', 'the incremental snapshot: its id, or its name')
      .requiredOption('--name <name>', 'name of the full snapshot')
      .addOption(resourceGroupOption("where a --snapshot name is looked up, and the new snapshot's resource group (default: the source's)"))
      .action(rt.run((ctx, o: FullOptions) => snapshotFullCommand(ctx, o))),
    [['a full snapshot of orders-db-20261120', 'disk-delta snapshot full --snapshot orders-db-20261120 --name orders-db-20261120-full']],
  );
  withExamples(
    snapshot
      .command('delete <id-or-name>')
      .description('delete a snapshot')
      .addOption(resourceGroupOption('where a snapshot name is looked up'))
      .action(rt.run((ctx, id: string, o: { resourceGroup?: string }) => snapshotDeleteCommand(ctx, id, o))),
    [['delete a snapshot by name, in one resource group', 'disk-delta snapshot delete orders-db-20261120 -g demo-eastus']],
  );

  withExamples(
    program
      .command('restore')
      .description('create a managed disk from a snapshot')
      .requiredOption('--snapshot <id-or-name>', 'the snapshot: its id, or its name')
      .requiredOption('--name <disk-name>', 'name of the new disk')
      .addOption(resourceGroupOption("where a --snapshot name is looked up, and the disk's resource group (default: the snapshot's)"))
      .addOption(new Option('--sku <sku>', "disk SKU (default: Azure's)").choices(DISK_SKUS))
      .action(rt.run((ctx, o: RestoreOptions) => restoreCommand(ctx, o))),
    [
      ['a disk from a snapshot, by name', 'disk-delta restore --snapshot orders-db-20261120 --name orders-db-restored'],
      ['on premium SSD, printing the disk as YAML', 'disk-delta restore --snapshot orders-db-20261120 --name orders-db-fast --sku Premium_LRS -o yaml'],
    ],
  );

  const access = program.command('access').description('SAS access to disks and snapshots');
  withExamples(access, [['end the SAS grants on a snapshot', 'disk-delta access revoke orders-db-20261120']]);
  withExamples(
    access
      .command('revoke <id-or-name>')
      .description('revoke any SAS access (endGetAccess) on a disk or snapshot')
      .addOption(resourceGroupOption('where a disk or snapshot name is looked up'))
      .action(rt.run((ctx, id: string, o: { resourceGroup?: string }) => accessRevokeCommand(ctx, id, o))),
    [
      ['end the SAS grants on a snapshot, by name', 'disk-delta access revoke orders-db-20261120'],
      ['the same on a disk, by id', 'disk-delta access revoke /subscriptions/<sub>/resourceGroups/demo-eastus/providers/Microsoft.Compute/disks/orders-db'],
    ],
  );
}

function printSnapshot(ctx: CliContext, s: SnapshotInfo, verb: string): void {
  ctx.output.result(s, {
    text: () => `${verb} ${s.incremental ? 'incremental' : 'full'} snapshot ${s.name} (${formatBytes(s.sizeBytes)}, ${s.sku ?? ''}, ${s.location})\n${s.id}`,
  });
}

export async function snapshotCreateCommand(ctx: CliContext, o: CreateOptions): Promise<void> {
  assertValidName('snapshot', o.name);
  const diskId = await resolveDiskRef(ctx.clients.compute, o.disk, ctx.scope(o.resourceGroup), { signal: ctx.signal });
  ctx.note(`Creating incremental snapshot ${o.name}...`);
  const s = await createIncrementalSnapshot(
    ctx.clients.compute,
    { diskId, name: o.name, sku: o.sku ?? 'auto', tags: parseTags(o.tag), resourceGroup: o.resourceGroup },
    { signal: ctx.signal },
  );
  printSnapshot(ctx, s, 'Created');
}

export async function snapshotFullCommand(ctx: CliContext, o: FullOptions): Promise<void> {
  assertValidName('snapshot', o.name);
  const snapshotId = await resolveSnapshotRef(ctx.clients.compute, o.snapshot, ctx.scope(o.resourceGroup), { signal: ctx.signal });
  ctx.note(`Creating full snapshot ${o.name}...`);
  const s = await createFullSnapshot(ctx.clients.compute, { snapshotId, name: o.name, resourceGroup: o.resourceGroup, sku: o.sku }, { signal: ctx.signal });
  printSnapshot(ctx, s, 'Created');
}

export async function snapshotDeleteCommand(ctx: CliContext, ref: string, o: { resourceGroup?: string } = {}): Promise<void> {
  const id = await resolveSnapshotRef(ctx.clients.compute, ref, ctx.scope(o.resourceGroup), { signal: ctx.signal });
  ctx.note(`Deleting snapshot ${id}...`);
  await deleteSnapshot(ctx.clients.compute, id, { signal: ctx.signal });
  ctx.output.result({ deleted: id }, { text: () => `Deleted ${id}` });
}

export async function restoreCommand(ctx: CliContext, o: RestoreOptions): Promise<void> {
  assertValidName('disk', o.name);
  const snapshotId = await resolveSnapshotRef(ctx.clients.compute, o.snapshot, ctx.scope(o.resourceGroup), { signal: ctx.signal });
  ctx.note(`Restoring disk ${o.name}...`);
  const d: DiskInfo = await restoreDisk(ctx.clients.compute, { snapshotId, name: o.name, resourceGroup: o.resourceGroup, sku: o.sku }, { signal: ctx.signal });
  ctx.output.result(d, { text: () => `Restored disk ${d.name} (${formatBytes(d.sizeBytes)}, ${d.location})\n${d.id}` });
}

export async function accessRevokeCommand(ctx: CliContext, ref: string, o: { resourceGroup?: string } = {}): Promise<void> {
  const id = await resolveRef(ctx.clients.compute, ref, ['snapshot', 'disk'], ctx.scope(o.resourceGroup), { signal: ctx.signal });
  await revokeAccess(ctx.clients.compute, id, { signal: ctx.signal });
  ctx.output.result({ revoked: id }, { text: () => `Access revoked on ${id}` });
}
