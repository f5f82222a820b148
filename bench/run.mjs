// `npm run bench`: builds dist if it is missing, then runs the benchmarks (bench/main.ts, TypeScript via tsx).
// Arguments are passed on: --only scattered,log,relay,requests,chain,diff,files,fleet,blockmap,activation  --quick  --no-write | --write (partial and quick runs only print)
// The block-map figures need Chromium: it is installed first (apt-get as root) or the run stops at once
// with the command to run, before any benchmark has spent its minutes.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureChromium } from '../scripts/ensure-chromium.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const onlyAt = args.indexOf('--only');
const wantsBlockMap = onlyAt < 0 || (args[onlyAt + 1] ?? '').split(',').includes('blockmap');
if (wantsBlockMap) {
  try {
    ensureChromium();
  } catch (e) {
    console.error(`bench: the block-map benchmark needs Chromium. ${e instanceof Error ? e.message : String(e)}`);
    console.error('bench: or leave the block map out: npm run bench -- --only scattered,log,relay,requests,chain,diff,files,fleet,activation');
    process.exit(1);
  }
}
const bundles = ['cli.js', 'emulator.js', 'extension.js', 'bundle-sizes.json'];
if (bundles.some((b) => !existsSync(path.join(root, 'dist', b)))) {
  const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'bench', 'main.ts'), ...args], { cwd: root, stdio: 'inherit' });
process.exit(run.status ?? 1);
