// `npm start`: builds and packages the extension, starts the local emulator with demo data and a
// code-server (real VS Code in the browser) with the extension installed and pointed at the emulator,
// then prints the URL to open. Ctrl+C stops everything it started.
//   node scripts/start.mjs [--port 8080|0] [--state-dir <dir>] [--no-emulator]
// Everything it writes goes under the state dir (default .cache in this repository):
//   <state dir>/start/      VS Code user data, extensions, workspace, code-server.yaml, emulator-connection.json
//   <state dir>/demo-data/  the emulator's disks, kept across runs
// When the demo emulator cannot be started (or does not answer) it stops everything and exits 1 with the
// reason on one line, unless --no-emulator was given.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startCodeServer } from './code-server.mjs';
import { ensureCodeServer } from './ensure-code-server.mjs';
import { packageExtension } from './package.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = `Usage: npm start -- [options]   (or: node scripts/start.mjs [options])
  --port <n|0>        port for VS Code (default 8080, or PORT; another free port when taken; 0: any free port)
  --state-dir <dir>   where everything npm start writes goes (default .cache in this repository)
  --no-emulator       start VS Code without the local emulator (sign in to Azure from the Disk Delta view)`;

function parseOptions() {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      options: { port: { type: 'string' }, 'state-dir': { type: 'string' }, 'no-emulator': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    const option = /'(-[^' ]+)/.exec(e.message)?.[1];
    const message = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option ? `unknown option ${option}` : e.message.split('\n')[0];
    console.error(`start: ${message}\n${USAGE}`);
    process.exit(2);
  }
  if (parsed.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const port = Number(parsed.port ?? process.env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`start: --port must be 0-65535\n${USAGE}`);
    process.exit(2);
  }
  return { port, stateDir: path.resolve(parsed['state-dir'] ?? path.join(root, '.cache')), withEmulator: !parsed['no-emulator'] };
}

const options = parseOptions();
const state = path.join(options.stateDir, 'start');
const demoData = path.join(options.stateDir, 'demo-data');
const connectionFile = path.join(state, 'emulator-connection.json');

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
  }, 5000).unref();
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
// Whatever ends this process, the groups it started end with it (code-server's extension host included).
process.on('exit', () => {
  for (const child of children) {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Stops everything started so far and exits 1 with the reason (on one line unless `oneLine` is false). */
function fail(reason, { oneLine = true } = {}) {
  console.error(`start: ${oneLine ? reason.replace(/\s*\n\s*/g, ' ') : reason}`);
  stopAll(1);
  if (children.length === 0) process.exit(1);
}

function portIsFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** The last line the emulator printed that says something (its ready line). */
function lastLine(output) {
  return (
    output
      .trim()
      .split('\n')
      .filter((l) => l.trim())
      .pop()
      ?.trim() ?? ''
  );
}

/** What the emulator said on stderr (its error, which may span lines), as one line. */
function errorOf(stderr) {
  const text = stderr.replace(/\s+/g, ' ').trim();
  return text.length > 600 ? `${text.slice(0, 600)}...` : text || 'no error output';
}

/** Starts the emulator; resolves when its connection file is written, or with a reason it is unavailable. */
async function startEmulator() {
  const entry = path.join(root, 'dist', 'emulator.js');
  if (!existsSync(entry)) return { ok: false, reason: 'dist/emulator.js is not built (run npm run build)' };
  rmSync(connectionFile, { force: true });
  const child = spawn(
    process.execPath,
    [entry, '--host', '127.0.0.1', '--port', '0', '--data', demoData, '--seed', 'demo', '--connection-file', connectionFile],
    { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let output = '';
  let stderr = '';
  const collect = (d) => {
    output += d;
    if (output.length > 20_000) output = output.slice(-10_000);
  };
  const collectError = (d) => {
    stderr = (stderr + d).slice(-10_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collectError);
  child.on('error', (e) => collectError(`${e.message}\n`));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (existsSync(connectionFile)) {
      try {
        const connection = JSON.parse(readFileSync(connectionFile, 'utf8'));
        child.stdout.off('data', collect);
        child.stderr.off('data', collectError);
        child.stdout.on('data', (d) => process.stdout.write(`emulator: ${d}`));
        child.stderr.on('data', (d) => process.stderr.write(`emulator: ${d}`));
        child.on('exit', (code, signal) => {
          if (!stopping) fail(`the emulator exited (${signal ?? code}) while VS Code was using it; its output is above`);
        });
        return { ok: true, connection, ready: lastLine(output) };
      } catch {
        // still being written
      }
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      return { ok: false, reason: `it exited (${child.exitCode ?? child.signalCode}) without writing a connection file: ${errorOf(stderr)}` };
    }
    await sleep(200);
  }
  return { ok: false, reason: `it did not write ${connectionFile} within 60 s: ${errorOf(stderr)}` };
}

/**
 * Asks the emulator for its disks over HTTPS, trusting only its CA, the way the extension will;
 * resolves with their number, rejects with what went wrong.
 */
function listEmulatorDisks(connection) {
  return new Promise((resolve, reject) => {
    const url = new URL(`/subscriptions/${connection.subscriptionId}/providers/Microsoft.Compute/disks?api-version=2024-03-02`, connection.armEndpoint);
    const req = https.request(
      url,
      { ca: readFileSync(connection.caCertPath), headers: { authorization: `Bearer ${connection.token}` }, timeout: 30_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`listing its disks answered ${res.statusCode}: ${body.slice(0, 200)}`));
          try {
            resolve(JSON.parse(body).value.length);
          } catch (e) {
            reject(new Error(`listing its disks answered something that is not a disk list (${e.message})`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`it did not answer ${connection.armEndpoint} within 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

async function main() {
  // Created before anything is started: nothing below may depend on a folder an earlier run left.
  for (const dir of options.withEmulator ? [state, demoData] : [state]) mkdirSync(dir, { recursive: true });
  console.log(`start: building and packaging the extension (state in ${options.stateDir})`);
  const vsix = await packageExtension({ quiet: true });
  const codeServer = await ensureCodeServer();

  let emulator;
  if (options.withEmulator) {
    console.log('start: starting the local emulator with demo data');
    const started = await startEmulator();
    if (!started.ok) return fail(`cannot start the demo emulator: ${started.reason}. Fix that, or run npm start -- --no-emulator to start VS Code without it.`);
    const disks = await listEmulatorDisks(started.connection).catch((e) => e);
    if (disks instanceof Error) return fail(`the demo emulator does not answer: ${disks.message}. Run npm start -- --no-emulator to start VS Code without it.`);
    emulator = { connection: started.connection, disks };
    console.log(`start: emulator ready (${started.ready}), ${disks} disks`);
  }

  console.log('start: installing the VSIX into code-server');
  const wanted = options.port;
  const port = wanted !== 0 && (await portIsFree(wanted)) ? wanted : 0;
  const server = await startCodeServer({
    codeServer,
    vsix,
    userDataDir: path.join(state, 'user-data'),
    extensionsDir: path.join(state, 'extensions'),
    folder: path.join(state, 'workspace'),
    configFile: path.join(state, 'code-server.yaml'),
    settings: { 'diskDelta.emulator.connectionFile': emulator ? connectionFile : '' },
    settingDefaults: { 'workbench.colorTheme': 'Dark Modern' },
    keepUserSettings: true,
    forceInstall: true,
    port,
  });
  children.push(server.process);
  server.process.on('exit', (code, signal) => {
    if (stopping) return;
    console.error(`start: code-server exited (${signal ?? code})\n${server.output().slice(-4000)}`);
    stopAll(1);
  });

  let connected = '';
  if (emulator) {
    // Checked again now that VS Code is up: the line below is printed only if it is true.
    const disks = await listEmulatorDisks(emulator.connection).catch((e) => e);
    if (disks instanceof Error) return fail(`the demo emulator stopped answering: ${disks.message}`);
    connected =
      disks > 0
        ? 'The extension is connected to the local emulator with demo data.'
        : `The extension is connected to the local emulator, which has no disks left in ${demoData} (delete that folder for the demo data).`;
  }
  console.log('');
  console.log(`Disk Delta is running in VS Code: open ${server.url}`);
  console.log(connected || 'The local emulator is not running (--no-emulator); sign in to Azure from the Disk Delta view.');
  if (emulator) console.log(`Emulator connection file (for the CLI's --emulator): ${connectionFile}`);
  console.log('Press Ctrl+C to stop.');
}

main().catch((e) => fail(e instanceof Error ? e.message : String(e), { oneLine: false }));
