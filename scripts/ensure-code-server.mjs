// Installs code-server (the real VS Code server and workbench) into the user's cache, keyed by version,
// so e2e tests and `npm start` can run the extension in a real VS Code without a desktop build.
//   node scripts/ensure-code-server.mjs          install if missing, print where it is
//
// code-server 4.139 requires Node 24, while this project runs on Node 20: Node 24 comes from the npm
// `node` package (binary and headers), also cached. Native modules are built against those headers
// (npm_config_nodedir), because a machine-wide npm `nodedir` pointing at Node 20 builds the wrong ABI.
// Installs go to a temporary folder that is renamed when complete, so an interrupted install is never used.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDebianPackages } from './ensure-debian-packages.mjs';

export const codeServerVersion = '4.139.1';
export const nodeVersion = '24.21.0';

export function cacheRoot() {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'disk-delta');
}

function nodePackageDir(prefix) {
  return path.join(prefix, 'node_modules', 'node', 'node_modules', `node-${process.platform}-${process.arch}`);
}

function paths() {
  const cache = cacheRoot();
  const nodePrefix = path.join(cache, `node-${nodeVersion}`);
  const codeServerPrefix = path.join(cache, `code-server-${codeServerVersion}`);
  return {
    cache,
    nodePrefix,
    nodeDir: nodePackageDir(nodePrefix),
    node: path.join(nodePackageDir(nodePrefix), 'bin', 'node'),
    codeServerPrefix,
    entry: path.join(codeServerPrefix, 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
  };
}

function run(cmd, args, options) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
    child.on('error', reject);
    child.on('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`})`))));
  });
}

/** Runs `npm install` into a fresh temporary prefix and renames it to `finalPrefix` once `check` exists. */
async function installAtomically(finalPrefix, spec, check, env, log) {
  const tmp = `${finalPrefix}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ name: 'disk-delta-tooling-cache', private: true }));
  try {
    await run('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', tmp, spec], {
      cwd: tmp,
      env,
    });
    if (!existsSync(check(tmp))) throw new Error(`${spec} installed, but ${path.relative(tmp, check(tmp))} is missing`);
    if (existsSync(finalPrefix)) {
      log(`code-server: ${path.basename(finalPrefix)} appeared meanwhile; keeping that one`);
      rmSync(tmp, { recursive: true, force: true });
    } else {
      renameSync(tmp, finalPrefix);
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

function removeStaleTemporaries(cache) {
  if (!existsSync(cache)) return;
  for (const name of readdirSync(cache)) {
    const m = /\.tmp-(\d+)$/.exec(name);
    if (!m) continue;
    let alive;
    try {
      process.kill(Number(m[1]), 0);
      alive = true;
    } catch {
      alive = false;
    }
    if (!alive) rmSync(path.join(cache, name), { recursive: true, force: true });
  }
}

/**
 * The environment minus what an enclosing `npm test`/`npm start` exported: npm reads npm_config_* back as
 * its own configuration, and code-server's postinstall checks the Node version in npm_config_user_agent,
 * which would still name the enclosing Node 20.
 */
function environmentWithoutNpm() {
  const env = { ...process.env };
  const keep = /^npm_config_(registry|@.*:registry|.*proxy|cafile|ca|strict_ssl|userconfig|globalconfig|cache)$/i;
  for (const key of Object.keys(env)) {
    if ((/^npm_/i.test(key) && !keep.test(key)) || key === 'INIT_CWD' || key === 'NODE') delete env[key];
  }
  return env;
}

/**
 * Makes sure code-server and its Node 24 are installed; returns how to run it.
 * `command` is [node24, entry.js]: run code-server as `spawn(command[0], [...command.slice(1), ...args])`.
 * @param {{ log?: (line: string) => void }} [options]
 * @returns {Promise<{ version: string, node: string, entry: string, command: string[], env: NodeJS.ProcessEnv }>}
 */
export async function ensureCodeServer({ log = (l) => console.log(l) } = {}) {
  const p = paths();
  const nodeBin = path.dirname(p.node);
  const env = {
    ...environmentWithoutNpm(),
    PATH: `${nodeBin}${path.delimiter}${process.env.PATH ?? ''}`,
    npm_config_nodedir: p.nodeDir,
    npm_config_update_notifier: 'false',
  };
  const result = { version: codeServerVersion, node: p.node, entry: p.entry, command: [p.node, p.entry], env };
  if (existsSync(p.node) && existsSync(p.entry)) return result;

  mkdirSync(p.cache, { recursive: true });
  removeStaleTemporaries(p.cache);
  ensureDebianPackages(['libkrb5-dev'], { log });
  if (!existsSync(p.node)) {
    log(`code-server: installing Node ${nodeVersion} (npm package "node") into ${p.nodePrefix}`);
    await installAtomically(p.nodePrefix, `node@${nodeVersion}`, (prefix) => path.join(nodePackageDir(prefix), 'bin', 'node'), environmentWithoutNpm(), log);
  }
  if (!existsSync(p.entry)) {
    const started = Date.now();
    log(`code-server: installing code-server ${codeServerVersion} into ${p.codeServerPrefix} (first time only, takes about 6 minutes)`);
    await installAtomically(
      p.codeServerPrefix,
      `code-server@${codeServerVersion}`,
      (prefix) => path.join(prefix, 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
      env,
      log,
    );
    log(`code-server: installed in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  return result;
}

// No top-level await: the e2e harness loads this module from CommonJS.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  ensureCodeServer().then(
    (cs) => console.log(`code-server ${cs.version}: ${cs.command.join(' ')}`),
    (e) => {
      console.error(`code-server: ${e instanceof Error ? e.message : String(e)}`);
      process.exit(1);
    },
  );
}
