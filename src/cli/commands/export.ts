import { Argument, type Command } from 'commander';
import {
  armDiskTemplate,
  armSnapshotTemplate,
  azDiskCreateFromSnapshot,
  azSnapshotCreate,
  formatArmTemplate,
  fullSnapshotRequest,
  restoreDiskRequest,
} from '../../core/exportCommands';
import { assertValidName, suggestRestoredDiskName, suggestSnapshotName } from '../../core/names';
import { type ComputeApi, type CreateDiskRequest, type CreateSnapshotRequest } from '../../core/ports';
import { DiskDeltaError } from '../../core/errors';
import { parseResourceId } from '../../core/resourceId';
import { requireSnapshot, resolveDisk, resolveSku } from '../../core/snapshots';
import { resolveDiskRef, resolveSnapshotRef, type NameScope } from '../../core/resolve';
import { currentOutput, type CliOutput } from '../output';
import { collectTag, resourceGroupOption } from '../options';
import { withExamples, type CliRuntime } from '../runtime';
import { parseTags } from './snapshot';

export function registerExport(program: Command, rt: CliRuntime): void {
  const cmd = program
    .command('export')
    .description('print the equivalent az command (--az) or ARM template (--arm) for create | restore | full')
    .addArgument(new Argument('<operation>', 'what to export').choices(['create', 'restore', 'full']))
    .option('--az', 'an az CLI command line')
    .option('--arm', 'a deployable ARM template')
    .option('--disk <id-or-name>', 'create: the disk (a name is looked up, so not with --offline)')
    .option('--snapshot <id-or-name>', 'restore/full: the snapshot (a name is looked up, so not with --offline)')
    .option('--name <name>', 'name of the snapshot or disk to create')
    .addOption(resourceGroupOption("where a --disk/--snapshot name is looked up, and the new resource's resource group"))
    .option('--location <region>', "region (default: the source's)")
    .option('--sku <sku>', 'SKU', 'auto')
    .option('--tag <key=value>', 'a tag (repeatable)', collectTag)
    .option('--offline', 'do not read the source from Azure, and do not sign in (needs --location and ids)')
    .action(async (operation: string, o: ExportOptions, command: Command) => {
      // Arguments are checked first; a connection is opened only when the source is to be read.
      let ctx: Promise<Awaited<ReturnType<CliRuntime['connect']>>> | undefined;
      const connected = () => (ctx ??= rt.connect(command));
      await exportCommand(
        {
          compute: async () => (await connected()).clients.compute,
          scope: async () => (await connected()).scope(o.resourceGroup),
          signal: rt.signal,
          output: currentOutput(),
        },
        operation,
        o,
      );
    });
  withExamples(cmd, [
    ['the az command that makes the snapshot Disk Delta would make of orders-db', 'disk-delta export --az create --disk orders-db --name orders-db-20261120'],
    [
      'an ARM template restoring a disk, written without signing in',
      'disk-delta export --arm restore --offline --location eastus --snapshot /subscriptions/<sub>/resourceGroups/demo-eastus/providers/Microsoft.Compute/snapshots/orders-db-20261120 > restore.json',
    ],
    ["the template's resources only", 'disk-delta export --arm full --snapshot orders-db-20261120 --query resources'],
  ]);
}

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
  /** Where names are looked up; connects on first use like `compute`. */
  readonly scope: () => Promise<NameScope>;
  readonly signal: AbortSignal;
  readonly output?: CliOutput;
}

/** A source named by id (any time) or by name (looked up, so not with --offline). */
async function sourceId(ctx: ExportSource, o: ExportOptions, kind: 'disk' | 'snapshot', ref: string): Promise<string> {
  if (ref.trim().startsWith('/')) return ref;
  if (o.offline) {
    throw new DiskDeltaError(
      `--offline cannot look up the ${kind} named ${ref}.`,
      'InvalidArguments',
      `Pass the ${kind}'s full id with --offline, or leave --offline out.`,
    );
  }
  const resolve = kind === 'disk' ? resolveDiskRef : resolveSnapshotRef;
  return resolve(await ctx.compute(), ref, await ctx.scope(), { signal: ctx.signal });
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
  /** What -o prints: the ARM template, or the az command on one line. */
  let value: unknown;
  if (operation === 'create') {
    if (!o.disk) throw new DiskDeltaError('export create needs --disk <id or name>.', 'InvalidArguments');
    const diskId = await sourceId(ctx, o, 'disk', o.disk);
    const diskParts = parseResourceId(diskId);
    const disk = o.offline ? undefined : await resolveDisk(await ctx.compute(), diskId, { signal: ctx.signal });
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
      sourceResourceId: diskId,
      sku: resolveSku(o.sku ?? 'auto', location),
      ...(tags ? { tags } : {}),
    };
    text = o.az ? azSnapshotCreate(request, { multiline: true }) : formatArmTemplate(armSnapshotTemplate(request));
    value = o.az ? azSnapshotCreate(request) : armSnapshotTemplate(request);
  } else if (operation === 'restore' || operation === 'full') {
    if (!o.snapshot) throw new DiskDeltaError(`export ${operation} needs --snapshot <id or name>.`, 'InvalidArguments');
    const snapshotId = await sourceId(ctx, o, 'snapshot', o.snapshot);
    const parts = parseResourceId(snapshotId);
    const snapshot = o.offline
      ? {
          id: snapshotId,
          name: parts.name,
          subscriptionId: parts.subscriptionId,
          resourceGroup: parts.resourceGroup,
          location: o.location ?? '',
          incremental: true,
          sizeBytes: 0,
          timeCreated: '',
          uniqueId: '',
        }
      : await requireSnapshot(await ctx.compute(), snapshotId, { signal: ctx.signal });
    if (!snapshot.location) throw new DiskDeltaError('--offline needs --location.', 'InvalidArguments');
    if (operation === 'restore') {
      const name = o.name ?? suggestRestoredDiskName(parts.name);
      assertValidName('disk', name);
      const request: CreateDiskRequest = restoreDiskRequest(snapshot, {
        name,
        resourceGroup: o.resourceGroup,
        ...(o.sku && o.sku !== 'auto' ? { sku: o.sku } : {}),
        ...(tags ? { tags } : {}),
      });
      text = o.az ? azDiskCreateFromSnapshot(request, { multiline: true }) : formatArmTemplate(armDiskTemplate(request));
      value = o.az ? azDiskCreateFromSnapshot(request) : armDiskTemplate(request);
    } else {
      const name = o.name ?? suggestSnapshotName(parts.name, new Date(), 'full');
      assertValidName('snapshot', name);
      const request = fullSnapshotRequest(snapshot, {
        name,
        resourceGroup: o.resourceGroup,
        ...(o.sku && o.sku !== 'auto' ? { sku: o.sku } : {}),
        ...(tags ? { tags } : {}),
      });
      text = o.az ? azSnapshotCreate(request, { multiline: true }) : formatArmTemplate(armSnapshotTemplate(request));
      value = o.az ? azSnapshotCreate(request) : armSnapshotTemplate(request);
    }
  } else {
    throw new DiskDeltaError(`"${operation}" is not something export knows.`, 'InvalidArguments', 'Use export --az|--arm create|restore|full.');
  }
  (ctx.output ?? currentOutput()).result(value, { text: () => text });
}
