import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
export const cliBundle = path.join(root, 'dist', 'cli.js');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built `disk-delta` CLI against the emulator connection file, the way a user or script does. */
export function runCli(
  connectionFile: string,
  args: readonly string[],
  options: { onSpawn?: (kill: (signal: NodeJS.Signals) => void) => void; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliBundle, '--emulator', connectionFile, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    options.onSpawn?.((signal) => child.kill(signal));
  });
}

export function parseJson<T>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`CLI printed no JSON (exit ${result.code}): ${result.stdout.slice(0, 400)} / ${result.stderr.slice(0, 400)}`);
  }
}

/** Runs the built CLI with exactly these arguments (no connection file), e.g. for help and completion. */
export function runCliBare(args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliBundle, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/**
 * Runs the built CLI on a pseudo-terminal (util-linux `script`), so that it sees a terminal on stdout and
 * stderr. Both streams arrive together in `stdout`. Undefined when `script` is not installed.
 */
export function runCliInTerminal(connectionFile: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> | undefined {
  const script = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p));
  if (!script) return undefined;
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  // A terminal wide enough for a whole progress bar line: script's pty starts with no size, which reads as 80 columns.
  const command = `stty cols 200 rows 50; ${[process.execPath, cliBundle, '--emulator', connectionFile, ...args].map(quote).join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn(script, ['-qec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, COLUMNS: '160', ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}
