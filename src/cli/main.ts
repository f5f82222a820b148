import { Command, CommanderError, Option } from 'commander';
import { openContext, type CliContext, type GlobalOptions } from './context';
import { describeError } from './output';
import { familiesCommand } from './commands/families';
import { accessRevokeCommand, restoreCommand, snapshotCreateCommand, snapshotDeleteCommand, snapshotFullCommand } from './commands/snapshot';
import { diffCommand } from './commands/diff';
import { exportCommand, type ExportOptions } from './commands/export';
import { copyCommand, verifyOption, type CopyOptions } from './commands/copy';
import { isAbortError } from '../core/ports';

const abort = new AbortController();
let interrupted = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    interrupted++;
    if (interrupted > 1) process.exit(130);
    process.stderr.write('\nCancelling: giving back any access granted...\n');
    abort.abort(new DOMException('Cancelled by the user', 'AbortError'));
  });
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

const program = new Command('disk-delta')
  .description('Azure managed-disk incremental snapshots: families, diffs, restores and cross-region copies.')
  .option('--subscription <id>', 'Azure subscription id (default: AZURE_SUBSCRIPTION_ID, or the only one available)')
  .option('--emulator <connection-file>', 'use the local emulator (or set DISK_DELTA_EMULATOR)')
  .option('--json', 'print JSON only on stdout')
  .showHelpAfterError()
  .exitOverride();

function run<A extends unknown[]>(action: (ctx: CliContext, ...args: A) => Promise<void>) {
  return async (...args: A) => {
    const ctx = await openContext(program.opts<GlobalOptions>(), abort.signal);
    await action(ctx, ...args);
  };
}

program
  .command('families')
  .description('list snapshot families (incremental snapshots grouped by source disk), deleted disks included')
  .option('--disk <id>', 'only the families of this disk id')
  .action(run((ctx, o: { disk?: string }) => familiesCommand(ctx, o)));

const snapshot = program.command('snapshot').description('create, copy to full, or delete snapshots');
snapshot
  .command('create')
  .description('create an incremental snapshot of a disk (name and limits checked first)')
  .requiredOption('--disk <id>', 'disk resource id')
  .requiredOption('--name <name>', 'snapshot name')
  .addOption(new Option('--sku <sku>', 'snapshot storage').choices(['auto', 'Standard_ZRS', 'Standard_LRS']).default('auto'))
  .option('--resource-group <rg>', 'resource group for the snapshot (default: the disk\'s)')
  .option('--tag <key=value>', 'a tag (repeatable)', collect)
  .action(run((ctx, o: { disk: string; name: string; sku?: string; tag?: string[]; resourceGroup?: string }) => snapshotCreateCommand(ctx, o)));
snapshot
  .command('full')
  .description('create a full snapshot from an incremental one')
  .requiredOption('--snapshot <id>', 'incremental snapshot id')
  .requiredOption('--name <name>', 'name of the full snapshot')
  .option('--resource-group <rg>', 'resource group (default: the source snapshot\'s)')
  .action(run((ctx, o: { snapshot: string; name: string; resourceGroup?: string }) => snapshotFullCommand(ctx, o)));
snapshot
  .command('delete <id>')
  .description('delete a snapshot')
  .action(run((ctx, id: string) => snapshotDeleteCommand(ctx, id)));

program
  .command('diff')
  .description('list the ranges changed and cleared between two snapshots of one family (either order)')
  .requiredOption('--from <snapshot-id>', 'one snapshot')
  .requiredOption('--to <snapshot-id>', 'the other snapshot')
  .option('--csv', 'CSV: offset,length,kind')
  .action(run((ctx, o: { from: string; to: string; csv?: boolean }) => diffCommand(ctx, o)));

program
  .command('restore')
  .description('create a managed disk from a snapshot')
  .requiredOption('--snapshot <id>', 'snapshot id')
  .requiredOption('--name <disk-name>', 'name of the new disk')
  .option('--resource-group <rg>', 'resource group (default: the snapshot\'s)')
  .option('--sku <sku>', 'disk SKU (default: Azure\'s)')
  .action(run((ctx, o: { snapshot: string; name: string; resourceGroup?: string; sku?: string }) => restoreCommand(ctx, o)));

program
  .command('access')
  .description('SAS access to disks and snapshots')
  .command('revoke <id>')
  .description('revoke any SAS access (endGetAccess) on a disk or snapshot')
  .action(run((ctx, id: string) => accessRevokeCommand(ctx, id)));

program
  .command('export <operation>')
  .description('print the equivalent az command (--az) or ARM template (--arm) for create | restore | full')
  .option('--az', 'an az CLI command line')
  .option('--arm', 'a deployable ARM template')
  .option('--disk <id>', 'create: the disk')
  .option('--snapshot <id>', 'restore/full: the snapshot')
  .option('--name <name>', 'name of the snapshot or disk to create')
  .option('--resource-group <rg>', 'resource group of the new resource')
  .option('--location <region>', 'region (default: the source\'s)')
  .option('--sku <sku>', 'SKU', 'auto')
  .option('--tag <key=value>', 'a tag (repeatable)', collect)
  .option('--offline', 'do not read the source from Azure, and do not sign in (needs --location)')
  .action(async (operation: string, o: ExportOptions) => {
    // Arguments are checked first; a connection is opened only when the source is to be read.
    const compute = async () => (await openContext(program.opts<GlobalOptions>(), abort.signal)).clients.compute;
    await exportCommand({ compute, signal: abort.signal }, operation, o);
  });

program
  .command('copy')
  .description('copy snapshots to another region: differential page copy (default) or Azure CopyStart (--native)')
  .option('--family <id>', 'a disk id or family id: copy every snapshot not yet copied, in order')
  .option('--snapshot <id>', 'one snapshot (its earlier snapshots are copied first when needed)')
  .option('--target-account <id>', 'storage account resource id in the target region')
  .option('--container <name>', 'container for the target blob (default: disk-delta, created when missing)')
  .addOption(new Option('--import <kind>', 'after copying, import as a managed resource').choices(['snapshot', 'disk', 'none']).default('none'))
  .option('--target-resource-group <rg>', 'resource group for imported resources (default: the account\'s)')
  .option('--concurrency <n>', 'requests in flight', (v) => Number.parseInt(v, 10))
  .option('--journal <file>', 'journal file for resuming (default: under the user state directory)')
  .addOption(verifyOption())
  .option('--native', 'use Azure CopyStart instead of the differential engine')
  .option('--target-region <region>', 'with --native: the target region')
  .action(run((ctx, o: CopyOptions) => copyCommand(ctx, o)));

async function main(): Promise<number> {
  try {
    await program.parseAsync(process.argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2;
    }
    if (isAbortError(error) || abort.signal.aborted) {
      process.stderr.write('disk-delta: cancelled\n');
      return 130;
    }
    process.stderr.write(`disk-delta: ${describeError(error)}\n`);
    return 1;
  }
}

void main().then((code) => {
  process.exitCode = code;
});
