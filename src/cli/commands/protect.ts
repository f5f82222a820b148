/** `disk-delta protect run | status | drill | schedule`: continuous protection from a policy file. */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { AZURE_TARGET_PACE, defaultStateDirectory } from '../../core/copy';
import { formatDuration } from '../../core/format';
import { DiskDeltaError } from '../../core/errors';
import {
  DEFAULT_PRICES,
  loadPolicyFile,
  parseShard,
  PolicyError,
  protectionStatus,
  runDrill,
  runProtection,
  scheduleDefinition,
  type DiskOutcome,
  type PolicyFile,
  type ProtectEnvironment,
  type ScheduleKind,
} from '../../core/protect';
import { redact } from '../../core/secret';
import type { CliContext } from '../context';
import { withExamples, type CliRuntime } from '../runtime';
import { formatTable } from '../output';

/** A policy that does not validate: every problem on stderr as `<file>:<line>: <key path>: <what>`, exit 2, nothing touched. */
async function loadPolicy(file: string): Promise<PolicyFile> {
  try {
    return await loadPolicyFile(file);
  } catch (error) {
    if (error instanceof PolicyError) {
      process.stderr.write(error.lines.join('\n') + '\n');
      throw new CommanderError(2, 'disk-delta.invalidPolicy', '');
    }
    throw error;
  }
}

async function environment(ctx: CliContext, o: { parallel?: number; concurrency?: number }): Promise<ProtectEnvironment> {
  return {
    compute: ctx.clients.compute,
    dataPlane: ctx.clients.dataPlane,
    copyDataPlane: ctx.clients.copyDataPlane,
    storage: ctx.clients.protectionStorage,
    subscriptionId: ctx.subscriptionId,
    stateDirectory: defaultStateDirectory(),
    signal: ctx.signal,
    targetPace: AZURE_TARGET_PACE,
    ...(o.parallel ? { parallelDisks: o.parallel } : {}),
    ...(o.concurrency ? { requestBudget: o.concurrency } : {}),
    note: ctx.note,
  };
}

function positiveInt(flag: string, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n < 1 || n > max) throw new InvalidArgumentError(`${flag} ${v} is not a whole number from 1 to ${max}.`);
    return n;
  };
}

function age(seconds: number | null): string {
  return seconds === null ? '-' : formatDuration(seconds * 1000);
}

function outcomeLine(o: DiskOutcome): string {
  const name = o.disk.split('/').pop() ?? o.disk;
  const state = o.withinRpo ? 'within RPO' : 'OUTSIDE RPO';
  const copied = o.action === 'copied' ? `, ${o.bytesCopied} bytes copied` : '';
  const pruned = o.pruned.source.length + o.pruned.target.length > 0 ? `, pruned ${o.pruned.source.length} source / ${o.pruned.target.length} target` : '';
  return `${o.policy}  ${name}  ${o.action}${copied}${pruned}  newest point ${age(o.ageSeconds)} old (${state}, RPO ${age(o.rpoSeconds)})${o.error ? `\n    ${o.error}` : ''}`;
}

export interface ProtectRunOptions {
  policy: string;
  shard?: string;
  dryRun?: boolean;
  parallel?: number;
  concurrency?: number;
}

export async function protectRunCommand(ctx: CliContext, file: PolicyFile, o: ProtectRunOptions): Promise<void> {
  const shard = o.shard ? parseShard(o.shard) : undefined;
  const env = await environment(ctx, o);
  const { summary } = await runProtection(env, file, {
    ...(shard ? { shard } : {}),
    dryRun: o.dryRun === true,
    onDisk: (outcome) => process.stdout.write(ctx.json ? JSON.stringify(outcome) + '\n' : redact(outcomeLine(outcome)) + '\n'),
  });
  if (ctx.json) process.stdout.write(JSON.stringify({ summary }) + '\n');
  else
    process.stdout.write(
      `${summary.disks} disks: ${summary.copied} copied, ${summary.upToDate} up to date, ${summary.busy} busy, ${summary.failed} failed; ${summary.withinRpo} within RPO\n`,
    );
  if (summary.withinRpo < summary.disks) {
    throw new DiskDeltaError(
      `${summary.disks - summary.withinRpo} of ${summary.disks} disks are not within their RPO.`,
      'OutsideRpo',
      'See the failed and busy disks above; run again (a busy disk is being copied by another runner).',
    );
  }
}

export async function protectStatusCommand(ctx: CliContext, file: PolicyFile, o: { shard?: string }): Promise<void> {
  const shard = o.shard ? parseShard(o.shard) : undefined;
  const lines = await protectionStatus(await environment(ctx, {}), file, { ...(shard ? { shard } : {}), prices: DEFAULT_PRICES });
  if (ctx.json) {
    for (const l of lines) process.stdout.write(JSON.stringify(l) + '\n');
    return;
  }
  process.stdout.write(
    formatTable(
      [
        'policy',
        'disk',
        'newest point',
        'age',
        'RPO',
        'state',
        'source points',
        'target points',
        'source bytes',
        'target bytes',
        `cost/month (${DEFAULT_PRICES.currency})`,
      ],
      lines.map((l) => [
        l.policy,
        l.disk.split('/').pop() ?? l.disk,
        l.newestPoint?.snapshot.split('/').pop() ?? '-',
        age(l.ageSeconds),
        age(l.rpoSeconds),
        l.withinRpo ? 'within' : 'breached',
        String(l.sourcePoints),
        String(l.targetPoints),
        String(l.sourceUsedBytes),
        String(l.targetBytes),
        `${l.monthlyCost.source.toFixed(2)} + ${l.monthlyCost.target.toFixed(2)}`,
      ]),
    ) + '\n',
  );
}

export async function protectDrillCommand(ctx: CliContext, file: PolicyFile, o: { disk: string; full?: boolean; reportDir?: string }): Promise<void> {
  const { result, drillDiskDeleted } = await runDrill(await environment(ctx, {}), file, o.disk, {
    full: o.full === true,
    reportDir: o.reportDir ?? process.cwd(),
    note: ctx.note,
  });
  if (ctx.json) process.stdout.write(JSON.stringify(result) + '\n');
  else {
    process.stdout.write(
      `${result.match ? 'MATCH' : 'MISMATCH'}: ${result.disk.split('/').pop()} restored as ${result.restoredDiskId.split('/').pop()} (${drillDiskDeleted ? 'deleted' : 'NOT deleted'}), ${result.comparedBytes} bytes compared${result.full ? ' (full)' : ' (sampled)'} in ${result.seconds} s\n  report: ${result.report.markdown}\n`,
    );
  }
  if (!result.match) throw new DiskDeltaError('The restored disk does not match its source snapshot.', 'DrillMismatch', `See ${result.report.markdown}.`);
  if (!drillDiskDeleted)
    throw new DiskDeltaError(
      `The drill disk ${result.restoredDiskId} was not deleted.`,
      'DrillDiskLeft',
      'Delete it yourself (disk-delta restore created it).',
    );
}

const SCHEDULE_KINDS: readonly ScheduleKind[] = ['github-actions', 'azure-pipelines', 'k8s-cronjob', 'container-apps-job'];

/**
 * Adds `protect` and its subcommands. `open` signs in (or reads the emulator connection); it is called only
 * once the policy file has validated, so a bad file changes and contacts nothing.
 */
export function registerProtectCommands(program: Command, rt: CliRuntime): void {
  const protect = program.command('protect').description('continuous protection: keep disks copied to another region within an RPO, from a policy file');
  withExamples(protect, [
    ['one pass over every policy: copy what is older than its RPO', 'disk-delta protect run --policy disk-delta.policy.yaml'],
    ['where each disk stands against its RPO', 'disk-delta protect status --policy disk-delta.policy.yaml'],
  ]);
  const withPolicy = <T extends { policy: string }>(action: (ctx: CliContext, file: PolicyFile, o: T) => Promise<void>) => {
    return async (o: T, command: Command) => {
      const file = await loadPolicy(o.policy);
      await action(await rt.connect(command), file, o);
    };
  };
  protect
    .command('run')
    .description('one pass: snapshot, copy, import, verify and prune every selected disk whose newest copied point is older than its RPO')
    .requiredOption('--policy <file>', 'policy file (YAML or JSON)')
    .option('--shard <i/n>', 'work on shard i (0-based) of n; disks are split by a hash of their id')
    .option('--dry-run', 'report what would be done; change nothing')
    .option('--parallel <n>', 'disks worked on at once (default 4)', positiveInt('--parallel', 64))
    .option('--concurrency <n>', 'requests in flight across all disks (default 64)', positiveInt('--concurrency', 1024))
    .action(withPolicy((ctx, file, o: ProtectRunOptions) => protectRunCommand(ctx, file, o)));
  protect
    .command('status')
    .description('per disk: the newest protected point against the RPO, points, bytes and monthly cost on each side (no changes)')
    .requiredOption('--policy <file>', 'policy file (YAML or JSON)')
    .option('--shard <i/n>', 'only shard i (0-based) of n')
    .action(withPolicy((ctx, file, o: { policy: string; shard?: string }) => protectStatusCommand(ctx, file, o)));
  protect
    .command('drill')
    .description('restore the newest target point as a disk, compare it with its source snapshot, delete it, write an evidence report')
    .requiredOption('--policy <file>', 'policy file (YAML or JSON)')
    .requiredOption('--disk <id>', 'the protected disk')
    .option('--full', 'compare every allocated range (default: sampled ranges)')
    .option('--report-dir <dir>', 'where the JSON and Markdown reports go (default: the current folder)')
    .action(withPolicy((ctx, file, o: { policy: string; disk: string; full?: boolean; reportDir?: string }) => protectDrillCommand(ctx, file, o)));
  const examples: Record<string, [string, string][]> = {
    run: [
      ['one pass, one JSON line per disk', 'disk-delta protect run --policy disk-delta.policy.yaml --json'],
      ['shard 0 of 4 runners', 'disk-delta protect run --policy disk-delta.policy.yaml --shard 0/4'],
    ],
    status: [['per disk: the newest point against the RPO', 'disk-delta protect status --policy disk-delta.policy.yaml --json']],
    drill: [
      ['restore the newest copy of a disk and compare it', 'disk-delta protect drill --policy disk-delta.policy.yaml --disk orders-db --report-dir reports'],
    ],
    schedule: [
      [
        'a GitHub Actions workflow that runs protect run',
        'disk-delta protect schedule --policy disk-delta.policy.yaml --github-actions > .github/workflows/dr.yml',
      ],
    ],
  };
  const schedule = protect
    .command('schedule')
    .description('print a scheduler definition that runs protect run, on a schedule derived from the RPO')
    .requiredOption('--policy <file>', 'policy file (YAML or JSON)')
    .option('--image <ref>', 'the CLI image (built from the Dockerfile)', 'disk-delta:latest')
    .option('--shards <n>', 'Kubernetes: pods of the Indexed Job', positiveInt('--shards', 1000), 4);
  for (const kind of SCHEDULE_KINDS) schedule.option(`--${kind}`, `a ${kind.replace(/-/g, ' ')} definition`);
  schedule.action(async (o: { policy: string; image: string; shards: number } & Partial<Record<string, boolean>>) => {
    const chosen = SCHEDULE_KINDS.filter((k) => o[k.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())] === true);
    if (chosen.length !== 1) {
      // Bad usage: exit 2, as for any other wrong argument.
      process.stderr.write(
        'disk-delta: error InvalidArguments: choose one scheduler.\n  Pass one of --github-actions, --azure-pipelines, --k8s-cronjob, --container-apps-job.\n',
      );
      throw new CommanderError(2, 'disk-delta.invalidArguments', '');
    }
    const file = await loadPolicy(o.policy);
    process.stdout.write(scheduleDefinition(chosen[0]!, file, { policyPath: o.policy.replace(/^\.\//, ''), image: o.image, shards: o.shards }));
  });
  for (const sub of protect.commands) withExamples(sub, examples[sub.name()] ?? []);
}
