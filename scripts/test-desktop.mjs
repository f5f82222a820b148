// `npm run test:desktop`: runs test/desktop/ inside a desktop VS Code with @vscode/test-electron.
// Uses VSCODE_EXECUTABLE_PATH when set (a local VS Code), otherwise downloads VS Code into .vscode-test/.
//   node scripts/test-desktop.mjs --build-only   only bundles the tests (for the "Extension Tests" launch config)
// Where no desktop VS Code can be downloaded, the e2e tier (code-server) covers the same ground: npm run test:e2e.
import * as esbuild from 'esbuild';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTests } from '@vscode/test-electron';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const testsBundle = path.join(root, 'out', 'test', 'desktop', 'index.js');

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${args.join(' ')} failed (exit ${code})`))));
  });
}

async function main() {
  await run(process.execPath, [path.join(root, 'scripts', 'build.mjs')]);
  // The extension host loads the tests with require(), so they are bundled like the extension.
  await esbuild.build({
    entryPoints: [path.join(root, 'test', 'desktop', 'index.ts')],
    outfile: testsBundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  if (process.argv.includes('--build-only')) return;
  const vscodeExecutablePath = process.env.VSCODE_EXECUTABLE_PATH || undefined;
  console.log(
    `test:desktop: ${vscodeExecutablePath ? `using ${vscodeExecutablePath}` : 'downloading VS Code (set VSCODE_EXECUTABLE_PATH to use an installed one)'}`,
  );
  try {
    await runTests({
      vscodeExecutablePath,
      extensionDevelopmentPath: root,
      extensionTestsPath: testsBundle,
      launchArgs: ['--disable-extensions', '--disable-workspace-trust', '--skip-welcome', '--skip-release-notes'],
    });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (!vscodeExecutablePath && /download|fetch|ENOTFOUND|ECONNREFUSED|ETIMEDOUT|getaddrinfo|status code/i.test(message)) {
      throw new Error(
        `could not download VS Code (${message}).\n` +
          'Point VSCODE_EXECUTABLE_PATH at a desktop VS Code executable, or run the code-server tier instead: npm run test:e2e',
        { cause: e },
      );
    }
    throw e;
  }
}

main().catch((e) => {
  console.error(`test:desktop: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
