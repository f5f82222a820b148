import { existsSync } from 'node:fs';
/**
 * `protect drill`: restores a disk's newest target point as a managed disk in the target region, compares it
 * with the source snapshot it was copied from (SHA-256 of sampled ranges, or of every allocated range with
 * `full`), deletes the drill disk, and writes the evidence as JSON and Markdown.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { TARGET_METADATA, targetBlobName } from '../copy';
import type { DiskInfo, PageRange } from '../model';
import { mergeAdjacent } from '../pageRanges';
import { type PageSource } from '../ports';
import { DiskDeltaError } from '../errors';
import { parseResourceId, resourceId, sameResourceId } from '../resourceId';
import type { PolicyFile } from './policy';
import { azureNow, importedIdFor, resolveScopes, type ProtectEnvironment } from './run';
import { sampleRanges } from './verify';

/** What `protect drill --json` prints. */
export interface DrillResult {
  readonly disk: string;
  readonly snapshot: string;
  readonly restoredDiskId: string;
  readonly comparedBytes: number;
  readonly full: boolean;
  readonly match: boolean;
  readonly seconds: number;
  readonly report: { readonly json: string; readonly markdown: string };
}

export interface DrillEvidence extends Omit<DrillResult, 'report'> {
  readonly policy: string;
  readonly targetPoint: string;
  readonly restoredFrom: string;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly ranges: number;
  readonly mismatches: readonly { readonly offset: number; readonly length: number }[];
  readonly drillDiskDeleted: boolean;
}

const MiB = 1024 * 1024;
const MAX_READ = 4 * MiB;
const SAMPLES = 64;

function split(ranges: readonly PageRange[], max: number): PageRange[] {
  const out: PageRange[] = [];
  for (const r of ranges)
    for (let at = r.offset; at < r.offset + r.length; at += max) out.push({ offset: at, length: Math.min(max, r.offset + r.length - at) });
  return out;
}

async function collectRanges(source: PageSource, length: number, signal: AbortSignal | undefined): Promise<PageRange[]> {
  const out: PageRange[] = [];
  for await (const r of source.listRanges({ offset: 0, length }, { signal })) out.push(r);
  return out;
}

function union(a: readonly PageRange[], b: readonly PageRange[]): PageRange[] {
  // Overlaps are cut into disjoint ranges by walking the sorted starts and ends.
  const all = [...a, ...b].sort((x, y) => x.offset - y.offset);
  const out: PageRange[] = [];
  for (const r of all) {
    const last = out[out.length - 1];
    if (last && r.offset <= last.offset + last.length) {
      const end = Math.max(last.offset + last.length, r.offset + r.length);
      out[out.length - 1] = { offset: last.offset, length: end - last.offset };
    } else out.push({ ...r });
  }
  return mergeAdjacent(out);
}

function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

export async function runDrill(
  env: ProtectEnvironment,
  file: PolicyFile,
  diskId: string,
  options: { full?: boolean; reportDir: string; note?: (text: string) => void },
): Promise<{ result: DrillResult; drillDiskDeleted: boolean }> {
  const signal = env.signal;
  const started = Date.now();
  const startedAt = azureNow(env.compute);
  const scopes = await resolveScopes(env, file);
  const scope = scopes.find((s) => s.disks.some((d) => sameResourceId(d.id, diskId)));
  if (!scope)
    throw new DiskDeltaError(
      `No policy in ${file.file} selects the disk ${diskId}.`,
      'DiskNotInPolicy',
      'Pass the id of a disk the policy protects (disk-delta protect status lists them).',
    );
  if (!scope.account) throw scope.targetProblem ?? new DiskDeltaError('The target storage account was not found.', 'TargetAccountNotFound');
  const disk = scope.disks.find((d) => sameResourceId(d.id, diskId))!;
  const family = scope.families.get(disk.id.toLowerCase()) ?? [];
  const first = family[0];
  const reader = await env.dataPlane.targetStore(scope.account, scope.policy.target.container);
  const blobName = first?.familyId ? targetBlobName(first.familyId, disk.id, first.name) : undefined;
  const blob = blobName ? reader.blob(blobName) : undefined;
  const metadata = blob && (await blob.exists({ signal })) ? await blob.getMetadata({ signal }) : {};
  const sourceId = metadata[TARGET_METADATA.lastSnapshot];
  const point = metadata[TARGET_METADATA.lastBlobSnapshot];
  if (!blob || !sourceId || !point)
    throw new DiskDeltaError(`${disk.name} has no protected point in the target region yet.`, 'NoProtectedPoint', 'Run disk-delta protect run first.');
  const source = family.find((s) => sameResourceId(s.id, sourceId)) ?? (await env.compute.getSnapshot(sourceId, { signal }));
  if (!source)
    throw new DiskDeltaError(
      `The source snapshot ${sourceId} of the newest point no longer exists.`,
      'SnapshotNotFound',
      'Run disk-delta protect run to take a new point, then drill again.',
    );

  const account = scope.account;
  const parts = parseResourceId(account.id);
  const group = scope.policy.target.resourceGroup ?? parts.resourceGroup;
  const name = `${disk.name.slice(0, 50)}-drill-${stamp(startedAt)}`.slice(0, 80);
  const imported = importedIdFor(scope.policy, account, sourceId);
  const importedExists = imported && scope.policy.target.import === 'snapshot' ? await env.compute.getSnapshot(imported, { signal }) : undefined;
  const pointUrl = blob.snapshotUrl(point);
  // From the imported managed snapshot when there is one, else imported straight from the blob snapshot.
  const restoredFrom = importedExists ? importedExists.id : pointUrl;
  const drillDisk: DiskInfo = await env.compute.createDisk(
    importedExists
      ? {
          subscriptionId: parts.subscriptionId,
          resourceGroup: group,
          name,
          location: account.location,
          createOption: 'Copy',
          sourceResourceId: importedExists.id,
          tags: { diskdelta_drill: disk.id },
        }
      : {
          subscriptionId: parts.subscriptionId,
          resourceGroup: group,
          name,
          location: account.location,
          createOption: 'Import',
          sourceUri: pointUrl,
          storageAccountId: account.id,
          sku: 'Standard_LRS',
          tags: { diskdelta_drill: disk.id },
        },
    { signal },
  );
  const drillDiskId = drillDisk.id ?? resourceId(parts.subscriptionId, group, 'Microsoft.Compute', 'disks', name);
  let comparedBytes = 0;
  let ranges: number;
  const mismatches: { offset: number; length: number }[] = [];
  let deleted = false;
  try {
    const [sourceUrl, drillUrl] = [
      await env.compute.grantAccess(source.id, 'Read', 3600, { signal }),
      await env.compute.grantAccess(drillDiskId, 'Read', 3600, { signal }),
    ];
    try {
      const a = env.dataPlane.openSas(sourceUrl);
      const b = env.dataPlane.openSas(drillUrl);
      const length = source.sizeBytes;
      const [ra, rb] = await Promise.all([collectRanges(a, length, signal), collectRanges(b, length, signal)]);
      const todo = options.full ? split(union(ra, rb), MAX_READ) : sampleRanges(union(ra, rb), SAMPLES);
      ranges = todo.length;
      for (const r of todo) {
        const [x, y] = await Promise.all([a.read(r.offset, r.length, { signal }), b.read(r.offset, r.length, { signal })]);
        const hx = createHash('sha256').update(x).digest('hex');
        const hy = createHash('sha256').update(y).digest('hex');
        if (hx !== hy) mismatches.push(r);
        comparedBytes += r.length;
      }
    } finally {
      await env.compute.revokeAccess(source.id).catch(() => undefined);
      await env.compute.revokeAccess(drillDiskId).catch(() => undefined);
    }
  } finally {
    try {
      await env.compute.deleteDisk(drillDiskId);
      deleted = (await env.compute.getDisk(drillDiskId)) === undefined;
    } catch (error) {
      options.note?.(`The drill disk ${drillDiskId} could not be deleted: ${(error as Error).message}. Delete it yourself.`);
    }
  }
  const endedAt = azureNow(env.compute);
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  const evidence: DrillEvidence = {
    disk: disk.id,
    policy: scope.policy.name,
    snapshot: source.id,
    targetPoint: pointUrl,
    restoredFrom,
    restoredDiskId: drillDiskId,
    comparedBytes,
    ranges,
    full: options.full === true,
    match: mismatches.length === 0 && comparedBytes > 0,
    mismatches: mismatches.slice(0, 20),
    seconds,
    startedAt: startedAt.toISOString(),
    endedAt: endedAt.toISOString(),
    drillDiskDeleted: deleted,
  };
  await mkdir(options.reportDir, { recursive: true });
  // Two drills in one second must not overwrite each other's evidence.
  const plainBase = path.join(options.reportDir, `drill-${disk.name}-${stamp(startedAt)}`);
  let base = plainBase;
  for (let n = 2; existsSync(`${base}.json`) || existsSync(`${base}.md`); n++) base = `${plainBase}-${n}`;
  const report = { json: path.resolve(`${base}.json`), markdown: path.resolve(`${base}.md`) };
  await writeFile(report.json, JSON.stringify(evidence, null, 2) + '\n');
  await writeFile(report.markdown, drillMarkdown(evidence));
  const { policy: _p, targetPoint: _t, restoredFrom: _r, startedAt: _s, endedAt: _e, ranges: _n, mismatches: _m, drillDiskDeleted, ...result } = evidence;
  if (!drillDiskDeleted) options.note?.(`The drill disk ${drillDiskId} is still there.`);
  return { result: { ...result, report }, drillDiskDeleted };
}

export function drillMarkdown(e: DrillEvidence): string {
  const lines = [
    `# Recovery drill: ${e.disk.split('/').pop()}`,
    '',
    `**Result: ${e.match ? 'MATCH' : 'MISMATCH'}**${e.drillDiskDeleted ? '' : ' (the drill disk was not deleted)'}`,
    '',
    '| | |',
    '|---|---|',
    `| Disk | \`${e.disk}\` |`,
    `| Policy | ${e.policy} |`,
    `| Source snapshot | \`${e.snapshot}\` |`,
    `| Target point | \`${e.targetPoint}\` |`,
    `| Restored from | \`${e.restoredFrom}\` |`,
    `| Drill disk | \`${e.restoredDiskId}\` (${e.drillDiskDeleted ? 'deleted' : 'NOT deleted'}) |`,
    `| Compared | ${e.comparedBytes} bytes in ${e.ranges} ranges, ${e.full ? 'every allocated range' : 'sampled ranges'} (SHA-256) |`,
    `| Started | ${e.startedAt} |`,
    `| Ended | ${e.endedAt} |`,
    `| Took | ${e.seconds} s |`,
    '',
  ];
  if (e.mismatches.length > 0) {
    lines.push('## Ranges that differ', '', '| offset | length |', '|---:|---:|', ...e.mismatches.map((m) => `| ${m.offset} | ${m.length} |`), '');
  }
  return lines.join('\n');
}
