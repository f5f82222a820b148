/** The CLI's output layer: az's formats (microsoft/knack `knack/output.py`), --query, exit codes, option checks. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import { CommanderError, InvalidArgumentError } from 'commander';
import {
  applyQuery,
  checkQuery,
  CliOutput,
  colorJson,
  formatTableOutput,
  formatTsv,
  formatYaml,
  renderOutput,
  toJsonValue,
  type JsonValue,
} from '../../src/cli/output';
import { exitCodeFor } from '../../src/cli/exitCodes';
import { collectTag, copyPace, integerIn, outputSettingsOf, positiveNumber } from '../../src/cli/options';
import { AZURE_TARGET_PACE } from '../../src/core/copy';
import { DiskDeltaError } from '../../src/core/errors';
import { classifyRef, pickByName } from '../../src/core/resolve';

const families: JsonValue = [
  {
    id: 'fam-1',
    sourceName: 'orders-db',
    sourceDiskState: 'present',
    snapshotCount: 2,
    snapshots: [{ name: 'a' }, { name: 'b' }],
    tags: { env: 'prod' },
    note: null,
  },
  { id: 'fam-2', sourceName: 'web-logs', sourceDiskState: 'deleted', snapshotCount: 1, snapshots: [{ name: 'c' }], incremental: true },
];

function capture(): { stream: Writable; text: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => out };
}

void describe('table output', () => {
  void it('makes one row per item from the scalar fields, capitalised, without id, nested values or nulls', () => {
    const lines = formatTableOutput(families).trimEnd().split('\n');
    assert.match(lines[0]!, /^SourceName\s+SourceDiskState\s+SnapshotCount\s+Incremental$/);
    assert.match(lines[1]!, /^-+\s+-+\s+-+\s+-+$/);
    assert.match(lines[2]!, /^orders-db\s+present\s+2$/);
    assert.match(lines[3]!, /^web-logs\s+deleted\s+1\s+true$/);
    assert.equal(lines.length, 4);
    assert.doesNotMatch(lines[0]!, /Id|Snapshots|Tags|Note/);
  });

  void it('aligns columns to the widest cell', () => {
    const lines = formatTableOutput([
      { a: 'x', b: 'y' },
      { a: 'longer', b: 'z' },
    ]).split('\n');
    assert.equal(lines[0]!.indexOf('B'), lines[2]!.indexOf('y'));
    assert.equal(lines[0]!.indexOf('B'), 'longer'.length + 2);
  });

  void it('shows what a query returned, id included; scalars as Result, lists as ColumnN', () => {
    assert.match(formatTableOutput({ id: '/x' }, { queried: true }), /^Id\n--\n\/x\n$/);
    assert.match(formatTableOutput(['a', 'b']), /^Result\n------\na\nb\n$/);
    assert.match(formatTableOutput([['a', 1]]), /^Column1\s+Column2\n/);
  });

  void it('refuses a result with no field to show, saying how to pick one', () => {
    assert.throws(
      () => formatTableOutput([{ nested: { a: 1 } }]),
      (e: unknown) => e instanceof DiskDeltaError && e.code === 'TableUnavailable' && /--query/.test(e.hint ?? ''),
    );
    assert.equal(formatTableOutput([]), '');
  });
});

void describe('tsv output', () => {
  void it('writes one line per item, fields in key order, no header; lists as their length, objects and nulls empty', () => {
    const lines = formatTsv(families).split('\n');
    // keys sorted: id, note, snapshotCount, snapshots, sourceDiskState, sourceName, tags
    assert.equal(lines[0], ['fam-1', '', '2', '2', 'present', 'orders-db', ''].join('\t'));
    assert.equal(lines[1], ['fam-2', 'true', '1', '1', 'deleted', 'web-logs'].join('\t'));
    assert.equal(lines[2], '');
  });

  void it("keeps a query's field order, prints scalars and lists of scalars as they are", () => {
    assert.equal(formatTsv({ z: 1, a: 'x' }, { queried: true }), '1\tx\n');
    assert.equal(formatTsv(['a', 'b']), 'a\nb\n');
    assert.equal(formatTsv('one'), 'one\n');
    assert.equal(formatTsv([['a', 2]]), 'a\t2\n');
    assert.equal(formatTsv({ s: 'tab\there' }), 'tab here\n');
  });
});

void describe('yaml and json output', () => {
  void it('yaml reads back as the same value', () => {
    assert.deepEqual(parseYaml(formatYaml(families)), families);
  });

  void it('jsonc colours keys, strings, numbers and literals, and is the same JSON without the colours', () => {
    const text = JSON.stringify({ a: 'b', n: -1.5e3, t: true, z: null }, null, 2);
    const coloured = colorJson(text);
    const ESC = '\u001b';
    assert.ok(coloured.includes(`${ESC}[94m"a"${ESC}[0m:`), coloured);
    assert.ok(coloured.includes(`${ESC}[32m"b"${ESC}[0m`), coloured);
    assert.ok(coloured.includes(`${ESC}[36m-1500${ESC}[0m`), coloured);
    assert.ok(coloured.includes(`${ESC}[35mtrue${ESC}[0m`), coloured);
    const plain = coloured
      .split(ESC)
      .map((part, i) => (i === 0 ? part : part.replace(/^\[\d+m/, '')))
      .join('');
    assert.equal(plain, text);
    assert.equal(renderOutput({ a: 1 }, 'jsonc', { color: false }), '{\n  "a": 1\n}\n');
  });

  void it('json is indented, or on one line when the command says so; none is empty', () => {
    assert.equal(renderOutput([1], 'json'), '[\n  1\n]\n');
    assert.equal(renderOutput({ a: [1] }, 'json', { compact: true }), '{"a":[1]}\n');
    assert.equal(renderOutput({ a: 1 }, 'none'), '');
  });

  void it('drops undefined fields the way JSON does, for every format', () => {
    assert.deepEqual(toJsonValue({ a: undefined, b: 1 }), { b: 1 });
    assert.equal(toJsonValue(undefined), null);
  });
});

void describe('--query', () => {
  void it('applies JMESPath before formatting', () => {
    assert.deepEqual(applyQuery(families, '[].sourceName'), ['orders-db', 'web-logs']);
    assert.deepEqual(applyQuery(families, "[?sourceDiskState=='deleted'].{name:sourceName, n:snapshotCount}"), [{ name: 'web-logs', n: 1 }]);
    assert.equal(applyQuery(families, 'nothing.here'), null);
  });

  void it('checks an expression without running it', () => {
    assert.equal(checkQuery('[].name'), undefined);
    assert.match(checkQuery('[.') ?? '', /not a JMESPath query/);
  });

  void it('prints the command text without -o, JSON with --query alone, the format with -o', () => {
    const text = capture();
    new CliOutput({}, text.stream).result({ a: 1 }, { text: () => 'for people' });
    assert.equal(text.text(), 'for people\n');
    const queried = capture();
    new CliOutput({ query: 'a' }, queried.stream).result({ a: 1 }, { text: () => 'for people' });
    assert.equal(queried.text(), '1\n');
    const tsv = capture();
    new CliOutput({ format: 'tsv', query: '{b:b, a:a}' }, tsv.stream).result({ a: 1, b: 2 });
    assert.equal(tsv.text(), '2\t1\n');
    const none = capture();
    new CliOutput({ format: 'none' }, none.stream).result({ a: 1 });
    assert.equal(none.text(), '');
  });

  void it('streams JSON only for plain -o json', () => {
    assert.equal(new CliOutput({ format: 'json' }).streamsJson, true);
    assert.equal(new CliOutput({ format: 'json', query: 'a' }).streamsJson, false);
    assert.equal(new CliOutput({ format: 'yaml' }).streamsJson, false);
    assert.equal(new CliOutput({}).structured, false);
  });
});

void describe('options and exit codes', () => {
  void it('--json is -o json, and contradicting it is an invalid argument', () => {
    assert.equal(outputSettingsOf({ json: true }, false).format, 'json');
    assert.equal(outputSettingsOf({ output: 'yaml' }, true).color, !process.env.NO_COLOR);
    assert.throws(
      () => outputSettingsOf({ json: true, output: 'table' }, false),
      (e: unknown) => e instanceof DiskDeltaError && exitCodeFor(e) === 2,
    );
  });

  void it('numbers out of range, bad tags and bad rates are refused while parsing', () => {
    const concurrency = integerIn(1, 256);
    assert.equal(concurrency('64'), 64);
    for (const bad of ['-5', '0', '257', '1.5', 'abc', '']) assert.throws(() => concurrency(bad), InvalidArgumentError, bad);
    assert.equal(positiveNumber('0.5'), 0.5);
    for (const bad of ['0', '-1', 'x', '']) assert.throws(() => positiveNumber(bad), InvalidArgumentError, bad);
    assert.deepEqual(collectTag('a=b', ['c=d']), ['c=d', 'a=b']);
    assert.throws(() => collectTag('=b'), InvalidArgumentError);
    assert.throws(() => collectTag('novalue'), InvalidArgumentError);
  });

  void it('--cap-mbps lowers the byte pace (megabits), never raises it', () => {
    assert.deepEqual(copyPace(undefined), AZURE_TARGET_PACE);
    assert.equal(copyPace(80).bytesPerSecond, 10_000_000);
    assert.equal(copyPace(80).requestsPerSecond, AZURE_TARGET_PACE.requestsPerSecond);
    assert.equal(copyPace(1e6).bytesPerSecond, AZURE_TARGET_PACE.bytesPerSecond);
  });

  void it('maps usage errors to 2, cancellation to 130, the rest to 1', () => {
    assert.equal(exitCodeFor(new CommanderError(1, 'commander.invalidArgument', 'x')), 2);
    assert.equal(exitCodeFor(new CommanderError(0, 'commander.helpDisplayed', 'x')), 0);
    for (const code of ['InvalidName', 'InvalidResourceId', 'AmbiguousName', 'InvalidArguments', 'MissingSource'])
      assert.equal(exitCodeFor(new DiskDeltaError('m', code)), 2, code);
    for (const code of ['SnapshotNotFound', 'DiskNotFound', 'OperationNotAllowed']) assert.equal(exitCodeFor(new DiskDeltaError('m', code)), 1, code);
    assert.equal(exitCodeFor(new DOMException('x', 'AbortError')), 130);
    assert.equal(exitCodeFor(new Error('boom')), 1);
  });
});

void describe('names and ids', () => {
  const sub = '00000000-0000-0000-0000-000000000000';
  const disk = (rg: string, name: string) => ({
    id: `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/disks/${name}`,
    name,
    resourceGroup: rg,
  });

  void it('tells ids from names, and refuses what is neither or an id of another type', () => {
    assert.deepEqual(classifyRef('orders-db', ['disk']), { name: 'orders-db' });
    assert.deepEqual(classifyRef(`${disk('rg', 'd').id}/`, ['disk']), { id: disk('rg', 'd').id });
    assert.throws(
      () => classifyRef('not an id', ['disk']),
      (e: unknown) => e instanceof DiskDeltaError && e.code === 'InvalidResourceId' && /neither a disk id nor a valid disk name/.test(e.message),
    );
    assert.throws(
      () => classifyRef(disk('rg', 'd').id, ['snapshot']),
      (e: unknown) => e instanceof DiskDeltaError && e.code === 'InvalidResourceId' && /not a snapshot id/.test(e.message),
    );
    assert.throws(
      () => classifyRef('/subscriptions/x', ['snapshot']),
      (e: unknown) => e instanceof DiskDeltaError && e.code === 'InvalidResourceId',
    );
  });

  void it('picks the one resource of that name, case-insensitively, narrowed by resource group', () => {
    const all = [disk('a', 'twin'), disk('b', 'Twin'), disk('a', 'solo')];
    assert.equal(pickByName('disk', 'SOLO', all, { subscriptionId: sub }).id, disk('a', 'solo').id);
    assert.equal(pickByName('disk', 'twin', all, { subscriptionId: sub, resourceGroup: 'B' }).id, disk('b', 'Twin').id);
    assert.throws(
      () => pickByName('disk', 'twin', all, { subscriptionId: sub }),
      (e: unknown) =>
        e instanceof DiskDeltaError &&
        e.code === 'AmbiguousName' &&
        e.message.includes(disk('a', 'twin').id) &&
        e.message.includes(disk('b', 'Twin').id) &&
        /-g/.test(e.hint ?? ''),
    );
    assert.throws(
      () => pickByName('disk', 'ghost', all, { subscriptionId: sub }),
      (e: unknown) => e instanceof DiskDeltaError && e.code === 'DiskNotFound' && exitCodeFor(e) === 1,
    );
  });
});
