import { armDiskTemplate, armSnapshotTemplate, azDiskCreateFromSnapshot, azSnapshotCreate, formatArmTemplate, fullSnapshotRequest, restoreDiskRequest } from '../../core/exportCommands';
import { assertValidName, suggestRestoredDiskName, suggestSnapshotName } from '../../core/names';
import { DiskDeltaError, type ComputeApi, type CreateDiskRequest, type CreateSnapshotRequest } from '../../core/ports';
import { parseResourceId } from '../../core/resourceId';
import { requireSnapshot, resolveDisk, resolveSku } from '../../core/snapshots';
import { parseTags } from './snapshot';

export interface ExportOptions {
  az?: boolean;
  arm?: boolean;
  disk?: string;
  snapshot?: string;
  name?: string;
  resourceGroup?: string;
  location?: string;
  sku?: string;
  tag?: string[];
  offline?: boolean;
}

/** Where export reads its source from: Azure (or the emulator), or nowhere with --offline. */
export interface ExportSource {
  /** Connects on first use; never called with --offline. */
  readonly compute: () => Promise<ComputeApi>;
  readonly signal: AbortSignal;
}

/**
 * Prints the az command or ARM template equivalent to what Disk Delta would do, from the same
 * parameters. The source is read from Azure for its region and resource group unless --offline, which
 * neither signs in nor connects.
 */
export async function exportCommand(ctx: ExportSource, operation: string, o: ExportOptions): Promise<void> {
  if (o.az === o.arm) throw new DiskDeltaError('Choose one output: --az or --arm.', 'InvalidArguments');
  const tags = parseTags(o.tag);
  let text: string;
  if (operation === 'create') {
    if (!o.disk) throw new DiskDeltaError('export create needs --disk <id>.', 'InvalidArguments');
    const diskParts = parseResourceId(o.disk);
    const disk = o.offline ? undefined : await resolveDisk(await ctx.compute(), o.disk, { signal: ctx.signal });
    const location = o.location ?? disk?.location;
    if (!location) throw new DiskDeltaError('--offline needs --location.', 'InvalidArguments');
    const name = o.name ?? suggestSnapshotName(diskParts.name, new Date());
    assertValidName('snapshot', name);
    const request: CreateSnapshotRequest = {
      subscriptionId: diskParts.subscriptionId,
      resourceGroup: o.resourceGroup ?? diskParts.resourceGroup,
      name,
      location,
      incremental: true,
      createOption: 'Copy',
      sourceResourceId: o.disk,
      sku: resolveSku(o.sku ?? 'auto', location),
      ...(tags ? { tags } : {}),
    };
    text = o.az ? azSnapshotCreate(request, { multiline: true }) : formatArmTemplate(armSnapshotTemplate(request));
  } else if (operation === 'restore' || operation === 'full') {
    if (!o.snapshot) throw new DiskDeltaError(`export ${operation} needs --snapshot <id>.`, 'InvalidArguments');
    const parts = parseResourceId(o.snapshot);
    const snapshot = o.offline
      ? {
          id: o.snapshot,
          name: parts.name,
          subscriptionId: parts.subscriptionId,
          resourceGroup: parts.resourceGroup,
          location: o.location ?? '',
          incremental: true,
          sizeBytes: 0,
          timeCreated: '',
          uniqueId: '',
        }
      : await requireSnapshot(await ctx.compute(), o.snapshot, { signal: ctx.signal });
    if (!snapshot.location) throw new DiskDeltaError('--offline needs --location.', 'InvalidArguments');
    if (operation === 'restore') {
      const name = o.name ?? suggestRestoredDiskName(parts.name);
      assertValidName('disk', name);
      const request: CreateDiskRequest = restoreDiskRequest(snapshot, { name, resourceGroup: o.resourceGroup, ...(o.sku && o.sku !== 'auto' ? { sku: o.sku } : {}), ...(tags ? { tags } : {}) });
      text = o.az ? azDiskCreateFromSnapshot(request, { multiline: true }) : formatArmTemplate(armDiskTemplate(request));
    } else {
      const name = o.name ?? suggestSnapshotName(parts.name, new Date(), 'full');
      assertValidName('snapshot', name);
      const request = fullSnapshotRequest(snapshot, { name, resourceGroup: o.resourceGroup, ...(o.sku && o.sku !== 'auto' ? { sku: o.sku } : {}), ...(tags ? { tags } : {}) });
      text = o.az ? azSnapshotCreate(request, { multiline: true }) : formatArmTemplate(armSnapshotTemplate(request));
    }
  } else {
    throw new DiskDeltaError(`"${operation}" is not something export knows.`, 'InvalidArguments', 'Use export --az|--arm create|restore|full.');
  }
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}
