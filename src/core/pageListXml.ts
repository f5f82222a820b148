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

type Frame =
  | { readonly kind: 'root' }
  | { readonly kind: 'range'; readonly cleared: boolean; start: number | undefined; end: number | undefined; readonly at: number }
  | { readonly kind: 'leaf'; readonly name: 'Start' | 'End' | 'NextMarker'; text: string; readonly at: number }
  | { readonly kind: 'skip'; readonly name: string };

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

/**
 * Feed it with `write()` as the body arrives, then call `end()`. Ranges reach the sink as soon as their
 * `</PageRange>` / `</ClearRange>` has been read.
 */
export class PageListXmlParser {
  readonly #sink: PageListSink;
  readonly #decoder = new TextDecoder('utf-8', { fatal: true });
  /** Unconsumed text: an incomplete tag (or comment, CDATA) carried to the next chunk. */
  #pending = '';
  /** Characters consumed before `#pending` starts. */
  #base = 0;
  readonly #stack: Frame[] = [];
  #rootSeen = false;
  #rootClosed = false;
  #nextMarker: string | undefined;
  #ended = false;

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
    if (!this.#rootClosed) {
      const open = this.#stack[this.#stack.length - 1]!;
      const name = open.kind === 'root' ? 'PageList' : open.kind === 'range' ? (open.cleared ? 'ClearRange' : 'PageRange') : open.name;
      throw new PageListXmlIncomplete(`the body ends inside <${name}>`, at);
    }
  }

  #consume(): void {
    const s = this.#pending;
    const n = s.length;
    let i = 0;
    while (i < n) {
      if (s.charCodeAt(i) !== LT) {
        let stop = s.indexOf('<', i);
        if (stop < 0) stop = n;
        this.#text(s.slice(i, stop), this.#base + i);
        i = stop;
        continue;
      }
      const next = this.#markup(s, i);
      if (next < 0) break;
      i = next;
    }
    this.#base += i;
    this.#pending = i === n ? '' : s.slice(i);
    if (this.#pending.length > MAX_TOKEN) throw new PageListXmlError('a tag that does not end', this.#base);
  }

  /** Handles the markup at `i`; returns where it ends, or -1 when it continues in the next chunk. */
  #markup(s: string, i: number): number {
    const at = this.#base + i;
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
    if (s.startsWith('<?', i)) {
      const close = s.indexOf('?>', i + 2);
      // The XML declaration, or any processing instruction: none carries meaning here.
      return close < 0 ? -1 : close + 2;
    }
    // Could still be the start of "<!--" or "<![CDATA[" split across chunks.
    if (s.length - i < 9 && ('<![CDATA['.startsWith(s.slice(i)) || '<!--'.startsWith(s.slice(i)))) return -1;
    if (s.charCodeAt(i + 1) === 0x21) throw new PageListXmlError('a declaration (<!...>) this list never holds', at);
    // The end of the tag: the first '>' outside quoted attribute values.
    let quote = 0;
    let j = i + 1;
    for (; j < s.length; j++) {
      const c = s.charCodeAt(j);
      if (quote) {
        if (c === quote) quote = 0;
      } else if (c === QUOT || c === APOS) quote = c;
      else if (c === GT) break;
      else if (c === LT) throw new PageListXmlError('a "<" inside a tag', this.#base + j);
    }
    if (j >= s.length) return -1;
    const closing = s.charCodeAt(i + 1) === SLASH;
    const selfClosing = !closing && s.charCodeAt(j - 1) === SLASH;
    const from = closing ? i + 2 : i + 1;
    let nameEnd = from;
    while (nameEnd < j && !isSpace(s.charCodeAt(nameEnd)) && s.charCodeAt(nameEnd) !== SLASH) nameEnd++;
    const name = s.slice(from, nameEnd);
    if (!name) throw new PageListXmlError('a tag without a name', at);
    if (closing) {
      if (!isBlank(s.slice(nameEnd, j))) throw new PageListXmlError(`a closing tag </${name}> with more than its name`, at);
      this.#close(name, at);
    } else {
      this.#open(name, at);
      if (selfClosing) this.#close(name, at);
    }
    return j + 1;
  }

  #open(name: string, at: number): void {
    const top = this.#stack[this.#stack.length - 1];
    if (!top) {
      if (this.#rootClosed) throw new PageListXmlError(`<${name}> after the end of <PageList>`, at);
      if (name !== 'PageList') throw new PageListXmlError(`<${name}> where <PageList> was expected`, at);
      this.#rootSeen = true;
      this.#stack.push({ kind: 'root' });
      return;
    }
    switch (top.kind) {
      case 'root':
        if (name === 'PageRange' || name === 'ClearRange') {
          this.#stack.push({ kind: 'range', cleared: name === 'ClearRange', start: undefined, end: undefined, at });
        } else if (name === 'NextMarker') {
          this.#stack.push({ kind: 'leaf', name, text: '', at });
        } else this.#stack.push({ kind: 'skip', name });
        return;
      case 'range':
        if (name === 'Start' || name === 'End') this.#stack.push({ kind: 'leaf', name, text: '', at });
        else this.#stack.push({ kind: 'skip', name });
        return;
      case 'leaf':
        throw new PageListXmlError(`<${name}> inside <${top.name}>, which holds only text`, at);
      case 'skip':
        this.#stack.push({ kind: 'skip', name });
        return;
    }
  }

  #close(name: string, at: number): void {
    const top = this.#stack.pop();
    const openName = !top ? undefined : top.kind === 'root' ? 'PageList' : top.kind === 'range' ? (top.cleared ? 'ClearRange' : 'PageRange') : top.name;
    if (!top || openName !== name) {
      throw new PageListXmlError(openName ? `</${name}> where </${openName}> was expected` : `</${name}> with no element open`, at);
    }
    if (top.kind === 'root') {
      this.#rootClosed = true;
      return;
    }
    if (top.kind === 'leaf') {
      const text = decodeEntities(top.text, top.at);
      const parent = this.#stack[this.#stack.length - 1]!;
      if (top.name === 'NextMarker') {
        this.#nextMarker = text === '' ? undefined : text;
      } else if (parent.kind === 'range') {
        const value = parseOffset(text, top.name, top.at);
        if (top.name === 'Start') {
          if (parent.start !== undefined) throw new PageListXmlError('a second <Start> in one range', top.at);
          parent.start = value;
        } else {
          if (parent.end !== undefined) throw new PageListXmlError('a second <End> in one range', top.at);
          parent.end = value;
        }
      }
      return;
    }
    if (top.kind === 'range') {
      if (top.start === undefined || top.end === undefined) {
        throw new PageListXmlError(`<${name}> without ${top.start === undefined ? '<Start>' : '<End>'}`, top.at);
      }
      this.#sink.range(top.start, top.end, top.cleared);
    }
  }

  #text(raw: string, at: number): void {
    const top = this.#stack[this.#stack.length - 1];
    if (top?.kind === 'leaf') {
      if (top.text.length + raw.length > MAX_TOKEN) throw new PageListXmlError(`<${top.name}> longer than ${MAX_TOKEN} characters`, at);
      top.text += raw;
    } else if (top?.kind !== 'skip' && !isBlank(raw)) {
      throw new PageListXmlError(`text "${raw.trim().slice(0, 30)}" where only elements belong`, at);
    }
  }

  #cdata(raw: string, at: number): void {
    const top = this.#stack[this.#stack.length - 1];
    if (top?.kind === 'leaf') {
      // Kept apart from entity decoding: CDATA content is literal.
      top.text += raw.replace(/&/g, '&amp;').replace(/</g, '&lt;');
    } else if (top?.kind !== 'skip' && !isBlank(raw)) {
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
  #offsets: Float64Array;
  #lengths: Float64Array;
  #cleared: Uint8Array;
  #count = 0;
  #sorted = true;

  /** `capacity`: ranges held before the arrays grow (an answer holds at most 10,000). */
  constructor(capacity = 256) {
    this.#offsets = new Float64Array(capacity);
    this.#lengths = new Float64Array(capacity);
    this.#cleared = new Uint8Array(capacity);
  }

  get count(): number {
    return this.#count;
  }

  /** Empties the page for the next answer, keeping its arrays. */
  reset(): void {
    this.#count = 0;
    this.#sorted = true;
  }

  range(start: number, endInclusive: number, cleared: boolean): void {
    const length = endInclusive - start + 1;
    if (length <= 0 || start % PAGE !== 0 || length % PAGE !== 0) assertAligned({ offset: start, length }, 'Azure page range');
    const n = this.#count;
    if (n === this.#offsets.length) this.#grow();
    if (n > 0 && start < this.#offsets[n - 1]!) this.#sorted = false;
    this.#offsets[n] = start;
    this.#lengths[n] = length;
    this.#cleared[n] = cleared ? 1 : 0;
    this.#count = n + 1;
  }

  #grow(): void {
    const size = this.#offsets.length * 2;
    const o = new Float64Array(size);
    o.set(this.#offsets);
    const l = new Float64Array(size);
    l.set(this.#lengths);
    const k = new Uint8Array(size);
    k.set(this.#cleared);
    this.#offsets = o;
    this.#lengths = l;
    this.#cleared = k;
  }

  /** Positions in offset order. Azure lists both kinds interleaved in offset order; should an answer ever
   * group them by kind instead, they are put in order here, as the SDK's two lists were merged before. */
  #order(): Iterable<number> {
    const n = this.#count;
    if (this.#sorted) return { [Symbol.iterator]: function* () { for (let i = 0; i < n; i++) yield i; } };
    return Array.from({ length: n }, (_, i) => i).sort((a, b) => this.#offsets[a]! - this.#offsets[b]! || this.#lengths[a]! - this.#lengths[b]!);
  }

  /** The ranges as diff ranges, in offset order. */
  *diffRanges(): Generator<DiffRange, void, undefined> {
    for (const i of this.#order()) yield { offset: this.#offsets[i]!, length: this.#lengths[i]!, kind: this.#cleared[i] === 1 ? 'cleared' : 'changed' };
  }

  /** The ranges as plain page ranges (a listing that is no diff holds no cleared ranges), in offset order. */
  *pageRanges(): Generator<PageRange, void, undefined> {
    for (const i of this.#order()) yield { offset: this.#offsets[i]!, length: this.#lengths[i]! };
  }

  /** One past the last byte of the answer's last range (where a listing cut short goes on from). */
  get lastEnd(): number | undefined {
    if (this.#count === 0) return undefined;
    let end = 0;
    for (let i = 0; i < this.#count; i++) end = Math.max(end, this.#offsets[i]! + this.#lengths[i]!);
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
