import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { redact, Secret, stripQuery } from '../../src/core/secret';

const SAS = 'https://md-abc.blob.core.windows.net/x/abcd?sv=2018-03-28&sr=b&si=8f2a&sig=Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OTA%3D&se=2026-11-22T03%3A00%3A00Z';

void test('a Secret never prints its value, whatever the route', () => {
  const s = new Secret(SAS);
  assert.equal(s.reveal(), SAS);
  for (const text of [String(s), `${s}`, JSON.stringify({ s }), inspect(s), inspect({ nested: { s } })]) {
    assert.ok(!text.includes('sig='), text);
    assert.ok(!text.includes('Zm9vYmFy'), text);
  }
});

void test('redact removes SAS signatures and parameters but keeps the URL readable', () => {
  const out = redact(`copy failed for ${SAS} (503)`);
  assert.ok(!out.includes('Zm9vYmFy'), out);
  assert.match(out, /sig=REDACTED/);
  assert.match(out, /https:\/\/md-abc\.blob\.core\.windows\.net\/x\/abcd\?/);
  assert.match(out, /\(503\)/);
});

void test('redact removes bearer tokens, JWTs and keys in key=value or JSON form', () => {
  const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyMTIzNDU2In0.c2lnbmF0dXJlc2lnbmF0dXJl';
  const samples = [
    `Authorization: Bearer ${jwt}`,
    `token ${jwt} expired`,
    `{"accountKey":"c2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5"}`,
    `AccountKey=c2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5;EndpointSuffix=core.windows.net`,
    `"accessSAS": "${SAS}"`,
  ];
  for (const sample of samples) {
    const out = redact(sample);
    assert.ok(!out.includes('c2VjcmV0a2V5'), out);
    assert.ok(!out.includes('eyJzdWIiOiJ1c2VyMTIzNDU2In0'), out);
    assert.ok(!out.includes('Zm9vYmFy'), out);
  }
});

void test('stripQuery keeps scheme, host and path only', () => {
  assert.equal(stripQuery(SAS), 'https://md-abc.blob.core.windows.net/x/abcd');
  assert.equal(stripQuery('https://a/b'), 'https://a/b');
});
