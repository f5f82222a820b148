// The extension installs from its VSIX into a real VS Code, shows its activity-bar entry and,
// before any connection, the welcome view with the two ways to connect.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startVsCode, type VsCodeSession } from './harness';

let vscode: VsCodeSession;

// A cold first run installs code-server (minutes); later runs start in about 15 s.
before(
  async () => {
    vscode = await startVsCode({ name: 'activation' });
  },
  { timeout: 15 * 60_000 },
);

after(
  async () => {
    await vscode?.stop();
  },
  { timeout: 60_000 },
);

void test('the activity bar has a "Disk Delta" entry', async () => {
  const entry = vscode.page.locator('.activitybar [aria-label*="Disk Delta"]');
  await entry.first().waitFor({ state: 'visible', timeout: 30_000 });
  assert.match((await entry.first().getAttribute('aria-label')) ?? '', /Disk Delta/);
});

void test('opening the view activates the extension and shows the welcome view', async () => {
  await vscode.openView();
  const welcome = vscode.welcomeView();
  await welcome.waitFor({ state: 'visible', timeout: 15_000 }).catch(() => {
    throw new Error('the welcome view is hidden: activation must set the context key diskDelta.connection to "none"');
  });
  const buttons = await welcome.locator('.monaco-button').allInnerTexts();
  assert.ok(
    buttons.some((b) => b.includes('Sign in to Azure')),
    `buttons: ${buttons.join(', ')}`,
  );
  assert.ok(
    buttons.some((b) => b.includes('Connect to Local Emulator')),
    `buttons: ${buttons.join(', ')}`,
  );
  const file = await vscode.screenshot('welcome');
  assert.ok(existsSync(file));
});

void test('the Disk Delta commands are in the command palette', async () => {
  await vscode.page.keyboard.press('Control+Shift+P');
  await vscode.quickInput.waitForOpen();
  await vscode.quickInput.type('>Disk Delta: Connect to Local Emulator');
  await vscode.page.locator('.quick-input-list .monaco-list-row').first().waitFor({ state: 'visible' });
  const items = await vscode.quickInput.items();
  assert.ok(
    items.some((i) => i.includes('Connect to Local Emulator')),
    `items: ${items.join(', ')}`,
  );
  await vscode.quickInput.cancel();
  await vscode.quickInput.waitForClosed();
});
