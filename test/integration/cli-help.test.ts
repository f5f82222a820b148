/**
 * The built `disk-delta`'s help and completion scripts: every command's --help has a description and an
 * example, `help <command>` is the same page, and the bash, zsh and fish scripts parse (`-n`) and complete
 * commands, subcommands and option values in the shells that are installed.
 */
import { after, before, describe, it } from 'node:test';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { runCliBare } from '../support/cli';

const COMMANDS = [
  [],
  ['families'],
  ['snapshot'],
  ['snapshot', 'create'],
  ['snapshot', 'full'],
  ['snapshot', 'delete'],
  ['restore'],
  ['access'],
  ['access', 'revoke'],
  ['diff'],
  ['export'],
  ['copy'],
  ['doctor'],
  ['ls'],
  ['get'],
  ['protect'],
  ['protect', 'run'],
  ['protect', 'status'],
  ['protect', 'drill'],
  ['protect', 'schedule'],
  ['completion'],
];

function shell(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

void describe('CLI help and shell completion', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dd-cli-help-'));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  void it('every command has a description, options and at least one example in --help', async () => {
    for (const words of COMMANDS) {
      const r = await runCliBare([...words, '--help']);
      const what = `disk-delta ${words.join(' ')} --help`;
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      const [usage, blank, description] = r.stdout.split('\n');
      assert.match(usage!, new RegExp(`^Usage: disk-delta${words.length ? ` ${words.join(' ')}` : ''}( |$)`), what);
      assert.equal(blank, '', what);
      assert.ok(description && description.length > 15, `${what}: a description`);
      assert.match(r.stdout, /\nExamples:\n {2}# .+\n {2}\$ .*disk-delta .+/, `${what}: an example`);
      if (words.length === 0 || ['families', 'create', 'diff', 'copy'].includes(words[words.length - 1]!)) {
        assert.match(r.stdout, /-o, --output <format>/, `${what}: the global options`);
        assert.match(r.stdout, /--query <jmespath>/, what);
      }
    }
  });

  void it('`help <command>` shows the same page as `<command> --help`', async () => {
    for (const words of [['snapshot', 'create'], ['copy'], ['families']]) {
      const viaHelp = await runCliBare(['help', ...words]);
      const viaOption = await runCliBare([...words, '--help']);
      assert.equal(viaHelp.code, 0, viaHelp.stderr);
      assert.equal(viaHelp.stdout, viaOption.stdout, words.join(' '));
    }
    const top = await runCliBare(['help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /Exit codes: 0 done, 1 failed .*, 2 invalid arguments/);
  });

  void it('streaming and buffering are said in the help of diff and copy', async () => {
    assert.match((await runCliBare(['diff', '--help'])).stdout, /streamed[\s\S]*hold the whole diff in memory/);
    assert.match((await runCliBare(['copy', '--help'])).stdout, /progress bar on stderr/);
    assert.match((await runCliBare(['copy', '--help'])).stdout, /--cap-mbps <n>/);
  });

  void it('bash: the script parses and completes commands, subcommands and option values', async () => {
    const r = await runCliBare(['completion', 'bash']);
    assert.equal(r.code, 0, r.stderr);
    const file = path.join(dir, 'disk-delta.bash');
    writeFileSync(file, r.stdout);
    const bash = shell('bash');
    assert.ok(bash, 'bash is not installed (npm test installs it with apt-get when run as root)');
    execFileSync(bash, ['-n', file]);
    const complete = (line: string) => {
      const words = line.split(' ');
      const script = `source ${JSON.stringify(file)}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _disk_delta; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return execFileSync(bash, ['-c', script], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).sort();
    };
    assert.deepEqual(complete('disk-delta '), [
      'access',
      'completion',
      'copy',
      'diff',
      'doctor',
      'export',
      'families',
      'get',
      'help',
      'ls',
      'protect',
      'restore',
      'snapshot',
    ]);
    assert.deepEqual(complete('disk-delta snapshot '), ['create', 'delete', 'full']);
    assert.deepEqual(complete('disk-delta families -o '), ['json', 'jsonc', 'none', 'table', 'tsv', 'yaml']);
    assert.deepEqual(complete('disk-delta copy --verify '), ['changed', 'full', 'none']);
    assert.deepEqual(complete('disk-delta snapshot create --sku '), ['Standard_LRS', 'Standard_ZRS', 'auto']);
    assert.deepEqual(
      complete('disk-delta completion ').filter((w) => !w.startsWith('-')),
      ['bash', 'fish', 'zsh'],
    );
    // An option's value is skipped when finding the command: "--disk snapshot" does not enter `snapshot`.
    assert.ok(complete('disk-delta families --disk snapshot --').includes('--resource-group'));
    assert.ok(complete('disk-delta snapshot create --').includes('--disk'));
    assert.ok(complete('disk-delta snapshot create --').includes('--query'));
  });

  void it('zsh: the script parses', async () => {
    const r = await runCliBare(['completion', 'zsh']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^#compdef disk-delta\n/);
    assert.match(r.stdout, /'--output:output format/);
    const file = path.join(dir, '_disk-delta');
    writeFileSync(file, r.stdout);
    const zsh = shell('zsh');
    assert.ok(zsh, 'zsh is not installed (npm test installs it with apt-get when run as root)');
    execFileSync(zsh, ['-n', file]);
    // Loaded by compinit from an fpath directory, it defines the completion function.
    const defined = execFileSync(
      zsh,
      [
        '-f',
        '-c',
        `fpath=(${JSON.stringify(dir)} $fpath); autoload -Uz compinit; compinit -u -d ${JSON.stringify(path.join(dir, 'zcompdump'))}; print -r -- "\${_comps[disk-delta]}"`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(defined.trim(), '_disk-delta');
  });

  void it('fish: the script parses and completes commands, subcommands and option values', async () => {
    const r = await runCliBare(['completion', 'fish']);
    assert.equal(r.code, 0, r.stderr);
    const file = path.join(dir, 'disk-delta.fish');
    writeFileSync(file, r.stdout);
    const fish = shell('fish');
    assert.ok(fish, 'fish is not installed (npm test installs it with apt-get when run as root)');
    execFileSync(fish, ['-n', file]);
    const complete = (line: string) =>
      execFileSync(fish, ['--no-config', '-c', `source ${JSON.stringify(file)}; complete -C ${JSON.stringify(line)}`], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((l) => l.split('\t')[0]!)
        .filter(Boolean)
        .sort();
    assert.deepEqual(complete('disk-delta snapshot '), ['create', 'delete', 'full']);
    assert.ok(complete('disk-delta ').includes('families'));
    assert.deepEqual(complete('disk-delta families -o '), ['json', 'jsonc', 'none', 'table', 'tsv', 'yaml']);
    assert.deepEqual(complete('disk-delta copy --verify '), ['changed', 'full', 'none']);
    assert.ok(complete('disk-delta snapshot create --').includes('--disk'));
  });
});
