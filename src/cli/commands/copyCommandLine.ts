/** The `copy` command's command line: its options, their checks, and names resolved to ids. */
import { Option, type Command } from 'commander';
import { resolveFamilyRef, resolveSnapshotRef } from '../../core/resolve';
import { integerIn, positiveNumber, resourceGroupOption } from '../options';
import { withExamples, type CliRuntime } from '../runtime';
import { copyCommand, verifyOption, type CopyOptions } from './copy';

export function registerCopy(program: Command, rt: CliRuntime): void {
  const cmd = program
    .command('copy')
    .description('copy snapshots to another region: differential page copy (default) or Azure CopyStart (--native)')
    .addOption(
      new Option('--family <disk-or-family>', 'a disk (id or name) or a family id: copy every snapshot not yet copied, in order').conflicts('snapshot'),
    )
    .option('--snapshot <id-or-name>', 'one snapshot (its earlier snapshots are copied first when needed)')
    .addOption(resourceGroupOption('where --family/--snapshot names are looked up'))
    .option('--target-account <id>', 'storage account resource id in the target region')
    .option('--container <name>', 'container for the target blob (default: disk-delta, created when missing)')
    .addOption(new Option('--import <kind>', 'after copying, import as a managed resource').choices(['snapshot', 'disk', 'none']).default('none'))
    .option('--target-resource-group <rg>', "resource group for imported resources (default: the account's)")
    .addOption(new Option('--concurrency <n>', 'requests in flight, 1 to 256').argParser(integerIn(1, 256)))
    .addOption(
      new Option('--cap-mbps <n>', "most megabits per second written to the target (default: just under the blob's 60 MiB/s target)")
        .argParser(positiveNumber)
        .conflicts('native'),
    )
    .option('--journal <file>', 'journal file for resuming (default: under the user state directory)')
    .addOption(verifyOption())
    .option('--native', 'use Azure CopyStart instead of the differential engine')
    .option('--target-region <region>', 'with --native: the target region')
    .action(
      rt.run(async (ctx, o: CopyOptions & { resourceGroup?: string }) => {
        const scope = ctx.scope(o.resourceGroup);
        const options = { signal: ctx.signal };
        const family = o.family === undefined ? undefined : await resolveFamilyRef(ctx.clients.compute, o.family, scope, options);
        const snapshot = o.snapshot === undefined ? undefined : await resolveSnapshotRef(ctx.clients.compute, o.snapshot, scope, options);
        await copyCommand(ctx, { ...o, family, snapshot });
      }),
    );
  cmd.addHelpText(
    'after',
    '\nOn a terminal, each snapshot gets a progress bar on stderr (bytes, rate, time left); elsewhere a line\n' +
      'every few seconds; nothing with --only-show-errors. -o json prints one line.\n',
  );
  withExamples(cmd, [
    [
      'every snapshot of the disk orders-db not yet in westus2, one JSON line per run',
      'disk-delta copy --family orders-db --target-account /subscriptions/<sub>/resourceGroups/dr-westus2/providers/Microsoft.Storage/storageAccounts/drwestus2 --json',
    ],
    [
      'one snapshot, capped at 200 Mbit/s, imported as a managed snapshot',
      'disk-delta copy --snapshot orders-db-20261120 --target-account <account id> --cap-mbps 200 --import snapshot',
    ],
    ["Azure's own CopyStart instead", 'disk-delta copy --native --snapshot orders-db-20261120 --target-region westus2 -o table'],
  ]);
}
