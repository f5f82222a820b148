// Builds the production bundles and packages the extension as dist/disk-delta.vsix.
//   node scripts/package.mjs            (npm run package)
// esbuild bundles every dependency into dist/*.js, so the VSIX carries no node_modules (.vscodeignore
// keeps it to the bundles, media and the manifest's documents).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const vsixPath = path.join(root, 'dist', 'disk-delta.vsix');

function run(cmd, args, { quiet = false } = {}) {
  return new Promise((resolve, reject) => {
    let output = '';
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', quiet ? 'pipe' : 'inherit', quiet ? 'pipe' : 'inherit'] });
    child.stdout?.on('data', (d) => (output += d));
    child.stderr?.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${path.basename(cmd)} ${args.join(' ')} failed (${signal ?? `exit ${code}`})${output ? `\n${output}` : ''}`));
    });
  });
}

/**
 * Builds with --production and packages the VSIX; returns its path.
 * @param {{ quiet?: boolean }} [options] quiet: print one line instead of the tools' output
 */
export async function packageExtension({ quiet = false } = {}) {
  for (const doc of ['README.md', 'LICENSE']) {
    if (!existsSync(path.join(root, doc))) throw new Error(`${doc} is missing; vsce needs it to package the extension`);
  }
  await run(process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--production'], { quiet });
  const vsce = createRequire(import.meta.url).resolve('@vscode/vsce/vsce');
  // README images are relative (media/screenshots/...) and ship inside the VSIX, where VS Code's extension page
  // resolves them; without a GitHub repository vsce would otherwise refuse to package.
  await run(process.execPath, [vsce, 'package', '--no-dependencies', '--no-rewrite-relative-links', '--out', vsixPath], { quiet });
  // Every bundle the extension loads on first use must ship: a missing one only fails when a user signs in.
  const listed = await run(process.execPath, [vsce, 'ls', '--no-dependencies'], { quiet: true });
  const lazy = [...readFileSync(path.join(root, 'dist', 'extension.js'), 'utf8').matchAll(/import\("\.\/([\w.-]+\.js)"\)/g)].map((m) => m[1]);
  const missing = ['extension.js', ...lazy].filter((f) => !listed.split(/\r?\n/).includes(`dist/${f}`));
  if (missing.length) throw new Error(`the VSIX lacks ${missing.join(', ')}: check .vscodeignore`);
  const kib = Math.round(statSync(vsixPath).size / 1024);
  if (quiet) console.log(`package: ${path.relative(root, vsixPath)} (${kib} KiB)`);
  return vsixPath;
}

// No top-level await: the e2e harness loads this module from CommonJS.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  packageExtension().catch((e) => {
    console.error(`package: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  });
}
