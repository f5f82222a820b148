import { Argument, Command, CommanderError } from 'commander';
import { isAbortError } from '../core/errors';
import { registerCopy } from './commands/copyCommandLine';
import { registerProtectCommands } from './commands/protect';
import { registerLs } from './commands/ls';
import { registerGet } from './commands/get';
import { registerDoctor } from './commands/doctor';
import { registerDiff } from './commands/diff';
import { registerExport } from './commands/export';
import { registerFamilies } from './commands/families';
import { registerSnapshot } from './commands/snapshot';
import { completionScript, SHELLS, type Shell } from './completion';
import { commanderErrorLine, exitCodeFor } from './exitCodes';
import { addGlobalOptions, globalOptionsOf, outputSettingsOf } from './options';
import { CliOutput, currentOutput, describeError, setCurrentOutput } from './output';
import { stopProgress } from './progress';
import { createRuntime, withExamples } from './runtime';

/** Set by commands whose outcome is an exit status rather than an error (doctor: 1 when a check failed). */
let commandExitCode = 0;

const abort = new AbortController();
let interrupted = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    interrupted++;
    if (interrupted > 1) process.exit(130);
    stopProgress();
    process.stderr.write('\nCancelling: giving back any access granted...\n');
    abort.abort(new DOMException('Cancelled by the user', 'AbortError'));
  });
}

// A reader that stops early (`| head`) closes the pipe: stop quietly, as az does.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

const program = new Command('disk-delta')
  .description('Azure managed-disk incremental snapshots: families, diffs, restores and cross-region copies.')
  // Usage errors are printed once, by main(), in the same one-line form as every other error.
  .configureOutput({ outputError: () => undefined })
  .configureHelp({ showGlobalOptions: false })
  // Every command has the global options itself; this keeps a command's own -o (get's output file) from being
  // read as the program's -o <format>.
  .enablePositionalOptions()
  .exitOverride();

const rt = createRuntime(abort.signal);

// One register call per command; global options are added to all of them afterwards.
registerFamilies(program, rt);
registerSnapshot(program, rt);
registerDiff(program, rt);
registerExport(program, rt);
registerCopy(program, rt);
registerLs(program, rt);
registerGet(program, rt);
registerProtectCommands(program, rt);
registerDoctor(program, rt, (code) => {
  commandExitCode = code;
});
registerCompletion(program);

addGlobalOptions(program);
program.hook('preAction', (_program, command) => {
  setCurrentOutput(new CliOutput(outputSettingsOf(globalOptionsOf(command), process.stdout.isTTY === true)));
});
withExamples(program, [
  ['the snapshot families of the subscription as a table', 'disk-delta families -o table'],
  [
    'snapshot a disk by name, then copy its family to another region',
    'disk-delta snapshot create --disk orders-db --name orders-db-20261120 && disk-delta copy --family orders-db --target-account <storage account id>',
  ],
  ['the help of one command', 'disk-delta help snapshot create'],
]);
program.addHelpText(
  'after',
  '\nDisks and snapshots are named by id or by name (looked up in the subscription; -g narrows).\n' +
    'Exit codes: 0 done, 1 failed (Azure refused, not found...), 2 invalid arguments or ambiguous name,\n' +
    '130 cancelled (Ctrl+C; access granted by the command is revoked first).\n',
);

function registerCompletion(root: Command): void {
  const cmd = root
    .command('completion')
    .description('print a shell completion script (commands, options and their values)')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS))
    .action((shell: Shell) => {
      const script = completionScript(root, shell);
      currentOutput().result(script, { text: () => script });
    });
  withExamples(cmd, [
    ['bash, for this shell', 'source <(disk-delta completion bash)'],
    ['zsh, for every new shell (after compinit)', 'disk-delta completion zsh > "${fpath[1]}/_disk-delta"'],
    ['fish', 'disk-delta completion fish > ~/.config/fish/completions/disk-delta.fish'],
  ]);
}

/** `disk-delta help snapshot create` is `disk-delta snapshot create --help`. */
function helpArgs(argv: readonly string[]): string[] {
  const [node, script, first, ...rest] = argv;
  if (first === 'help' && rest.length > 0) return [node!, script!, ...rest, '--help'];
  return [...argv];
}

async function main(): Promise<number> {
  try {
    await program.parseAsync(helpArgs(process.argv));
    return commandExitCode;
  } catch (error) {
    stopProgress();
    if (error instanceof CommanderError) {
      const line = commanderErrorLine(error, program, process.argv.slice(2));
      if (line) process.stderr.write(`${program.name()}: ${line}\n`);
      return exitCodeFor(error);
    }
    if (isAbortError(error) || abort.signal.aborted) {
      process.stderr.write('disk-delta: cancelled\n');
      return 130;
    }
    process.stderr.write(`disk-delta: ${describeError(error)}\n`);
    return exitCodeFor(error);
  } finally {
    stopProgress();
  }
}

void main().then((code) => {
  process.exitCode = code;
});
