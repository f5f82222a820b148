/**
 * Policy files: every invalid fixture gets its exact `<file>:<line>: <key path>: <what is wrong>` lines; the
 * validator and the shipped JSON Schema agree (the validator understands every keyword the schema uses, and
 * the CLI's and VS Code's messages come from the same schema text); durations; the editor contributions.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDuration, parsePolicyText, POLICY_SCHEMA, PolicyError, SUPPORTED_KEYWORDS, validateAgainstSchema, type SchemaNode } from '../../src/core/protect';

const fixtures = path.resolve(__dirname, '../fixtures/policies');
const root = path.resolve(__dirname, '../..');

const INVALID: Record<string, string[]> = {
  'rpo-too-short.yaml': ['rpo-too-short.yaml:7: policies[0].rpo: 1m is under the 5-minute minimum'],
  'rpo-too-short.json': ['rpo-too-short.json:7: policies[0].rpo: 90s is under the 5-minute minimum'],
  'unknown-key.yaml': ['unknown-key.yaml:7: policies[0].target.region: unknown key (expected storageAccount, container, import, resourceGroup)'],
  'unknown-key.json': ['unknown-key.json:5: policies[0].disks.location: unknown key (expected subscription, ids, resourceGroups, tags)'],
  'bad-disk-id.yaml': [
    'bad-disk-id.yaml:5: policies[0].disks.ids[0]: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/orders/providers/Microsoft.Compute/snapshots/db is not a managed disk id (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Compute/disks/<name>)',
  ],
  'keep-zero.yaml': ['keep-zero.yaml:9: policies[0].retention.source.keep: 0 is under the minimum of 1'],
  'target-keep-zero.yaml': ['target-keep-zero.yaml:10: policies[0].retention.target.keep: 0 is under the minimum of 1'],
  'keep-not-integer.yaml': ['keep-not-integer.yaml:9: policies[0].retention.source.keep: three is not an integer'],
  'bad-import.yaml': ['bad-import.yaml:7: policies[0].target.import: image is not one of snapshot, disk, none'],
  'bad-duration.yaml': ['bad-duration.yaml:7: policies[0].rpo: 4 hours is not a duration (a whole number followed by s, m, h or d, such as 4h)'],
  'bad-maxage.yaml': ['bad-maxage.yaml:9: policies[0].retention.target.maxAge: 2w is not a duration (a whole number followed by s, m, h or d, such as 4h)'],
  'bad-storage-account.yaml': [
    'bad-storage-account.yaml:6: policies[0].target.storageAccount: drwestus2 is not a storage account id (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Storage/storageAccounts/<name>)',
  ],
  'missing-rpo.yaml': ['missing-rpo.yaml:2: policies[0]: rpo is missing (required)'],
  'empty-disks.yaml': ['empty-disks.yaml:3: policies[0].disks: needs at least one of subscription, ids, resourceGroups, tags'],
  'bad-verify.yaml': ['bad-verify.yaml:8: policies[0].verify: sample:150% is not one of changed, full, none or sample:<1-100>%'],
  'duplicate-name.yaml': ['duplicate-name.yaml:8: policies[1].name: prod-dr is already the name of policies[0]'],
  'bad-container.yaml': [
    'bad-container.yaml:7: policies[0].target.container: Disk_Delta is not a container name (3-63 lower-case letters, digits and single hyphens)',
  ],
  'bad-tag-value.yaml': ['bad-tag-value.yaml:4: policies[0].disks.tags.dr: 1 is not a string'],
  'not-yaml.yaml': ['not-yaml.yaml:4: (document): not valid YAML or JSON: Flow map in block collection must be sufficiently indented and end with a }'],
  'no-policies.yaml': ['no-policies.yaml:1: (document): policies is missing (required)', 'no-policies.yaml:1: policy: unknown key (expected policies)'],
};

function problemsOf(name: string): string[] {
  try {
    parsePolicyText(name, readFileSync(path.join(fixtures, name), 'utf8'));
  } catch (error) {
    assert.ok(error instanceof PolicyError, `${name}: a PolicyError`);
    return [...error.lines];
  }
  return [];
}

void describe('protection policy files', () => {
  void it(`refuses ${Object.keys(INVALID).length} invalid files, each with its exact file:line: path: message lines`, () => {
    assert.ok(Object.keys(INVALID).length >= 15);
    for (const [name, expected] of Object.entries(INVALID)) assert.deepEqual(problemsOf(name), expected, name);
  });

  void it('reads the example policy of the documentation', () => {
    const file = parsePolicyText('valid.yaml', readFileSync(path.join(fixtures, 'valid.yaml'), 'utf8'));
    assert.equal(file.policies.length, 1);
    const p = file.policies[0]!;
    assert.equal(p.name, 'prod-dr');
    assert.deepEqual(p.disks, { resourceGroups: ['orders'], tags: { dr: 'gold' } });
    assert.deepEqual(p.target, {
      storageAccount: '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/dr/providers/Microsoft.Storage/storageAccounts/drwestus2',
      container: 'disk-delta',
      defaultContainer: false,
      import: 'snapshot',
      resourceGroup: 'dr-westus2',
    });
    assert.equal(p.rpoSeconds, 4 * 3600);
    assert.deepEqual(p.retention, { sourceKeep: 3, targetKeep: 30, targetMaxAgeSeconds: 30 * 86400 });
    assert.deepEqual(p.verify, { mode: 'sample', percent: 5 });
  });

  void it('reads the same policy written as JSON, with defaults for what it leaves out', () => {
    const text = JSON.stringify({
      policies: [
        {
          name: 'a',
          disks: { ids: ['/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/d'] },
          target: { storageAccount: '/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/abc' },
          rpo: '5m',
        },
      ],
    });
    const p = parsePolicyText('a.json', text).policies[0]!;
    assert.equal(p.target.container, 'disk-delta');
    assert.equal(p.target.defaultContainer, true);
    assert.equal(p.target.import, 'none');
    assert.equal(p.rpoSeconds, 300);
    assert.deepEqual(p.verify, { mode: 'changed' });
    assert.deepEqual(p.retention, {});
  });

  void it('parses durations in s, m, h and d and nothing else', () => {
    assert.equal(parseDuration('90s'), 90);
    assert.equal(parseDuration('5m'), 300);
    assert.equal(parseDuration('4h'), 14400);
    assert.equal(parseDuration('30d'), 2592000);
    for (const bad of ['0m', '4', 'h', '4H', '1.5h', '-1h', '4 h', '2w']) assert.equal(parseDuration(bad), undefined, bad);
  });

  void it('validator and schema agree: every keyword of the schema is one the validator understands', () => {
    const seen = new Set<string>();
    const walk = (node: SchemaNode, where: string): void => {
      for (const [k, v] of Object.entries(node)) {
        seen.add(k);
        assert.ok(SUPPORTED_KEYWORDS.has(k), `${where}: keyword ${k} is not understood by the validator`);
        if (k === 'properties' || k === 'definitions')
          for (const [name, child] of Object.entries(v as Record<string, SchemaNode>)) walk(child, `${where}.${name}`);
        if (k === 'items' || (k === 'additionalProperties' && typeof v === 'object')) walk(v as SchemaNode, `${where}.${k}`);
      }
      if (node.pattern) {
        assert.ok(node['x-describe'], `${where}: a pattern has x-describe (the CLI's message)`);
        assert.equal(node.patternErrorMessage, `Expected ${node['x-describe']}.`, `${where}: VS Code's message says the same`);
      }
      if (node['x-minimumDuration']) assert.ok(parseDuration(node['x-minimumDuration']) !== undefined, `${where}: x-minimumDuration is a duration`);
    };
    walk(POLICY_SCHEMA, '#');
    for (const k of ['pattern', 'enum', 'minimum', 'required', 'additionalProperties', 'x-minimumDuration', '$ref'])
      assert.ok(seen.has(k), `the schema uses ${k}`);
  });

  void it('the schema file shipped is the one the validator uses, and VS Code validates policy files with it', () => {
    const file = JSON.parse(readFileSync(path.join(root, 'schemas/disk-delta.policy.schema.json'), 'utf8')) as unknown;
    assert.deepEqual(file, POLICY_SCHEMA);
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      contributes: { yamlValidation?: { fileMatch: string | string[]; url: string }[]; jsonValidation?: { fileMatch: string | string[]; url: string }[] };
    };
    const matches = (list: { fileMatch: string | string[]; url: string }[] | undefined) =>
      (list ?? []).filter((v) => v.url === './schemas/disk-delta.policy.schema.json').flatMap((v) => [v.fileMatch].flat());
    assert.ok(matches(pkg.contributes.yamlValidation).includes('*.policy.yaml'));
    assert.ok(matches(pkg.contributes.yamlValidation).includes('disk-delta.policy.yaml'));
    assert.ok(matches(pkg.contributes.jsonValidation).includes('*.policy.json'));
    const ignore = readFileSync(path.join(root, '.vscodeignore'), 'utf8');
    assert.match(ignore, /^!schemas\/\*\*$/m, 'the VSIX ships the schema');
  });

  void it('reports every problem of a file, in line order', () => {
    const text = readFileSync(path.join(fixtures, 'valid.yaml'), 'utf8')
      .replace('rpo: 4h', 'rpo: 2m')
      .replace('import: snapshot', 'import: tape')
      .replace('keep: 3 }', 'keep: 0 }');
    assert.deepEqual(problemsOf2('x.yaml', text), [
      'x.yaml:10: policies[0].target.import: tape is not one of snapshot, disk, none',
      'x.yaml:12: policies[0].rpo: 2m is under the 5-minute minimum',
      'x.yaml:14: policies[0].retention.source.keep: 0 is under the minimum of 1',
    ]);
    assert.deepEqual(
      validateAgainstSchema({ policies: [] }).map((p) => p.message),
      ['needs at least 1 entry'],
    );
  });
});

function problemsOf2(name: string, text: string): string[] {
  try {
    parsePolicyText(name, text);
    return [];
  } catch (error) {
    return [...(error as PolicyError).lines];
  }
}
