import type { AzureClients } from '../azure';
import { readEmulatorConnectionFile, type EmulatorConnection } from '../core/emulatorConnection';
import { DiskDeltaError } from '../core/errors';
import type { NameScope } from '../core/resolve';
import type { GlobalOptions } from './options';
import { currentOutput, type CliOutput } from './output';
import { writeNote } from './progress';

export type { GlobalOptions } from './options';

export interface CliContext {
  readonly clients: AzureClients;
  readonly subscriptionId: string;
  readonly emulator?: EmulatorConnection;
  readonly signal: AbortSignal;
  /**
   * A structured result was asked for (`-o <format>`, `--json` or `--query`): hand the result to
   * `output.result` (or `printJson`) instead of printing text for people.
   */
  readonly json: boolean;
  /** Where results go, in the format and with the query the user chose. */
  readonly output: CliOutput;
  /** `--only-show-errors`: no progress and no notes on stderr. */
  readonly quiet: boolean;
  /** Progress and notes: stderr, so that stdout carries only results. Silent with --only-show-errors. */
  note(text: string): void;
  /** Where a resource name is looked up: the subscription, or one resource group. */
  scope(resourceGroup?: string): NameScope;
}

async function loadAzureLayer(): Promise<typeof import('../azure')> {
  return import('../azure');
}

export async function openContext(global: GlobalOptions, signal: AbortSignal, output: CliOutput = currentOutput()): Promise<CliContext> {
  const quiet = global.onlyShowErrors === true;
  const note = (text: string) => {
    if (!quiet) writeNote(text);
  };
  const emulatorPath = global.emulator ?? process.env.DISK_DELTA_EMULATOR;
  const azure = await loadAzureLayer();
  const base = (subscriptionId: string) => ({
    subscriptionId,
    signal,
    json: output.structured,
    output,
    quiet,
    note,
    scope: (resourceGroup?: string): NameScope => ({ subscriptionId, ...(resourceGroup ? { resourceGroup } : {}) }),
  });
  if (emulatorPath) {
    const { connection, ca } = await readEmulatorConnectionFile(emulatorPath);
    return { ...base(global.subscription ?? connection.subscriptionId), clients: azure.connectToEmulator(connection, ca), emulator: connection };
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
  return { ...base(subscriptionId), clients };
}
