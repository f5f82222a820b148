/**
 * An incremental parser for the body of Get Page Ranges (plain and diff):
 * `<PageList><PageRange><Start/><End/></PageRange><ClearRange>...</ClearRange><NextMarker/></PageList>`
 * (docs/azure-behaviour.md#listing-page-ranges-and-diffs). The body is fed in chunks as it arrives, split
 * anywhere (inside a tag, a number, an entity or a UTF-8 sequence), and each range is handed on as two
 * numbers: no document tree, no object per element. A 10,000-range answer is about 700 KB of XML; parsing
 * it into the storage SDK's object model and converting that again cost most of a big diff's memory and
 * time (docs/PERFORMANCE.md).
 *
 * Only this fixed schema is understood; elements it does not know are skipped with their content, as the
 * SDK's own deserializer ignores them. Anything that is not well-formed for this schema is an error naming
 * the character position in the body.
 */
import { DiskDeltaError } from './errors';
import type { DiffRange, PageRange } from './model';
import { assertAligned, PAGE } from './pageRanges';
import { RangeColumns } from './rangeStore';

/** Where the parsed ranges go: Azure's inclusive form, as listed. */
export interface PageListSink {
  range(start: number, endInclusive: number, cleared: boolean): void;
}

/** A tag, or a text run between tags, longer than this is refused (the schema has nothing near it). */
const MAX_TOKEN = 64 * 1024;

const LT = 0x3c;
const GT = 0x3e;
const SLASH = 0x2f;
const QUOT = 0x22;
const APOS = 0x27;

export class PageListXmlError extends DiskDeltaError {
  constructor(
    what: string,
    /** Character position in the body (0-based). */
    readonly position: number,
  ) {
    super(
      `The page-range list from Azure is not valid at character ${position}: ${what}.`,
      'MalformedPageList',
      'Run the command again; if it keeps failing, report the message.',
    );
    this.name = 'PageListXmlError';
  }
}

/**
 * The body ended before the document did: a connection that closed early, not a malformed answer. Carries
 * the network code its cause would have had, so the listing is retried like any dropped connection.
 */
export class PageListXmlIncomplete extends PageListXmlError {
  constructor(what: string, position: number) {
    super(what, position);
    this.name = 'PageListXmlIncomplete';
    Object.defineProperty(this, 'cause', { value: Object.assign(new Error('the response body ended early'), { code: 'ECONNRESET' }), enumerable: false });
  }
}

/** A string that shares no storage with the one it came from (V8 slices of 13+ characters keep their parent). */
function copyOf(text: string): string {
  return text.length < 13 ? text : (text + ' ').slice(0, -1);
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isBlank(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!isSpace(s.charCodeAt(i))) return false;
  return true;
}

const NAMED_ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** XML's five named entities and character references; anything else is an error at `at`. */
function decodeEntities(raw: string, at: number): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;&<]*);?/g, (whole, name: string) => {
    if (!whole.endsWith(';')) throw new PageListXmlError(`an "&" that starts no entity`, at);
    const named = NAMED_ENTITIES[name];
    if (named !== undefined) return named;
    const m = /^#(?:x([0-9a-fA-F]{1,6})|([0-9]{1,7}))$/.exec(name);
    const code = m ? parseInt(m[1] ?? m[2]!, m[1] !== undefined ? 16 : 10) : NaN;
    if (!Number.isFinite(code) || code > 0x10ffff) throw new PageListXmlError(`an unknown entity "${whole.slice(0, 20)}"`, at);
    return String.fromCodePoint(code);
  });
}

/** A non-negative decimal integer, surrounding whitespace allowed, exact (below 2^53). */
function parseOffset(text: string, what: string, at: number): number {
  const t = text.trim();
  if (!/^[0-9]{1,16}$/.test(t)) throw new PageListXmlError(`<${what}> holds "${t.slice(0, 30)}", not a byte offset`, at);
  const n = Number(t);
  if (!Number.isSafeInteger(n)) throw new PageListXmlError(`<${what}> holds ${t}, beyond the exact integers`, at);
  return n;
}

/** Elements of the schema, as numbers on the parser's stack (no object per element). */
const ROOT = 1;
const PAGE_RANGE = 2;
const CLEAR_RANGE = 3;
const START = 4;
const END = 5;
const NEXT_MARKER = 6;
const UNKNOWN = 7;

const NAMES = ['', 'PageList', 'PageRange', 'ClearRange', 'Start', 'End', 'NextMarker'];

/**
 * Feed it with `write()` as the body arrives, then call `end()`. Ranges reach the sink as soon as their
 * `</PageRange>` / `</ClearRange>` has been read. Offsets are read digit by digit from the text; the
 * common path allocates nothing per range.
 */
export class PageListXmlParser {
  readonly #sink: PageListSink;
  readonly #decoder = new TextDecoder('utf-8', { fatal: true });
  /** Unconsumed text: an incomplete tag (or comment, CDATA) carried to the next chunk. */
  #pending = '';
  /** Characters consumed before `#pending` starts. */
  #base = 0;
  /** Open elements; the names of unknown ones (skipped with their content) in `#unknownNames`. */
  readonly #stack: number[] = [];
  readonly #unknownNames: string[] = [];
  #rootSeen = false;
  #rootClosed = false;
  #nextMarker: string | undefined;
  #ended = false;
  // The range being read.
  #rangeStart = -1;
  #rangeEnd = -1;
  #rangeAt = 0;
  // The <Start>/<End>/<NextMarker> being read: digits as they come, or the raw text once an entity or
  // CDATA section appears (then decoded and parsed at the closing tag).
  #leafAt = 0;
  #value = 0;
  #digits = 0;
  /** 0: before the digits, 1: in them, 2: after them (whitespace only from here). */
  #phase = 0;
  #raw: string | undefined;

  constructor(sink: PageListSink) {
    this.#sink = sink;
  }

  /** The `<NextMarker>` text, undefined when absent or empty (the listing is complete). Read after `end()`. */
  get nextMarker(): string | undefined {
    return this.#nextMarker;
  }

  write(chunk: Uint8Array | string): void {
    if (this.#ended) throw new Error('PageListXmlParser: write() after end()');
    let text: string;
    if (typeof chunk === 'string') text = chunk;
    else {
      try {
        text = this.#decoder.decode(chunk, { stream: true });
      } catch {
        throw new PageListXmlError('bytes that are not UTF-8', this.#base + this.#pending.length);
      }
    }
    // A byte-order mark opens Azure's answers; the decoder drops it from bytes, and a string may still hold it.
    if (this.#base === 0 && !this.#pending && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (!text) return;
    this.#pending = this.#pending ? this.#pending + text : text;
    this.#consume();
  }

  /** The body is complete: throws when the document is not. */
  end(): void {
    if (this.#ended) return;
    let rest: string;
    try {
      rest = this.#decoder.decode();
    } catch {
      throw new PageListXmlError('bytes that are not UTF-8 at the end', this.#base + this.#pending.length);
    }
    if (rest) {
      this.#pending += rest;
      this.#consume();
    }
    this.#ended = true;
    const at = this.#base + this.#pending.length;
    if (this.#pending && !isBlank(this.#pending)) throw new PageListXmlIncomplete('the body ends inside a tag', at);
    if (!this.#rootSeen) throw new PageListXmlIncomplete('the body ends before <PageList>', at);
    if (!this.#rootClosed) throw new PageListXmlIncomplete(`the body ends inside <${this.#nameOf(this.#stack.length - 1)}>`, at);
  }

  #nameOf(depth: number): string {
    const code = this.#stack[depth]!;
    return code === UNKNOWN ? this.#unknownNames[depth]! : NAMES[code]!;
  }

  #consume(): void {
    const s = this.#pending;
    const n = s.length;
    let i = 0;
    while (i < n) {
      if (s.charCodeAt(i) !== LT) {
        let stop = s.indexOf('<', i);
        if (stop < 0) stop = n;
        this.#text(s, i, stop);
        i = stop;
        continue;
      }
      const next = this.#markup(s, i);
      if (next < 0) break;
      i = next;
    }
    this.#base += i;
    // The carried tail is copied: a slice would keep the whole chunk's text alive until the next chunk
    // arrives, long enough to be promoted to the old generation with every answer.
    this.#pending = i === n ? '' : copyOf(s.slice(i));
    if (this.#pending.length > MAX_TOKEN) throw new PageListXmlError('a tag that does not end', this.#base);
  }

  /** Handles the markup at `i`; returns where it ends, or -1 when it continues in the next chunk. */
  #markup(s: string, i: number): number {
    const at = this.#base + i;
    const second = s.charCodeAt(i + 1);
    if (second === 0x21 /* ! */) {
      if (s.startsWith('<!--', i)) {
        const close = s.indexOf('-->', i + 4);
        return close < 0 ? -1 : close + 3;
      }
      if (s.startsWith('<![CDATA[', i)) {
        const close = s.indexOf(']]>', i + 9);
        if (close < 0) return -1;
        this.#cdata(s.slice(i + 9, close), at);
        return close + 3;
      }
      // Could still be the start of "<!--" or "<![CDATA[" split across chunks.
      if (s.length - i < 9 && ('<![CDATA['.startsWith(s.slice(i)) || '<!--'.startsWith(s.slice(i)))) return -1;
      throw new PageListXmlError('a declaration (<!...>) this list never holds', at);
    }
    if (second === 0x3f /* ? */) {
      // The XML declaration, or any processing instruction: none carries meaning here.
      const close = s.indexOf('?>', i + 2);
      return close < 0 ? -1 : close + 2;
    }
    if (Number.isNaN(second)) return -1;
    // The end of the tag: the first '>' outside quoted attribute values.
    let quote = 0;
    let j = i + 1;
    for (; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (quote) {
        if (c === quote) quote = 0;
      } else if (c === GT) break;
      else if (c === QUOT || c === APOS) quote = c;
      else if (c === LT) throw new PageListXmlError('a "<" inside a tag', this.#base + j);
    }
    if (j >= s.length) return -1;
    const closing = second === SLASH;
    const selfClosing = !closing && s.charCodeAt(j - 1) === SLASH;
    const from = closing ? i + 2 : i + 1;
    let nameEnd = from;
    while (nameEnd < j) {
      const c = s.charCodeAt(nameEnd);
      if (isSpace(c) || c === SLASH) break;
      nameEnd++;
    }
    if (nameEnd === from) throw new PageListXmlError('a tag without a name', at);
    if (closing) {
      for (let k = nameEnd; k < j; k++) {
        if (!isSpace(s.charCodeAt(k))) throw new PageListXmlError(`a closing tag </${s.slice(from, nameEnd)}> with more than its name`, at);
      }
      this.#close(s, from, nameEnd, at);
    } else {
      this.#open(s, from, nameEnd, at);
      if (selfClosing) this.#close(s, from, nameEnd, at);
    }
    return j + 1;
  }

  /** The schema's element named by `s[from, to)`, or UNKNOWN. */
  static #code(s: string, from: number, to: number): number {
    switch (to - from) {
      case 3:
        return s.startsWith('End', from) ? END : UNKNOWN;
      case 5:
        return s.startsWith('Start', from) ? START : UNKNOWN;
      case 8:
        return s.startsWith('PageList', from) ? ROOT : UNKNOWN;
      case 9:
        return s.startsWith('PageRange', from) ? PAGE_RANGE : UNKNOWN;
      case 10:
        return s.startsWith('ClearRange', from) ? CLEAR_RANGE : s.startsWith('NextMarker', from) ? NEXT_MARKER : UNKNOWN;
      default:
        return UNKNOWN;
    }
  }

  #push(code: number, s: string, from: number, to: number): void {
    const depth = this.#stack.length;
    this.#stack.push(code);
    if (code === UNKNOWN) this.#unknownNames[depth] = s.slice(from, to);
  }

  #open(s: string, from: number, to: number, at: number): void {
    const code = PageListXmlParser.#code(s, from, to);
    const depth = this.#stack.length;
    if (depth === 0) {
      if (this.#rootClosed) throw new PageListXmlError(`<${s.slice(from, to)}> after the end of <PageList>`, at);
      if (code !== ROOT) throw new PageListXmlError(`<${s.slice(from, to)}> where <PageList> was expected`, at);
      this.#rootSeen = true;
      this.#stack.push(ROOT);
      return;
    }
    const parent = this.#stack[depth - 1]!;
    if (parent === ROOT && (code === PAGE_RANGE || code === CLEAR_RANGE)) {
      this.#rangeStart = -1;
      this.#rangeEnd = -1;
      this.#rangeAt = at;
      this.#stack.push(code);
    } else if ((parent === ROOT && code === NEXT_MARKER) || ((parent === PAGE_RANGE || parent === CLEAR_RANGE) && (code === START || code === END))) {
      this.#leafAt = at;
      this.#value = 0;
      this.#digits = 0;
      this.#phase = 0;
      this.#raw = code === NEXT_MARKER ? '' : undefined;
      this.#stack.push(code);
    } else if (parent === START || parent === END || parent === NEXT_MARKER) {
      throw new PageListXmlError(`<${s.slice(from, to)}> inside <${NAMES[parent]}>, which holds only text`, at);
    } else {
      // Elements this schema does not have (or has elsewhere) are skipped with their content.
      this.#push(UNKNOWN, s, from, to);
    }
  }

  #close(s: string, from: number, to: number, at: number): void {
    const depth = this.#stack.length - 1;
    if (depth < 0) throw new PageListXmlError(`</${s.slice(from, to)}> with no element open`, at);
    const code = this.#stack[depth]!;
    const expected = code === UNKNOWN ? this.#unknownNames[depth]! : NAMES[code]!;
    if (to - from !== expected.length || !s.startsWith(expected, from)) {
      throw new PageListXmlError(`</${s.slice(from, to)}> where </${expected}> was expected`, at);
    }
    this.#stack.pop();
    switch (code) {
      case ROOT:
        this.#rootClosed = true;
        return;
      case START:
      case END: {
        const value = this.#offsetValue(NAMES[code]!);
        if (code === START) {
          if (this.#rangeStart >= 0) throw new PageListXmlError('a second <Start> in one range', this.#leafAt);
          this.#rangeStart = value;
        } else {
          if (this.#rangeEnd >= 0) throw new PageListXmlError('a second <End> in one range', this.#leafAt);
          this.#rangeEnd = value;
        }
        return;
      }
      case NEXT_MARKER: {
        const text = decodeEntities(this.#raw ?? '', this.#leafAt);
        this.#raw = undefined;
        this.#nextMarker = text === '' ? undefined : text;
        return;
      }
      case PAGE_RANGE:
      case CLEAR_RANGE:
        if (this.#rangeStart < 0 || this.#rangeEnd < 0) {
          throw new PageListXmlError(`<${expected}> without ${this.#rangeStart < 0 ? '<Start>' : '<End>'}`, this.#rangeAt);
        }
        this.#sink.range(this.#rangeStart, this.#rangeEnd, code === CLEAR_RANGE);
        return;
      default:
        return;
    }
  }

  /** The value of the <Start> or <End> just closed. */
  #offsetValue(what: string): number {
    if (this.#raw !== undefined) {
      const text = decodeEntities(this.#raw, this.#leafAt);
      this.#raw = undefined;
      return parseOffset(text, what, this.#leafAt);
    }
    if (this.#digits === 0) throw new PageListXmlError(`<${what}> holds no byte offset`, this.#leafAt);
    if (!Number.isSafeInteger(this.#value)) throw new PageListXmlError(`<${what}> holds an offset beyond the exact integers`, this.#leafAt);
    return this.#value;
  }

  /** Text `s[from, to)`, at character `this.#base + from`. */
  #text(s: string, from: number, to: number): void {
    const top = this.#stack.length === 0 ? 0 : this.#stack[this.#stack.length - 1]!;
    if (top === START || top === END) {
      if (this.#raw !== undefined) return this.#appendRaw(s.slice(from, to));
      for (let k = from; k < to; k++) {
        const c = s.charCodeAt(k);
        if (c >= 0x30 && c <= 0x39 && this.#phase !== 2) {
          this.#phase = 1;
          if (++this.#digits > 16) throw new PageListXmlError(`<${NAMES[top]}> holds an offset beyond the exact integers`, this.#leafAt);
          this.#value = this.#value * 10 + (c - 0x30);
        } else if (isSpace(c)) {
          if (this.#phase === 1) this.#phase = 2;
        } else if (c === 0x26 /* & */) {
          // An entity: keep the raw text from here on, decoded at the closing tag.
          this.#raw = (this.#digits ? String(this.#value) : '') + (this.#phase === 2 ? ' ' : '');
          return this.#appendRaw(s.slice(k, to));
        } else {
          throw new PageListXmlError(`<${NAMES[top]}> holds "${s.slice(from, Math.min(to, from + 30)).trim()}", not a byte offset`, this.#base + k);
        }
      }
      return;
    }
    if (top === NEXT_MARKER) return this.#appendRaw(s.slice(from, to));
    if (top === UNKNOWN) return;
    for (let k = from; k < to; k++) {
      if (!isSpace(s.charCodeAt(k))) throw new PageListXmlError(`text "${s.slice(k, Math.min(to, k + 30)).trim()}" where only elements belong`, this.#base + k);
    }
  }

  #appendRaw(text: string): void {
    if ((this.#raw?.length ?? 0) + text.length > MAX_TOKEN)
      throw new PageListXmlError(`<${this.#nameOf(this.#stack.length - 1)}> longer than ${MAX_TOKEN} characters`, this.#leafAt);
    this.#raw = (this.#raw ?? '') + text;
  }

  #cdata(raw: string, at: number): void {
    const top = this.#stack.length === 0 ? 0 : this.#stack[this.#stack.length - 1]!;
    if (top === START || top === END || top === NEXT_MARKER) {
      if (this.#raw === undefined) this.#raw = (this.#digits ? String(this.#value) : '') + (this.#phase === 2 ? ' ' : '');
      // Escaped so that the entity decoding at the closing tag gives the CDATA content back literally.
      this.#appendRaw(raw.replace(/&/g, '&amp;').replace(/</g, '&lt;'));
    } else if (top !== UNKNOWN && !isBlank(raw)) {
      throw new PageListXmlError('character data where only elements belong', at);
    }
  }
}

/**
 * The ranges of one answer in exact lengths, held in typed arrays (17 bytes a range), in offset order:
 * what the listing yields once the answer is complete. Ranges are checked for page alignment as
 * `fromInclusive` does (Azure's `<End>` is inclusive: docs/azure-behaviour.md#page-blobs).
 */
export class PageListPage implements PageListSink {
  readonly #c: RangeColumns;
  #sorted = true;

  /** `capacity`: ranges held before the arrays grow (an answer holds at most 10,000). */
  constructor(capacity = 256) {
    this.#c = new RangeColumns(capacity);
  }

  get count(): number {
    return this.#c.count;
  }

  /** Empties the page for the next answer, keeping its arrays. */
  reset(): void {
    this.#c.count = 0;
    this.#sorted = true;
  }

  range(start: number, endInclusive: number, cleared: boolean): void {
    const length = endInclusive - start + 1;
    if (length <= 0 || start % PAGE !== 0 || length % PAGE !== 0) assertAligned({ offset: start, length }, 'Azure page range');
    const c = this.#c;
    if (c.count > 0 && start < c.offsets[c.count - 1]!) this.#sorted = false;
    c.push(start, length, cleared);
  }

  /** Positions in offset order. Azure lists both kinds interleaved in offset order; should an answer ever
   * group them by kind instead, they are put in order here, as the SDK's two lists were merged before. */
  #order(): Iterable<number> {
    const c = this.#c;
    const n = c.count;
    if (this.#sorted)
      return {
        [Symbol.iterator]: function* () {
          for (let i = 0; i < n; i++) yield i;
        },
      };
    return Array.from({ length: n }, (_, i) => i).sort((a, b) => c.offsets[a]! - c.offsets[b]! || c.lengths[a]! - c.lengths[b]!);
  }

  /** The ranges as diff ranges, in offset order. */
  *diffRanges(): Generator<DiffRange, void, undefined> {
    const c = this.#c;
    for (const i of this.#order()) yield { offset: c.offsets[i]!, length: c.lengths[i]!, kind: c.cleared[i] === 1 ? 'cleared' : 'changed' };
  }

  /** The ranges as plain page ranges (a listing that is no diff holds no cleared ranges), in offset order. */
  *pageRanges(): Generator<PageRange, void, undefined> {
    const c = this.#c;
    for (const i of this.#order()) yield { offset: c.offsets[i]!, length: c.lengths[i]! };
  }

  /** One past the last byte of the answer's last range (where a listing cut short goes on from). */
  get lastEnd(): number | undefined {
    const c = this.#c;
    if (c.count === 0) return undefined;
    let end = 0;
    for (let i = 0; i < c.count; i++) end = Math.max(end, c.offsets[i]! + c.lengths[i]!);
    return end;
  }
}

/** One whole body at once (tests, small answers). */
export function parsePageList(body: Uint8Array | string): { page: PageListPage; nextMarker: string | undefined } {
  const page = new PageListPage();
  const parser = new PageListXmlParser(page);
  parser.write(body);
  parser.end();
  return { page, nextMarker: parser.nextMarker };
}
