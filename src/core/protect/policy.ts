/**
 * Protection policy files (`disk-delta.policy.yaml`, YAML or JSON): loading with line numbers, validation
 * against the JSON Schema shipped in `schemas/`, and the typed policies the planner works from.
 *
 * The schema is the one source of truth: the validator below interprets it (the keywords it uses are
 * checked against the ones this file understands by test/unit/protectPolicy.test.ts), and VS Code reads
 * the same file for completion and validation in the editor.
 */
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';
import schemaJson from '../../../schemas/disk-delta.policy.schema.json';
import { readFile } from 'node:fs/promises';
import { DiskDeltaError } from '../errors';

export const POLICY_SCHEMA: SchemaNode = schemaJson as unknown as SchemaNode;

/** The JSON Schema keywords this validator understands (and the annotations it ignores). */
export const SUPPORTED_KEYWORDS = new Set([
  '$schema',
  '$id',
  '$ref',
  'title',
  'description',
  'definitions',
  'type',
  'properties',
  'additionalProperties',
  'required',
  'minProperties',
  'items',
  'minItems',
  'enum',
  'pattern',
  'minimum',
  'maximum',
  'patternErrorMessage',
  'x-describe',
  'x-minimumDuration',
]);

export interface SchemaNode {
  readonly $ref?: string;
  readonly type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  readonly properties?: Record<string, SchemaNode>;
  readonly additionalProperties?: boolean | SchemaNode;
  readonly required?: readonly string[];
  readonly minProperties?: number;
  readonly items?: SchemaNode;
  readonly minItems?: number;
  readonly enum?: readonly unknown[];
  readonly pattern?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly patternErrorMessage?: string;
  /** What a valid value is, after "is not" (the CLI's message; `patternErrorMessage` is VS Code's). */
  readonly 'x-describe'?: string;
  /** A duration string must be at least this long. */
  readonly 'x-minimumDuration'?: string;
  readonly definitions?: Record<string, SchemaNode>;
}

export type PathSegment = string | number;

export interface PolicyProblem {
  readonly path: readonly PathSegment[];
  readonly message: string;
  /** Point at the key itself (an unknown key) rather than its value. */
  readonly atKey?: boolean;
}

/** `policies[0].target.import` */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const s of path) out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`;
  return out === '' ? '(document)' : out;
}

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
const UNIT_WORD = { s: 'second', m: 'minute', h: 'hour', d: 'day' } as const;

/** `4h` -> 14400. Undefined when it is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^([1-9][0-9]{0,8})([smhd])$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
}

function durationWords(text: string): string {
  const m = /^([0-9]+)([smhd])$/.exec(text)!;
  return `${m[1]}-${UNIT_WORD[m[2] as keyof typeof UNIT_WORD]}`;
}

function resolveRef(node: SchemaNode, root: SchemaNode): SchemaNode {
  if (!node.$ref) return node;
  const name = /^#\/definitions\/(.+)$/.exec(node.$ref)?.[1];
  const target = name ? root.definitions?.[name] : undefined;
  if (!target) throw new Error(`The policy schema has an unknown reference ${node.$ref}.`);
  // Keywords beside $ref (a description, a stricter minimum) add to the referenced schema.
  const { $ref: _ref, ...rest } = node;
  return { ...resolveRef(target, root), ...rest };
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  return `a ${typeof value}`;
}

const TYPE_WORD = { object: 'a mapping', array: 'a list', string: 'a string', integer: 'an integer', number: 'a number', boolean: 'true or false' } as const;

function hasType(value: unknown, type: NonNullable<SchemaNode['type']>): boolean {
  switch (type) {
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
  }
}

/** Every problem of `value` against `schema`, in document order. */
export function validateAgainstSchema(
  value: unknown,
  schema: SchemaNode = POLICY_SCHEMA,
  root: SchemaNode = POLICY_SCHEMA,
  path: PathSegment[] = [],
): PolicyProblem[] {
  const s = resolveRef(schema, root);
  const problems: PolicyProblem[] = [];
  if (s.type && !hasType(value, s.type)) {
    const message =
      value === null || typeof value === 'object' ? `expected ${TYPE_WORD[s.type]}, found ${typeName(value)}` : `${show(value)} is not ${TYPE_WORD[s.type]}`;
    return [{ path, message }];
  }
  if (s.enum && !s.enum.includes(value)) problems.push({ path, message: `${show(value)} is not one of ${s.enum.map(show).join(', ')}` });
  if (typeof value === 'string') {
    if (s.pattern && !new RegExp(s.pattern).test(value)) {
      problems.push({ path, message: `${value === '' ? '""' : value} is not ${s['x-describe'] ?? `of the form ${s.pattern}`}` });
    } else if (s['x-minimumDuration']) {
      const min = parseDuration(s['x-minimumDuration'])!;
      const got = parseDuration(value);
      if (got !== undefined && got < min) problems.push({ path, message: `${value} is under the ${durationWords(s['x-minimumDuration'])} minimum` });
    }
  }
  if (typeof value === 'number') {
    if (s.minimum !== undefined && value < s.minimum) problems.push({ path, message: `${value} is under the minimum of ${s.minimum}` });
    if (s.maximum !== undefined && value > s.maximum) problems.push({ path, message: `${value} is over the maximum of ${s.maximum}` });
  }
  if (Array.isArray(value)) {
    if (s.minItems !== undefined && value.length < s.minItems)
      problems.push({ path, message: `needs at least ${s.minItems} ${s.minItems === 1 ? 'entry' : 'entries'}` });
    if (s.items) value.forEach((item, i) => problems.push(...validateAgainstSchema(item, s.items!, root, [...path, i])));
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj);
    const known = Object.keys(s.properties ?? {});
    for (const required of s.required ?? []) {
      if (!(required in obj)) problems.push({ path, message: `${required} is missing (required)` });
    }
    if (s.minProperties !== undefined && keys.length < s.minProperties) {
      problems.push({
        path,
        message:
          known.length > 0 ? `needs at least one of ${known.join(', ')}` : `needs at least ${s.minProperties} ${s.minProperties === 1 ? 'entry' : 'entries'}`,
      });
    }
    for (const key of keys) {
      const child = s.properties?.[key];
      if (child) problems.push(...validateAgainstSchema(obj[key], child, root, [...path, key]));
      else if (s.additionalProperties === false) {
        problems.push({
          path: [...path, key],
          atKey: true,
          message: `unknown key${known.length ? ` (expected ${known.filter((k) => k !== '$schema').join(', ')})` : ''}`,
        });
      } else if (typeof s.additionalProperties === 'object') {
        problems.push(...validateAgainstSchema(obj[key], s.additionalProperties, root, [...path, key]));
      }
    }
  }
  return problems;
}

export type VerifyPolicy = { readonly mode: 'changed' | 'full' | 'none' } | { readonly mode: 'sample'; readonly percent: number };

export interface ProtectionPolicy {
  readonly name: string;
  readonly disks: {
    readonly subscription?: string;
    readonly ids?: readonly string[];
    readonly resourceGroups?: readonly string[];
    readonly tags?: Readonly<Record<string, string>>;
  };
  readonly target: {
    readonly storageAccount: string;
    readonly container: string;
    /** True when the file named no container: the default one is created when missing. */
    readonly defaultContainer: boolean;
    readonly import: 'snapshot' | 'disk' | 'none';
    readonly resourceGroup?: string;
  };
  readonly rpoSeconds: number;
  readonly retention: {
    readonly sourceKeep?: number;
    readonly targetKeep?: number;
    readonly targetMaxAgeSeconds?: number;
  };
  readonly verify: VerifyPolicy;
}

export interface PolicyFile {
  readonly file: string;
  readonly policies: readonly ProtectionPolicy[];
}

export const DEFAULT_POLICY_CONTAINER = 'disk-delta';

/** A policy file that cannot be used: every problem as `<file>:<line>: <key path>: <what is wrong>`. */
export class PolicyError extends DiskDeltaError {
  constructor(readonly lines: readonly string[]) {
    super(lines.join('\n'), 'InvalidPolicy', 'Fix the policy file; nothing was changed.');
    this.name = 'PolicyError';
  }
}

/** The node at a path in the parsed document, and for `atKey` the key's node. */
function nodeAt(doc: ReturnType<typeof parseDocument>, path: readonly PathSegment[], atKey: boolean): YamlNode | undefined {
  let node: unknown = doc.contents;
  let last: YamlNode | undefined = node as YamlNode | undefined;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === seg);
      if (!pair) return last;
      if (atKey && i === path.length - 1) return pair.key as YamlNode;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
    } else {
      return last;
    }
    if (node && (node as YamlNode).range) last = node as YamlNode;
  }
  return last;
}

/**
 * Parses and validates a policy file's text. `file` is the name used in messages (as the user gave it).
 * Throws PolicyError listing every problem, in line order.
 */
export function parsePolicyText(file: string, text: string): PolicyFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, keepSourceTokens: true });
  const lineOf = (offset: number | undefined): number => (offset === undefined ? 1 : lineCounter.linePos(offset).line);
  if (doc.errors.length > 0) {
    throw new PolicyError(doc.errors.map((e) => `${file}:${lineOf(e.pos[0])}: (document): not valid YAML or JSON: ${e.message.split('\n')[0]}`));
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  const problems = validateAgainstSchema(value ?? null);
  if (problems.length === 0) problems.push(...semanticProblems(value as RawPolicyFile));
  if (problems.length > 0) {
    const located = problems.map((p) => ({ line: lineOf(nodeAt(doc, p.path, p.atKey === true)?.range?.[0]), text: `${formatPath(p.path)}: ${p.message}` }));
    located.sort((a, b) => a.line - b.line);
    throw new PolicyError(located.map((l) => `${file}:${l.line}: ${l.text}`));
  }
  return { file, policies: (value as RawPolicyFile).policies.map(toPolicy) };
}

interface RawPolicy {
  name: string;
  disks: { subscription?: string; ids?: string[]; resourceGroups?: string[]; tags?: Record<string, string> };
  target: { storageAccount: string; container?: string; import?: 'snapshot' | 'disk' | 'none'; resourceGroup?: string };
  rpo: string;
  retention?: { source?: { keep: number }; target?: { keep?: number; maxAge?: string } };
  verify?: string;
}

interface RawPolicyFile {
  policies: RawPolicy[];
}

/** What the schema cannot say: names unique within the file. */
function semanticProblems(raw: RawPolicyFile): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const seen = new Map<string, number>();
  raw.policies.forEach((p, i) => {
    const first = seen.get(p.name.toLowerCase());
    if (first !== undefined) problems.push({ path: ['policies', i, 'name'], message: `${p.name} is already the name of policies[${first}]` });
    else seen.set(p.name.toLowerCase(), i);
  });
  return problems;
}

function toPolicy(raw: RawPolicy): ProtectionPolicy {
  const verify = raw.verify ?? 'changed';
  const sample = /^sample:(\d+)%$/.exec(verify);
  return {
    name: raw.name,
    disks: { ...raw.disks },
    target: {
      storageAccount: raw.target.storageAccount,
      container: raw.target.container ?? DEFAULT_POLICY_CONTAINER,
      defaultContainer: raw.target.container === undefined,
      import: raw.target.import ?? 'none',
      ...(raw.target.resourceGroup ? { resourceGroup: raw.target.resourceGroup } : {}),
    },
    rpoSeconds: parseDuration(raw.rpo)!,
    retention: {
      ...(raw.retention?.source ? { sourceKeep: raw.retention.source.keep } : {}),
      ...(raw.retention?.target?.keep !== undefined ? { targetKeep: raw.retention.target.keep } : {}),
      ...(raw.retention?.target?.maxAge ? { targetMaxAgeSeconds: parseDuration(raw.retention.target.maxAge)! } : {}),
    },
    verify: sample ? { mode: 'sample', percent: Number(sample[1]) } : { mode: verify as 'changed' | 'full' | 'none' },
  };
}

/** Reads and validates a policy file; `file` is used in messages as given. */
export async function loadPolicyFile(file: string): Promise<PolicyFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new PolicyError([`${file}:1: (document): ${code === 'ENOENT' ? 'the file does not exist' : `cannot be read (${code ?? String(error)})`}`]);
  }
  return parsePolicyText(file, text);
}
