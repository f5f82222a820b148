/**
 * The live suite (`npm run test:live`): Disk Delta's main flows against a real Azure subscription, in a
 * throwaway resource group that is deleted at the end whatever happens (try/finally, and on SIGINT).
 *
 *   AZURE_SUBSCRIPTION_ID=<id> npm run test:live [-- --location eastus --target-location westus2 --keep]
 *   npm run test:live -- --emulator <connection file>     (the same flow against the local emulator)
 *
 * Flow: upload a 32 MiB disk (fixed VHD footer included) and write some pages; two incremental
 * snapshots and their diff (CLI); a differential copy with import to a storage account in the target
 * region (CLI), compared byte for byte; a CopyStart copy (CLI), compared; a restore from the imported
 * snapshot (CLI), compared; access revoked (CLI); no grant left open. Then an estimate of what it cost.
 * Run by scripts/test-live.mjs, never by scripts/test.mjs.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { TokenCredential } from '@azure/core-auth';
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createEmptyPipeline,
  createPipelineRequest,
  type HttpClient,
} from '@azure/core-rest-pipeline';
import { StorageManagementClient } from '@azure/arm-storage';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { connectToAzure, connectToEmulator, defaultCredential, httpClientTrusting, staticTokenCredential, type AzureClients } from '../../src/azure';
import type { EmulatorConnection } from '../../src/core/emulatorConnection';
import { parseResourceId } from '../../src/core/resourceId';
import { vhdFooter } from '../../emulator/state';
import { storageHttpClientTrusting } from '../support/emulator';

const MIB = 1024 * 1024;
const DISK_BYTES = 32 * MIB;
const root = path.resolve(__dirname, '../..');
const cliBundle = path.join(root, 'dist', 'cli.js');

/** Rough list prices (USD, pay-as-you-go, 2025) used for the estimate printed at the end. */
const PRICES = {
  /** Standard HDD managed disk S4 (32 GiB), per month: a 32 MiB disk is billed as the smallest tier. */
  standardDiskS4PerMonth: 1.54,
  /** Incremental snapshot storage, per GiB-month (billed for used size). */
  snapshotPerGiBMonth: 0.05,
  /** Blob storage (hot LRS) per GiB-month. */
  blobPerGiBMonth: 0.02,
  /** Inter-region data transfer, per GiB (CopyStart and the differential copy). */
  transferPerGiB: 0.02,
  /** ARM and storage transactions, per 10,000. */
  transactionsPer10k: 0.05,
};

interface Options {
  emulator?: string;
  location: string;
  targetLocation: string;
  keep: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { location: process.env['AZURE_LOCATION'] ?? 'eastus', targetLocation: process.env['AZURE_TARGET_LOCATION'] ?? 'westus2', keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (!v) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--emulator') o.emulator = path.resolve(next());
    else if (a === '--location') o.location = next();
    else if (a === '--target-location') o.targetLocation = next();
    else if (a === '--keep') o.keep = true;
    else throw new Error(`unknown option ${a} (--emulator <file>, --location <region>, --target-location <region>, --keep)`);
  }
  return o;
}

const log = (text: string): void => {
  process.stdout.write(`${new Date().toISOString().slice(11, 19)}  ${text}\n`);
};

/** ARM requests the SDK clients here do not cover (resource groups, role assignments), with the same token. */
class RawArm {
  readonly #pipeline = createEmptyPipeline();
  constructor(
    readonly endpoint: string,
    credential: TokenCredential,
    private readonly http: HttpClient,
  ) {
    this.#pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential, scopes: 'https://management.azure.com/.default' }));
  }
  async send(
    method: string,
    pathAndQuery: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown; headers: { get(name: string): string | undefined } }> {
    const request = createPipelineRequest({
      url: `${this.endpoint}${pathAndQuery}`,
      method: method as 'GET',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    request.headers.set('content-type', 'application/json');
    const response = await this.#pipeline.sendRequest(this.http, request);
    let parsed: unknown;
    try {
      parsed = response.bodyAsText ? JSON.parse(response.bodyAsText) : undefined;
    } catch {
      parsed = response.bodyAsText;
    }
    return { status: response.status, body: parsed, headers: response.headers };
  }
  /** Follows a 202's Location until the operation ends (resource group deletion). */
  async waitFor(first: { status: number; headers: { get(name: string): string | undefined } }, signalDeadlineMs = 30 * 60_000): Promise<void> {
    let location = first.headers.get('location');
    const until = Date.now() + signalDeadlineMs;
    while (first.status === 202 && location && Date.now() < until) {
      await new Promise((r) => setTimeout(r, Number(first.headers.get('retry-after') ?? 10) * 1000));
      const next = await this.send('GET', location.replace(this.endpoint, ''));
      if (next.status !== 202) return;
      location = next.headers.get('location') ?? location;
    }
  }
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runLive(o: Options): Promise<number> {
  const started = Date.now();
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const rand = crypto.randomBytes(3).toString('hex');
  const rg = `disk-delta-live-${stamp}-${rand}`;
  let clients: AzureClients;
  let raw: RawArm;
  let subscriptionId: string;
  let cliGlobal: string[];
  let emulator: EmulatorConnection | undefined;
  let credential: TokenCredential;
  if (o.emulator) {
    emulator = JSON.parse(readFileSync(o.emulator, 'utf8')) as EmulatorConnection;
    const ca = readFileSync(emulator.caCertPath, 'utf8');
    clients = connectToEmulator(emulator, ca);
    credential = staticTokenCredential(emulator.token);
    raw = new RawArm(emulator.armEndpoint, credential, httpClientTrusting(ca));
    subscriptionId = emulator.subscriptionId;
    cliGlobal = ['--emulator', o.emulator];
    if (!emulator.storageAccounts.some((a) => a.region === o.targetLocation))
      o.targetLocation = emulator.storageAccounts.find((a) => a.region !== o.location)?.region ?? o.targetLocation;
  } else {
    subscriptionId = process.env['AZURE_SUBSCRIPTION_ID']!;
    credential = await defaultCredential();
    clients = connectToAzure({ credential });
    raw = new RawArm('https://management.azure.com', credential, createDefaultHttpClient());
    cliGlobal = ['--subscription', subscriptionId];
  }

  const abort = new AbortController();
  const children = new Set<ReturnType<typeof spawn>>();
  const cli = (args: string[]): Promise<CliRun> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [cliBundle, ...cliGlobal, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr!.on('data', (c: Buffer) => {
        stderr += c.toString();
        for (const line of c
          .toString()
          .split(/\r|\n/)
          .filter((l) => l.trim()))
          process.stdout.write(`          ${line.trim()}\n`);
      });
      child.on('error', reject);
      child.on('close', (code) => {
        children.delete(child);
        resolve({ code: code ?? 1, stdout, stderr });
      });
    });
  const cliJson = async <T>(what: string, args: string[]): Promise<T> => {
    log(`disk-delta ${args.join(' ')}`);
    const r = await cli(['--json', ...args]);
    if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`);
    return JSON.parse(r.stdout) as T;
  };

  const created: { snapshots: string[]; disks: string[]; storageAccount?: string; blobs: { account: string; container: string }[] } = {
    snapshots: [],
    disks: [],
    blobs: [],
  };
  let bytesTransferred = 0;
  let cleanedUp = false;

  const cleanup = async (): Promise<void> => {
    if (cleanedUp) return;
    cleanedUp = true;
    if (o.keep) {
      log(`--keep: resource group ${rg} is left in place; delete it with: az group delete --name ${rg} --yes`);
      return;
    }
    log('Cleaning up: revoking grants and deleting what this run created');
    for (const id of [...created.snapshots, ...created.disks]) await clients.compute.revokeAccess(id).catch(() => undefined);
    for (const id of [...created.snapshots].reverse())
      await clients.compute.deleteSnapshot(id).catch((e: Error) => log(`  could not delete ${id}: ${e.message}`));
    for (const id of created.disks) await clients.compute.deleteDisk(id).catch((e: Error) => log(`  could not delete ${id}: ${e.message}`));
    if (emulator) {
      // The emulator's accounts are shared: remove only the container this run wrote to.
      const ca = readFileSync(emulator.caCertPath, 'utf8');
      for (const b of created.blobs) {
        const account = emulator.storageAccounts.find((a) => a.name === b.account);
        if (!account) continue;
        const service = new BlobServiceClient(account.blobEndpoint, new StorageSharedKeyCredential(account.name, account.accountKey), {
          httpClient: storageHttpClientTrusting(ca),
        });
        await service
          .getContainerClient(b.container)
          .deleteIfExists()
          .catch(() => undefined);
      }
      log('Deleted the disks, snapshots and container this run created');
      return;
    }
    const del = await raw.send('DELETE', `/subscriptions/${subscriptionId}/resourcegroups/${rg}?api-version=2021-04-01`).catch((e: Error) => {
      log(`  could not delete resource group ${rg}: ${e.message}`);
      return undefined;
    });
    if (del && (del.status === 202 || del.status === 200)) {
      await raw.waitFor(del);
      log(`Deleted resource group ${rg}`);
    } else if (del) log(`  resource group ${rg}: DELETE answered ${del.status}; delete it by hand: az group delete --name ${rg} --yes`);
  };

  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) return;
    interrupted = true;
    log('Interrupted: stopping and cleaning up (press Ctrl+C again to leave at once)');
    abort.abort();
    for (const c of children) c.kill('SIGINT');
    process.once('SIGINT', () => process.exit(130));
  };
  process.on('SIGINT', onSigint);

  try {
    log(`Resource group: ${rg} (${o.location}; copies to ${o.targetLocation}) in subscription ${subscriptionId}`);
    const tags = {
      'disk-delta-live-test': 'true',
      'created-at': new Date().toISOString(),
      purpose: 'throwaway resource group of disk-delta npm run test:live; safe to delete',
    };
    const put = await raw.send('PUT', `/subscriptions/${subscriptionId}/resourcegroups/${rg}?api-version=2021-04-01`, { location: o.location, tags });
    if (put.status >= 300) throw new Error(`Creating resource group ${rg} failed: ${put.status} ${JSON.stringify(put.body)}`);

    // The copy target: a storage account in the target region.
    let targetAccountId: string;
    if (emulator) {
      targetAccountId = emulator.storageAccounts.find((a) => a.region === o.targetLocation)!.resourceId;
    } else {
      const name = `ddlive${stamp.slice(4)}${rand}`.slice(0, 24);
      log(`Creating storage account ${name} in ${o.targetLocation}`);
      const storage = new StorageManagementClient(credential, subscriptionId);
      const account = await storage.storageAccounts.beginCreateAndWait(rg, name, {
        location: o.targetLocation,
        kind: 'StorageV2',
        sku: { name: 'Standard_LRS' },
        tags,
        minimumTlsVersion: 'TLS1_2',
        allowBlobPublicAccess: false,
      });
      targetAccountId = account.id!;
      created.storageAccount = targetAccountId;
      await grantBlobDataRole(raw, credential, targetAccountId);
    }

    // 1. Upload a 32 MiB disk: pages written at a few offsets, then the fixed VHD footer.
    log('Uploading a 32 MiB disk');
    const disk = await clients.compute.createDisk({
      subscriptionId,
      resourceGroup: rg,
      name: 'live-disk',
      location: o.location,
      createOption: 'Upload',
      uploadSizeBytes: DISK_BYTES + 512,
      sku: 'Standard_LRS',
      tags,
    });
    created.disks.push(disk.id);
    const expected = Buffer.alloc(DISK_BYTES);
    const writes = [
      { offset: 0, length: 64 * 1024 },
      { offset: 5 * MIB, length: MIB },
      { offset: 17 * MIB + 4096, length: 8192 },
      { offset: 31 * MIB, length: 512 * 1024 },
    ];
    const writeSas = await clients.compute.grantAccess(disk.id, 'Write', 3600, { signal: abort.signal });
    const writer = clients.dataPlane.openWritableSas(writeSas);
    for (const w of writes) {
      const data = crypto.randomBytes(w.length);
      data.copy(expected, w.offset);
      await writer.putPages(w.offset, data, { signal: abort.signal });
      bytesTransferred += w.length;
    }
    await writer.putPages(DISK_BYTES, vhdFooter(DISK_BYTES, crypto.randomUUID(), Date.now()), { signal: abort.signal });
    await clients.compute.revokeAccess(disk.id);

    // 2. Two incremental snapshots and their diff.
    const s1 = await cliJson<{ id: string }>('snapshot create', ['snapshot', 'create', '--disk', disk.id, '--name', 'live-s1', '--resource-group', rg]);
    created.snapshots.push(s1.id);
    await compareWithExpected(clients, s1.id, expected, abort.signal);
    log('live-s1 holds exactly the uploaded pages');
    const s2 = await cliJson<{ id: string }>('snapshot create', ['snapshot', 'create', '--disk', disk.id, '--name', 'live-s2', '--resource-group', rg]);
    created.snapshots.push(s2.id);
    const diff = await cliJson<{ changedBytes: number; clearedBytes: number }>('diff', ['diff', '--from', s1.id, '--to', s2.id]);
    if (diff.changedBytes !== 0 || diff.clearedBytes !== 0)
      throw new Error(
        `The disk did not change between live-s1 and live-s2, but the diff reports ${diff.changedBytes} changed and ${diff.clearedBytes} cleared bytes.`,
      );
    log('diff live-s1..live-s2: no change, as written');

    // 3. Differential copy of the family, imported as a snapshot in the target region.
    const container = `live-${rand}`;
    const targetAccount = parseResourceId(targetAccountId);
    created.blobs.push({ account: targetAccount.name, container });
    const accountInfo = (await clients.compute.listStorageAccounts(targetAccount.subscriptionId)).find(
      (a) => a.id.toLowerCase() === targetAccountId.toLowerCase(),
    );
    if (!accountInfo) throw new Error(`Storage account ${targetAccount.name} is not listed.`);
    await (await clients.dataPlane.targetStore(accountInfo, container)).createContainer({ signal: abort.signal });
    const summaries = await cliJson<{ bytesCopied: number; importedResourceId: string | null }[]>('copy', [
      'copy',
      '--family',
      disk.id,
      '--target-account',
      targetAccountId,
      '--container',
      container,
      '--import',
      'snapshot',
      '--target-resource-group',
      rg,
    ]);
    for (const s of summaries) {
      bytesTransferred += s.bytesCopied;
      if (s.importedResourceId) created.snapshots.push(s.importedResourceId);
    }
    const imported = summaries[summaries.length - 1]?.importedResourceId;
    if (!imported) throw new Error('The copy did not import a snapshot.');
    await compareSnapshots(clients, s2.id, imported, abort.signal);
    log('The imported copy is byte-identical to live-s2');

    // 4. Azure's CopyStart of the family into the target region.
    const steps = await cliJson<{ targetSnapshotId: string }[]>('copy --native', [
      'copy',
      '--family',
      disk.id,
      '--native',
      '--target-region',
      o.targetLocation,
      '--target-resource-group',
      rg,
    ]);
    for (const st of steps) created.snapshots.push(st.targetSnapshotId);
    bytesTransferred += DISK_BYTES;
    await compareSnapshots(clients, s2.id, steps[steps.length - 1]!.targetSnapshotId, abort.signal);
    log('The CopyStart copy is byte-identical to live-s2');

    // 5. Restore a disk from the imported snapshot.
    const restored = await cliJson<{ id: string }>('restore', ['restore', '--snapshot', imported, '--name', 'live-restored', '--resource-group', rg]);
    created.disks.push(restored.id);
    await compareWithExpected(clients, restored.id, expected, abort.signal);
    log('The restored disk holds exactly the uploaded pages');

    // 6. Revoke (idempotent) and check that no grant is left open.
    await clients.compute.grantAccess(s2.id, 'Read', 600);
    await cliJson('access revoke', ['access', 'revoke', s2.id]);
    for (const id of created.snapshots) {
      const s = await clients.compute.getSnapshot(id);
      if (s?.diskState === 'ActiveSAS') throw new Error(`${s.name} still has an open grant.`);
    }
    for (const id of created.disks) {
      const d = await clients.compute.getDisk(id);
      if (d?.diskState === 'ActiveSAS') throw new Error(`${d.name} still has an open grant.`);
    }
    log('No grant is left open');
    log(`PASS in ${Math.round((Date.now() - started) / 1000)} s`);
    return 0;
  } catch (error) {
    log(interrupted ? `INTERRUPTED (${(error as Error).message.split(':')[0]})` : `FAIL: ${(error as Error).message}`);
    return interrupted ? 130 : 1;
  } finally {
    try {
      await cleanup();
    } finally {
      process.off('SIGINT', onSigint);
      printCost(Date.now() - started, bytesTransferred, created, !!emulator);
    }
  }
}

/** Gives the signed-in identity Storage Blob Data Contributor on the new account (the copy writes with Entra ID). */
async function grantBlobDataRole(raw: RawArm, credential: TokenCredential, accountId: string): Promise<void> {
  const token = await credential.getToken('https://management.azure.com/.default');
  const claims = JSON.parse(Buffer.from(token!.token.split('.')[1] ?? '', 'base64url').toString('utf8') || '{}') as { oid?: string };
  if (!claims.oid) {
    log('  could not tell the signed-in identity; the copy needs Storage Blob Data Contributor on the account');
    return;
  }
  const subscriptionId = accountId.split('/')[2]!;
  const role = `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe`;
  const r = await raw.send('PUT', `${accountId}/providers/Microsoft.Authorization/roleAssignments/${crypto.randomUUID()}?api-version=2022-04-01`, {
    properties: { roleDefinitionId: role, principalId: claims.oid },
  });
  if (r.status >= 300) log(`  could not assign Storage Blob Data Contributor (${r.status}); the copy may be refused`);
  else {
    log('  assigned Storage Blob Data Contributor on the account; waiting a minute for it to take effect');
    await new Promise((res) => setTimeout(res, 60_000));
  }
}

async function readAll(clients: AzureClients, id: string, signal: AbortSignal): Promise<Buffer> {
  const sas = await clients.compute.grantAccess(id, 'Read', 3600, { signal });
  try {
    const source = clients.dataPlane.openSas(sas);
    const parts: Buffer[] = [];
    for (let offset = 0; offset < DISK_BYTES; offset += 4 * MIB)
      parts.push(Buffer.from(await source.read(offset, Math.min(4 * MIB, DISK_BYTES - offset), { signal })));
    return Buffer.concat(parts);
  } finally {
    await clients.compute.revokeAccess(id);
  }
}

async function compareWithExpected(clients: AzureClients, id: string, expected: Buffer, signal: AbortSignal): Promise<void> {
  const got = await readAll(clients, id, signal);
  if (!got.equals(expected)) throw new Error(`${id.split('/').pop()} differs from the pages written.`);
}

async function compareSnapshots(clients: AzureClients, a: string, b: string, signal: AbortSignal): Promise<void> {
  const [x, y] = [await readAll(clients, a, signal), await readAll(clients, b, signal)];
  if (!x.equals(y)) {
    let at = 0;
    while (at < x.length && x[at] === y[at]) at++;
    throw new Error(`${b.split('/').pop()} differs from ${a.split('/').pop()} from byte ${at}.`);
  }
}

function printCost(ms: number, bytesTransferred: number, created: { snapshots: string[]; disks: string[]; storageAccount?: string }, emulator: boolean): void {
  const months = ms / (730 * 3_600_000);
  const gib = DISK_BYTES / 1024 ** 3;
  const disks = created.disks.length * PRICES.standardDiskS4PerMonth * months;
  const snapshots = created.snapshots.length * gib * PRICES.snapshotPerGiBMonth * months;
  const blob = (created.storageAccount ? 2 * gib : 0) * PRICES.blobPerGiBMonth * months;
  const transfer = (bytesTransferred / 1024 ** 3) * PRICES.transferPerGiB;
  const transactions = (2000 / 10_000) * PRICES.transactionsPer10k;
  const total = disks + snapshots + blob + transfer + transactions;
  const usd = (n: number) => `$${n < 0.01 ? n.toFixed(4) : n.toFixed(2)}`;
  log(
    `${emulator ? 'Had this run been on Azure, it would have cost' : 'Estimated cost of this run'}: about ${usd(total)} ` +
      `(disks ${usd(disks)}, snapshots ${usd(snapshots)}, blobs ${usd(blob)}, transfer ${usd(transfer)}, transactions ${usd(transactions)}; ` +
      `${created.disks.length} disk(s), ${created.snapshots.length} snapshot(s) for ${Math.round(ms / 1000)} s, list prices, USD).`,
  );
}

if (require.main === module) {
  let options: Options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`test:live: ${(e as Error).message}\n`);
    process.exit(2);
  }
  runLive(options).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`test:live: ${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
