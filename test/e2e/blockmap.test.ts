// "Diff with Previous" on a demo snapshot opens the changed-block map; its summary equals the CLI's
// `disk-delta diff --json` for the same pair. Screenshots in the dark and the light theme.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Frame } from 'playwright-core';
import { startEmulator, type RunningEmulator } from '../support/emulator';
import { parseJson, runCli } from '../support/cli';
import { startVsCode, type VsCodeSession } from './harness';

let emulator: RunningEmulator;
let dir: string;
let connectionFile: string;
let families: { sourceName: string; snapshots: { id: string; name: string }[] }[];

before(
  async () => {
    emulator = await startEmulator({ seed: 'demo' });
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-e2e-map-'));
    connectionFile = path.join(dir, 'connection.json');
    writeFileSync(connectionFile, JSON.stringify(emulator.connection));
    families = parseJson(await runCli(connectionFile, ['--json', 'families']));
  },
  { timeout: 5 * 60_000 },
);

after(
  async () => {
    await emulator?.stop();
    rmSync(dir, { recursive: true, force: true });
  },
  { timeout: 60_000 },
);

async function openMap(vscode: VsCodeSession, snapshotName: string): Promise<Frame> {
  await vscode.openView();
  for (const label of ['orders-db', 'orders-db family']) {
    const row = await vscode.waitForTreeItem(label);
    if ((await row.getAttribute('aria-expanded')) === 'false') await row.click();
  }
  await vscode.treeContextMenu(snapshotName, 'Diff with Previous Snapshot');
  const frame = await vscode.webviewFrame(async (f) => (await f.locator('#block-map').count()) > 0, 120_000);
  await frame.locator('#summary-changed[data-value]').waitFor({ state: 'attached', timeout: 60_000 });
  await frame.waitForFunction('document.querySelector("#block-map")?.getAttribute("data-window-length") !== null', undefined, { timeout: 30_000 });
  return frame;
}

for (const theme of ['dark', 'light'] as const) {
  void test(`the map of a demo diff matches the CLI's numbers (${theme} theme)`, { timeout: 10 * 60_000 }, async () => {
    const orders = families.find((f) => f.sourceName === 'orders-db')!;
    const newer = orders.snapshots[orders.snapshots.length - 1]!;
    const older = orders.snapshots[orders.snapshots.length - 2]!;
    const cli = parseJson<{ changedBytes: number; clearedBytes: number; ranges: unknown[] }>(
      await runCli(connectionFile, ['--json', 'diff', '--from', older.id, '--to', newer.id]),
    );
    assert.ok(cli.ranges.length > 100, 'the demo diff has many scattered ranges');
    const vscode = await startVsCode({ name: `blockmap-${theme}`, theme, emulator: { connectionFile }, viewport: { width: 1600, height: 1000 } });
    try {
      const frame = await openMap(vscode, newer.name);
      const value = async (id: string) => Number(await frame.locator(`#summary-${id}`).getAttribute('data-value'));
      assert.equal(await value('changed'), cli.changedBytes);
      assert.equal(await value('cleared'), cli.clearedBytes);
      assert.equal(await value('ranges'), cli.ranges.length);
      const canvas = frame.locator('#block-map');
      assert.ok(Number(await canvas.getAttribute('data-window-length')) > 0);
      await vscode.page.waitForTimeout(500);
      await vscode.screenshot(`map-${theme}`);
      // The map lists the family's other pairs for its bars; once done, every grant is given back.
      const deadline = Date.now() + 60_000;
      let open = (await emulator.getStats()).activeSasGrants;
      while (open > 0 && Date.now() < deadline) {
        await vscode.page.waitForTimeout(500);
        open = (await emulator.getStats()).activeSasGrants;
      }
      assert.equal(open, 0, 'the diffs gave their grants back');
    } finally {
      await vscode.stop();
    }
  });
}
