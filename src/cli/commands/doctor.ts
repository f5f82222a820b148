import type { Command } from 'commander';
import { globalOptionsOf } from '../options';
import { withExamples, type CliRuntime } from '../runtime';
import type { AzureClients } from '../../azure';
import { readEmulatorConnectionFile } from '../../core/emulatorConnection';
import { doctorExitCode, formatDoctorReport, runDoctor, type DoctorCheck } from '../../core/doctor';
import { redact } from '../../core/secret';
import type { GlobalOptions } from '../context';

export interface DoctorOptions {
  targetAccount?: string;
  resourceGroup?: string[];
  container?: string;
}

/**
 * `disk-delta doctor`: opens its own connection rather than the commands' context, because a failed
 * sign-in or a missing subscription is what it reports, not an error that stops it. Returns the exit code.
 */
export async function doctorCommand(global: GlobalOptions, o: DoctorOptions, signal: AbortSignal): Promise<number> {
  const azure = await import('../../azure');
  const emulatorPath = global.emulator ?? process.env.DISK_DELTA_EMULATOR;
  let clients: AzureClients;
  let subscriptionId = global.subscription;
  let checks: DoctorCheck[];
  if (emulatorPath) {
    const { connection, ca } = await readEmulatorConnectionFile(emulatorPath);
    clients = azure.connectToEmulator(connection, ca);
    subscriptionId ??= connection.subscriptionId;
  } else {
    clients = azure.connectToAzure({ credential: await azure.defaultCredential() });
    subscriptionId ??= process.env.AZURE_SUBSCRIPTION_ID;
  }
  checks = await runDoctor({
    compute: clients.compute,
    dataPlane: clients.dataPlane,
    diagnostics: clients.diagnostics,
    ...(subscriptionId ? { subscriptionId } : {}),
    ...(o.targetAccount ? { targetAccountId: o.targetAccount } : {}),
    ...(o.resourceGroup?.length ? { resourceGroups: o.resourceGroup } : {}),
    ...(o.container ? { container: o.container } : {}),
    signal,
  });
  checks = checks.map((c) => ({ ...c, detail: redact(c.detail), fix: redact(c.fix) }));
  if (global.json) process.stdout.write(JSON.stringify(checks, null, 2) + '\n');
  else process.stdout.write(formatDoctorReport(checks) + '\n');
  return doctorExitCode(checks);
}

/** `disk-delta doctor`: registered with the other commands in main.ts; its exit status is 1 when a check failed. */
export function registerDoctor(program: Command, rt: CliRuntime, setExitCode: (code: number) => void): void {
  const cmd = program
    .command('doctor')
    .description('check sign-in, subscription, resource providers, permissions and the blob endpoints a diff or copy needs; exit 1 if any check fails')
    .option('--target-account <id>', 'storage account resource id of the copy target to check')
    .option(
      '--resource-group <rg>',
      "a source resource group to check (repeatable; default: those of the subscription's disks)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--container <name>', 'container a copy writes to (default: disk-delta)')
    .action(async (o: DoctorOptions, command: Command) => {
      setExitCode(await doctorCommand(globalOptionsOf(command), o, rt.signal));
    });
  withExamples(cmd, [
    ['check everything a copy to a storage account needs', 'disk-delta doctor --target-account <storage account id>'],
    ['the checks as JSON', 'disk-delta doctor --json'],
  ]);
}
