// Runs the packaged extension in code-server (the real VS Code server and workbench): the one launcher
// behind `npm start` (scripts/start.mjs) and the e2e tests (test/e2e/harness.ts).
//
//   const vscode = await startCodeServer({ vsix, userDataDir, extensionsDir, folder, settings });
//   console.log(vscode.url); ... await vscode.stop();
//
// The VSIX is installed the way users install one (`--install-extension`): a copied extension folder is
// treated as removed by VS Code. code-server runs in its own process group with everything it starts (the
// extension host included), so stopping the group stops all of it.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { ensureCodeServer } from './ensure-code-server.mjs';

/** User settings every launch writes: no start page, trust prompt, telemetry or chat side bar in the way. */
export const standardSettings = {
  'workbench.startupEditor': 'none',
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'chat.disableAIFeatures': true,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  // Workspaces live inside other folders (this repository's .cache, a temporary folder): no parent's Git.
  'git.openRepositoryInParentFolders': 'never',
};

/** A port nothing listens on right now (127.0.0.1). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Sends a signal to the process group a detached child leads; a group already gone is fine. */
export function killProcessGroup(child, signal) {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is already gone
  }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function hasExited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Resolves true once the child exited, false after `ms`. */
function waitForExit(child, ms) {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function runToEnd(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(output) : reject(new Error(`code-server ${args.slice(1).join(' ')} failed (exit ${code}):\n${output}`))));
  });
}

/**
 * Writes User/settings.json: `settingDefaults` (only where the file has no value), then the standard
 * settings, then `settings`. With `keepUserSettings` the settings already in the file are kept (a user's
 * theme survives `npm start`); otherwise the file is replaced.
 */
function writeUserSettings(userDataDir, { settings = {}, settingDefaults = {}, keepUserSettings = false }) {
  const file = path.join(userDataDir, 'User', 'settings.json');
  let existing = {};
  if (keepUserSettings) {
    try {
      existing = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      existing = {};
    }
  }
  writeFileSync(file, JSON.stringify({ ...settingDefaults, ...existing, ...standardSettings, ...settings }, null, 2));
}

/**
 * Installs the VSIX into `extensionsDir`, writes the user settings and starts code-server on 127.0.0.1
 * with the standard flags; resolves once /healthz answers. On failure nothing it started is left running.
 * @param {import('./code-server.d.mts').CodeServerOptions} options
 * @returns {Promise<import('./code-server.d.mts').RunningCodeServer>}
 */
export async function startCodeServer(options) {
  const { vsix, userDataDir, extensionsDir, folder, log = (l) => console.log(l), healthTimeoutMs = 120_000 } = options;
  const codeServer = options.codeServer ?? (await ensureCodeServer({ log }));
  for (const dir of [path.join(userDataDir, 'User'), extensionsDir, folder]) mkdirSync(dir, { recursive: true });
  writeUserSettings(userDataDir, options);
  // code-server otherwise creates ~/.config/code-server/config.yaml with a password.
  const configFile = options.configFile ?? path.join(path.dirname(userDataDir), 'code-server.yaml');
  mkdirSync(path.dirname(configFile), { recursive: true });
  writeFileSync(configFile, 'auth: none\ncert: false\n');
  const env = { ...codeServer.env, CODE_SERVER_CONFIG: configFile };
  const [node, ...entry] = codeServer.command;
  const dirs = ['--user-data-dir', userDataDir, '--extensions-dir', extensionsDir];

  await runToEnd(node, [...entry, ...dirs, '--install-extension', vsix, ...(options.forceInstall ? ['--force'] : [])], env);

  const port = options.port || (await freePort());
  const child = spawn(
    node,
    [
      ...entry,
      '--auth',
      'none',
      '--bind-addr',
      `127.0.0.1:${port}`,
      ...dirs,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      folder,
    ],
    { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const collect = (d) => {
    output = (output + d.toString()).slice(-20_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  child.on('error', collect);
  // A launcher process that dies without stop() must not leave code-server running.
  const killOnExit = () => killProcessGroup(child, 'SIGKILL');
  process.once('exit', killOnExit);

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    killProcessGroup(child, 'SIGTERM');
    await waitForExit(child, 5000);
    // The extension host and other helpers share code-server's process group and may outlive it.
    killProcessGroup(child, 'SIGKILL');
    process.removeListener('exit', killOnExit);
  };
  const crash = async () => {
    if (stopped) return;
    stopped = true;
    killProcessGroup(child, 'SIGKILL');
    await waitForExit(child, 5000);
    process.removeListener('exit', killOnExit);
  };

  try {
    const deadline = Date.now() + healthTimeoutMs;
    for (;;) {
      if (hasExited(child)) throw new Error(`code-server exited (${child.signalCode ?? child.exitCode}) before it answered:\n${output}`);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      if (res?.ok) break;
      if (Date.now() > deadline) throw new Error(`code-server did not answer on port ${port} within ${healthTimeoutMs / 1000} s\n${output}`);
      await sleep(250);
    }
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    port,
    url: `http://127.0.0.1:${port}/?folder=${encodeURIComponent(folder)}`,
    process: child,
    output: () => output,
    exited: () => hasExited(child),
    stop,
    crash,
  };
}
