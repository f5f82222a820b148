import * as vscode from 'vscode';
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { AzureClients } from '../azure';
import { armScope, cloudFromSettings, portalUrlOf, type CloudEnvironment } from '../core/clouds';
import { readEmulatorConnectionFile, type EmulatorConnection } from '../core/emulatorConnection';
import { DiskDeltaError } from '../core/errors';
import type { Log } from './log';
import { settings } from './settings';

export type ConnectionKind = 'none' | 'emulator' | 'azure';

export interface SubscriptionEntry {
  readonly subscriptionId: string;
  readonly name: string;
  readonly tenantId?: string;
  clients(): Promise<AzureClients>;
}

type AzureAuthModule = typeof import('./azureAccount');
type SubscriptionProvider = InstanceType<AzureAuthModule['VSCodeAzureSubscriptionProvider']>;

/** The Azure layer is a bundle of its own, loaded on first use. */
export function loadAzureLayer(): Promise<typeof import('../azure')> {
  return import('../azure');
}

const SIGNED_OUT_KEY = 'diskDelta.signedOut';

/**
 * Where the tree and the commands get their Azure clients: the local emulator (from its connection
 * file) or real Azure through VS Code's Microsoft authentication.
 */
export class Connection implements vscode.Disposable {
  #kind: ConnectionKind = 'none';
  #emulator?: { file: string; connection: EmulatorConnection; clients: AzureClients };
  #provider?: SubscriptionProvider;
  readonly #clients = new Map<string, Promise<AzureClients>>();
  readonly #onDidChange = new vscode.EventEmitter<ConnectionKind>();
  readonly onDidChange = this.#onDidChange.event;
  readonly #disposables: vscode.Disposable[] = [this.#onDidChange, { dispose: () => this.#watch(undefined) }];
  /** The emulator connection file being watched: a restarted emulator (another port, a new token) rewrites it. */
  #watched: { file: string; listener: (curr: Stats, prev: Stats) => void } | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly log: Log,
  ) {
    this.#disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('diskDelta.emulator.connectionFile')) void this.initialise();
        if (e.affectsConfiguration('azureResourceGroups.selectedSubscriptions') && this.#kind === 'azure') this.#onDidChange.fire('azure');
        // Another cloud: other endpoints, other accounts. Clients are made again on next use.
        if (e.affectsConfiguration('microsoft-sovereign-cloud')) {
          this.#clients.clear();
          try {
            this.log.info(`Azure cloud: ${this.cloud().name}`);
          } catch (error) {
            this.log.warn(`The cloud setting is not usable: ${error instanceof Error ? error.message : String(error)}`);
          }
          if (this.#kind === 'azure') this.#onDidChange.fire('azure');
        }
      }),
    );
  }

  get kind(): ConnectionKind {
    return this.#kind;
  }

  /**
   * The Azure cloud chosen in `microsoft-sovereign-cloud.environment`, the setting VS Code's Microsoft
   * sign-in and the Azure extensions share (docs/azure-behaviour.md#sovereign-clouds).
   */
  cloud(): CloudEnvironment {
    const config = vscode.workspace.getConfiguration('microsoft-sovereign-cloud');
    return cloudFromSettings(config.get<string>('environment'), config.get<unknown>('customEnvironment'));
  }

  /** The portal page of a resource id in the configured cloud, in the subscription's directory when known. */
  async portalUrl(id: string, subscriptionId?: string): Promise<string> {
    let tenantId: string | undefined;
    if (this.#kind === 'emulator') tenantId = this.#emulator?.connection.tenantId;
    else if (subscriptionId && this.#kind === 'azure') {
      tenantId = (await this.subscriptions(false).catch(() => [])).find((s) => s.subscriptionId.toLowerCase() === subscriptionId.toLowerCase())?.tenantId;
    }
    return portalUrlOf(this.cloud(), id, tenantId);
  }

  get emulator(): EmulatorConnection | undefined {
    return this.#emulator?.connection;
  }

  /** Picks the connection at start-up: the emulator when configured, else Azure when already signed in. */
  async initialise(): Promise<void> {
    const file = settings.emulatorConnectionFile();
    if (file) {
      try {
        await this.#useEmulator(file);
        return;
      } catch (error) {
        this.log.error(`Cannot use the emulator connection file ${file}:`, error);
        this.#set('none');
        throw error;
      }
    }
    this.#emulator = undefined;
    if (!this.context.globalState.get<boolean>(SIGNED_OUT_KEY) && (await this.#azureSignedInSilently())) {
      this.#set('azure');
    } else {
      this.#set('none');
    }
  }

  async #useEmulator(file: string): Promise<void> {
    const { connection, ca } = await readEmulatorConnectionFile(file);
    const azure = await loadAzureLayer();
    this.#emulator = { file, connection, clients: azure.connectToEmulator(connection, ca) };
    this.#clients.clear();
    this.log.info(`Connected to the local emulator at ${connection.armEndpoint}`);
    this.#watch(file);
    this.#set('emulator');
  }

  #watch(file: string | undefined): void {
    if (this.#watched?.file === file) return;
    if (this.#watched) unwatchFile(this.#watched.file, this.#watched.listener);
    this.#watched = undefined;
    if (!file) return;
    const listener = (curr: Stats, prev: Stats): void => {
      if (curr.mtimeMs === prev.mtimeMs || curr.mtimeMs === 0 || this.#emulator?.file !== file) return;
      // The emulator may still be writing it: one more try a moment later.
      this.#useEmulator(file)
        .catch(() => new Promise((resolve) => setTimeout(resolve, 1500)).then(() => this.#useEmulator(file)))
        .catch((error: unknown) => this.log.error(`Cannot use the emulator connection file ${file}:`, error));
    };
    watchFile(file, { interval: 1000, persistent: false }, listener);
    this.#watched = { file, listener };
  }

  async connectEmulator(file: string): Promise<void> {
    await this.#useEmulator(file);
    await settings.config.update('emulator.connectionFile', file, vscode.ConfigurationTarget.Global);
  }

  async #authModule(): Promise<AzureAuthModule> {
    return import('./azureAccount');
  }

  async #getProvider(): Promise<SubscriptionProvider> {
    if (!this.#provider) {
      const auth = await this.#authModule();
      this.#provider = new auth.VSCodeAzureSubscriptionProvider(this.log.channel);
      this.#disposables.push(this.#provider);
    }
    return this.#provider;
  }

  async #azureSignedInSilently(): Promise<boolean> {
    try {
      return await (await this.#getProvider()).isSignedIn();
    } catch (error) {
      this.log.debug(`Azure sign-in check failed: ${String(error)}`);
      return false;
    }
  }

  async signIn(): Promise<void> {
    const provider = await this.#getProvider();
    if (!(await provider.signIn())) throw new DiskDeltaError('Sign-in was not completed.', 'NotSignedIn', 'Try again, or connect to the local emulator.');
    await this.context.globalState.update(SIGNED_OUT_KEY, false);
    this.#emulator = undefined;
    await settings.config.update('emulator.connectionFile', undefined, vscode.ConfigurationTarget.Global);
    this.#clients.clear();
    this.log.info('Signed in to Azure.');
    this.#set('azure');
  }

  async signOut(): Promise<void> {
    if (this.#provider) await this.#provider.signOut().catch((e) => this.log.debug(`Sign-out: ${String(e)}`));
    await this.context.globalState.update(SIGNED_OUT_KEY, true);
    this.#clients.clear();
    this.#set('none');
  }

  async disconnect(): Promise<void> {
    if (this.#kind === 'emulator') {
      this.#emulator = undefined;
      this.#watch(undefined);
      await settings.config.update('emulator.connectionFile', undefined, vscode.ConfigurationTarget.Global);
      this.#clients.clear();
      this.#set('none');
    } else if (this.#kind === 'azure') {
      await this.signOut();
    }
  }

  /** Tenants whose accounts need an interactive sign-in before their subscriptions can be listed. */
  async tenantsNeedingSignIn(): Promise<{ tenantId: string; name: string }[]> {
    if (this.#kind !== 'azure') return [];
    const provider = await this.#getProvider();
    const out: { tenantId: string; name: string }[] = [];
    for (const t of await provider.getTenants()) {
      if (t.tenantId && !(await provider.isSignedIn(t.tenantId))) out.push({ tenantId: t.tenantId, name: t.displayName ?? t.tenantId });
    }
    return out;
  }

  async signInToTenant(tenantId: string): Promise<void> {
    const provider = await this.#getProvider();
    await provider.signIn(tenantId);
    this.#onDidChange.fire(this.#kind);
  }

  async subscriptions(filtered = true): Promise<SubscriptionEntry[]> {
    if (this.#kind === 'emulator' && this.#emulator) {
      const em = this.#emulator;
      return [
        {
          subscriptionId: em.connection.subscriptionId,
          name: `Local emulator (${em.connection.subscriptionId.slice(0, 8)})`,
          tenantId: em.connection.tenantId,
          clients: async () => em.clients,
        },
      ];
    }
    if (this.#kind !== 'azure') return [];
    const provider = await this.#getProvider();
    const subs = await provider.getSubscriptions(filtered);
    return subs.map((s) => ({
      subscriptionId: s.subscriptionId,
      name: s.name,
      tenantId: s.tenantId,
      clients: () => this.#azureClients(s.subscriptionId, s.credential),
    }));
  }

  #azureClients(subscriptionId: string, credential: import('@azure/core-auth').TokenCredential): Promise<AzureClients> {
    let c = this.#clients.get(subscriptionId);
    if (!c) {
      const cloud = this.cloud();
      c = loadAzureLayer().then((azure) =>
        azure.connectToAzure({
          credential,
          endpoint: cloud.resourceManagerEndpointUrl,
          credentialScope: armScope(cloud),
          storageEndpointSuffix: cloud.storageEndpointSuffix,
        }),
      );
      this.#clients.set(subscriptionId, c);
    }
    return c;
  }

  /** Clients for the subscription a resource id belongs to. */
  async clientsFor(subscriptionId: string): Promise<AzureClients> {
    if (this.#kind === 'emulator' && this.#emulator) return this.#emulator.clients;
    const sub = (await this.subscriptions(false)).find((s) => s.subscriptionId.toLowerCase() === subscriptionId.toLowerCase());
    if (!sub) {
      throw new DiskDeltaError(`Subscription ${subscriptionId} is not available.`, 'SubscriptionNotFound', 'Sign in with an account that can see it.');
    }
    return sub.clients();
  }

  #set(kind: ConnectionKind): void {
    this.#kind = kind;
    void vscode.commands.executeCommand('setContext', 'diskDelta.connection', kind);
    this.#onDidChange.fire(kind);
  }

  dispose(): void {
    for (const d of this.#disposables) d.dispose();
  }
}
