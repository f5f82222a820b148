import type { SnapshotFamily } from '../../core/families';
import { sameResourceId } from '../../core/resourceId';
import { loadCatalog } from '../../core/snapshots';
import type { CliContext } from '../context';
import { formatBytes } from '../../core/cost';
import { formatTable, printJson } from '../output';

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

export async function familiesCommand(ctx: CliContext, options: { disk?: string }): Promise<void> {
  const catalog = await loadCatalog(ctx.clients.compute, ctx.subscriptionId, { signal: ctx.signal });
  const families = options.disk ? catalog.families.filter((f) => sameResourceId(f.sourceResourceId, options.disk)) : catalog.families;
  if (ctx.json) {
    printJson(families.map(familyJson));
    return;
  }
  if (families.length === 0) {
    process.stdout.write(options.disk ? 'No snapshot family for that disk.\n' : 'No incremental snapshots in this subscription.\n');
  }
  for (const f of families) {
    const state = f.sourceDiskState === 'present' ? '' : ` [disk ${f.sourceDiskState}]`;
    process.stdout.write(`\n${f.sourceName}${state}  family ${f.id}  (${f.snapshots.length} of 500)\n`);
    process.stdout.write(
      formatTable(
        ['SNAPSHOT', 'CREATED', 'SIZE', 'REGION', 'STATE'],
        f.snapshots.map((s) => [s.name, s.timeCreated, formatBytes(s.sizeBytes), s.location, s.diskState ?? '']),
      ) + '\n',
    );
  }
  if (!options.disk && catalog.fullSnapshots.length) {
    process.stdout.write('\nFull snapshots\n');
    process.stdout.write(
      formatTable(
        ['SNAPSHOT', 'CREATED', 'SIZE', 'REGION'],
        catalog.fullSnapshots.map((s) => [s.name, s.timeCreated, formatBytes(s.sizeBytes), s.location]),
      ) + '\n',
    );
  }
}
