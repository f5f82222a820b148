/** Which disks a policy selects, and which of them a shard (`--shard i/n`) works on. */
import { createHash } from 'node:crypto';
import type { DiskInfo } from '../model';
import { DiskDeltaError } from '../errors';
import { sameResourceId } from '../resourceId';
import type { ProtectionPolicy } from './policy';

/** Every condition the policy gives must hold (ids, resource groups, tags; tag names case-insensitive as in Azure). */
export function selectDisks(policy: ProtectionPolicy, disks: readonly DiskInfo[]): DiskInfo[] {
  const sel = policy.disks;
  return disks
    .filter((d) => !sel.subscription || d.subscriptionId.toLowerCase() === sel.subscription.toLowerCase())
    .filter((d) => !sel.ids || sel.ids.some((id) => sameResourceId(id, d.id)))
    .filter((d) => !sel.resourceGroups || sel.resourceGroups.some((rg) => rg.toLowerCase() === d.resourceGroup.toLowerCase()))
    .filter((d) => {
      if (!sel.tags) return true;
      const tags = new Map(Object.entries(d.tags ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
      return Object.entries(sel.tags).every(([k, v]) => tags.get(k.toLowerCase()) === v);
    })
    .sort((a, b) => a.id.toLowerCase().localeCompare(b.id.toLowerCase()));
}

export interface Shard {
  /** 0-based, as a Kubernetes Indexed Job's completion index. */
  readonly index: number;
  readonly count: number;
}

/** `2/4` -> {index: 2, count: 4}; the index runs from 0 to count - 1. */
export function parseShard(text: string): Shard {
  const m = /^(\d{1,4})\/(\d{1,4})$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) {
    throw new DiskDeltaError(
      `--shard ${text} is not <index>/<count> with 0 <= index < count.`,
      'InvalidArguments',
      'Pass for example --shard 0/4 ... --shard 3/4 (the index of a Kubernetes Indexed Job pod).',
    );
  }
  return { index, count };
}

/** Deterministic: the same disk id lands in the same shard on every runner (SHA-256 of the lower-cased id). */
export function shardOf(diskId: string, count: number): number {
  const h = createHash('sha256').update(diskId.toLowerCase()).digest();
  return h.readUInt32BE(0) % count;
}

export function inShard(diskId: string, shard: Shard | undefined): boolean {
  return !shard || shardOf(diskId, shard.count) === shard.index;
}
