// The layer rules in eslint.layers.mjs fail on deliberate violations and pass the imports each layer may make.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
// @ts-expect-error: a plain ES module with no type declarations
import { layerRules } from '../../eslint.layers.mjs';

const root = path.resolve(import.meta.dirname, '../..');

async function restricted(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({
    cwd: root,
    overrideConfigFile: true,
    overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, ...(layerRules as object[])],
  });
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

void test('core may not import vscode, an Azure SDK, the emulator or a layer above it', async () => {
  assert.match((await restricted('src/core/x.ts', "import * as vscode from 'vscode';"))[0] ?? '', /Only src\/extension imports vscode/);
  assert.match((await restricted('src/core/x.ts', "import { BlobClient } from '@azure/storage-blob';"))[0] ?? '', /Only src\/azure imports the Azure SDKs/);
  assert.match((await restricted('src/core/copy/x.ts', "import { x } from '../../../emulator/state';"))[0] ?? '', /never imports the emulator/);
  assert.match((await restricted('src/core/x.ts', "import { x } from '../azure/compute';"))[0] ?? '', /src\/core depends on no other layer/);
  assert.match((await restricted('src/core/x.ts', "import { x } from '../extension/log';"))[0] ?? '', /src\/core depends on no other layer/);
  assert.deepEqual(await restricted('src/core/x.ts', "import { x } from './pageRanges';"), []);
});

void test('only src/azure imports the SDKs and only src/extension imports vscode', async () => {
  assert.equal((await restricted('src/cli/x.ts', "import { DefaultAzureCredential } from '@azure/identity';")).length, 1);
  assert.equal((await restricted('src/extension/x.ts', "import type { TokenCredential } from '@azure/core-auth';")).length, 1);
  assert.equal((await restricted('src/cli/x.ts', "import * as vscode from 'vscode';")).length, 1);
  assert.equal((await restricted('webview/x.ts', "import * as vscode from 'vscode';")).length, 1);
  assert.equal((await restricted('src/azure/x.ts', "import * as vscode from 'vscode';")).length, 1);
  assert.deepEqual(await restricted('src/azure/x.ts', "import { BlobClient } from '@azure/storage-blob';"), []);
  assert.deepEqual(await restricted('src/extension/x.ts', "import * as vscode from 'vscode';"), []);
  assert.deepEqual(await restricted('src/cli/x.ts', "import { x } from '../azure';"), []);
});

void test('no product layer imports the emulator', async () => {
  for (const file of ['src/cli/x.ts', 'src/extension/x.ts', 'src/azure/x.ts', 'src/shared/x.ts']) {
    assert.equal((await restricted(file, "import { start } from '../../emulator/main';")).length, 1, file);
  }
});
