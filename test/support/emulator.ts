/**
 * Starts the local Azure emulator for integration tests and benchmarks, and hands out SDK clients
 * that talk to it over HTTPS exactly as they talk to Azure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { createDefaultHttpClient, createHttpHeaders, createPipelineRequest, type HttpClient } from '@azure/core-rest-pipeline';
import { toCompatResponse, type WebResourceLike } from '@azure/core-http-compat';
import { ComputeManagementClient } from '@azure/arm-compute';
import { AnonymousCredential, BlobServiceClient, PageBlobClient, StorageSharedKeyCredential, type StoragePipelineOptions } from '@azure/storage-blob';
import type { EmulatorConnection, EmulatorStorageAccount } from '../../src/core/emulatorConnection';
import { httpClientTrusting } from '../../src/azure/tls';
import type { EmulatorStats } from '../../emulator/stats';

const root = path.resolve(__dirname, '../..');
const bundle = path.join(root, 'dist', 'emulator.js');

export interface EmulatorOptions {
  /** `--faults` spec string, or an object with the same keys */
  faults?: string | Record<string, number>;
  seed?: 'demo' | 'none';
  regions?: string[];
  /** persist state here (kept after stop); default: in memory */
  dataDir?: string;
  /** multiplies CopyStart durations; default 0.05 so copies finish in a fraction of a second */
  copyTimeScale?: number;
}

export type { EmulatorStats } from '../../emulator/stats';

export interface RunningEmulator {
  readonly connection: EmulatorConnection;
  readonly ca: string;
  readonly credential: TokenCredential;
  readonly httpClient: HttpClient;
  /** the same, in the (v1) shape @azure/storage-blob's pipeline options take */
  readonly storageHttpClient: StoragePipelineOptions['httpClient'];
  readonly process: ChildProcess;
  stop(): Promise<void>;
  restart(): Promise<void>;
  setFaults(faults: Record<string, number>): Promise<void>;
  getStats(): Promise<EmulatorStats>;
  resetStats(): Promise<void>;
  /** Emulator-only endpoints under the ARM endpoint (bearer token). */
  arm(method: string, pathAndQuery: string, body?: unknown): Promise<{ status: number; body: unknown }>;
}

function faultSpec(f: EmulatorOptions['faults']): string | undefined {
  if (f === undefined) return undefined;
  if (typeof f === 'string') return f;
  return Object.entries(f)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

function ensureBuilt(): void {
  if (!existsSync(bundle)) execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
}

function spawnEmulator(args: string[]): Promise<{ child: ChildProcess; connectionFile: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`emulator did not start in time: ${err}`));
    }, 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /disk-delta-emulator ready \S+ connection file (.+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, connectionFile: m[1]! });
      }
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.length > 20_000) err = err.slice(-10_000);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`emulator exited with ${code}: ${err}`));
    });
  });
}

/** Emulators this process started and has not stopped: killed when it exits, whatever a test forgot. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/**
 * A test whose set-up failed after starting an emulator never reaches its stop(); the emulator must not keep
 * the test process waiting for ever, so it does not hold the event loop, and the exit hook above ends it.
 */
function holdLoosely(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
}

function waitExit(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  ensureBuilt();
  const work = mkdtempSync(path.join(os.tmpdir(), 'dd-emulator-test-'));
  const connectionPath = path.join(work, 'connection.json');
  const args = ['--port', '0', '--connection-file', connectionPath, '--copy-time-scale', String(options.copyTimeScale ?? 0.05)];
  if (options.dataDir) args.push('--data', options.dataDir);
  else args.push('--memory');
  if (options.seed) args.push('--seed', options.seed);
  if (options.regions) args.push('--regions', options.regions.join(','));
  const spec = faultSpec(options.faults);
  if (spec) args.push('--faults', spec);

  let { child } = await spawnEmulator(args);
  holdLoosely(child);
  // Node's process warnings (MaxListenersExceededWarning and the like) are defects: stop() fails the test on any.
  const warnings: string[] = [];
  const watchWarnings = (c: ChildProcess): void => {
    c.stderr?.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) if (/\bWarning\b/.test(line) && warnings.length < 20) warnings.push(line.trim());
    });
  };
  watchWarnings(child);
  let connection = JSON.parse(readFileSync(connectionPath, 'utf8')) as EmulatorConnection;
  let ca = readFileSync(connection.caCertPath, 'utf8');
  let httpClient = httpClientTrusting(ca);
  let storageHttpClient = storageHttpClientTrusting(ca);
  const credential: TokenCredential = {
    getToken: (): Promise<AccessToken> => Promise.resolve({ token: connection.token, expiresOnTimestamp: Date.now() + 3_600_000 }),
  };
  let agent = new https.Agent({ ca, keepAlive: false });

  const arm = (method: string, pathAndQuery: string, body?: unknown): Promise<{ status: number; body: unknown }> =>
    new Promise((resolve, reject) => {
      const url = new URL(pathAndQuery, connection.armEndpoint);
      const text = body === undefined ? undefined : JSON.stringify(body);
      const req = https.request(
        url,
        {
          method,
          agent,
          headers: {
            authorization: `Bearer ${connection.token}`,
            'content-type': 'application/json',
            ...(text ? { 'content-length': Buffer.byteLength(text) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const raw = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = raw;
            try {
              parsed = raw ? JSON.parse(raw) : undefined;
            } catch {
              // not JSON
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on('error', reject);
      req.end(text);
    });

  let stopped = false;
  const em: RunningEmulator = {
    get connection() {
      return connection;
    },
    get ca() {
      return ca;
    },
    credential,
    get httpClient() {
      return httpClient;
    },
    get storageHttpClient() {
      return storageHttpClient;
    },
    get process() {
      return child;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      child.kill('SIGTERM');
      await waitExit(child);
      agent.destroy();
      rmSync(work, { recursive: true, force: true });
      if (warnings.length) throw new Error(`the emulator printed warnings:\n${warnings.join('\n')}`);
    },
    async restart() {
      child.kill('SIGTERM');
      await waitExit(child);
      ({ child } = await spawnEmulator(args));
      holdLoosely(child);
      watchWarnings(child);
      connection = JSON.parse(readFileSync(connectionPath, 'utf8')) as EmulatorConnection;
      ca = readFileSync(connection.caCertPath, 'utf8');
      httpClient = httpClientTrusting(ca);
      storageHttpClient = storageHttpClientTrusting(ca);
      agent.destroy();
      agent = new https.Agent({ ca, keepAlive: false });
    },
    async setFaults(faults) {
      const r = await arm('PUT', '/emulator/faults', faults);
      if (r.status !== 200) throw new Error(`setFaults failed: ${r.status} ${JSON.stringify(r.body)}`);
    },
    async getStats() {
      const r = await arm('GET', '/emulator/stats');
      return r.body as EmulatorStats;
    },
    async resetStats() {
      await arm('POST', '/emulator/stats/reset');
    },
    arm,
  };
  return em;
}

export function computeClient(em: RunningEmulator): ComputeManagementClient {
  return new ComputeManagementClient(em.credential, em.connection.subscriptionId, { endpoint: em.connection.armEndpoint, httpClient: em.httpClient });
}

export function storageAccount(em: RunningEmulator, region?: string, index = 0): EmulatorStorageAccount {
  const list = em.connection.storageAccounts.filter((a) => !region || a.region === region);
  const a = list[index];
  if (!a) throw new Error(`no emulator storage account #${index} in ${region ?? 'any region'}`);
  return a;
}

export function blobServiceClient(em: RunningEmulator, account: EmulatorStorageAccount, options: StoragePipelineOptions = {}): BlobServiceClient {
  return new BlobServiceClient(account.blobEndpoint, new StorageSharedKeyCredential(account.name, account.accountKey), sasPipelineOptions(em, options));
}

/** A page blob client for a disk/snapshot SAS URL (or any SAS URL the emulator issued). */
export function sasBlobClient(em: RunningEmulator, sasUrl: string, options: StoragePipelineOptions = {}): PageBlobClient {
  return new PageBlobClient(sasUrl, new AnonymousCredential(), sasPipelineOptions(em, options));
}

/** Pipeline options for a client that talks to a disk/snapshot SAS URL. */
export function sasPipelineOptions(em: RunningEmulator, options: StoragePipelineOptions = {}): StoragePipelineOptions {
  return { httpClient: em.storageHttpClient, ...options };
}

/**
 * @azure/storage-blob takes a v1 (core-http) client in its pipeline options and hands it a
 * WebResourceLike; a core-rest-pipeline client cannot be passed as is (its requests lack
 * `headers.toJSON`). This adapter sends through a core-rest-pipeline client with an agent trusting `ca`.
 */
export function storageHttpClientTrusting(ca: string, maxSockets = 256): StoragePipelineOptions['httpClient'] {
  const inner = createDefaultHttpClient();
  const agent = new https.Agent({ ca, keepAlive: true, maxSockets });
  return {
    async sendRequest(wr: WebResourceLike) {
      const request = createPipelineRequest({
        url: wr.url,
        method: wr.method,
        headers: createHttpHeaders(wr.headers.toJson({ preserveCase: true })),
        body: wr.body as never,
        abortSignal: wr.abortSignal as never,
        timeout: wr.timeout,
        streamResponseStatusCodes: wr.streamResponseStatusCodes,
        onUploadProgress: wr.onUploadProgress as never,
        onDownloadProgress: wr.onDownloadProgress as never,
      });
      request.agent = agent;
      const response = await inner.sendRequest(request);
      // Hand back the caller's own request object: the SDK finds its operation spec through it.
      return { ...toCompatResponse(response), request: wr };
    },
  } as unknown as StoragePipelineOptions['httpClient'];
}

/**
 * Creates resource groups as `az group create` does (PUT .../resourcegroups/{rg}); kept when they exist. Azure
 * refuses a disk or snapshot in a group that does not exist (docs/azure-behaviour.md#resource-groups), and so
 * does the emulator: tests make their groups first.
 */
export async function ensureResourceGroup(em: RunningEmulator, names: string | readonly string[], location = 'eastus'): Promise<void> {
  for (const name of typeof names === 'string' ? [names] : names) {
    const r = await em.arm('PUT', `/subscriptions/${em.connection.subscriptionId}/resourcegroups/${encodeURIComponent(name)}?api-version=2021-04-01`, {
      location,
    });
    if (r.status !== 200 && r.status !== 201) throw new Error(`creating resource group ${name}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}
