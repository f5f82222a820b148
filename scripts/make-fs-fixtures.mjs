// Builds the emulator's demo disks that hold real filesystems, with Debian's own tools, as gzip fixtures
// under emulator/fixtures/: one directory per disk with a manifest and the image of each day.
//   node scripts/make-fs-fixtures.mjs            (installs e2fsprogs, xfsprogs, ntfs-3g and fdisk when root)
// Each day edits the previous day's image in place through the kernel - ext4 and XFS by a loop mount, NTFS
// through ntfs-3g (FUSE) - so consecutive images differ only where a real filesystem wrote. Each day is
// stored as the pages it changed (day 0: its non-zero pages): [offset, length] runs in the manifest and
// their bytes, one after the other, gzipped - so seeding writes them without comparing images.
// Mounting needs root (loop devices, FUSE): without it nothing is built and the command to run is named.
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
  const rnd = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296;
  const out = [];
  for (let i = 0; i < lines; i++) {
    const n = 4 + Math.floor(rnd() * 6);
    out.push(
      `2026-11-${String(10 + (i % 18)).padStart(2, '0')}T${String(i % 24).padStart(2, '0')}:00:00Z ${Array.from({ length: n }, () => words[Math.floor(rnd() * words.length)]).join(' ')}`,
    );
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
 * ext4 on a GPT disk laid out like an Azure Ubuntu image's root disk (partition 1, label cloudimg-rootfs),
 * made with mke2fs -d and edited day by day through a loop mount of the partition (the kernel's ext4:
 * an append keeps the inode, a rename changes the directories and the inode's ctime).
 */
function ext4Linux(work) {
  const image = path.join(work, 'ext4.img');
  const offset = 2048 * 512;
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
  run('mke2fs', [
    '-q',
    '-F',
    '-t',
    'ext4',
    '-b',
    '4096',
    '-L',
    'cloudimg-rootfs',
    '-E',
    `offset=${offset},lazy_itable_init=0,lazy_journal_init=0`,
    '-d',
    src,
    image,
    `${(126976 * 512) / 1024}k`,
  ]);
  const days = [readFileSync(image)];
  const day = (edit) => {
    mounted(image, 'ext4', work, edit, offset);
    days.push(readFileSync(image));
  };
  // Day 1: logs grow, a deploy edits the config and the release file.
  day((m) => {
    appendFileSync(path.join(m, 'var/log/nginx/access.log'), text(11, 1500));
    put(
      m,
      'etc/nginx/nginx.conf',
      'user www-data;\nworker_processes 4;\nevents { worker_connections 2048; }\nhttp { include /etc/nginx/sites-enabled/*; gzip on; }\n',
    );
    put(m, 'opt/app/release.txt', 'v1.5.0\n');
  });
  // Day 2: a new site, the syslog grows, a note is edited.
  day((m) => {
    put(m, 'etc/nginx/sites-enabled/shop', 'server { listen 443 ssl; server_name shop.example; }\n');
    appendFileSync(path.join(m, 'var/log/syslog'), text(12, 800));
    put(m, 'home/azureuser/notes.md', '# deploy notes\n- v1.4 rolled out\n- v1.5 rolled out, nginx tuned\n');
  });
  // Day 3: an upload directory with new files; the old default site is deleted.
  day((m) => {
    for (const i of [1, 2, 3]) put(m, `var/www/uploads/report-${i}.csv`, text(100 + i, 300 * i));
    rmSync(path.join(m, 'etc/nginx/sites-enabled/default'));
  });
  // Day 4: the access log grows again, the notes are renamed.
  day((m) => {
    appendFileSync(path.join(m, 'var/log/nginx/access.log'), text(13, 2000));
    renameSync(path.join(m, 'home/azureuser/notes.md'), path.join(m, 'home/azureuser/deploy-notes.md'));
  });
  return { name: 'ext4-linux', disk: 'linux-web-01', osType: 'Linux', sizeBytes: 64 * 1024 * 1024, days };
}

/** Mounts `image` (a loop mount, or ntfs-3g for NTFS), runs `edit` on the mount point, always unmounts. */
function mounted(image, kind, work, edit, offset = 0) {
  const at = path.join(work, `mnt-${kind}`);
  mkdirSync(at, { recursive: true });
  if (kind === 'ntfs') run('ntfs-3g', [image, at]);
  else run('mount', ['-o', `loop,noatime${offset ? `,offset=${offset}` : ''}`, image, at]);
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

/** Runs of 512-byte pages where `next` differs from `prev` (or, without `prev`, where `next` is not zero). */
function changedRuns(next, prev) {
  const runs = [];
  const zero = Buffer.alloc(512);
  for (let o = 0; o < next.length; o += 512) {
    const page = next.subarray(o, o + 512);
    if (prev ? page.equals(prev.subarray(o, o + 512)) : page.equals(zero)) continue;
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === o) last[1] += 512;
    else runs.push([o, 512]);
  }
  return runs;
}

function main() {
  ensureDebianPackages(['e2fsprogs', 'fdisk', 'xfsprogs', 'ntfs-3g']);
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error('the fixtures are edited through loop and FUSE mounts, which need root: sudo node scripts/make-fs-fixtures.mjs');
  }
  const work = mkdtempSync(path.join(tmpdir(), 'dd-fixtures-'));
  try {
    for (const fixture of [ext4Linux, xfsData, ntfsWindows].map((b) => b(work))) {
      const dir = path.join(out, fixture.name);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const files = fixture.days.map((bytes, i) => {
        const file = `day${i}.pages.gz`;
        const runs = changedRuns(bytes, i === 0 ? undefined : fixture.days[i - 1]);
        writeFileSync(path.join(dir, file), gzipSync(Buffer.concat(runs.map(([o, l]) => bytes.subarray(o, o + l))), { level: 9 }));
        return { file, runs, sha256: createHash('sha256').update(bytes).digest('hex') };
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
