// "Disk Delta: Run Diagnostics" in a real VS Code connected to the emulator: the doctor's checks run,
// every one passes, and the report lands in the "Disk Delta" log and a Markdown preview.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startEmulator, type RunningEmulator } from '../support/emulator';
import { startVsCode, type VsCodeSession } from './harness';

let emulator: RunningEmulator;
let vscode: VsCodeSession;

before(
  async () => {
    emulator = await startEmulator({ seed: 'demo' });
    vscode = await startVsCode({ name: 'doctor', emulator: { connection: emulator.connection } });
  },
  { timeout: 15 * 60_000 },
);

after(
  async () => {
    await vscode?.stop();
    await emulator?.stop();
  },
  { timeout: 60_000 },
);

void test('Run Diagnostics checks the emulator connection and target account, all passing', { timeout: 5 * 60_000 }, async () => {
  await vscode.openView();
  await vscode.waitForTreeItem('orders-db');
  await vscode.runCommand('Disk Delta: Run Diagnostics');
  await vscode.quickInput.waitForTitle(/Run Diagnostics: copy target account/, 30_000);
  await vscode.quickInput.waitForItem('ddwestus21a');
  await vscode.quickInput.pick('ddwestus21a');
  const message = await vscode.waitForNotification(/Disk Delta diagnostics: /, 120_000);
  assert.match(message, /all required checks passed/);
  await vscode.screenshot('report');
  const logs = vscode.logs();
  assert.match(logs, /\[ok {2}\] sign-in/);
  assert.match(logs, /\[ok {2}\] target account: ddwestus21a/);
  assert.match(logs, /\[ok {2}\] container ddwestus21a\/disk-delta/);
  assert.match(logs, /All checks passed\./);
  assert.doesNotMatch(logs, new RegExp(emulator.connection.token));
});
