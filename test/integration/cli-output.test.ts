/**
 * The CLI as az users know it, against the emulator through the built `disk-delta`: every command with
 * -o table / tsv / yaml / none and --query, resources named by name, ambiguous names, exit code 2 for
 * every invalid argument, the progress bar on a terminal and --cap-mbps.
 * Formats follow az (microsoft/knack `knack/output.py`).
 */
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { connectToEmulator, type AzureClients } from '../../src/azure';
import type { SnapshotInfo } from '../../src/core/model';
import { ensureResourceGroup, startEmulator, storageAccount, type RunningEmulator } from '../support/emulator';
import { parseJson, runCli, runCliInTerminal, type CliResult } from '../support/cli';
import { assertNoActiveSas } from '../support/copyChecks';
import { writeDisk } from '../support/disks';

const MiB = 1024 * 1024;
const ESC = '\u001b';

function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what}: exit 0 (stderr: ${r.stderr.slice(0, 600)})`);
  return r;
}

/** Exit 2, one `disk-delta: error <Code>: ...` line, nothing on stdout, no reason printed twice. */
function assertInvalid(r: CliResult, what: string, code?: RegExp): string {
  assert.equal(r.code, 2, `${what}: exit 2 (got ${r.code}; stderr ${r.stderr})`);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('disk-delta: error '));
  assert.equal(lines.length, 1, `${what}: one error line in ${JSON.stringify(r.stderr)}`);
  const m = /^disk-delta: error (\w+)(?: \(HTTP \d+\))?: (.+)$/.exec(lines[0]!);
  assert.ok(m, `${what}: "error <Code>: <message>" in ${lines[0]}`);
  if (code) assert.match(m[1]!, code, `${what}: code`);
  const rest = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('disk-delta: error '));
  for (const l of rest) assert.ok(!m[2]!.includes(l.trim()), `${what}: "${l.trim()}" printed twice`);
  assert.equal(r.stdout, '', `${what}: nothing on stdout`);
  return r.stderr;
}

void describe('CLI output formats, queries and names', () => {
  let em: RunningEmulator;
  let clients: AzureClients;
  let dir: string;
  let file: string;
  let sub: string;
  let west: string;
  let smallDiskId: string;
  const twinDiskIds: string[] = [];
  const cli = (...args: string[]) => runCli(file, args);

  before(async () => {
    em = await startEmulator({ seed: 'none' });
    await ensureResourceGroup(em, ['bar', 'out', 'paced', 'twin-a', 'twin-b']);
    clients = connectToEmulator(em.connection, em.ca);
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-cli-output-'));
    process.env.XDG_STATE_HOME = path.join(dir, 'state');
    file = path.join(dir, 'connection.json');
    writeFileSync(file, JSON.stringify(em.connection));
    sub = em.connection.subscriptionId;
    west = storageAccount(em, 'westus2', 0).resourceId;

    const small = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: 'out',
      name: 'small',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 1,
    });
    smallDiskId = small.id;
    await writeDisk(clients, small.id, [{ offset: 0, length: 2 * MiB }]);
    ok(await cli('snapshot', 'create', '--disk', 'small', '--name', 'small-s1', '-o', 'none'), 'small-s1 by disk name');
    await writeDisk(clients, small.id, [
      { offset: 8 * MiB, length: MiB },
      { offset: 0, length: 512 * 1024, clear: true },
    ]);
    ok(await cli('snapshot', 'create', '--disk', 'small', '--name', 'small-s2', '-o', 'none'), 'small-s2');

    // Two disks called "twin" in two resource groups, each with a snapshot called "twin-s1".
    for (const rg of ['twin-a', 'twin-b']) {
      const d = await clients.compute.createDisk({
        subscriptionId: sub,
        resourceGroup: rg,
        name: 'twin',
        location: 'eastus',
        createOption: 'Empty',
        diskSizeGB: 1,
      });
      twinDiskIds.push(d.id);
      await writeDisk(clients, d.id, [{ offset: 0, length: MiB }]);
      await clients.compute.createSnapshot({
        subscriptionId: sub,
        resourceGroup: rg,
        name: 'twin-s1',
        location: 'eastus',
        incremental: true,
        createOption: 'Copy',
        sourceResourceId: d.id,
      });
    }
  });

  after(async () => {
    await em?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  void it('families: json, jsonc, yaml, table, tsv, none and --query all show the same families', async () => {
    const json = parseJson<{ id: string; sourceName: string; snapshotCount: number }[]>(ok(await cli('families', '--json'), 'families --json'));
    assert.deepEqual(json.map((f) => f.sourceName).sort(), ['small', 'twin', 'twin']);
    assert.deepEqual(parseJson(ok(await cli('families', '-o', 'json'), '-o json')), json);
    // jsonc without a terminal is plain JSON.
    assert.deepEqual(parseJson(ok(await cli('families', '-o', 'jsonc'), '-o jsonc')), json);
    assert.deepEqual(parseYaml(ok(await cli('families', '-o', 'yaml'), '-o yaml').stdout), json);

    const table = ok(await cli('families', '-o', 'table'), '-o table')
      .stdout.trimEnd()
      .split('\n');
    assert.match(table[0]!, /^SourceResourceId\s+SourceUniqueId\s+SourceName\s+SourceDiskState\s+SnapshotCount$/);
    assert.match(table[1]!, /^-+(\s+-+){4}$/);
    assert.equal(table.length, 2 + json.length);
    assert.ok(
      table.slice(2).some((l) => /\ssmall\s+present\s+2$/.test(l)),
      table.join('\n'),
    );

    const tsv = ok(await cli('families', '-o', 'tsv'), '-o tsv')
      .stdout.trimEnd()
      .split('\n');
    assert.equal(tsv.length, json.length);
    // az's order without a query: keys sorted, so the family id comes first.
    assert.deepEqual(tsv.map((l) => l.split('\t')[0]).sort(), json.map((f) => f.id).sort());

    const names = ok(await cli('families', '--query', '[].sourceName', '-o', 'tsv'), '--query -o tsv').stdout;
    assert.deepEqual(names.trimEnd().split('\n').sort(), ['small', 'twin', 'twin']);
    const picked = parseJson<{ name: string; n: number }[]>(
      ok(await cli('families', '--query', "[?sourceName=='small'].{name:sourceName, n:snapshotCount}"), '--query alone is JSON'),
    );
    assert.deepEqual(picked, [{ name: 'small', n: 2 }]);
    assert.equal(ok(await cli('families', '-o', 'none'), '-o none').stdout, '');
    // Global options go before or after the command.
    assert.deepEqual(
      parseJson(ok(await cli('-o', 'json', 'families', '--disk', 'small'), '-o before the command')),
      json.filter((f) => f.sourceName === 'small'),
    );
  });

  void it('families --disk takes a name or an id; an invalid one is exit 2, an unknown one exit 1', async () => {
    const byName = parseJson<{ sourceResourceId: string }[]>(ok(await cli('families', '--disk', 'small', '--json'), 'by name'));
    const byId = parseJson<{ sourceResourceId: string }[]>(ok(await cli('families', '--disk', smallDiskId, '--json'), 'by id'));
    assert.equal(byName.length, 1);
    assert.deepEqual(byName, byId);
    const invalid = assertInvalid(await cli('families', '--disk', 'not an id'), "families --disk 'not an id'", /^InvalidResourceId$/);
    assert.match(invalid, /"not an id" is neither a disk id nor a valid disk name/);
    const unknown = await cli('families', '--disk', 'no-such-disk');
    assert.equal(unknown.code, 1, unknown.stderr);
    assert.match(unknown.stderr, /^disk-delta: error DiskNotFound: No disk named no-such-disk in subscription /m);
    const ghostId = smallDiskId.replace(/small$/, 'ghost');
    const ghost = await cli('families', '--disk', ghostId);
    assert.equal(ghost.code, 1, ghost.stderr);
    assert.match(ghost.stderr, /DiskNotFound/);
  });

  void it('an ambiguous name is exit 2 with every candidate id; -g chooses', async () => {
    const created = await cli('snapshot', 'create', '--disk', 'twin', '--name', 'twin-s2');
    const stderr = assertInvalid(created, 'two disks named twin', /^AmbiguousName$/);
    for (const id of twinDiskIds) assert.ok(stderr.includes(id), `${id} listed in ${stderr}`);
    assert.match(stderr, /-g <resource group>/);
    assertInvalid(await cli('snapshot', 'delete', 'twin-s1'), 'two snapshots named twin-s1', /^AmbiguousName$/);
    assertInvalid(await cli('families', '--disk', 'twin', '-o', 'table'), 'families of twin', /^AmbiguousName$/);
    assertInvalid(await cli('diff', '--from', 'twin-s1', '--to', 'twin-s1'), 'diff of twin-s1', /^AmbiguousName$/);
    // Nothing was created or deleted by the refusals.
    assert.equal(await clients.compute.getSnapshot(twinDiskIds[0]!.replace('/disks/twin', '/snapshots/twin-s2')), undefined);

    const chosen = parseJson<SnapshotInfo>(
      ok(await cli('snapshot', 'create', '--disk', 'twin', '-g', 'twin-a', '--name', 'twin-s2', '--json'), 'create with -g'),
    );
    assert.equal(chosen.sourceResourceId, twinDiskIds[0]);
    assert.equal(chosen.resourceGroup, 'twin-a');
    const deleted = ok(await cli('snapshot', 'delete', 'twin-s2', '--resource-group', 'twin-a', '-o', 'tsv'), 'delete with --resource-group');
    assert.equal(deleted.stdout, `${chosen.id}\n`);
    const fams = parseJson<unknown[]>(ok(await cli('families', '--disk', 'twin', '-g', 'twin-b', '--json'), 'families with -g'));
    assert.equal(fams.length, 1);
  });

  void it('snapshot create/full/delete, restore and access revoke by name, in every format', async () => {
    // create: yaml, then the id alone with --query -o tsv
    const s3 = parseYaml(ok(await cli('snapshot', 'create', '--disk', 'small', '--name', 'small-s3', '-o', 'yaml'), 'create -o yaml').stdout) as SnapshotInfo;
    assert.equal(s3.name, 'small-s3');
    assert.equal(s3.incremental, true);
    assert.equal(s3.sourceResourceId, smallDiskId);
    // full, by the incremental snapshot's name: table
    const fullTable = ok(await cli('snapshot', 'full', '--snapshot', 'small-s3', '--name', 'small-s3-full', '-o', 'table'), 'full -o table').stdout.split('\n');
    assert.match(fullTable[0]!, /^Name\s+ResourceGroup\s+SubscriptionId\s+Location\s+Incremental\s+SizeBytes/);
    assert.match(fullTable[2]!, /^small-s3-full\s+out\s+\S+\s+eastus\s+false\s+/);
    // restore by name: --query picks fields, tsv in the query's order
    const restored = ok(
      await cli('restore', '--snapshot', 'small-s3', '--name', 'small-restored', '--query', '{n:name, l:location, g:resourceGroup}', '-o', 'tsv'),
      'restore --query -o tsv',
    );
    assert.equal(restored.stdout, 'small-restored\teastus\tout\n');
    // A list of scalars is one per line, as az prints it.
    assert.equal(
      ok(await cli('families', '--disk', 'small', '--query', '[0].[sourceName, sourceDiskState]', '-o', 'tsv'), 'list of scalars').stdout,
      'small\npresent\n',
    );
    // access revoke by name (a disk and a snapshot)
    const revoked = parseYaml(ok(await cli('access', 'revoke', 'small-s3', '-o', 'yaml'), 'revoke -o yaml').stdout) as { revoked: string };
    assert.equal(revoked.revoked, s3.id);
    assert.equal(
      ok(await cli('access', 'revoke', 'small-restored', '--query', 'revoked', '-o', 'tsv'), 'revoke a disk by name').stdout,
      `${smallDiskId.replace('small', 'small-restored')}\n`,
    );
    assert.match(ok(await cli('access', 'revoke', 'small', '-o', 'table'), 'revoke -o table').stdout, /^Revoked\n-+\n\/subscriptions\/.+\/disks\/small\n$/);
    // delete by name: json, --query, none
    assert.deepEqual(parseJson(ok(await cli('snapshot', 'delete', 'small-s3-full', '--json'), 'delete --json')), {
      deleted: s3.id.replace('small-s3', 'small-s3-full'),
    });
    assert.equal(ok(await cli('snapshot', 'delete', 'small-s3', '--query', 'deleted', '-o', 'tsv'), 'delete --query').stdout, `${s3.id}\n`);
    assert.equal(await clients.compute.getSnapshot(s3.id), undefined);
    await clients.compute.deleteDisk(smallDiskId.replace('small', 'small-restored'));
  });

  void it('diff by name: streamed --json as before, and yaml, table, tsv and --query through the output layer', async () => {
    const streamed = parseJson<{
      from: string;
      to: string;
      ranges: { offset: number; length: number; kind: string }[];
      changedBytes: number;
      clearedBytes: number;
      rangeCount: number;
    }>(ok(await cli('diff', '--from', 'small-s1', '--to', 'small-s2', '--json'), 'diff --json'));
    assert.equal(streamed.changedBytes, MiB);
    assert.equal(streamed.clearedBytes, 512 * 1024);
    assert.equal(streamed.rangeCount, streamed.ranges.length);
    assert.ok(streamed.from.endsWith('/small-s1') && streamed.to.endsWith('/small-s2'));
    const one = ok(await cli('diff', '--from', 'small-s1', '--to', 'small-s2', '-o', 'json'), 'diff -o json');
    assert.equal(one.stdout.trimEnd().split('\n').length, 1, 'one line, as documented');

    assert.deepEqual(parseYaml(ok(await cli('diff', '--from', 'small-s1', '--to', 'small-s2', '-o', 'yaml'), 'diff -o yaml').stdout), streamed);
    const table = ok(await cli('diff', '--from', 'small-s1', '--to', 'small-s2', '-o', 'table'), 'diff -o table').stdout.split('\n');
    assert.match(table[0]!, /^From\s+To\s+DiskSizeBytes\s+ChangedBytes\s+ClearedBytes\s+RangeCount$/);
    assert.match(table[2]!, new RegExp(`\\s${streamed.changedBytes}\\s+${streamed.clearedBytes}\\s+${streamed.rangeCount}$`));
    const tsv = ok(
      await cli('diff', '--from', 'small-s1', '--to', 'small-s2', '--query', "ranges[?kind=='cleared'].[offset, length]", '-o', 'tsv'),
      'diff --query -o tsv',
    );
    assert.equal(tsv.stdout, `0\t${512 * 1024}\n`);
    const counted = parseJson<number>(ok(await cli('diff', '--from', 'small-s2', '--to', 'small-s1', '--query', 'length(ranges)'), 'diff --query, reversed'));
    assert.equal(counted, streamed.rangeCount);
    const csv = ok(await cli('diff', '--from', 'small-s1', '--to', 'small-s2', '--csv'), 'diff --csv')
      .stdout.trimEnd()
      .split('\n');
    assert.equal(csv[0], 'offset,length,kind');
    assert.equal(csv.length, 1 + streamed.rangeCount);
    assertInvalid(await cli('diff', '--from', 'small-s1', '--to', 'small-s2', '--csv', '-o', 'table'), '--csv with -o table', /^InvalidArguments$/);
  });

  void it('export by name in every format', async () => {
    const az = ok(await cli('export', '--az', 'create', '--disk', 'small', '--name', 'small-x', '-o', 'tsv'), 'export --az -o tsv').stdout;
    assert.match(az, /^az snapshot create .*--name small-x .*--source \/subscriptions\/.+\/disks\/small .*\n$/);
    assert.equal(az.split('\n').length, 2, 'one line');
    assert.match(ok(await cli('export', '--az', 'create', '--disk', 'small', '--name', 'small-x'), 'export --az text').stdout, / \\\n {2}--name small-x \\\n/);
    const type = ok(
      await cli('export', '--arm', 'restore', '--snapshot', 'small-s1', '--name', 'small-r', '--query', 'resources[0].type', '-o', 'tsv'),
      'export --arm --query',
    );
    assert.equal(type.stdout, 'Microsoft.Compute/disks\n');
    const yaml = parseYaml(ok(await cli('export', '--arm', 'full', '--snapshot', 'small-s1', '-o', 'yaml'), 'export --arm -o yaml').stdout) as {
      parameters: { sourceResourceId: { defaultValue: string } };
      resources: { type: string }[];
    };
    assert.match(yaml.parameters.sourceResourceId.defaultValue, /\/snapshots\/small-s1$/);
    assert.equal(yaml.resources[0]!.type, 'Microsoft.Compute/snapshots');
    assert.match(
      ok(await cli('export', '--az', 'create', '--disk', 'small', '--name', 'small-x', '-o', 'table'), 'export -o table').stdout,
      /^Result\n-+\naz snapshot create /,
    );
    assertInvalid(await cli('export', '--az', 'create', '--disk', 'small', '--offline', '--location', 'eastus'), 'a name with --offline', /^InvalidArguments$/);
  });

  void it('copy by name in table, tsv, yaml and one-line json; native copy too', async () => {
    const table = ok(await cli('copy', '--snapshot', 'small-s1', '--target-account', west, '-o', 'table'), 'copy -o table').stdout.split('\n');
    assert.match(
      table[0]!,
      /^BytesCopied\s+BytesCleared\s+BytesRelayed\s+Requests\s+Retries\s+Seconds\s+TargetBlobSnapshotUrl\s+BytesMoved\s+ChangedBytes\s+CoalescedGaps\b/,
    );
    // The first copy of a family writes the VHD footer too (512 bytes).
    assert.match(table[2]!, new RegExp(`^${2 * MiB + 512}\\s+0\\s+0\\s+`));
    const tsv = ok(
      await cli('copy', '--family', 'small', '--target-account', west, '--query', '[].[bytesCopied, bytesCleared]', '-o', 'tsv'),
      'copy --family by name --query -o tsv',
    );
    assert.equal(tsv.stdout, `${MiB}\t${512 * 1024}\n`, 'only small-s2 was left to copy');
    const again = ok(await cli('copy', '--family', 'small', '--target-account', west, '--json'), 'copy --json up to date');
    assert.equal(again.stdout.split('\n').length, 2, 'one line');
    assert.deepEqual(JSON.parse(again.stdout), []);
    const upToDate = parseYaml(ok(await cli('copy', '--snapshot', 'small-s2', '--target-account', west, '-o', 'yaml'), 'copy -o yaml').stdout) as {
      bytesCopied: number;
      targetBlobSnapshotUrl: string;
    };
    assert.equal(upToDate.bytesCopied, 0);
    assert.doesNotMatch(upToDate.targetBlobSnapshotUrl, /sig=/);
    const native = ok(
      await cli('copy', '--native', '--snapshot', 'small-s1', '--target-region', 'westus2', '--query', '[].targetSnapshotId', '-o', 'tsv'),
      'native copy --query',
    );
    assert.match(native.stdout, /^\/subscriptions\/.+\/snapshots\/small-s1-westus2\n$/);
    await assertNoActiveSas(em, clients, 'the copies');
  });

  void it('every invalid argument exits 2 with one line, whatever finds it', async () => {
    const cases: [string, string[], RegExp][] = [
      ['--concurrency -5', ['copy', '--snapshot', 'small-s1', '--target-account', west, '--concurrency', '-5'], /^InvalidArguments$/],
      ['--concurrency abc', ['copy', '--snapshot', 'small-s1', '--target-account', west, '--concurrency', 'abc'], /^InvalidArguments$/],
      ['--concurrency 0', ['copy', '--snapshot', 'small-s1', '--target-account', west, '--concurrency', '0'], /^InvalidArguments$/],
      ['--cap-mbps 0', ['copy', '--snapshot', 'small-s1', '--target-account', west, '--cap-mbps', '0'], /^InvalidArguments$/],
      ['--cap-mbps with --native', ['copy', '--native', '--snapshot', 'small-s1', '--target-region', 'westus2', '--cap-mbps', '10'], /^InvalidArguments$/],
      ['--family with --snapshot', ['copy', '--family', 'small', '--snapshot', 'small-s1', '--target-account', west], /^InvalidArguments$/],
      ['--verify sometimes', ['copy', '--snapshot', 'small-s1', '--target-account', west, '--verify', 'sometimes'], /^InvalidArguments$/],
      ['-o xml', ['families', '-o', 'xml'], /^InvalidArguments$/],
      ['--query that does not parse', ['families', '--query', '[?'], /^InvalidArguments$/],
      ['--json with -o table', ['families', '--json', '-o', 'table'], /^InvalidArguments$/],
      ['an unknown option', ['families', '--colour'], /^UnknownOption$/],
      ['a missing required option', ['diff', '--from', 'small-s1'], /^MissingOption$/],
      ['an unknown export operation', ['export', '--az', 'resize', '--disk', 'small'], /^InvalidArguments$/],
      ['a tag without =', ['snapshot', 'create', '--disk', 'small', '--name', 'small-t', '--tag', 'novalue'], /^InvalidArguments$/],
      ['an invalid resource group', ['families', '--disk', 'small', '-g', 'a/b'], /^InvalidArguments$/],
      ['a restore SKU that does not exist', ['restore', '--snapshot', 'small-s1', '--name', 'r', '--sku', 'Gold_LRS'], /^InvalidArguments$/],
      ['an invalid snapshot name', ['snapshot', 'create', '--disk', 'small', '--name', 'bad name'], /^InvalidName$/],
      [
        'a snapshot id given as --disk',
        ['snapshot', 'create', '--disk', smallDiskId.replace('/disks/small', '/snapshots/small-s1'), '--name', 'x1'],
        /^InvalidResourceId$/,
      ],
      ['a malformed id', ['diff', '--from', '/subscriptions/x', '--to', 'small-s1'], /^InvalidResourceId$/],
      ['neither id nor name', ['diff', '--from', 'not an id', '--to', 'small-s1'], /^InvalidResourceId$/],
      ['copy without a target', ['copy', '--snapshot', 'small-s1'], /^MissingTarget$/],
    ];
    const failures: string[] = [];
    for (let i = 0; i < cases.length; i += 3) {
      await Promise.all(
        cases.slice(i, i + 3).map(async ([what, args, code]) => {
          try {
            assertInvalid(await cli(...args), what, code);
          } catch (error) {
            failures.push((error as Error).message);
          }
        }),
      );
    }
    assert.deepEqual(failures, []);
    // The reason for an invalid name is printed once (it used to come again as the hint).
    const bad = await cli('snapshot', 'create', '--disk', 'small', '--name', 'bad name');
    assert.equal(bad.stderr.split('not spaces').length - 1, 1, bad.stderr);
    // A valid name that names nothing is a failure (1), not a usage error.
    const none = await cli('diff', '--from', 'not-an-id', '--to', 'small-s1');
    assert.equal(none.code, 1, none.stderr);
    assert.match(none.stderr, /^disk-delta: error SnapshotNotFound: No snapshot named not-an-id in subscription /m);
  });

  void it('draws a progress bar per snapshot on a terminal, lines elsewhere, nothing with --only-show-errors', async () => {
    const disk = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: 'bar',
      name: 'bar',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 1,
    });
    await writeDisk(clients, disk.id, [{ offset: 0, length: 4 * MiB }]);
    ok(await cli('snapshot', 'create', '--disk', 'bar', '--name', 'bar-s1', '-o', 'none'), 'bar-s1');
    await writeDisk(clients, disk.id, [{ offset: 16 * MiB, length: 4 * MiB }]);
    ok(await cli('snapshot', 'create', '--disk', 'bar', '--name', 'bar-s2', '-o', 'none'), 'bar-s2');

    const piped = ok(
      await cli('copy', '--family', 'bar', '--target-account', west, '--journal', path.join(dir, 'bar-piped.jsonl'), '--container', 'disk-delta'),
      'copy, stderr a pipe',
    );
    assert.match(piped.stderr, /^bar-s1 \[1\/2\] done /m, 'line progress when stderr is not a terminal');
    assert.ok(!piped.stderr.includes(ESC) && !piped.stderr.includes('█'), 'no bar drawn into a pipe');

    const westB = storageAccount(em, 'westus2', 1).resourceId;
    const tty = runCliInTerminal(file, ['copy', '--family', 'bar', '--target-account', westB, '-o', 'json']);
    assert.ok(tty, "util-linux's script is not installed");
    const drawn = ok(await tty, 'copy on a terminal');
    assert.match(drawn.stdout, /\[1\/2\] .*█.* 100% \| 4 MiB of 4 MiB \| .* \| done \| done/);
    assert.match(drawn.stdout, /\[2\/2\] .*100% \| 4 MiB of 4 MiB/);
    assert.ok(drawn.stdout.includes(`${ESC}[`), 'drawn with terminal control codes');

    const refused = await runCliInTerminal(file, [
      'copy',
      '--family',
      'bar',
      '--target-account',
      storageAccount(em, 'eastus', 0).resourceId,
      '--only-show-errors',
      '-o',
      'none',
    ])!;
    // The eastus account is the source's region: the only thing printed is the error.
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /disk-delta: error TargetInSourceRegion/);
    assert.doesNotMatch(refused.stdout, /Copying|█/);
    const silent = ok(await runCliInTerminal(file, ['copy', '--family', 'bar', '--target-account', westB, '--only-show-errors', '-o', 'none'])!, 'quiet copy');
    assert.equal(silent.stdout.trim(), '', 'nothing at all on the terminal');
  });

  void it('--cap-mbps caps the copy rate', async (t) => {
    const disk = await clients.compute.createDisk({
      subscriptionId: sub,
      resourceGroup: 'paced',
      name: 'paced',
      location: 'eastus',
      createOption: 'Empty',
      diskSizeGB: 1,
    });
    await writeDisk(clients, disk.id, [{ offset: 0, length: 8 * MiB }]);
    ok(await cli('snapshot', 'create', '--disk', 'paced', '--name', 'paced-s1', '-o', 'none'), 'paced-s1');
    const capMbps = 16; // 2,000,000 bytes per second
    const r = parseJson<{ bytesCopied: number; seconds: number }>(
      ok(await cli('copy', '--snapshot', 'paced-s1', '--target-account', west, '--cap-mbps', String(capMbps), '--verify', 'none', '--json'), 'capped copy'),
    );
    assert.equal(r.bytesCopied, 8 * MiB + 512);
    const rate = r.bytesCopied / r.seconds;
    t.diagnostic(`--cap-mbps ${capMbps}: ${r.bytesCopied} bytes in ${r.seconds} s, ${Math.round(rate)} B/s`);
    assert.ok(rate <= ((capMbps * 1e6) / 8) * 1.05, `rate ${Math.round(rate)} B/s under the cap`);
    assert.ok(r.seconds >= (8 * MiB) / ((capMbps * 1e6) / 8) - 0.25, `took ${r.seconds}s`);
  });
});
