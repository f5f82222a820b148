// Runs the test tiers with node's test runner and prints one closing line for all of them.
//   node scripts/test.mjs            every tier: unit, integration, browser, e2e
//   node scripts/test.mjs unit e2e   only those tiers
import { spawn } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDebianPackages, testPackages } from './ensure-debian-packages.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const allTiers = ['static', 'unit', 'integration', 'browser', 'e2e'];
const asked = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const tiers = asked.length ? asked : allTiers;

function findTests(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...findTests(full));
    else if (/\.test\.(ts|mjs|js)$/.test(name)) out.push(full);
  }
  return out;
}

async function ensureBuilt() {
  await run(process.execPath, [path.join(root, 'scripts/build.mjs')], false);
}

function run(cmd, args, capture, env = process.env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: capture ? ['ignore', 'pipe', 'inherit'] : 'inherit' });
    let text = '';
    if (capture) {
      child.stdout.on('data', (chunk) => {
        process.stdout.write(chunk);
        text += chunk.toString();
        if (text.length > 1_000_000) text = text.slice(-100_000);
      });
    }
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), text }));
  });
}

await ensureBuilt();
// Installed once, before any tier: test files run in parallel and would otherwise race for apt's lock.
if (tiers.some((t) => t !== 'static')) {
  try {
    ensureDebianPackages(testPackages);
  } catch (error) {
    console.error(`test: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
let passed = 0;
let failed = 0;
let skipped = 0;
let exitCode = 0;
for (const tier of tiers) {
  if (tier === 'static') {
    // Type-checking and lint are part of "every test": a type error or a floating promise fails the run.
    console.log('\n== static checks: typecheck, lint ==');
    for (const script of ['typecheck', 'lint']) {
      const r = await run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', '--silent', script], false);
      if (r.code === 0) passed += 1;
      else {
        console.error(`test: npm run ${script} failed`);
        failed += 1;
        exitCode = 1;
      }
    }
    continue;
  }
  if (tier === 'e2e' || tier === 'browser') {
    const prep = path.join(root, 'test', tier, 'prepare.mjs');
    if (existsSync(prep)) {
      const r = await run(process.execPath, [prep], false);
      if (r.code !== 0) {
        console.error(`test: preparing the ${tier} tier failed (exit ${r.code})`);
        failed += 1;
        exitCode = 1;
        continue;
      }
    }
  }
  const files = findTests(path.join(root, 'test', tier));
  if (files.length === 0) continue;
  console.log(`\n== ${tier} tests (${files.length} files) ==`);
  const concurrency = tier === 'e2e' ? ['--test-concurrency=1'] : [];
  const r = await run(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...concurrency, ...files], true, {
    ...process.env,
    DISK_DELTA_TEST_TIER: tier,
  });
  const count = (label) => {
    const m = [...r.text.matchAll(new RegExp(`^\\S+ ${label} (\\d+)$`, 'gm'))].pop();
    return m ? Number(m[1]) : 0;
  };
  passed += count('pass');
  failed += count('fail');
  skipped += count('skipped');
  if (r.code !== 0) exitCode = 1;
}
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(exitCode || (failed ? 1 : 0));
