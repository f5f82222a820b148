// Desktop VS Code checks through the real `vscode` API: the extension activates and registers its commands.
import assert from 'node:assert/strict';
import * as vscode from 'vscode';

export interface DesktopTest {
  name: string;
  fn: () => Promise<void>;
}

const extensionId = 'disk-delta.disk-delta';

export const desktopTests: DesktopTest[] = [
  {
    name: 'the extension is installed and activates',
    fn: async () => {
      const extension = vscode.extensions.getExtension(extensionId);
      assert.ok(extension, `${extensionId} is not installed`);
      await extension.activate();
      assert.equal(extension.isActive, true);
    },
  },
  {
    name: 'every contributed command is registered',
    fn: async () => {
      const extension = vscode.extensions.getExtension(extensionId);
      assert.ok(extension);
      await extension.activate();
      const manifest = extension.packageJSON as { contributes: { commands: { command: string }[] } };
      const registered = new Set(await vscode.commands.getCommands(true));
      const missing = manifest.contributes.commands.map((c) => c.command).filter((c) => !registered.has(c));
      assert.deepEqual(missing, []);
    },
  },
];
