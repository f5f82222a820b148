/**
 * The Azure layer: the only code that imports the Azure SDKs. Loaded on first use (a bundle of its own)
 * so that activating the extension or starting the CLI never pays for the SDKs.
 */
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import type { EmulatorConnection } from '../core/emulatorConnection';
import type { DiagnosticsApi } from '../core/doctor';
import type { ComputeApi, DataPlane } from '../core/ports';
import type { ProtectionStorage } from '../core/protect/ports';
import { ArmCompute } from './compute';
import { BlobProtectionStorage } from './lease';
import { BlobDataPlane } from './pageBlob';
import { ArmDiagnostics } from './diagnostics';
import { httpClientWithAgent, httpsAgentTrusting } from './tls';

export { ArmCompute, toDiskInfo, toSnapshotInfo } from './compute';
export { BlobDataPlane } from './pageBlob';
export { httpClientTrusting, httpClientWithAgent, httpsAgentTrusting } from './tls';
export { toDiskDeltaError } from './errors';

export interface AzureClients {
  readonly compute: ComputeApi;
  /** Data plane for listing and reading (the SDK retries). */
  readonly dataPlane: DataPlane;
  /** Data plane for the copy engine's writes: one try per request, the engine retries with its own backoff. */
  readonly copyDataPlane: DataPlane;
  readonly kind: 'azure' | 'emulator';
  /** The reads of `disk-delta doctor` and "Run Diagnostics". */
  readonly diagnostics: DiagnosticsApi;
  /** Leases and target points of continuous protection, signed in as the other data-plane clients are. */
  readonly protectionStorage: ProtectionStorage;
}

/** A credential that always answers with one bearer token (the emulator's). */
export function staticTokenCredential(token: string): TokenCredential {
  return {
    getToken: async (): Promise<AccessToken> => ({ token, expiresOnTimestamp: Date.now() + 3600_000 }),
  };
}

export function connectToEmulator(connection: EmulatorConnection, caPem: string, options: { pollIntervalMs?: number } = {}): AzureClients {
  const agent = httpsAgentTrusting(caPem);
  const httpClient = httpClientWithAgent(agent);
  const credential = staticTokenCredential(connection.token);
  const accountKeys = new Map(connection.storageAccounts.map((a) => [a.name, a.accountKey]));
  const compute = new ArmCompute({ credential, endpoint: connection.armEndpoint, httpClient, pollIntervalMs: options.pollIntervalMs ?? 250 });
  return {
    kind: 'emulator',
    compute,
    dataPlane: new BlobDataPlane({ agent, accountKeys }),
    copyDataPlane: new BlobDataPlane({ agent, accountKeys, maxTries: 1, tryTimeoutMs: 15_000 }),
    diagnostics: new ArmDiagnostics(compute, credential, { agent }),
    protectionStorage: new BlobProtectionStorage({ agent, accountKeys }),
  };
}

export interface AzureConnectionOptions {
  readonly credential: TokenCredential;
  /** Storage account keys where the caller has them; otherwise Entra ID (data-plane RBAC) is used. */
  readonly accountKeys?: ReadonlyMap<string, string>;
  readonly endpoint?: string;
  /** Token scope for ARM in a sovereign or custom cloud (`<arm endpoint>/.default`). */
  readonly credentialScope?: string;
  readonly storageEndpointSuffix?: string;
}

export function connectToAzure(options: AzureConnectionOptions): AzureClients {
  const compute = new ArmCompute({
    credential: options.credential,
    endpoint: options.endpoint,
    credentialScope: options.credentialScope,
    storageEndpointSuffix: options.storageEndpointSuffix,
  });
  return {
    kind: 'azure',
    compute,
    diagnostics: new ArmDiagnostics(compute, options.credential),
    dataPlane: new BlobDataPlane({ tokenCredential: options.credential, accountKeys: options.accountKeys }),
    copyDataPlane: new BlobDataPlane({ tokenCredential: options.credential, accountKeys: options.accountKeys, maxTries: 1, tryTimeoutMs: 30_000 }),
    protectionStorage: new BlobProtectionStorage({ tokenCredential: options.credential, accountKeys: options.accountKeys }),
  };
}

/** The CLI's credential for real Azure: environment, managed identity, Azure CLI, ... (DefaultAzureCredential). */
export async function defaultCredential(): Promise<TokenCredential> {
  const { DefaultAzureCredential } = await import('@azure/identity');
  return new DefaultAzureCredential();
}
export { BlobProtectionStorage } from './lease';
