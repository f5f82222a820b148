/**
 * The CLI's one output layer. A command hands its result (a plain JSON-shaped value) to `CliOutput.result`,
 * which applies `--query` (JMESPath) and prints it in the `-o/--output` format the user chose, the way
 * `az` does (microsoft/knack `knack/output.py`, `knack/query.py`): json, jsonc (colour on a terminal),
 * table, tsv, yaml or none. Without `-o` (or `--query`) a command prints its own text for people.
 */
import jmespath from 'jmespath';
import { stringify as toYaml } from 'yaml';
import { DiskDeltaError, isAbortError } from '../core/errors';
import { redact } from '../core/secret';

export const OUTPUT_FORMATS = ['json', 'jsonc', 'table', 'tsv', 'yaml', 'none'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** A JSON value as JSON.parse gives it back. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface OutputSettings {
  /** `-o/--output` (or `--json`); undefined: the command's own text, or JSON when a query is given. */
  readonly format?: OutputFormat;
  /** `--query`: a JMESPath expression applied to the result before it is formatted. */
  readonly query?: string;
  /** Colour for jsonc: on when stdout is a terminal and NO_COLOR is not set. */
  readonly color?: boolean;
}

export interface ResultOptions<T> {
  /** The text for people, printed when neither `-o` nor `--query` was given. Without it: indented JSON. */
  readonly text?: (value: T) => string;
  /** JSON on one line (the `copy` and `diff` contracts) instead of indented. */
  readonly compact?: boolean;
}

/** Same value, as JSON sees it: undefined fields dropped, dates as strings. All formats start from this. */
export function toJsonValue(value: unknown): JsonValue {
  if (value === undefined) return null;
  return JSON.parse(JSON.stringify(value)) as JsonValue;
}

/** Checks a JMESPath expression; the message says what is wrong with it. */
export function checkQuery(expression: string): string | undefined {
  try {
    // The package compiles an expression without running it; its typings only declare `search`.
    (jmespath as unknown as { compile(expression: string): unknown }).compile(expression);
    return undefined;
  } catch (error) {
    return `"${expression}" is not a JMESPath query: ${(error as Error).message}`;
  }
}

export function applyQuery(value: JsonValue, expression: string): JsonValue {
  try {
    // What the expression selects is JSON-shaped (the typings say `any`); undefined becomes null.
    return (jmespath.search(value, expression) as JsonValue | undefined) ?? null;
  } catch (error) {
    throw new DiskDeltaError(
      `The query "${expression}" failed on the result: ${(error as Error).message}`,
      'InvalidQuery',
      'Check the --query expression against the result of -o json.',
    );
  }
}

function isObject(value: JsonValue): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const ANSI = {
  key: '\u001b[94m',
  string: '\u001b[32m',
  number: '\u001b[36m',
  literal: '\u001b[35m',
  reset: '\u001b[0m',
};

export function formatJson(value: JsonValue, options: { compact?: boolean; color?: boolean } = {}): string {
  const text = JSON.stringify(value, null, options.compact ? undefined : 2);
  return (options.color ? colorJson(text) : text) + '\n';
}

/** Colours JSON text token by token (keys, strings, numbers, true/false/null); the text itself is unchanged. */
export function colorJson(text: string): string {
  return text.replace(
    /("(?:[^"\\]|\\.)*")(\s*:)?|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|\b(true|false|null)\b/g,
    (match, str: string | undefined, colon: string | undefined, num: string | undefined, lit: string | undefined) => {
      if (str !== undefined) return colon !== undefined ? `${ANSI.key}${str}${ANSI.reset}${colon}` : `${ANSI.string}${str}${ANSI.reset}`;
      if (num !== undefined) return `${ANSI.number}${num}${ANSI.reset}`;
      if (lit !== undefined) return `${ANSI.literal}${lit}${ANSI.reset}`;
      return match;
    },
  );
}

export function formatYaml(value: JsonValue): string {
  return toYaml(value, { lineWidth: 0 });
}

/** How a scalar reads in a table or a TSV field: strings as they are, null as nothing. */
function cell(value: JsonValue): string {
  if (value === null) return '';
  if (typeof value === 'string') return value;
  return String(value);
}

/**
 * az's table (knack `_TableOutput`): one row per item of a list (a single object is one row); the columns
 * are each item's scalar fields with the first letter capitalised; nested objects, lists and nulls are
 * dropped, and so are `id`, `type` and `etag` unless a query picked them. A list of scalars is one
 * column `Result`; a list of lists, `Column1..n`. Columns keep the result's field order.
 */
export function formatTableOutput(value: JsonValue, options: { queried?: boolean } = {}): string {
  const items = Array.isArray(value) ? value : [value];
  const skip = options.queried ? new Set<string>() : new Set(['id', 'type', 'etag']);
  const rows = items.map((item) => {
    const row = new Map<string, string>();
    if (isObject(item)) {
      for (const [k, v] of Object.entries(item)) {
        if (skip.has(k) || v === null || typeof v === 'object') continue;
        row.set(k ? k[0]!.toUpperCase() + k.slice(1) : k, cell(v));
      }
    } else if (Array.isArray(item)) {
      item.forEach((v, i) => row.set(`Column${i + 1}`, isObject(v) || Array.isArray(v) ? '' : cell(v)));
    } else {
      row.set('Result', cell(item));
    }
    return row;
  });
  const headers: string[] = [];
  for (const row of rows) for (const k of row.keys()) if (!headers.includes(k)) headers.push(k);
  if (items.length === 0) return '';
  if (headers.length === 0) {
    throw new DiskDeltaError(
      'The result has no fields a table can show.',
      'TableUnavailable',
      'Pick fields with --query (for example --query "[].{name:name}"), or use -o json.',
    );
  }
  return (
    formatTable(
      headers,
      rows.map((row) => headers.map((h) => row.get(h) ?? '')),
    ) + '\n'
  );
}

/**
 * az's tsv (knack `_TsvOutput`): one line per item of a list (a single value is one line), no header.
 * An object's fields are in key order, or in the query's order when `--query` built the object; a nested
 * list is written as its length, a nested object as an empty field, null as an empty field.
 */
export function formatTsv(value: JsonValue, options: { queried?: boolean } = {}): string {
  const items = Array.isArray(value) ? value : [value];
  const field = (v: JsonValue): string => (Array.isArray(v) ? String(v.length) : isObject(v) ? '' : cell(v).replace(/[\t\n\r]/g, ' '));
  let out = '';
  for (const item of items) {
    if (isObject(item)) {
      const keys = Object.keys(item);
      if (!options.queried) keys.sort();
      out += keys.map((k) => field(item[k]!)).join('\t');
    } else if (Array.isArray(item)) {
      out += item.map(field).join('\t');
    } else {
      out += field(item);
    }
    out += '\n';
  }
  return out;
}

/** The format's text for a (queried) result; `none` is the empty string. */
export function renderOutput(value: JsonValue, format: OutputFormat, options: { compact?: boolean; color?: boolean; queried?: boolean } = {}): string {
  switch (format) {
    case 'json':
      return formatJson(value, { compact: options.compact });
    case 'jsonc':
      return formatJson(value, { compact: options.compact, color: options.color });
    case 'table':
      return formatTableOutput(value, options);
    case 'tsv':
      return formatTsv(value, options);
    case 'yaml':
      return formatYaml(value);
    case 'none':
      return '';
  }
}

/** The output a command invocation prints to: stdout, in the format and query the user asked for. */
export class CliOutput {
  constructor(
    readonly settings: OutputSettings,
    private readonly stdout: NodeJS.WritableStream = process.stdout,
  ) {}

  /** The format results are printed in; `text` means the command's own text for people. */
  get format(): OutputFormat | 'text' {
    return this.settings.format ?? (this.settings.query !== undefined ? 'json' : 'text');
  }

  /** A structured result was asked for (`-o`, `--json` or `--query`): text for people is not printed. */
  get structured(): boolean {
    return this.format !== 'text';
  }

  /** True when a command may stream its JSON itself: plain `-o json`, no query to apply to the whole. */
  get streamsJson(): boolean {
    return this.format === 'json' && this.settings.query === undefined;
  }

  /** Prints a command's result. */
  result<T>(value: T, options: ResultOptions<T> = {}): void {
    const format = this.format;
    if (format === 'text') {
      const text = options.text ? options.text(value) : formatJson(toJsonValue(value));
      this.write(text);
      return;
    }
    let data = toJsonValue(value);
    const queried = this.settings.query !== undefined;
    if (queried) data = applyQuery(data, this.settings.query!);
    this.write(renderOutput(data, format, { compact: options.compact, color: this.settings.color, queried }));
  }

  write(text: string): void {
    if (!text) return;
    this.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }
}

let current: CliOutput | undefined;

/** Set once per invocation, from the global options, before the command runs. */
export function setCurrentOutput(output: CliOutput): void {
  current = output;
}

/** The invocation's output (JSON, no query, until the options are read). */
export function currentOutput(): CliOutput {
  return current ?? new CliOutput({ format: 'json' });
}

/** Prints a result in the invocation's format (JSON unless `-o` said otherwise). */
export function printJson(value: unknown): void {
  const output = currentOutput();
  if (output.structured) output.result(value);
  else output.write(formatJson(toJsonValue(value)));
}

/** A plain, aligned text table for people (the `simple` layout az's table output uses). */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (c ?? '').padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** One clear line (plus a hint) for any failure; never a stack trace, never a secret. */
export function describeError(error: unknown): string {
  if (error instanceof DiskDeltaError) {
    const status = error.statusCode ? ` (HTTP ${error.statusCode})` : '';
    return redact(`error ${error.code}${status}: ${error.message}${error.hint ? `\n  ${error.hint}` : ''}`);
  }
  if (isAbortError(error)) return 'cancelled';
  const e = error as { code?: string; message?: string };
  return redact(`error${e.code ? ` ${e.code}` : ''}: ${e.message ?? String(error)}`);
}
