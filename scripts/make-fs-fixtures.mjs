// Builds the emulator's demo disks that hold real filesystems, with Debian's own tools, as gzip fixtures
// under emulator/fixtures/: one directory per disk with a manifest and the image of each day.
//   node scripts/make-fs-fixtures.mjs            (installs e2fsprogs, xfsprogs, ntfs-3g and fdisk when root)
// Each day edits the previous day's image in place - ext4 with debugfs -w, XFS through a loop mount, NTFS
// through ntfs-3g (FUSE) - so consecutive images differ only where a real filesystem wrote. Day 0 is
// stored whole; each later day as the XOR with the day before (zeros where nothing changed), gzipped.
// Mounting needs root (loop devices, FUSE): without it the XFS and NTFS disks are skipped with a note.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { ensureDebianPackages } from './ensure-debian-packages.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'emulator', 'fixtures');
const env = { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` };

function run(tool, args, input) {
  return execFileSync(tool, args, { env, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** A deterministic pseudo-random text, so the fixtures are the same at every build. */
function text(seed, lines) {
  const words = ['GET', 'POST', '/api/orders', '/health', '200', '404', '503', 'user=alice', 'user=bob', 'ms=12', 'ms=340', 'cache=hit', 'cache=miss'];
  let x = seed >>> 0;
  const rnd = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296);
  const out = [];
  for (let i = 0; i < lines; i++) {
    const n = 4 + Math.floor(rnd() * 6);
    out.push(`2026-11-${String(10 + (i % 18)).padStart(2, '0')}T${String(i % 24).padStart(2, '0')}:00:00Z ${Array.from({ length: n }, () => words[Math.floor(rnd() * words.length)]).join(' ')}`);
  }
  return out.join('\n') + '\n';
}

function writeTree(dir, tree) {
  for (const [rel, content] of Object.entries(tree)) {
    const full = path.join(dir, rel);
    mkdirSync(path.dirname(full), { recursive: true });
    writeFileSync(full, content);
  }
}

/**
 * ext4 on a GPT disk laid out like an Azure Ubuntu image's root disk (partition 1, label cloudimg-rootfs).
 * Returns the images of each day.
 */
function ext4Linux(work) {
  const image = path.join(work, 'ext4.img');
  run('truncate', ['-s', '64M', image]);
  run('sfdisk', ['-q', image], 'label: gpt\nstart=2048, size=126976, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="cloudimg-rootfs"\n');
  const src = path.join(work, 'ext4-src');
  writeTree(src, {
    'etc/hostname': 'web-01\n',
    'etc/nginx/nginx.conf': 'user www-data;\nworker_processes auto;\nevents { worker_connections 768; }\nhttp { include /etc/nginx/sites-enabled/*; }\n',
    'etc/nginx/sites-enabled/default': 'server { listen 80; root /var/www/html; }\n',
    'var/www/html/index.html': '<html><body><h1>Orders</h1></body></html>\n',
    'var/log/nginx/access.log': text(1, 4000),
    'var/log/syslog': text(2, 3000),
    'home/azureuser/.bashrc': 'export PATH=$HOME/bin:$PATH\n',
    'home/azureuser/notes.md': '# deploy notes\n- v1.4 rolled out\n',
    'opt/app/release.txt': 'v1.4.0\n',
  });
  run('mke2fs', ['-q', '-F', '-t', 'ext4', '-b', '4096', '-L', 'cloudimg-rootfs', '-E', `offset=${2048 * 512},lazy_itable_init=0,lazy_journal_init=0`, '-d', src, image, `${(126976 * 512) / 1024}k`]);
  const days = [readFileSync(image)];
  const host = (name, content) => {
    const p = path.join(work, name);
    writeFileSync(p, content);
    return p;
  };
  const step = (requests) => {
    // debugfs has no offset option for the image: cut the partition out, edit it, and put it back.
    const whole = readFileSync(image);
    const part = path.join(work, 'part.img');
    writeFileSync(part, whole.subarray(2048 * 512, (2048 + 126976) * 512));
    run('debugfs', ['-w', '-f', '-', part], requests.join('\n') + '\n');
    const edited = readFileSync(part);
    edited.copy(whole, 2048 * 512);
    writeFileSync(image, whole);
    days.push(whole);
  };
  let gen = 5000;
  // An append or an edit keeps the file's inode, as the kernel does: debugfs frees it and writes the new
  // content into the same (first free) inode number with the same generation.
  const replace = (file, content) => [`rm ${file}`, `write ${host(`h${gen++}`, content)} ${file}`];
  // Day 1: logs grow, a deploy edits the config and the release file.
  step([...replace('/var/log/nginx/access.log', text(1, 4000) + text(11, 1500)), ...replace('/etc/nginx/nginx.conf', 'user www-data;\nworker_processes 4;\nevents { worker_connections 2048; }\nhttp { include /etc/nginx/sites-enabled/*; gzip on; }\n'), ...replace('/opt/app/release.txt', 'v1.5.0\n')]);
  // Day 2: a new site, logs grow, a note is added.
  step([`write ${host('h-site', 'server { listen 443 ssl; server_name shop.example; }\n')} /etc/nginx/sites-enabled/shop`, `sif /etc/nginx/sites-enabled/shop generation ${gen++}`, ...replace('/var/log/syslog', text(2, 3000) + text(12, 800)), ...replace('/home/azureuser/notes.md', '# deploy notes\n- v1.4 rolled out\n- v1.5 rolled out, nginx tuned\n')]);
  // Day 3: an upload directory with new files; the old default site is deleted.
  step(['mkdir /var/www/uploads', ...[1, 2, 3].flatMap((i) => [`write ${host(`h-up${i}`, text(100 + i, 300 * i))} /var/www/uploads/report-${i}.csv`, `sif /var/www/uploads/report-${i}.csv generation ${gen++}`]), 'rm /etc/nginx/sites-enabled/default']);
  // Day 4: logs grow again, the release notes are renamed.
  step([...replace('/var/log/nginx/access.log', text(1, 4000) + text(11, 1500) + text(13, 2000)), 'ln /home/azureuser/notes.md /home/azureuser/deploy-notes.md', 'unlink /home/azureuser/notes.md']);
  return { name: 'ext4-linux', disk: 'linux-web-01', osType: 'Linux', sizeBytes: 64 * 1024 * 1024, days };
}

/** Mounts `image` (a loop mount, or ntfs-3g for NTFS), runs `edit` on the mount point, always unmounts. */
function mounted(image, kind, work, edit) {
  const at = path.join(work, `mnt-${kind}`);
  mkdirSync(at, { recursive: true });
  if (kind === 'ntfs') run('ntfs-3g', [image, at]);
  else run('mount', ['-o', 'loop', image, at]);
  try {
    edit(at);
  } finally {
    run('umount', [at]);
  }
}

function put(root, rel, content) {
  const full = path.join(root, rel);
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, content);
}

/** A data disk formatted whole with XFS (no partition table), as Azure data disks often are. */
function xfsData(work) {
  const image = path.join(work, 'xfs.img');
  run('truncate', ['-s', '320M', image]);
  run('mkfs.xfs', ['-q', '-f', '-L', 'data', image]);
  const days = [];
  const day = (edit) => {
    mounted(image, 'xfs', work, edit);
    days.push(readFileSync(image));
  };
  day((m) => {
    put(m, 'postgres/PG_VERSION', '16\n');
    put(m, 'postgres/base/16384/2619', Buffer.from(text(21, 3000)));
    put(m, 'postgres/pg_wal/000000010000000000000001', Buffer.from(text(22, 5000)));
    put(m, 'backups/README', 'nightly dumps\n');
  });
  day((m) => {
    appendFileSync(path.join(m, 'postgres/pg_wal/000000010000000000000001'), text(23, 2000));
    put(m, 'backups/orders-day1.sql', text(24, 1500));
  });
  day((m) => {
    put(m, 'postgres/pg_wal/000000010000000000000002', Buffer.from(text(25, 4000)));
    put(m, 'postgres/base/16384/2619', Buffer.from(text(21, 3000).replace(/GET/g, 'PUT')));
  });
  day((m) => {
    rmSync(path.join(m, 'backups/orders-day1.sql'));
    put(m, 'backups/orders-day3.sql', text(26, 1800));
    renameSync(path.join(m, 'backups/README'), path.join(m, 'backups/README.txt'));
  });
  return { name: 'xfs-data', disk: 'data-pg-01', osType: undefined, sizeBytes: 320 * 1024 * 1024, days };
}

/** A Windows disk: MBR, one NTFS partition (type 07) at 1 MiB, edited through ntfs-3g. */
function ntfsWindows(work) {
  const image = path.join(work, 'ntfs.img');
  const part = path.join(work, 'ntfs-part.img');
  const start = 2048;
  const sectors = 63 * 2048;
  run('truncate', ['-s', '64M', image]);
  run('sfdisk', ['-q', image], `label: dos\nstart=${start}, size=${sectors}, type=7\n`);
  run('truncate', ['-s', `${sectors * 512}`, part]);
  run('mkntfs', ['-q', '-F', '-f', '-L', 'Windows', '-p', String(start), '-H', '255', '-S', '63', part]);
  const days = [];
  const day = (edit) => {
    mounted(part, 'ntfs', work, edit);
    const whole = readFileSync(image);
    readFileSync(part).copy(whole, start * 512);
    writeFileSync(image, whole);
    days.push(whole);
  };
  day((m) => {
    put(m, 'Windows/System32/drivers/etc/hosts', '127.0.0.1 localhost\r\n');
    put(m, 'inetpub/logs/LogFiles/W3SVC1/u_ex261120.log', text(31, 3000));
    put(m, 'Users/azureuser/Documents/budget.xlsx', Buffer.from(text(32, 400)));
    put(m, 'ProgramData/OrdersApp/appsettings.json', '{ "Logging": { "LogLevel": "Information" } }\r\n');
  });
  day((m) => {
    appendFileSync(path.join(m, 'inetpub/logs/LogFiles/W3SVC1/u_ex261120.log'), text(33, 1500));
    put(m, 'ProgramData/OrdersApp/appsettings.json', '{ "Logging": { "LogLevel": "Warning" }, "Retries": 5 }\r\n');
  });
  day((m) => {
    put(m, 'inetpub/logs/LogFiles/W3SVC1/u_ex261122.log', text(34, 2500));
    put(m, 'Users/azureuser/Downloads/setup.msi', Buffer.from(text(35, 900)));
  });
  day((m) => {
    rmSync(path.join(m, 'Users/azureuser/Downloads/setup.msi'));
    renameSync(path.join(m, 'Users/azureuser/Documents/budget.xlsx'), path.join(m, 'Users/azureuser/Documents/budget-2026.xlsx'));
    appendFileSync(path.join(m, 'Windows/System32/drivers/etc/hosts'), '10.0.0.5 orders-db\r\n');
  });
  return { name: 'ntfs-windows', disk: 'win-app-01', osType: 'Windows', sizeBytes: 64 * 1024 * 1024, days };
}

function xor(a, b) {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

function main() {
  ensureDebianPackages(['e2fsprogs', 'fdisk', 'xfsprogs', 'ntfs-3g']);
  const work = mkdtempSync(path.join(tmpdir(), 'dd-fixtures-'));
  const canMount = typeof process.getuid === 'function' && process.getuid() === 0;
  try {
    const builders = [ext4Linux, ...(canMount ? [xfsData, ntfsWindows] : [])];
    if (!canMount) console.log('not root: the XFS and NTFS disks (built through mounts) are skipped');
    for (const fixture of builders.map((b) => b(work))) {
      const dir = path.join(out, fixture.name);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const files = fixture.days.map((bytes, i) => {
        const file = i === 0 ? `day${i}.img.gz` : `day${i}.xor.gz`;
        writeFileSync(path.join(dir, file), gzipSync(i === 0 ? bytes : xor(bytes, fixture.days[i - 1]), { level: 9 }));
        return { file, ...(i > 0 ? { xorWithPrevious: true } : {}), sha256: createHash('sha256').update(bytes).digest('hex') };
      });
      const manifest = { disk: fixture.disk, ...(fixture.osType ? { osType: fixture.osType } : {}), imageBytes: fixture.sizeBytes, days: files };
      writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
      console.log(`${fixture.name}: ${files.length} images`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
