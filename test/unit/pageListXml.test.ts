/**
 * The streaming Get Page Ranges body parser (src/core/pageListXml.ts): the shape Azure answers (a BOM, the
 * XML declaration, PageRange and ClearRange interleaved in offset order, a NextMarker; as recorded in
 * azure-sdk-for-js `sdk/storage/storage-blob/recordings/node/pageblobclient/recording_verify_pagedasynciterableiteratorbypage__continuationtoken_for_listpagerangesdiff.json`),
 * any split of the body into chunks, entities, whitespace, and errors that name the position. Its results
 * are compared with the storage SDK's own XML parse (@azure/core-xml `parseXML`, with the storage
 * pipeline's `xmlCharKey`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseXML } from '@azure/core-xml';
import { PageListPage, PageListXmlError, PageListXmlIncomplete, PageListXmlParser, parsePageList } from '../../src/core/pageListXml';
import type { DiffRange } from '../../src/core/model';
import { putDecimal } from '../../src/cli/commands/diff';

interface Parsed {
  ranges: DiffRange[];
  nextMarker: string | undefined;
}

function parseChunks(chunks: readonly (Uint8Array | string)[]): Parsed {
  const page = new PageListPage();
  const parser = new PageListXmlParser(page);
  for (const c of chunks) parser.write(c);
  parser.end();
  return { ranges: [...page.diffRanges()], nextMarker: parser.nextMarker };
}

function parseWhole(body: string | Uint8Array): Parsed {
  const { page, nextMarker } = parsePageList(body);
  return { ranges: [...page.diffRanges()], nextMarker };
}

/** What the SDK's deserializer sees: core-xml's object for the body, its Start/End as numbers. */
async function sdkParse(body: string): Promise<Parsed> {
  const obj = (await parseXML(body, { xmlCharKey: '#' })) as Record<string, unknown>;
  const list = (v: unknown): { Start: string; End: string }[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]) as { Start: string; End: string }[];
  const ranges: DiffRange[] = [
    ...list(obj['PageRange']).map((r) => ({ offset: Number(r.Start), length: Number(r.End) - Number(r.Start) + 1, kind: 'changed' as const })),
    ...list(obj['ClearRange']).map((r) => ({ offset: Number(r.Start), length: Number(r.End) - Number(r.Start) + 1, kind: 'cleared' as const })),
  ].sort((a, b) => a.offset - b.offset);
  const marker = obj['NextMarker'];
  return { ranges, nextMarker: typeof marker === 'string' && marker !== '' ? marker : undefined };
}

const recordedShape =
  '\uFEFF<?xml version="1.0" encoding="utf-8"?>\n' +
  '<PageList><PageRange><Start>0</Start><End>511</End></PageRange><ClearRange><Start>512</Start><End>1023</End></ClearRange>' +
  '<NextMarker>2!16!MDAwMDA0ITEwMjQh</NextMarker></PageList>';

void test('the shape Azure answers: BOM, declaration, interleaved kinds, a NextMarker; as the SDK parses it', async () => {
  const bytes = Buffer.from(recordedShape, 'utf8');
  const expected: Parsed = {
    ranges: [
      { offset: 0, length: 512, kind: 'changed' },
      { offset: 512, length: 512, kind: 'cleared' },
    ],
    nextMarker: '2!16!MDAwMDA0ITEwMjQh',
  };
  assert.deepEqual(parseWhole(bytes), expected);
  assert.deepEqual(parseWhole(recordedShape), expected);
  assert.deepEqual(await sdkParse(recordedShape.slice(1)), expected);
  // The last page of a listing: an empty marker, in both spellings.
  assert.equal(parseWhole('<PageList><PageRange><Start>0</Start><End>511</End></PageRange><NextMarker /></PageList>').nextMarker, undefined);
  assert.equal(parseWhole('<PageList><NextMarker></NextMarker></PageList>').nextMarker, undefined);
  assert.deepEqual(parseWhole('<PageList />'), { ranges: [], nextMarker: undefined });
});

void test('entities, CDATA, comments, whitespace and unknown elements', () => {
  const body =
    '<?xml version="1.0"?>\r\n<!-- a comment -->\n<PageList xmlns:x="urn:a>b">\n  <PageRange>\n    <Start> &#49;024 </Start>\n    <End>&#x35;&#x31;1&#57;</End>\n  </PageRange>\n' +
    '  <Extra a="1"><Start>not a number</Start>text</Extra>\n  <ClearRange><Start><![CDATA[8192]]></Start><End>8703</End><Note/></ClearRange>\n' +
    '  <NextMarker>a&amp;b&lt;c&gt;&quot;&apos;&#233;<![CDATA[&x]]></NextMarker>\n</PageList>\n';
  assert.deepEqual(parseWhole(body), {
    ranges: [
      { offset: 1024, length: 4096, kind: 'changed' },
      { offset: 8192, length: 512, kind: 'cleared' },
    ],
    nextMarker: 'a&b<c>"\'\u00e9&x',
  });
});

void test('an answer that groups its kinds is handed on in offset order, as the merged SDK lists were', () => {
  const body =
    '<PageList><PageRange><Start>0</Start><End>511</End></PageRange><PageRange><Start>2048</Start><End>2559</End></PageRange>' +
    '<ClearRange><Start>1024</Start><End>1535</End></ClearRange></PageList>';
  const { page } = parsePageList(body);
  assert.deepEqual(
    [...page.diffRanges()].map((r) => [r.offset, r.kind]),
    [
      [0, 'changed'],
      [1024, 'cleared'],
      [2048, 'changed'],
    ],
  );
  assert.equal(page.lastEnd, 2560);
  page.reset();
  assert.equal(page.count, 0);
  assert.equal(page.lastEnd, undefined);
});

function errorOf(body: string): PageListXmlError {
  try {
    parseWhole(body);
  } catch (error) {
    assert.ok(error instanceof PageListXmlError, `not a PageListXmlError: ${String(error)}`);
    return error;
  }
  assert.fail(`no error for ${body}`);
}

void test('what is not a page list is refused with its position', () => {
  // Each body, what the message says, and where it points: the first character of the token named.
  const cases: [string, RegExp, string][] = [
    ['<PageList><PageRange><Start>0</Start><End>511</End></ClearRange></PageList>', /<\/ClearRange> where <\/PageRange> was expected/, '</ClearRange>'],
    ['<PageList><PageRange><Start>0x10</Start><End>511</End></PageRange></PageList>', /<Start> holds "0x10", not a byte offset/, 'x10'],
    ['<PageList><PageRange><Start>0</Start></PageRange></PageList>', /<PageRange> without <End>/, '<PageRange>'],
    ['<PageList><PageRange><Start>0</Start><Start>0</Start><End>511</End></PageRange></PageList>', /a second <Start>/, '<Start>0</Start><End>'],
    ['<PageList>hello<PageRange/></PageList>', /text "hello" where only elements belong/, 'hello'],
    ['<List></List>', /<List> where <PageList> was expected/, '<List>'],
    ['<PageList><PageRange><Start>1<b/></Start></PageRange></PageList>', /<b> inside <Start>, which holds only text/, '<b/>'],
    ['<PageList><NextMarker>&nbsp;</NextMarker></PageList>', /unknown entity "&nbsp;"/, '<NextMarker>'],
    ['<PageList><PageRange><Start>99999999999999999</Start><End>0</End></PageRange></PageList>', /beyond the exact integers/, '<Start>'],
    ['<PageList></PageList><PageList>', /after the end of <PageList>/, '<PageList>'],
    ['<!DOCTYPE x><PageList/>', /declaration/, '<!DOCTYPE'],
  ];
  for (const [body, message, token] of cases) {
    const position = token === '<PageList>' ? body.lastIndexOf(token) : body.indexOf(token);
    const e = errorOf(body);
    assert.match(e.message, message, body);
    assert.equal(e.position, position, `${body}: ${e.message}`);
    assert.match(e.message, new RegExp(`at character ${position}:`));
    assert.equal(e.code, 'MalformedPageList');
  }
});

void test('a body cut short is an incomplete answer, retried as a dropped connection', () => {
  for (const body of ['', '<PageList><PageRange><Start>0</Start><End>511</End></PageRange>', '<PageList><PageRange><Start>0</St', '<?xml version="1.0"?>']) {
    const e = errorOf(body);
    assert.ok(e instanceof PageListXmlIncomplete, body);
    assert.equal(e.position, body.length);
    assert.equal((e.cause as { code?: string }).code, 'ECONNRESET');
  }
});

void test('ranges are checked as Azure page ranges (inclusive ends, 512-byte pages)', () => {
  assert.throws(() => parseWhole('<PageList><PageRange><Start>0</Start><End>512</End></PageRange></PageList>'), { code: 'UnalignedRange' });
  assert.throws(() => parseWhole('<PageList><PageRange><Start>512</Start><End>0</End></PageRange></PageList>'), { code: 'UnalignedRange' });
  assert.throws(() => parseWhole(Buffer.from([0x3c, 0x50, 0xff, 0x3e])), /not UTF-8/);
});

// Bodies built from random ranges, with random whitespace, entities for digits, comments and an optional
// marker with characters outside ASCII (UTF-8 sequences the chunking can split).
const pieceArb = fc.record({
  gapPages: fc.integer({ min: 0, max: 1_000_000 }),
  pages: fc.integer({ min: 1, max: 8192 }),
  cleared: fc.boolean(),
  space: fc.constantFrom('', ' ', '\n  ', '\r\n\t'),
  entity: fc.boolean(),
  comment: fc.boolean(),
});
const bodyArb = fc
  .record({
    pieces: fc.array(pieceArb, { maxLength: 60 }),
    marker: fc.option(fc.string({ unit: 'grapheme', maxLength: 12 }), { nil: undefined }),
    declaration: fc.boolean(),
  })
  .map(({ pieces, marker, declaration }) => {
    let at = 0;
    const ranges: DiffRange[] = [];
    let xml = declaration ? '\uFEFF<?xml version="1.0" encoding="utf-8"?>\n<PageList>' : '<PageList>';
    for (const p of pieces) {
      const offset = (at + p.gapPages) * 512;
      const length = p.pages * 512;
      at += p.gapPages + p.pages;
      ranges.push({ offset, length, kind: p.cleared ? 'cleared' : 'changed' });
      const tag = p.cleared ? 'ClearRange' : 'PageRange';
      const start = p.entity ? String(offset).replace(/^\d/, (d) => `&#${d.charCodeAt(0)};`) : String(offset);
      xml += `${p.space}<${tag}>${p.space}<Start>${start}</Start>${p.comment ? '<!-- c -->' : ''}<End>${p.space}${offset + length - 1}${p.space}</End></${tag}>`;
    }
    const escaped = marker?.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    if (marker !== undefined) xml += `<NextMarker>${escaped}</NextMarker>`;
    xml += '</PageList>';
    // An empty or blank marker means none; core-xml trims text, so compare with a marker that has content.
    const expectedMarker = marker === undefined || marker === '' ? undefined : marker;
    return { xml, expected: { ranges, nextMarker: expectedMarker } as Parsed, entities: pieces.some((p) => p.entity) };
  });

void test('any split of the body into chunks parses the same, and as the SDK parses it', async () => {
  await fc.assert(
    fc.asyncProperty(bodyArb, fc.array(fc.nat(), { maxLength: 40 }), async ({ xml, expected, entities }, cuts) => {
      const bytes = Buffer.from(xml, 'utf8');
      const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
      const chunks: Uint8Array[] = [];
      let from = 0;
      for (const c of [...at, bytes.length]) {
        chunks.push(bytes.subarray(from, c));
        from = c;
      }
      const whole = parseWhole(bytes);
      assert.deepEqual(parseChunks(chunks), whole);
      // One byte at a time: every boundary at once.
      if (bytes.length < 4000) assert.deepEqual(parseChunks([...bytes].map((b) => Uint8Array.of(b))), whole);
      assert.deepEqual(whole, expected);
      // core-xml leaves character references in text as they are (Azure sends none in offsets).
      if (entities) return;
      const sdk = await sdkParse(xml.replace(/^\uFEFF/, ''));
      assert.deepEqual(whole.ranges, sdk.ranges);
      if (expected.nextMarker !== undefined && expected.nextMarker.trim() === expected.nextMarker) assert.equal(whole.nextMarker, sdk.nextMarker);
    }),
    { numRuns: 150 },
  );
});

void test('offsets are written digit by digit exactly as String() writes them', () => {
  fc.assert(
    fc.property(fc.oneof(fc.nat(), fc.maxSafeNat(), fc.constantFrom(0, 9, 10, 99, 100, 2 ** 45, Number.MAX_SAFE_INTEGER)), (n) => {
      const buffer = Buffer.alloc(40, 0x2e);
      const end = putDecimal(buffer, 3, n);
      assert.equal(buffer.toString('latin1', 3, end), String(n));
      assert.equal(buffer[2], 0x2e);
      assert.equal(buffer[end], 0x2e);
    }),
  );
});
