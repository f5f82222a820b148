// "Disk Delta: Run Diagnostics" in a real VS Code connected to the emulator: the doctor's checks run,
// every one passes, and the report lands in the "Disk Delta" log and a Markdown preview.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { demoSession } from './harness';

const session = demoSession('doctor');

void test('Run Diagnostics checks the emulator connection and target account, all passing', { timeout: 5 * 60_000 }, async () => {
  await session.vscode.openView();
  await session.vscode.waitForTreeItem('orders-db');
  await session.vscode.runCommand('Disk Delta: Run Diagnostics');
  await session.vscode.quickInput.waitForTitle(/Run Diagnostics: copy target account/, 30_000);
  await session.vscode.quickInput.waitForItem('ddwestus21a');
  await session.vscode.quickInput.pick('ddwestus21a');
  const message = await session.vscode.waitForNotification(/Disk Delta diagnostics: /, 120_000);
  assert.match(message, /all required checks passed/);
  await session.vscode.screenshot('report');
  const logs = session.vscode.logs();
  assert.match(logs, /\[ok {2}\] sign-in/);
  assert.match(logs, /\[ok {2}\] target account: ddwestus21a/);
  assert.match(logs, /\[ok {2}\] container ddwestus21a\/disk-delta/);
  assert.match(logs, /All checks passed\./);
  assert.doesNotMatch(logs, new RegExp(session.emulator.connection.token));
});
