// `npm run bench`: builds dist if it is missing, then runs the benchmarks (bench/main.ts, TypeScript via tsx).
// Arguments are passed on: --only scattered,log,relay,chain,diff,blockmap,activation  --no-write
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bundles = ['cli.js', 'emulator.js', 'extension.js', 'bundle-sizes.json'];
if (bundles.some((b) => !existsSync(path.join(root, 'dist', b)))) {
  const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'bench', 'main.ts'), ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
process.exit(run.status ?? 1);
