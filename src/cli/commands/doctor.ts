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
