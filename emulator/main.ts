import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { EmulatorContext } from './context';
import { FaultInjector, NO_FAULTS, parseFaultSpec } from './faults';
import { PageLog } from './pageLog';
import { createEmulatorServer } from './server';
import { seedDemo } from './seed';
import { loadState, newState, unpackState } from './state';
import { loadOrCreateTls } from './tls';

interface Options {
  host: string;
  port: number;
  data?: string;
  regions: string[];
  seed: 'demo' | 'none';
  faults: string;
  connectionFile?: string;
  copyTimeScale: number;
}

const USAGE = `Usage: disk-delta-emulator [options]
  --host <addr>              address to bind (default 127.0.0.1)
  --port <n|0>               port (default 0: any free port)
  --data <dir> | --memory    keep state in <dir> across restarts, or in a temporary directory (default)
  --regions <a,b>            regions (default eastus,westus2)
  --seed demo|none           create the demo subscription on first start (default none)
  --faults <spec>            e.g. busy=0.04,internal=0.03,reset=0.03,stall=0.01,sasexpiry=0.01,latency=20,rps=500,mibps=60,seed=42,stallms=30000
  --copy-time-scale <x>      multiply CopyStart durations (e.g. 0.1 for tests)
  --connection-file <path>   write the connection JSON here when ready`;

const OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  data: { type: 'string' },
  memory: { type: 'boolean' },
  regions: { type: 'string' },
  seed: { type: 'string' },
  faults: { type: 'string' },
  'copy-time-scale': { type: 'string' },
  'connection-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** node:util's parse errors, reworded the way this program words its other usage errors. */
function usageError(e: unknown): Error {
  const err = e as Error & { code?: string };
  const option = /'(-[^' ]+)/.exec(err.message)?.[1];
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) return new Error(`unknown option ${option}`);
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option && /argument missing|ambiguous/.test(err.message)) {
    return new Error(`${option} needs a value`);
  }
  return new Error(err.message.split('\n')[0]!);
}

function parseOptions(argv: string[]): Options | 'help' {
  const parse = (): ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; tokens: true; strict: true; allowPositionals: false }>> => {
    try {
      return parseArgs({ args: argv, options: OPTIONS, tokens: true, strict: true, allowPositionals: false });
    } catch (e) {
      throw usageError(e);
    }
  };
  const parsed = parse();
  const v = parsed.values;
  if (v.help) return 'help';
  const o: Options = { host: v.host ?? '127.0.0.1', port: 0, regions: ['eastus', 'westus2'], seed: 'none', faults: v.faults ?? '', copyTimeScale: 1 };
  const envScale = process.env['DISK_DELTA_EMULATOR_COPY_TIME_SCALE'];
  if (envScale) o.copyTimeScale = Number(envScale);
  if (v.port !== undefined) o.port = Number(v.port);
  // --data and --memory: the later one on the command line wins.
  const storage = parsed.tokens.filter((t) => t.kind === 'option' && (t.name === 'data' || t.name === 'memory')).pop();
  if (storage?.kind === 'option' && storage.name === 'data' && v.data !== undefined) o.data = path.resolve(v.data);
  if (v.regions !== undefined)
    o.regions = v.regions
      .split(',')
      .map((r) => r.trim().toLowerCase())
      .filter(Boolean);
  if (v.seed !== undefined) {
    if (v.seed !== 'demo' && v.seed !== 'none') throw new Error('--seed must be demo or none');
    o.seed = v.seed;
  }
  if (v['copy-time-scale'] !== undefined) o.copyTimeScale = Number(v['copy-time-scale']);
  if (v['connection-file'] !== undefined) o.connectionFile = path.resolve(v['connection-file']);
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new Error('--port must be 0-65535');
  if (o.regions.length === 0) throw new Error('--regions needs at least one region');
  return o;
}

/** Creates a folder and its parents, with a message that says which folder the emulator needed. */
function makeFolder(dir: string, purpose: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new Error(`cannot create ${dir} for ${purpose} (${(e as Error).message}); choose another path or fix its permissions`, { cause: e });
  }
}

async function main(): Promise<void> {
  let options: Options;
  try {
    const parsed = parseOptions(process.argv.slice(2));
    if (parsed === 'help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    options = parsed;
  } catch (e) {
    process.stderr.write(`disk-delta-emulator: ${(e as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const persistent = options.data !== undefined;
  const dir = options.data ?? mkdtempSync(path.join(os.tmpdir(), 'disk-delta-emulator-'));
  // Created here rather than by every caller: a missing folder must never keep the emulator from starting.
  makeFolder(dir, '--data');
  const connectionFile = options.connectionFile ?? path.join(dir, 'connection.json');
  makeFolder(path.dirname(connectionFile), '--connection-file');
  const tls = loadOrCreateTls(dir, options.host);
  const loaded = persistent ? loadState(dir) : undefined;
  const state = loaded ? unpackState(loaded) : newState(options.regions);
  const faults = new FaultInjector(options.faults ? parseFaultSpec(options.faults) : { ...NO_FAULTS });
  const log = new PageLog(path.join(dir, 'pages.dat'));
  const ctx = new EmulatorContext(state, log, faults, tls.caPem, persistent ? dir : undefined);
  ctx.copyTimeScale = Number.isFinite(options.copyTimeScale) && options.copyTimeScale >= 0 ? options.copyTimeScale : 1;
  if (!loaded && options.seed === 'demo') seedDemo(ctx);
  if (!loaded) ctx.markDirty();

  const server = createEmulatorServer(ctx, tls);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const hostInUrl = options.host.includes(':') ? `[${options.host}]` : options.host === '0.0.0.0' ? '127.0.0.1' : options.host;
  ctx.origin = `https://${hostInUrl}:${port}`;
  ctx.flush();

  const connection = {
    armEndpoint: ctx.origin,
    caCertPath: tls.caCertPath,
    token: state.token,
    tenantId: state.tenantId,
    subscriptionId: state.subscriptionId,
    storageAccounts: Object.values(state.accounts).map((a) => ({
      name: a.name,
      region: a.region,
      resourceId: `/subscriptions/${state.subscriptionId}/resourceGroups/${a.resourceGroup}/providers/Microsoft.Storage/storageAccounts/${a.name}`,
      resourceGroup: a.resourceGroup,
      blobEndpoint: `${ctx.origin}/${a.name}`,
      accountKey: a.key,
    })),
  };
  // Written whole, then renamed: a reader never sees half a file.
  writeFileSync(`${connectionFile}.tmp`, JSON.stringify(connection, null, 2), { mode: 0o600 });
  renameSync(`${connectionFile}.tmp`, connectionFile);
  process.stdout.write(`disk-delta-emulator ready ${ctx.origin} connection file ${connectionFile}\n`);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    server.close();
    server.closeAllConnections();
    try {
      ctx.flush();
    } finally {
      void log.close().finally(() => {
        if (!persistent) rmSync(dir, { recursive: true, force: true });
        process.exit(0);
      });
    }
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`disk-delta-emulator: ${(err as Error).message}\n`);
  process.exit(1);
});
