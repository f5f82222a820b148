import type { AzureClients } from '../azure';
import { readEmulatorConnectionFile, type EmulatorConnection } from '../core/emulatorConnection';
import { DiskDeltaError } from '../core/ports';
import { redact } from '../core/secret';

export interface GlobalOptions {
  readonly subscription?: string;
  readonly emulator?: string;
  readonly json?: boolean;
}

export interface CliContext {
  readonly clients: AzureClients;
  readonly subscriptionId: string;
  readonly emulator?: EmulatorConnection;
  readonly signal: AbortSignal;
  readonly json: boolean;
  /** Progress and notes: stderr, so that stdout carries only results. */
  note(text: string): void;
}

async function loadAzureLayer(): Promise<typeof import('../azure')> {
  return import('../azure');
}

export async function openContext(global: GlobalOptions, signal: AbortSignal): Promise<CliContext> {
  const json = global.json === true;
  const note = (text: string) => process.stderr.write(redact(text) + '\n');
  const emulatorPath = global.emulator ?? process.env.DISK_DELTA_EMULATOR;
  const azure = await loadAzureLayer();
  if (emulatorPath) {
    const { connection, ca } = await readEmulatorConnectionFile(emulatorPath);
    return {
      clients: azure.connectToEmulator(connection, ca),
      subscriptionId: global.subscription ?? connection.subscriptionId,
      emulator: connection,
      signal,
      json,
      note,
    };
  }
  const credential = await azure.defaultCredential();
  const clients = azure.connectToAzure({ credential });
  let subscriptionId = global.subscription ?? process.env.AZURE_SUBSCRIPTION_ID;
  if (!subscriptionId) {
    const subs = await clients.compute.listSubscriptions({ signal });
    if (subs.length !== 1) {
      throw new DiskDeltaError(
        subs.length === 0 ? 'No Azure subscription is available to this sign-in.' : `${subs.length} subscriptions are available.`,
        'SubscriptionRequired',
        'Pass --subscription <id> (or set AZURE_SUBSCRIPTION_ID).',
      );
    }
    subscriptionId = subs[0]!.subscriptionId;
  }
  return { clients, subscriptionId, signal, json, note };
}
