// Builds the page the block-map browser test and benchmark load: the shipped webview bundle
// (dist/webview/blockMap.js) behind a host stand-in, under the same strict CSP the panel uses. Run as a
// script it first makes sure Chromium is installed (scripts/ensure-chromium.mjs).
//   node test/browser/prepare.mjs      (scripts/test.mjs runs it before the browser tier)
import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { ensureChromium } from '../../scripts/ensure-chromium.mjs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const outDir = path.join(root, 'test-output', 'browser');
const NONCE = 'blockmapTestNonce0123';

// A dark theme's values, as VS Code would set them on <html>.
const THEME = `
:root {
  --vscode-font-family: sans-serif; --vscode-font-size: 13px;
  --vscode-foreground: #cccccc; --vscode-descriptionForeground: #9d9d9d; --vscode-errorForeground: #f85149;
  --vscode-editor-background: #1e1e1e; --vscode-editorWidget-border: #454545; --vscode-focusBorder: #0078d4;
  --vscode-charts-blue: #3794ff; --vscode-charts-orange: #d18616; --vscode-charts-purple: #b180d7; --vscode-charts-yellow: #cca700;
  --vscode-editorHoverWidget-background: #252526; --vscode-editorHoverWidget-border: #454545;
  --vscode-button-secondaryBackground: #3a3d41; --vscode-button-secondaryForeground: #cccccc;
}`;

/** Builds the page; returns its file URL. */
export async function prepareBlockMapPage() {
  const bundle = path.join(root, 'dist', 'webview', 'blockMap.js');
  if (!existsSync(bundle)) {
    const built = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
    if (built.status !== 0 || !existsSync(bundle)) throw new Error('building dist/webview/blockMap.js failed');
  }
  await mkdir(outDir, { recursive: true });
  await copyFile(bundle, path.join(outDir, 'blockMap.js'));
  await esbuild.build({
    entryPoints: [path.join(root, 'test', 'browser', 'blockmapHost.page.ts')],
    outfile: path.join(outDir, 'blockmapHost.js'),
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    logLevel: 'warning',
  });
  const csp = `default-src 'none'; script-src 'nonce-${NONCE}'; style-src 'nonce-${NONCE}'; img-src data:`;
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<title>Block map</title>
<style nonce="${NONCE}">${THEME}</style>
<script nonce="${NONCE}" src="blockmapHost.js"></script>
<script nonce="${NONCE}" src="blockMap.js" defer></script>
</head>
<body></body>
</html>`;
  const page = path.join(outDir, 'blockmap.html');
  await writeFile(page, html);
  return pathToFileURL(page).href;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    ensureChromium();
  } catch (e) {
    console.error(`browser: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
  console.log(`browser: block-map page at ${await prepareBlockMapPage()}`);
}
