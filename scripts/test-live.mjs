#!/usr/bin/env node
/**
 * `npm run test:live`: the live suite (test/live/live.ts) against a real Azure subscription, or with
 * `--emulator <connection file>` the same flow against the local emulator. Never part of `npm test`.
 * Without AZURE_SUBSCRIPTION_ID (and without --emulator) it says what to set and exits 0.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);

if (!args.includes('--emulator') && !process.env.AZURE_SUBSCRIPTION_ID) {
  process.stdout.write(
    'test:live skipped: set AZURE_SUBSCRIPTION_ID (and sign in so DefaultAzureCredential finds a credential: az login, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or a managed identity), or pass --emulator <connection file>.\n',
  );
  process.exit(0);
}

if (!existsSync(path.join(root, 'dist', 'cli.js'))) execFileSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: 'inherit' });

const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'test', 'live', 'live.ts'), ...args], { cwd: root, stdio: 'inherit' });
// Ctrl+C reaches the suite too (same process group): it cleans up and exits; this process waits for it.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
