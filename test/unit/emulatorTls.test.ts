import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadOrCreateTls } from '../../emulator/tls';

// Random serial numbers once produced a non-minimal DER INTEGER about one start in 256, which
// OpenSSL refuses ("illegal padding"): every certificate must parse and chain to the CA.
void test('the emulator mints certificates that parse and verify, whatever their random serial', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dd-tls-'));
  try {
    for (let i = 0; i < 300; i++) {
      rmSync(dir, { recursive: true, force: true });
      const tls = loadOrCreateTls(dir, '127.0.0.1');
      const ca = new crypto.X509Certificate(tls.caPem);
      const leaf = new crypto.X509Certificate(tls.cert.slice(0, tls.cert.indexOf('-----END CERTIFICATE-----') + 25));
      assert.ok(ca.ca);
      assert.ok(leaf.verify(ca.publicKey), 'the server certificate is signed by the CA');
      assert.ok(leaf.checkIP('127.0.0.1'));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
