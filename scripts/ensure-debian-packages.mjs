// Makes sure Debian packages the test and start tooling needs are installed.
// As root they are installed with apt-get; otherwise this stops with the exact command to run.
//   node scripts/ensure-debian-packages.mjs chromium libkrb5-dev
//   node scripts/ensure-debian-packages.mjs --filesystems
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Chromium drives the e2e tests; libkrb5-dev is needed by code-server's native `kerberos` module build. */
export const toolingPackages = ['chromium', 'libkrb5-dev'];

/**
 * Debian's own filesystem tools build the disk images the filesystem readers are tested against and the
 * emulator's demo fixtures: e2fsprogs (mke2fs -d, debugfs), xfsprogs (mkfs.xfs -p, xfs_db), ntfs-3g
 * (mkntfs, ntfscp, ntfsinfo), fdisk (sfdisk) and gdisk (sgdisk) for partition tables.
 */
export const filesystemPackages = ['e2fsprogs', 'xfsprogs', 'ntfs-3g', 'fdisk', 'gdisk'];

/** Everything the test tiers use from Debian: the browser, the filesystem tools, and the shells the completion scripts are checked in. */
export const testPackages = [...toolingPackages, ...filesystemPackages, 'zsh', 'fish'];

function isInstalled(name) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

function hasDpkg() {
  return spawnSync('dpkg-query', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Installs the missing packages (root only) or throws an Error naming the command to run.
 * @param {string[]} names
 * @param {{ log?: (line: string) => void }} [options]
 */
export function ensureDebianPackages(names = toolingPackages, { log = (l) => console.log(l) } = {}) {
  if (!hasDpkg()) {
    log(`debian: dpkg not found; assuming ${names.join(', ')} are provided another way`);
    return;
  }
  const missing = names.filter((n) => !isInstalled(n));
  if (missing.length === 0) return;
  const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error(`missing Debian packages: ${missing.join(', ')}. Install them with:\n  sudo sh -c '${command}'`);
  }
  log(`debian: installing ${missing.join(', ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
  if (update.status !== 0) throw new Error(`apt-get update failed (exit ${update.status})`);
  const install = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  if (install.status !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed (exit ${install.status})`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const args = process.argv.slice(2);
    const names = args.flatMap((a) => (a === '--filesystems' ? filesystemPackages : [a]));
    ensureDebianPackages(names.length ? names : toolingPackages);
  } catch (e) {
    console.error(`debian: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
