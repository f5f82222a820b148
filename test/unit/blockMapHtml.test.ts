import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { blockMapCsp, blockMapPage, createNonce, unavailablePage } from '../../src/extension/blockMap/html';

const decode = (html: string) => html.replace(/&#(\d+);/g, (_m, c: string) => String.fromCharCode(Number(c)));

void describe('block map page', () => {
  const cspSource = 'https://*.vscode-cdn.net';
  const page = blockMapPage({
    cspSource,
    scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/blockMap.js',
    nonce: 'abc123',
    title: '<disk> "a" → b',
  });

  void it('allows nothing by default and scripts only by nonce', () => {
    assert.equal(
      blockMapCsp(cspSource, 'abc123'),
      `default-src 'none'; script-src 'nonce-abc123'; style-src ${cspSource} 'nonce-abc123'; img-src ${cspSource} data:`,
    );
    const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(page);
    assert.equal(decode(meta?.[1] ?? ''), blockMapCsp(cspSource, 'abc123'));
  });

  void it('loads one nonce-tagged script and has no inline code', () => {
    const scripts = [...page.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
    assert.deepEqual(scripts, ['<script nonce="abc123" src="https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/blockMap.js" defer>']);
    assert.match(page, /<script [^>]*><\/script>/, 'the script element is empty');
    assert.doesNotMatch(page, /\son\w+=/i, 'no inline event handlers');
    assert.doesNotMatch(page, /style="/, 'no inline styles');
  });

  void it('escapes the title', () => {
    assert.match(page, /<title>&#60;disk&#62; &#34;a&#34; → b<\/title>/);
    assert.match(unavailablePage('<x>'), /&#60;x&#62;: the snapshots of this map are not available/);
    assert.match(unavailablePage('t'), /content="default-src 'none'"/);
  });

  void it('makes a fresh nonce every time', () => {
    const a = createNonce();
    assert.match(a, /^[A-Za-z0-9+/]{24}$/);
    assert.notEqual(a, createNonce());
  });
});
