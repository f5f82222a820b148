// `npm start` as a new user runs it: the real scripts/start.mjs, with --state-dir pointed at an empty
// folder, so nothing an earlier run left (the .cache of a used clone) can hide a missing folder. It must
// print the URL, say the extension is connected to the emulator with demo data, have an emulator that
// answers over HTTPS, show the demo subscription in the Disk Delta tree, and stop everything on Ctrl+C.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ComputeManagementClient } from '@azure/arm-compute';
import type { AccessToken } from '@azure/core-auth';
import type { Browser } from 'playwright-core';
import type { EmulatorConnection } from '../../src/core/emulatorConnection';
import { httpClientTrusting } from '../../src/azure/tls';
import { launchChromium } from '../../scripts/ensure-chromium.mjs';
import { outputDir, repoRoot } from './harness';

const CONNECTED = 'The extension is connected to the local emulator with demo data.';

interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** Start time in clock ticks since boot: tells a process from a later one that got its pid. */
  started: string;
  /** R, S, D... or Z: a zombie has ended and only waits for its parent to collect its exit status. */
  state: string;
  cmd: string;
}

/** Every process on the machine, from /proc. */
function processes(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name (field 2) is in parentheses and may hold spaces: fields are counted after it.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      out.push({ pid: Number(name), state: fields[0]!, ppid: Number(fields[1]), pgid: Number(fields[2]), started: fields[19]!, cmd });
    } catch {
      // exited while being read
    }
  }
  return out;
}

/** The process and everything it started (whatever process group they are in). */
function descendants(rootPid: number): ProcessInfo[] {
  const all = processes();
  const found = all.filter((p) => p.pid === rootPid);
  for (let i = 0; i < found.length; i++) found.push(...all.filter((p) => p.ppid === found[i]!.pid));
  return found;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

void describe('npm start from an empty state folder', { timeout: 20 * 60_000 }, () => {
  let stateDir: string;
  let start: ChildProcess;
  let output = '';
  let url = '';
  let browser: Browser | undefined;
  let started: ProcessInfo[] = [];

  before(async () => {
    stateDir = path.join(mkdtempSync(path.join(os.tmpdir(), 'disk-delta-fresh-start-')), 'state');
    // Its own process group, as in a terminal, so Ctrl+C can be sent the way a terminal sends it.
    start = spawn(process.execPath, [path.join(repoRoot, 'scripts', 'start.mjs'), '--state-dir', stateDir, '--port', '0'], {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    start.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    start.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    // Packaging plus, on a machine that has never run it, the code-server install (test/e2e/prepare.mjs does that first).
    const deadline = Date.now() + 15 * 60_000;
    for (;;) {
      const m = /open (http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(output);
      if (m) {
        url = m[1]!;
        break;
      }
      if (start.exitCode !== null || start.signalCode !== null) {
        throw new Error(`npm start exited (${start.signalCode ?? start.exitCode}) without printing a URL:\n${output}`);
      }
      if (Date.now() > deadline) throw new Error(`npm start printed no URL within 15 minutes:\n${output}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    // Give the lines after the URL time to arrive.
    await new Promise((r) => setTimeout(r, 1000));
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    // Whatever a failed test left: the start script's group and every group it started.
    for (const pgid of new Set([start?.pid, ...started.map((p) => p.pgid)])) {
      if (pgid === undefined) continue;
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    if (stateDir) rmSync(path.dirname(stateDir), { recursive: true, force: true });
  });

  void test('the start output says the extension is connected to the emulator with demo data', () => {
    assert.ok(output.includes(CONNECTED), `npm start printed:\n${output}`);
    assert.doesNotMatch(output, /not running|not available/i, output);
  });

  void test('the emulator answers over HTTPS with the demo disks, trusting only its own CA', async () => {
    const connectionFile = path.join(stateDir, 'start', 'emulator-connection.json');
    assert.ok(existsSync(connectionFile), `no connection file at ${connectionFile}`);
    const connection = JSON.parse(readFileSync(connectionFile, 'utf8')) as EmulatorConnection;
    const credential = { getToken: (): Promise<AccessToken> => Promise.resolve({ token: connection.token, expiresOnTimestamp: Date.now() + 3_600_000 }) };
    const compute = new ComputeManagementClient(credential, connection.subscriptionId, {
      endpoint: connection.armEndpoint,
      httpClient: httpClientTrusting(readFileSync(connection.caCertPath, 'utf8')),
    });
    const disks: string[] = [];
    for await (const disk of compute.disks.list()) disks.push(disk.name!);
    assert.ok(disks.includes('orders-db'), `the emulator lists: ${disks.join(', ')}`);
    assert.ok(existsSync(path.join(stateDir, 'demo-data', 'state.json')), 'the demo data lives under the state folder');
  });

  void test('VS Code at the printed URL shows the demo subscription in the Disk Delta tree', async () => {
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(url);
    const entry = page.locator('.activitybar [aria-label*="Disk Delta"]').first();
    await entry.waitFor({ state: 'visible', timeout: 120_000 });
    const container = page.locator('[id="workbench.view.extension.diskDelta"]');
    if (!(await container.isVisible())) await entry.click();
    const tree = container.locator('.pane', { has: page.locator('.pane-header', { hasText: /snapshots/i }) }).first();
    // The subscription row names the emulator's subscription (src/extension/connection.ts: its id's first 8 characters).
    const connection = JSON.parse(readFileSync(path.join(stateDir, 'start', 'emulator-connection.json'), 'utf8')) as EmulatorConnection;
    const subscription = new RegExp(`${connection.subscriptionId.slice(0, 8)}|Disk Delta Emulator`);
    try {
      await tree.locator('.monaco-list-row', { hasText: subscription }).first().waitFor({ state: 'visible', timeout: 90_000 });
      await tree.locator('.monaco-list-row', { hasText: 'orders-db' }).first().waitFor({ state: 'visible', timeout: 60_000 });
    } finally {
      mkdirSync(outputDir, { recursive: true });
      await page.screenshot({ path: path.join(outputDir, 'fresh-start-tree.png') }).catch(() => undefined);
    }
  });

  void test('Ctrl+C stops everything npm start started', async () => {
    await browser?.close();
    browser = undefined;
    started = descendants(start.pid!).filter((p) => p.pid !== start.pid);
    assert.ok(
      started.some((p) => p.cmd.includes('emulator.js')),
      `the emulator is among: ${started.map((p) => p.cmd).join('\n')}`,
    );
    assert.ok(
      started.some((p) => p.cmd.includes('code-server')),
      `code-server is among: ${started.map((p) => p.cmd).join('\n')}`,
    );
    process.kill(-start.pid!, 'SIGINT');
    const code = await Promise.race([exited(start), new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000))]);
    assert.equal(code, 0, `npm start after Ctrl+C:\n${output}`);
    const groups = new Set([start.pid!, ...started.map((p) => p.pgid)]);
    // A container's pid 1 may never collect the zombies of orphans: they have ended and are not counted.
    const leftRunning = (): ProcessInfo[] =>
      processes().filter((p) => p.state !== 'Z' && (started.some((s) => s.pid === p.pid && s.started === p.started) || groups.has(p.pgid)));
    // Processes SIGKILLed as npm start exits take a moment to go.
    let left = leftRunning();
    for (let i = 0; i < 50 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      left = leftRunning();
    }
    assert.deepEqual(
      left.map((p) => `${p.pid} ${p.cmd}`),
      [],
      'processes left running',
    );
  });
});
