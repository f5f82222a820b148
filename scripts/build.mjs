// Bundles the extension host, the CLI, the emulator and the webview with esbuild.
// Type-checking is separate (npm run typecheck); this only transpiles and bundles.
import * as esbuild from 'esbuild';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

/**
 * The Azure layer and the Microsoft sign-in are bundles of their own, loaded on first use (a dynamic
 * import), so activation never pays for the SDKs. The bundles that load them turn that import into a
 * require() (`supported: {'dynamic-import': false}`): Node's import() of a CommonJS file goes through the ESM
 * loader, which first scans the whole file for its export names (cjs-module-lexer) - over 1 MB for the sign-in
 * bundle that activation's silent sign-in check loads, the largest part of activate()'s time (bench/activation.cjs).
 */
const lazyAzure = {
  name: 'lazy-azure',
  setup(build) {
    build.onResolve({ filter: /^(\.\.\/)+azure(\/index)?$/ }, (args) => (args.kind === 'dynamic-import' ? { path: './azure.js', external: true } : undefined));
    build.onResolve({ filter: /^\.\/azureAccount$/ }, (args) => (args.kind === 'dynamic-import' ? { path: './azureAccount.js', external: true } : undefined));
  },
};

const node = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  absWorkingDir: root,
  metafile: true,
};

const builds = [
  {
    ...node,
    entryPoints: { extension: 'src/extension/main.ts' },
    outdir: 'dist',
    external: ['vscode'],
    plugins: [lazyAzure],
    supported: { 'dynamic-import': false },
  },
  { ...node, entryPoints: { azure: 'src/azure/index.ts' }, outdir: 'dist' },
  { ...node, entryPoints: { azureAccount: 'src/extension/azureAccount.ts' }, outdir: 'dist', external: ['vscode'] },
  { ...node, entryPoints: { cli: 'src/cli/main.ts' }, outdir: 'dist', plugins: [lazyAzure], supported: { 'dynamic-import': false } },
  { ...node, entryPoints: { emulator: 'emulator/main.ts' }, outdir: 'dist' },
  {
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    sourcemap: production ? false : 'linked',
    minify: production,
    logLevel: 'warning',
    absWorkingDir: root,
    metafile: true,
    entryPoints: { blockMap: 'webview/main.ts' },
    outdir: 'dist/webview',
  },
];

await mkdir(path.join(root, 'dist'), { recursive: true });
if (watch) {
  for (const options of builds) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
  }
  console.log('esbuild: watching for changes');
} else {
  const results = await Promise.all(builds.map((options) => esbuild.build(options)));
  const { writeFile } = await import('node:fs/promises');
  const sizes = {};
  for (const r of results) {
    for (const [file, info] of Object.entries(r.metafile.outputs)) {
      if (file.endsWith('.js')) sizes[path.basename(file)] = info.bytes;
    }
  }
  await writeFile(path.join(root, 'dist', 'bundle-sizes.json'), JSON.stringify(sizes, null, 2));
}
