import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
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

function parseArgs(argv: string[]): Options {
  const o: Options = { host: '127.0.0.1', port: 0, regions: ['eastus', 'westus2'], seed: 'none', faults: '', copyTimeScale: 1 };
  const envScale = process.env['DISK_DELTA_EMULATOR_COPY_TIME_SCALE'];
  if (envScale) o.copyTimeScale = Number(envScale);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--host': o.host = next(); break;
      case '--port': o.port = Number(next()); break;
      case '--data': o.data = path.resolve(next()); break;
      case '--memory': o.data = undefined; break;
      case '--regions': o.regions = next().split(',').map((r) => r.trim().toLowerCase()).filter(Boolean); break;
      case '--seed': {
        const v = next();
        if (v !== 'demo' && v !== 'none') throw new Error('--seed must be demo or none');
        o.seed = v;
        break;
      }
      case '--faults': o.faults = next(); break;
      case '--copy-time-scale': o.copyTimeScale = Number(next()); break;
      case '--connection-file': o.connectionFile = path.resolve(next()); break;
      case '--help': case '-h':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new Error('--port must be 0-65535');
  if (o.regions.length === 0) throw new Error('--regions needs at least one region');
  return o;
}

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`disk-delta-emulator: ${(e as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const persistent = options.data !== undefined;
  const dir = options.data ?? mkdtempSync(path.join(os.tmpdir(), 'disk-delta-emulator-'));
  mkdirSync(dir, { recursive: true });
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
  const connectionFile = options.connectionFile ?? path.join(dir, 'connection.json');
  writeFileSync(`${connectionFile}.tmp`, JSON.stringify(connection, null, 2), { mode: 0o600 });
  const { renameSync } = await import('node:fs');
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
