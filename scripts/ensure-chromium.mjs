// Chromium for the browser tests, the e2e tests and the block-map benchmark: Debian's `chromium`, installed
// with apt-get when running as root (scripts/ensure-debian-packages.mjs), otherwise a stop at once with the
// exact command to run. Nothing waits for Chromium to appear.
//   node scripts/ensure-chromium.mjs       install if missing, print where it is
// CHROMIUM_PATH names another Chromium binary (then nothing is installed).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ensureDebianPackages } from './ensure-debian-packages.mjs';

export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

/** The flags Chromium runs with here: no sandbox (containers run as root), no GPU, nothing phoning home. */
export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Returns the Chromium binary, installing Debian's package first when it is missing (root only); throws an
 * Error naming the command to run otherwise.
 * @param {{ log?: (line: string) => void }} [options]
 * @returns {string}
 */
export function ensureChromium({ log = (l) => console.log(l) } = {}) {
  if (existsSync(chromiumPath)) return chromiumPath;
  if (process.env.CHROMIUM_PATH) {
    throw new Error(`CHROMIUM_PATH is ${chromiumPath}, which does not exist: point it at a Chromium binary, or unset it to use Debian's chromium package`);
  }
  ensureDebianPackages(['chromium'], { log });
  if (!existsSync(chromiumPath)) {
    throw new Error(`Chromium is not at ${chromiumPath}: install it (Debian: sudo apt-get install -y chromium) or set CHROMIUM_PATH to a Chromium binary`);
  }
  return chromiumPath;
}

/**
 * Launches Chromium through playwright-core (a development dependency, loaded only here).
 * @param {import('playwright-core').LaunchOptions} [options]
 * @returns {Promise<import('playwright-core').Browser>}
 */
export async function launchChromium(options = {}) {
  const executablePath = ensureChromium();
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath, args: chromiumArgs, ...options });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    console.log(`chromium: ${ensureChromium()}`);
  } catch (e) {
    console.error(`chromium: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
