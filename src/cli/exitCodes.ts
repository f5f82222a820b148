/**
 * Exit codes, the same for every command: 0 done, 1 failed, 2 invalid arguments (a bad or missing
 * option, a value out of range, an invalid name or id, an ambiguous name), 130 cancelled.
 */
import { CommanderError, type Command } from 'commander';
import { DiskDeltaError, isAbortError } from '../core/errors';

export const EXIT_FAILED = 1;
export const EXIT_INVALID_ARGUMENTS = 2;
export const EXIT_CANCELLED = 130;

/** Error codes that mean "the command line is wrong", whichever layer found it. */
const INVALID_ARGUMENT_CODES = new Set([
  'InvalidArguments',
  'InvalidName',
  'InvalidResourceId',
  'InvalidSku',
  'InvalidTargetAccount',
  'InvalidConcurrency',
  'InvalidQuery',
  'AmbiguousName',
  'AmbiguousFamily',
  'MissingSource',
  'MissingTarget',
]);

export function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : EXIT_INVALID_ARGUMENTS;
  if (isAbortError(error)) return EXIT_CANCELLED;
  if (error instanceof DiskDeltaError && INVALID_ARGUMENT_CODES.has(error.code)) return EXIT_INVALID_ARGUMENTS;
  return EXIT_FAILED;
}

const COMMANDER_CODES: Record<string, string> = {
  'commander.unknownOption': 'UnknownOption',
  'commander.unknownCommand': 'UnknownCommand',
  'commander.missingArgument': 'MissingArgument',
  'commander.optionMissingArgument': 'MissingArgument',
  'commander.missingMandatoryOptionValue': 'MissingOption',
};

/** The command the arguments name (as far as they name one), for the "see its help" hint. */
function commandPath(program: Command, args: readonly string[]): string {
  const path = [program.name()];
  let cmd = program;
  for (const a of args) {
    if (a.startsWith('-')) continue;
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (!sub) break;
    path.push(sub.name());
    cmd = sub;
  }
  return path.join(' ');
}

/**
 * A usage error as one line `error <Code>: <message>` plus a hint, like every other error; undefined when
 * commander already printed what was asked (help) or the error is not one to show.
 */
export function commanderErrorLine(error: CommanderError, program: Command, args: readonly string[]): string | undefined {
  if (error.exitCode === 0 || error.code === 'commander.help' || error.code === 'commander.helpDisplayed' || error.code === 'commander.version')
    return undefined;
  const code = COMMANDER_CODES[error.code] ?? 'InvalidArguments';
  const message = error.message.replace(/^error:\s*/, '').trim();
  // A command that printed its own precise lines (an invalid policy file) throws with no message: nothing to add.
  if (!message) return undefined;
  return `error ${code}: ${message}\n  Run \`${commandPath(program, args)} --help\` for the options and examples.`;
}
