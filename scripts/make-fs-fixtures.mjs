// Builds the emulator's demo disks that hold real filesystems, with Debian's own tools, as gzip fixtures
// under emulator/fixtures/: one directory per disk with a manifest and the image of each day.
//   node scripts/make-fs-fixtures.mjs            (installs e2fsprogs and fdisk when root, else names the command)
// Each day edits the previous day's image in place with debugfs -w (files appended, edited, created and
// deleted), so consecutive images differ only where a real filesystem would have written.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

function main() {
  ensureDebianPackages(['e2fsprogs', 'fdisk']);
  const work = mkdtempSync(path.join(tmpdir(), 'dd-fixtures-'));
  try {
    for (const fixture of [ext4Linux(work)]) {
      const dir = path.join(out, fixture.name);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const files = fixture.days.map((bytes, i) => {
        const file = `day${i}.img.gz`;
        writeFileSync(path.join(dir, file), gzipSync(bytes, { level: 9 }));
        return { file, sha256: createHash('sha256').update(bytes).digest('hex') };
      });
      const manifest = { disk: fixture.disk, osType: fixture.osType, imageBytes: fixture.sizeBytes, days: files };
      writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
      console.log(`${fixture.name}: ${files.length} images`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
