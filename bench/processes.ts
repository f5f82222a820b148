/**
 * Measurements of whole processes: `disk-delta diff --json` on a huge diff (wall time and peak RSS from
 * /proc/<pid>/status VmHWM, polled) and the extension bundle's load and activation with a stub `vscode`.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..');

export interface DiffResult {
  readonly seconds: number;
  readonly maxRssBytes: number;
  readonly rangeCount: number;
  readonly changedBytes: number;
  readonly outputBytes: number;
  readonly failures: string[];
}

function vmHwmBytes(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs the built CLI the way a user does and throws its output away as it streams (only the JSON's tail,
 * which carries the totals, is kept to check them).
 */
export function measureDiff(
  connectionFile: string,
  from: string,
  to: string,
  expected: { rangeCount: number; changedBytes: number },
  log: (line: string) => void,
  /** another build's cli.js, to compare against (bench --diff-cli <path>) */
  cli = path.join(root, 'dist', 'cli.js'),
): Promise<DiffResult> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, [cli, '--emulator', connectionFile, '--json', 'diff', '--from', from, '--to', to], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let peak = 0;
    const poll = setInterval(() => {
      peak = Math.max(peak, vmHwmBytes(child.pid!) ?? 0);
    }, 25);
    let tail = '';
    let outputBytes = 0;
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      outputBytes += d.length;
      tail = (tail + d.toString()).slice(-400);
    });
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', reject);
    // VmHWM is a high-water mark: the last reading before exit is the peak.
    child.on('exit', () => clearInterval(poll));
    child.on('close', (code) => {
      const seconds = (performance.now() - start) / 1000;
      const failures: string[] = [];
      if (code !== 0) failures.push(`diff: disk-delta diff exited with ${code}: ${err.trim().split('\n').pop() ?? ''}`);
      const m = /"changedBytes":(\d+),"clearedBytes":(\d+),"rangeCount":(\d+)\}\s*$/.exec(tail);
      const rangeCount = m ? Number(m[3]) : 0;
      const changedBytes = m ? Number(m[1]) : 0;
      if (code === 0 && !m) failures.push('diff: the JSON output did not end with its totals');
      if (m && rangeCount !== expected.rangeCount) failures.push(`diff: ${rangeCount} ranges listed, expected ${expected.rangeCount}`);
      if (m && changedBytes !== expected.changedBytes) failures.push(`diff: ${changedBytes} changed bytes, expected ${expected.changedBytes}`);
      log(`  diff: ${seconds.toFixed(2)} s, peak RSS ${(peak / 1e6).toFixed(0)} MB, ${rangeCount} ranges, ${(outputBytes / 1e6).toFixed(0)} MB of JSON`);
      resolve({ seconds, maxRssBytes: peak, rangeCount, changedBytes, outputBytes, failures });
    });
  });
}

export interface ActivationResult {
  /** require() of dist/extension.js: read, parse, evaluate */
  readonly loadMs: number;
  /** activate(context) with a stub vscode API, until its promise settles */
  readonly activateMs: number;
  readonly activateError?: string;
  readonly runs: number;
  readonly bundleSizes: Record<string, number>;
}

/** Median of several fresh processes (each load is a cold require of the bundle). */
export async function measureActivation(runs = 5): Promise<ActivationResult> {
  const samples: { loadMs: number; activateMs: number; error?: string }[] = [];
  for (let i = 0; i < runs; i++) {
    samples.push(
      await new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [path.join(root, 'bench', 'activation.cjs')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('error', reject);
        child.on('close', (code) => {
          try {
            resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as { loadMs: number; activateMs: number; error?: string });
          } catch {
            reject(new Error(`activation probe exited with ${code}: ${err.slice(-1000)}`));
          }
        });
      }),
    );
  }
  const med = (key: 'loadMs' | 'activateMs') => {
    const v = samples.map((s) => s[key]).sort((a, b) => a - b);
    return Math.round(v[Math.floor(v.length / 2)]! * 10) / 10;
  };
  const bundleSizes = JSON.parse(readFileSync(path.join(root, 'dist', 'bundle-sizes.json'), 'utf8')) as Record<string, number>;
  const error = samples.find((s) => s.error)?.error;
  return { loadMs: med('loadMs'), activateMs: med('activateMs'), ...(error ? { activateError: error } : {}), runs, bundleSizes };
}
