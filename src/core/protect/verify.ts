/**
 * `verify: sample:N%`: after a copy, N% of the newest point's changed bytes (in 1 MiB pieces spread over them,
 * at least one) are read from the source snapshot and from the target's blob snapshot and compared by SHA-256.
 */
import { createHash } from 'node:crypto';
import type { PageRange } from '../model';
import { type ComputeApi, type DataPlane, type PageTarget } from '../ports';
import { DiskDeltaError } from '../errors';

const MiB = 1024 * 1024;

/** Up to `count` chunks of at most 1 MiB spread evenly over the ranges (every range when they are few). */
export function sampleRanges(ranges: readonly PageRange[], count: number, chunk = MiB): PageRange[] {
  const pieces: PageRange[] = [];
  for (const r of ranges)
    for (let at = r.offset; at < r.offset + r.length; at += chunk) pieces.push({ offset: at, length: Math.min(chunk, r.offset + r.length - at) });
  if (pieces.length <= count) return pieces;
  const step = pieces.length / count;
  return Array.from({ length: count }, (_, i) => pieces[Math.floor(i * step)]!);
}

export interface SampleCheck {
  readonly comparedBytes: number;
  readonly pieces: number;
}

export async function verifySample(
  compute: ComputeApi,
  dataPlane: DataPlane,
  target: PageTarget,
  sourceSnapshotId: string,
  blobSnapshot: string,
  previousBlobSnapshot: string | undefined,
  percent: number,
  signal: AbortSignal | undefined,
): Promise<SampleCheck> {
  const point = target.snapshotSource(blobSnapshot);
  const window = { offset: 0, length: await target.size({ signal }) };
  // What this point changed on the target: its diff from the point before it, or everything for the first.
  const changed: PageRange[] = [];
  if (previousBlobSnapshot) {
    for await (const r of point.listDiff(target.snapshotSource(previousBlobSnapshot), window, { signal }))
      if (r.kind === 'changed') changed.push({ offset: r.offset, length: r.length });
  } else {
    for await (const r of point.listRanges(window, { signal })) changed.push(r);
  }
  const all = sampleRanges(changed, Number.MAX_SAFE_INTEGER);
  const pieces = all.length === 0 ? [] : sampleRanges(changed, Math.max(1, Math.ceil((all.length * percent) / 100)));
  if (pieces.length === 0) return { comparedBytes: 0, pieces: 0 };
  const url = await compute.grantAccess(sourceSnapshotId, 'Read', 3600, { signal });
  let comparedBytes = 0;
  try {
    const source = dataPlane.openSas(url);
    for (const p of pieces) {
      const [a, b] = await Promise.all([source.read(p.offset, p.length, { signal }), point.read(p.offset, p.length, { signal })]);
      if (createHash('sha256').update(a).digest('hex') !== createHash('sha256').update(b).digest('hex')) {
        throw new DiskDeltaError(
          `The copy differs from its source snapshot at bytes ${p.offset}-${p.offset + p.length - 1} (sampled verification).`,
          'VerificationFailed',
          'Run again: the next pass copies the disk again; if it persists, run disk-delta protect drill --full.',
        );
      }
      comparedBytes += p.length;
    }
  } finally {
    await compute.revokeAccess(sourceSnapshotId).catch(() => undefined);
  }
  return { comparedBytes, pieces: pieces.length };
}
