// The emulator program as users start it (`npx disk-delta-emulator`, i.e. bin/disk-delta-emulator.js):
// folders it is pointed at that do not exist yet, and its usage errors.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ComputeManagementClient } from '@azure/arm-compute';
import type { AccessToken } from '@azure/core-auth';
import type { EmulatorConnection } from '../../src/core/emulatorConnection';
import { httpClientTrusting } from '../../src/azure/tls';

const root = path.resolve(__dirname, '../..');
const bin = path.join(root, 'bin', 'disk-delta-emulator.js');

function ensureBuilt(): void {
  if (!existsSync(path.join(root, 'dist', 'emulator.js'))) {
    spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
  }
}

/** Starts the emulator; resolves with its ready line, rejects with its stderr if it exits first. */
function start(args: string[]): Promise<{ child: ChildProcess; ready: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the emulator did not get ready within 60 s: ${err}`));
    }, 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = /^disk-delta-emulator ready .*$/m.exec(out);
      if (line) {
        clearTimeout(timer);
        resolve({ child, ready: line[0] });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the emulator exited (${code}) before it was ready: ${err}`));
    });
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

async function diskNames(connection: EmulatorConnection): Promise<string[]> {
  const ca = readFileSync(connection.caCertPath, 'utf8');
  const credential = { getToken: (): Promise<AccessToken> => Promise.resolve({ token: connection.token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
  const compute = new ComputeManagementClient(credential, connection.subscriptionId, { endpoint: connection.armEndpoint, httpClient: httpClientTrusting(ca) });
  const names: string[] = [];
  for await (const disk of compute.disks.list()) names.push(disk.name!);
  return names;
}

void describe('disk-delta-emulator program', { timeout: 180_000 }, () => {
  let work: string;

  before(() => {
    ensureBuilt();
    work = mkdtempSync(path.join(os.tmpdir(), 'dd-emulator-main-'));
  });
  after(() => {
    rmSync(work, { recursive: true, force: true });
  });

  void it('creates the folders of --connection-file and --data that do not exist yet, and answers over HTTPS', async () => {
    const connectionFile = path.join(work, 'new', 'folder', 'conn.json');
    const data = path.join(work, 'not', 'yet', 'data');
    assert.equal(existsSync(path.dirname(connectionFile)), false);
    const { child, ready } = await start(['--connection-file', connectionFile, '--data', data, '--seed', 'demo']);
    try {
      assert.match(ready, new RegExp(`connection file ${connectionFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
      const connection = JSON.parse(readFileSync(connectionFile, 'utf8')) as EmulatorConnection;
      assert.equal(existsSync(`${connectionFile}.tmp`), false, 'the temporary file is renamed into place');
      const names = await diskNames(connection);
      assert.ok(names.includes('orders-db'), `the demo disks are listed: ${names.join(', ')}`);
    } finally {
      assert.equal(await stop(child), 0);
    }
    assert.ok(existsSync(path.join(data, 'pages.dat')), '--data keeps the state in the new folder');
  });

  void it('says why when the folder of --connection-file cannot be created', () => {
    const blocker = path.join(work, 'a-file');
    writeFileSync(blocker, '');
    const r = spawnSync(process.execPath, [bin, '--memory', '--connection-file', path.join(blocker, 'conn.json')], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^disk-delta-emulator: cannot create .*a-file for --connection-file \((EEXIST|ENOTDIR)/m);
  });

  for (const [args, message] of [
    [['--bogus'], 'unknown option --bogus'],
    [['--port'], '--port needs a value'],
    [['--host', '--port', '0'], '--host needs a value'],
    [['--seed', 'lots'], '--seed must be demo or none'],
    [['--port', '70000'], '--port must be 0-65535'],
    [['stray'], "Unexpected argument 'stray'"],
  ] as const) {
    void it(`exits 2 with a message and the usage for ${args.join(' ')}`, () => {
      const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.ok(r.stderr.startsWith(`disk-delta-emulator: ${message}`), r.stderr);
      assert.match(r.stderr, /Usage: disk-delta-emulator \[options\]/);
      assert.equal(r.stdout, '');
    });
  }

  void it('prints the usage for --help and -h', () => {
    for (const flag of ['--help', '-h']) {
      const r = spawnSync(process.execPath, [bin, flag], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0);
      assert.match(r.stdout, /--connection-file <path>/);
    }
  });
});
