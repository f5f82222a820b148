// `npm start`: builds and packages the extension, starts the local emulator with demo data and a
// code-server (real VS Code in the browser) with the extension installed and pointed at the emulator,
// then prints the URL to open. Ctrl+C stops everything it started.
//   node scripts/start.mjs [--port 8080] [--no-emulator]
// State lives in .cache/start/ (VS Code user data, extensions) and .cache/demo-data/ (emulator disks).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureCodeServer } from './ensure-code-server.mjs';
import { packageExtension } from './package.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const state = path.join(root, '.cache', 'start');
const demoData = path.join(root, '.cache', 'demo-data');
const connectionFile = path.join(state, 'emulator-connection.json');
const args = process.argv.slice(2);
const wantedPort = Number(args[args.indexOf('--port') + 1] || process.env.PORT || 8080);
const withEmulator = !args.includes('--no-emulator');

/** Every child runs in its own process group so the whole tree it starts can be stopped. */
const children = [];
let stopping = false;

function stopAll(code) {
  if (stopping) return;
  stopping = true;
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  setTimeout(() => {
    for (const child of children) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    process.exit(code);
  }, 1500).unref();
  Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', r))))).then(
    () => process.exit(code),
    () => process.exit(code),
  );
}

process.on('SIGINT', () => {
  console.log('\nstart: stopping');
  stopAll(0);
});
process.on('SIGTERM', () => stopAll(0));

function startChild(cmd, argv, options = {}) {
  const child = spawn(cmd, argv, { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...options });
  children.push(child);
  return child;
}

function portIsFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function choosePort() {
  if (await portIsFree(wantedPort)) return wantedPort;
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Starts the emulator; resolves when its connection file is written, or with a reason it is unavailable. */
async function startEmulator() {
  const entry = path.join(root, 'dist', 'emulator.js');
  if (!existsSync(entry)) return { ok: false, reason: 'dist/emulator.js is not built' };
  rmSync(connectionFile, { force: true });
  mkdirSync(demoData, { recursive: true });
  const child = startChild(process.execPath, [
    entry,
    '--host', '127.0.0.1',
    '--port', '0',
    '--data', demoData,
    '--seed', 'demo',
    '--connection-file', connectionFile,
  ]);
  let output = '';
  const collect = (d) => {
    output += d;
    if (output.length > 20_000) output = output.slice(-10_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (existsSync(connectionFile)) {
      try {
        JSON.parse(readFileSync(connectionFile, 'utf8'));
        child.stdout.off('data', collect);
        child.stdout.on('data', (d) => process.stdout.write(`emulator: ${d}`));
        child.stderr.on('data', (d) => process.stderr.write(`emulator: ${d}`));
        return { ok: true, ready: output.trim().split('\n').pop() ?? '' };
      } catch {
        // still being written
      }
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      return { ok: false, reason: `it exited (${child.exitCode ?? child.signalCode}) without writing a connection file${output ? `:\n${output.trim()}` : ''}` };
    }
    await sleep(200);
  }
  return { ok: false, reason: 'it did not write its connection file within 60 s' };
}

function run(cmd, argv, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`${argv.join(' ')} failed (exit ${code}):\n${output}`))));
  });
}

async function main() {
  console.log('start: building and packaging the extension');
  const vsix = await packageExtension({ quiet: true });
  const codeServer = await ensureCodeServer();

  let emulator = { ok: false, reason: 'disabled with --no-emulator' };
  if (withEmulator) {
    console.log('start: starting the local emulator with demo data');
    emulator = await startEmulator();
    if (emulator.ok) console.log(`start: emulator ready${emulator.ready ? ` (${emulator.ready})` : ''}`);
    else console.log(`start: the emulator is not available (${emulator.reason}); VS Code starts without it`);
  }

  const userDataDir = path.join(state, 'user-data');
  const extensionsDir = path.join(state, 'extensions');
  const folder = path.join(state, 'workspace');
  for (const dir of [path.join(userDataDir, 'User'), extensionsDir, folder]) mkdirSync(dir, { recursive: true });
  const settingsFile = path.join(userDataDir, 'User', 'settings.json');
  let settings;
  try {
    settings = JSON.parse(readFileSync(settingsFile, 'utf8'));
  } catch {
    settings = {};
  }
  Object.assign(settings, {
    'workbench.startupEditor': 'none',
    'security.workspace.trust.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'chat.disableAIFeatures': true,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    // The demo workspace lives inside this repository's .cache folder.
    'git.openRepositoryInParentFolders': 'never',
    'diskDelta.emulator.connectionFile': emulator.ok ? connectionFile : '',
  });
  settings['workbench.colorTheme'] ??= 'Dark Modern';
  writeFileSync(settingsFile, JSON.stringify(settings, null, 2));
  const configFile = path.join(state, 'code-server.yaml');
  writeFileSync(configFile, 'auth: none\ncert: false\n');
  const env = { ...codeServer.env, CODE_SERVER_CONFIG: configFile };
  const [node, ...entry] = codeServer.command;
  const common = ['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];

  console.log('start: installing the VSIX into code-server');
  await run(node, [...entry, ...common, '--install-extension', vsix, '--force'], env);

  const port = await choosePort();
  const server = startChild(
    node,
    [
      ...entry,
      '--auth', 'none',
      '--bind-addr', `127.0.0.1:${port}`,
      ...common,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      folder,
    ],
    { env },
  );
  let serverOutput = '';
  server.stdout.on('data', (d) => (serverOutput += d));
  server.stderr.on('data', (d) => (serverOutput += d));
  server.on('exit', (code, signal) => {
    if (stopping) return;
    console.error(`start: code-server exited (${signal ?? code})\n${serverOutput.slice(-4000)}`);
    stopAll(1);
  });

  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
    if (res?.ok) break;
    if (Date.now() > deadline) throw new Error(`code-server did not answer on port ${port} within 60 s\n${serverOutput}`);
    await sleep(250);
  }
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}`;
  console.log('');
  console.log(`Disk Delta is running in VS Code: open ${url}`);
  console.log(emulator.ok ? 'The extension is connected to the local emulator with demo data.' : 'The local emulator is not running; sign in to Azure from the Disk Delta view.');
  console.log('Press Ctrl+C to stop.');
}

main().catch((e) => {
  console.error(`start: ${e instanceof Error ? e.message : String(e)}`);
  stopAll(1);
  if (children.length === 0) process.exit(1);
});
