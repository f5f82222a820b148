import crypto from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// A tiny DER writer: enough X.509 to mint one CA and one server certificate without a dependency.
function der(tag: number, body: Buffer): Buffer {
  const len = body.length;
  let head: Buffer;
  if (len < 0x80) head = Buffer.from([tag, len]);
  else {
    const bytes: number[] = [];
    for (let n = len; n > 0; n >>= 8) bytes.unshift(n & 0xff);
    head = Buffer.from([tag, 0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([head, body]);
}
const seq = (...parts: Buffer[]): Buffer => der(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]): Buffer => der(0x31, Buffer.concat(parts));
/** A DER INTEGER of an unsigned big-endian value: minimal (no redundant leading zero), never negative. */
const int = (b: Buffer): Buffer => {
  let start = 0;
  while (start < b.length - 1 && b[start] === 0) start++;
  const v = b.subarray(start);
  return der(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
};
const oid = (dotted: string): Buffer => {
  const nums = dotted.split('.').map(Number);
  const out: number[] = [40 * nums[0]! + nums[1]!];
  for (const n of nums.slice(2)) {
    const chunk: number[] = [];
    let v = n;
    do {
      chunk.unshift(v & 0x7f);
      v = Math.floor(v / 128);
    } while (v > 0);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i]! |= 0x80;
    out.push(...chunk);
  }
  return der(0x06, Buffer.from(out));
};
const utf8 = (s: string): Buffer => der(0x0c, Buffer.from(s, 'utf8'));
const bool = (v: boolean): Buffer => der(0x01, Buffer.from([v ? 0xff : 0]));
const octets = (b: Buffer): Buffer => der(0x04, b);
const bits = (b: Buffer): Buffer => der(0x03, Buffer.concat([Buffer.from([0]), b]));
const ctx = (n: number, b: Buffer): Buffer => der(0xa0 + n, b);
function time(d: Date): Buffer {
  const s = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return der(0x18, Buffer.from(s, 'ascii'));
}
const name = (cn: string): Buffer => seq(set(seq(oid('2.5.4.3'), utf8(cn))));
const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

function certificate(opts: {
  subject: string;
  issuer: string;
  publicKey: crypto.KeyObject;
  signingKey: crypto.KeyObject;
  ca: boolean;
  altNames?: { dns: string[]; ips: string[] };
}): string {
  const now = Date.now();
  const exts: Buffer[] = [
    seq(oid('2.5.29.19'), bool(true), octets(opts.ca ? seq(bool(true)) : seq())),
    seq(oid('2.5.29.15'), bool(true), octets(bits(Buffer.from([opts.ca ? 0x06 : 0xa0])))),
  ];
  if (opts.altNames) {
    const names = [
      ...opts.altNames.dns.map((d) => der(0x82, Buffer.from(d, 'ascii'))),
      ...opts.altNames.ips.map((ip) => der(0x87, Buffer.from(ip.split('.').map(Number)))),
    ];
    exts.push(seq(oid('2.5.29.17'), octets(seq(...names))));
    exts.push(seq(oid('2.5.29.37'), octets(seq(oid('1.3.6.1.5.5.7.3.1')))));
  }
  // Serial numbers are positive and at most 20 octets (RFC 5280 4.1.2.2); int() keeps the encoding minimal.
  const serial = crypto.randomBytes(12);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const tbs = seq(
    ctx(0, int(Buffer.from([2]))),
    int(serial),
    ECDSA_SHA256,
    name(opts.issuer),
    seq(time(new Date(now - 86_400_000)), time(new Date(now + 3650 * 86_400_000))),
    name(opts.subject),
    opts.publicKey.export({ format: 'der', type: 'spki' }),
    ctx(3, seq(...exts)),
  );
  const signature = crypto.sign('sha256', tbs, opts.signingKey);
  const cert = seq(tbs, ECDSA_SHA256, bits(signature));
  const b64 = cert.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${b64.trim()}\n-----END CERTIFICATE-----\n`;
}

export interface TlsMaterial {
  readonly caPem: string;
  readonly caCertPath: string;
  readonly cert: string;
  readonly key: string;
}

/**
 * The CA and server certificate the HTTPS endpoint presents. Kept in `dir` so that clients that
 * trusted the CA keep trusting it after a restart.
 */
export function loadOrCreateTls(dir: string, host: string): TlsMaterial {
  mkdirSync(dir, { recursive: true });
  const caCertPath = path.join(dir, 'ca.pem');
  const caKeyPath = path.join(dir, 'ca-key.pem');
  let caPem: string;
  let caKey: crypto.KeyObject;
  if (existsSync(caCertPath) && existsSync(caKeyPath)) {
    caPem = readFileSync(caCertPath, 'utf8');
    caKey = crypto.createPrivateKey(readFileSync(caKeyPath, 'utf8'));
  } else {
    const pair = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    caKey = pair.privateKey;
    caPem = certificate({
      subject: 'Disk Delta Emulator CA',
      issuer: 'Disk Delta Emulator CA',
      publicKey: pair.publicKey,
      signingKey: pair.privateKey,
      ca: true,
    });
    writeFileSync(caKeyPath, caKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    writeFileSync(caCertPath, caPem);
  }
  const server = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ips = ['127.0.0.1'];
  const dns = ['localhost'];
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host) && !ips.includes(host)) ips.push(host);
  else if (!/^\d/.test(host) && !dns.includes(host) && !host.includes(':')) dns.push(host);
  const cert = certificate({
    subject: 'disk-delta-emulator',
    issuer: 'Disk Delta Emulator CA',
    publicKey: server.publicKey,
    signingKey: caKey,
    ca: false,
    altNames: { dns, ips },
  });
  return {
    caPem,
    caCertPath,
    cert: cert + caPem,
    key: server.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
  };
}
