/** What a command's registration needs from the CLI: how its action gets a connection, and its help. */
import type { Command } from 'commander';
import { openContext, type CliContext } from './context';
import { globalOptionsOf } from './options';
import { currentOutput } from './output';

export interface CliRuntime {
  /** Cancelled by Ctrl+C / SIGTERM. */
  readonly signal: AbortSignal;
  /**
   * An action that runs with a connection opened from the invocation's global options (wherever they
   * were given on the command line) and prints through the invocation's output.
   */
  run<A extends unknown[]>(action: (ctx: CliContext, ...args: A) => Promise<void>): (...args: A) => Promise<void>;
  /** A connection for the command that runs, opened when an action needs one (export --offline never does). */
  connect(command: Command): Promise<CliContext>;
}

export function createRuntime(signal: AbortSignal): CliRuntime {
  const connect = (command: Command) => openContext(globalOptionsOf(command), signal, currentOutput());
  return {
    signal,
    connect,
    run(action) {
      return async (...args) => {
        // commander passes the options and then the command itself after the arguments.
        const command = args[args.length - 1] as Command;
        await action(await connect(command), ...args);
      };
    },
  };
}

/** man-style examples under a command's help: what it does, then the command line. */
export function withExamples(command: Command, examples: readonly (readonly [what: string, line: string])[]): Command {
  const text = examples.map(([what, line]) => `  # ${what}\n  $ ${line}`).join('\n\n');
  return command.addHelpText('after', `\nExamples:\n${text}\n`);
}
