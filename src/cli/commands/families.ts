import type { Command } from 'commander';
import type { SnapshotFamily } from '../../core/families';
import { DiskDeltaError } from '../../core/errors';
import { resolveSourceDisk } from '../../core/resolve';
import { sameResourceId } from '../../core/resourceId';
import { loadCatalog } from '../../core/snapshots';
import type { CliContext } from '../context';
import { formatBytes } from '../../core/format';
import { resourceGroupOption } from '../options';
import { formatTable } from '../output';
import { withExamples, type CliRuntime } from '../runtime';

export function registerFamilies(program: Command, rt: CliRuntime): void {
  const cmd = program
    .command('families')
    .description('list snapshot families (incremental snapshots grouped by source disk), deleted disks included')
    .option('--disk <id-or-name>', "only the families of this disk (an id, or a name: a deleted disk's too)")
    .addOption(resourceGroupOption('look the --disk name up in this resource group only'))
    .action(rt.run((ctx, o: { disk?: string; resourceGroup?: string }) => familiesCommand(ctx, o)));
  withExamples(cmd, [
    ['every family in the subscription, for people', 'disk-delta families'],
    ['the families of one disk, by name, as a table', 'disk-delta families --disk orders-db -o table'],
    ['the names and dates of its snapshots', 'disk-delta families --disk orders-db --query "[0].snapshots[].{name:name, created:timeCreated}" -o tsv'],
  ]);
}

function familyJson(f: SnapshotFamily) {
  return {
    id: f.id,
    sourceResourceId: f.sourceResourceId,
    sourceUniqueId: f.sourceUniqueId,
    sourceName: f.sourceName,
    sourceDiskState: f.sourceDiskState,
    snapshotCount: f.snapshots.length,
    snapshots: f.snapshots.map((s) => ({
      id: s.id,
      name: s.name,
      timeCreated: s.timeCreated,
      sizeBytes: s.sizeBytes,
      location: s.location,
      sku: s.sku,
      diskState: s.diskState,
      provisioningState: s.provisioningState,
    })),
  };
}

export async function familiesCommand(ctx: CliContext, options: { disk?: string; resourceGroup?: string }): Promise<void> {
  const catalog = await loadCatalog(ctx.clients.compute, ctx.subscriptionId, { signal: ctx.signal });
  const diskId = options.disk === undefined ? undefined : resolveSourceDisk(catalog, options.disk, ctx.scope(options.resourceGroup));
  const families = diskId ? catalog.families.filter((f) => sameResourceId(f.sourceResourceId, diskId)) : catalog.families;
  if (diskId && families.length === 0 && !catalog.disks.some((d) => sameResourceId(d.id, diskId))) {
    throw new DiskDeltaError(
      `No disk ${diskId} and no snapshot family of it in subscription ${ctx.subscriptionId}.`,
      'DiskNotFound',
      'Check the id, or list every family with `disk-delta families`.',
    );
  }
  if (ctx.json) {
    ctx.output.result(families.map(familyJson));
    return;
  }
  familiesText(ctx, catalog, families, options.disk !== undefined);
}

function familiesText(ctx: CliContext, catalog: Awaited<ReturnType<typeof loadCatalog>>, families: readonly SnapshotFamily[], oneDisk: boolean): void {
  const out = (text: string) => ctx.output.write(text);
  if (families.length === 0) {
    out(oneDisk ? 'No snapshot family for that disk.' : 'No incremental snapshots in this subscription.');
  }
  for (const f of families) {
    const state = f.sourceDiskState === 'present' ? '' : ` [disk ${f.sourceDiskState}]`;
    out(`\n${f.sourceName}${state}  family ${f.id}  (${f.snapshots.length} of 500)`);
    out(
      formatTable(
        ['SNAPSHOT', 'CREATED', 'SIZE', 'REGION', 'STATE'],
        f.snapshots.map((s) => [s.name, s.timeCreated, formatBytes(s.sizeBytes), s.location, s.diskState ?? '']),
      ),
    );
  }
  if (!oneDisk && catalog.fullSnapshots.length) {
    out('\nFull snapshots');
    out(
      formatTable(
        ['SNAPSHOT', 'CREATED', 'SIZE', 'REGION'],
        catalog.fullSnapshots.map((s) => [s.name, s.timeCreated, formatBytes(s.sizeBytes), s.location]),
      ),
    );
  }
}
