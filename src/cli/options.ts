/**
 * Options every command shares, and the parsers that check option values while the command line is read:
 * a bad value stops the command before it connects, with exit code 2 (commander's InvalidArgumentError).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { AZURE_TARGET_PACE } from '../core/copy';
import { validateResourceGroupName } from '../core/names';
import { DiskDeltaError } from '../core/errors';
import { checkQuery, OUTPUT_FORMATS, type OutputFormat, type OutputSettings } from './output';

export const GLOBAL_HELP_GROUP = 'Global Options:';

/** The options `az` users expect on every command, plus the connection. */
export interface GlobalOptions {
  readonly subscription?: string;
  readonly emulator?: string;
  readonly output?: OutputFormat;
  readonly query?: string;
  readonly json?: boolean;
  readonly onlyShowErrors?: boolean;
}

/** A whole number in [min, max]. */
export function integerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value.trim());
    if (!/^[+-]?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`It must be a whole number from ${min} to ${max}.`);
    }
    return n;
  };
}

/** A number greater than zero (decimals allowed). */
export function positiveNumber(value: string): number {
  const n = Number(value.trim());
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('It must be a number greater than 0.');
  return n;
}

/** Repeatable `key=value`; the key is not empty. */
export function collectTag(value: string, previous: string[] = []): string[] {
  const i = value.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError('A tag is key=value, with a key.');
  return [...previous, value];
}

export function resourceGroupName(value: string): string {
  const problem = validateResourceGroupName(value);
  if (problem) throw new InvalidArgumentError(problem);
  return value;
}

export function jmesPathQuery(value: string): string {
  const problem = checkQuery(value);
  if (problem) throw new InvalidArgumentError(problem);
  return value;
}

/** `-g, --resource-group`: where names are looked up (and, for commands that create, where the new resource goes). */
export function resourceGroupOption(description: string): Option {
  return new Option('-g, --resource-group <name>', description).argParser(resourceGroupName);
}

function globalOptionList(): Option[] {
  return [
    new Option('-o, --output <format>', 'output format (default: text for people; json with --query)').choices(OUTPUT_FORMATS),
    new Option('--query <jmespath>', 'JMESPath query applied to the result (see https://jmespath.org)').argParser(jmesPathQuery),
    new Option('--json', 'the same as -o json'),
    new Option('--only-show-errors', 'print only errors on stderr: no progress, no notes'),
    new Option('--subscription <id>', 'Azure subscription id (default: AZURE_SUBSCRIPTION_ID, or the only one available)'),
    new Option('--emulator <connection-file>', 'use the local emulator (or set DISK_DELTA_EMULATOR)'),
  ].map((o) => o.helpGroup(GLOBAL_HELP_GROUP));
}

/**
 * Puts the global options on the program and every command under it, so that they are accepted
 * anywhere on the command line, as az accepts them (`disk-delta families --disk x -o table`). A command
 * that declares one of these flags itself keeps its own.
 */
export function addGlobalOptions(program: Command): void {
  const visit = (cmd: Command) => {
    for (const option of globalOptionList()) {
      const taken = cmd.options.some((o) => (option.long && o.long === option.long) || (option.short && o.short === option.short));
      if (!taken) cmd.addOption(option);
    }
    for (const sub of cmd.commands) visit(sub);
  };
  visit(program);
}

/** The global options as given anywhere from the program down to the command that runs (nearest wins). */
export function globalOptionsOf(command: Command): GlobalOptions {
  const chain: Command[] = [];
  for (let c: Command | null = command; c; c = c.parent) chain.unshift(c);
  const merged: Record<string, unknown> = {};
  for (const c of chain) {
    for (const [k, v] of Object.entries(c.opts()))
      if (v !== undefined && ['subscription', 'emulator', 'output', 'query', 'json', 'onlyShowErrors'].includes(k)) merged[k] = v;
  }
  return merged as GlobalOptions;
}

/** `-o`, `--json` and `--query` as one setting; `--json` with another `-o` is a contradiction. */
export function outputSettingsOf(global: GlobalOptions, stdoutIsTty: boolean): OutputSettings {
  if (global.json && global.output && global.output !== 'json') {
    throw new DiskDeltaError(`--json and -o ${global.output} ask for two formats.`, 'InvalidArguments', 'Pass one of them (--json is the same as -o json).');
  }
  const format = global.json ? 'json' : global.output;
  return {
    ...(format ? { format } : {}),
    ...(global.query !== undefined ? { query: global.query } : {}),
    color: stdoutIsTty && !process.env.NO_COLOR,
  };
}

/**
 * The pace a differential copy writes its target blob at: just under the blob's scale targets, or lower
 * with --cap-mbps (megabits per second, as azcopy's --cap-mbps counts them).
 */
export function copyPace(capMbps: number | undefined): { readonly requestsPerSecond: number; readonly bytesPerSecond: number } {
  if (capMbps === undefined) return AZURE_TARGET_PACE;
  return { requestsPerSecond: AZURE_TARGET_PACE.requestsPerSecond, bytesPerSecond: Math.min(AZURE_TARGET_PACE.bytesPerSecond, (capMbps * 1_000_000) / 8) };
}
