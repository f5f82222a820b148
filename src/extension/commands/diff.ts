import * as vscode from 'vscode';
import { estimateCost } from '../../core/cost';
import { formatBytes } from '../../core/format';
import { withSnapshotDiff } from '../../core/diff';
import { snapshotFileDiff } from '../../core/filesystems/snapshotFileDiff';
import { previousInFamily, validateDiffPair, type SnapshotFamily } from '../../core/families';
import type { SnapshotInfo } from '../../core/model';
import { DiskDeltaError } from '../../core/errors';
import { DiffRangeStore } from '../../core/rangeStore';
import { sameResourceId } from '../../core/resourceId';
import { filesMessage } from '../blockMap/files';
import { blockMapSourceFromStore, openBlockMap, registerBlockMapSerializer, type BlockMapDataSource, type FamilyBars } from '../blockMap';
import { pickSnapshot, required } from '../pickers';
import { withCancellableProgress } from '../progress';
import type { DiskDeltaServices } from '../services';
import { settings } from '../settings';
import { SnapshotNode, type DiskDeltaNode } from '../tree/items';

/** Consecutive pairs shown as bars under the map. */
const FAMILY_BARS = 12;

interface ListedDiff {
  readonly older: SnapshotInfo;
  readonly newer: SnapshotInfo;
  readonly store: DiffRangeStore;
  readonly diskSizeBytes: number;
  readonly changedBytes: number;
  readonly clearedBytes: number;
}

/**
 * Lists a diff once into memory (17 bytes a range) and revokes the grants at once; the map then
 * re-bins any zoom window from memory, with no SAS held while the panel is open.
 */
async function listDiff(
  s: DiskDeltaServices,
  older: SnapshotInfo,
  newer: SnapshotInfo,
  signal?: AbortSignal,
  report?: (text: string) => void,
): Promise<ListedDiff> {
  const clients = await s.connection.clientsFor(newer.subscriptionId);
  return withSnapshotDiff(
    clients.compute,
    clients.dataPlane,
    older.id,
    newer.id,
    {
      signal,
      sasDurationSeconds: settings.sasDurationSeconds(),
      onRevoked: (id, error) => (error ? s.log.warn(`Revoking access on ${id} failed: ${String(error)}`) : s.log.debug(`Access revoked on ${id}`)),
      onRetry: (reason) => s.log.info(reason),
    },
    async (diff) => {
      const store = new DiffRangeStore();
      let changed = 0;
      let cleared = 0;
      let last = 0;
      for await (const r of diff.ranges()) {
        store.append(r);
        if (r.kind === 'changed') changed += r.length;
        else cleared += r.length;
        if (report && Date.now() - last > 250) {
          last = Date.now();
          report(`${store.count.toLocaleString()} ranges, ${formatBytes(changed)} changed so far`);
        }
      }
      s.log.info(`Diff ${diff.older.name} -> ${diff.newer.name}: ${store.count} ranges, ${changed} bytes changed, ${cleared} cleared`);
      await s.usedSizes.set(diff.older, diff.newer, changed);
      return { older: diff.older, newer: diff.newer, store, diskSizeBytes: diff.diskSizeBytes, changedBytes: changed, clearedBytes: cleared };
    },
  );
}

/**
 * The Files panel's list: the same file-level diff as `disk-delta diff --files`, on grants of its own that
 * withSnapshotDiff revokes whatever happens (the map's own grants were given back when it was listed).
 */
async function changedFiles(s: DiskDeltaServices, older: SnapshotInfo, newer: SnapshotInfo, signal: AbortSignal) {
  const clients = await s.connection.clientsFor(newer.subscriptionId);
  const diff = await snapshotFileDiff(clients.compute, clients.dataPlane, older.id, newer.id, {
    signal,
    collectExtents: true,
    sasDurationSeconds: settings.sasDurationSeconds(),
    onRevoked: (id, error) => (error ? s.log.warn(`Revoking access on ${id} failed: ${String(error)}`) : s.log.debug(`Access revoked on ${id}`)),
    onRetry: (reason) => s.log.info(reason),
    onNote: (text) => s.log.debug(`Files: ${text}`),
  });
  s.log.info(`File diff ${older.name} -> ${newer.name}: ${diff.files.length} files, ${diff.bytesRead} bytes read`);
  return filesMessage(diff);
}

function sourceFor(s: DiskDeltaServices, listed: ListedDiff, family: SnapshotFamily | undefined): BlockMapDataSource {
  const cost = estimateCost(listed.changedBytes, settings.pricePerGiBMonth(), new Date());
  // The bars cover the family's most recent pairs (and the one shown): each unknown pair costs a diff.
  const allPairs = family ? family.snapshots.slice(1).map((x, i) => [family.snapshots[i]!, x] as const) : [];
  const shownAt = allPairs.findIndex(([a, b]) => sameResourceId(a.id, listed.older.id) && sameResourceId(b.id, listed.newer.id));
  const from = Math.max(0, Math.min(allPairs.length - FAMILY_BARS, shownAt < 0 ? allPairs.length : shownAt - FAMILY_BARS + 1));
  const pairs = allPairs.slice(from, from + FAMILY_BARS);
  const selected = pairs.findIndex(([a, b]) => sameResourceId(a.id, listed.older.id) && sameResourceId(b.id, listed.newer.id));
  return blockMapSourceFromStore(listed.store, {
    diskSizeBytes: listed.diskSizeBytes,
    pair: { from: listed.older.id, to: listed.newer.id },
    restoreKey: JSON.stringify({ older: listed.older.id, newer: listed.newer.id }),
    changedFiles: (signal) => changedFiles(s, listed.older, listed.newer, signal),
    extras: {
      usedBytes: listed.changedBytes,
      monthlyCost: { amount: cost.monthlyCost, currency: settings.currency() },
      fromLabel: listed.older.name,
      toLabel: listed.newer.name,
    },
    ...(pairs.length
      ? {
          familyBars: async (signal?: AbortSignal): Promise<FamilyBars> => {
            const bars = [];
            for (const [a, b] of pairs) {
              let changed = s.usedSizes.get(a, b);
              let cleared = 0;
              if (sameResourceId(a.id, listed.older.id) && sameResourceId(b.id, listed.newer.id)) {
                changed = listed.changedBytes;
                cleared = listed.clearedBytes;
              } else if (changed === undefined) {
                const other = await listDiff(s, a, b, signal);
                changed = other.changedBytes;
                cleared = other.clearedBytes;
              }
              bars.push({ fromLabel: a.name, toLabel: b.name, time: b.timeCreated, changedBytes: changed, clearedBytes: cleared });
            }
            s.tree.redraw();
            return { bars, selected };
          },
          withPair: async (index: number, signal?: AbortSignal) => {
            const pair = pairs[index];
            if (!pair) throw new DiskDeltaError('That pair is not part of the family.', 'InvalidPair');
            return sourceFor(s, await listDiff(s, pair[0], pair[1], signal), family);
          },
        }
      : {}),
  });
}

async function openDiff(s: DiskDeltaServices, a: SnapshotInfo, b: SnapshotInfo, family: SnapshotFamily | undefined): Promise<void> {
  const check = validateDiffPair(a, b);
  if (!check.ok) throw check.error;
  const listed = await withCancellableProgress(`Diff ${check.older.name} → ${check.newer.name}`, (report, signal) =>
    listDiff(s, check.older, check.newer, signal, (message) => report({ message })),
  );
  s.tree.redraw();
  openBlockMap(s.context, sourceFor(s, listed, family), `${listed.older.name} → ${listed.newer.name}`, s.log);
}

export async function diffWithPreviousCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  let snapshot: SnapshotInfo;
  let family: SnapshotFamily | undefined;
  if (node instanceof SnapshotNode) ({ snapshot, family } = node);
  else ({ snapshot, family } = await pickSnapshot(s.connection, s.catalogs, 'Diff with Previous Snapshot', (x, f) => !!f && !!previousInFamily(f, x.id)));
  const previous = family ? previousInFamily(family, snapshot.id) : undefined;
  if (!previous) {
    throw new DiskDeltaError(
      `${snapshot.name} is the first snapshot of its family: there is nothing before it to diff with.`,
      'NoPrevious',
      'Choose a later snapshot.',
    );
  }
  await openDiff(s, previous, snapshot, family);
}

export async function diffSnapshotsCommand(s: DiskDeltaServices, node?: DiskDeltaNode, selected?: readonly DiskDeltaNode[]): Promise<void> {
  const chosen = (selected ?? []).filter((n): n is SnapshotNode => n instanceof SnapshotNode);
  let first: { snapshot: SnapshotInfo; family?: SnapshotFamily };
  let second: { snapshot: SnapshotInfo; family?: SnapshotFamily };
  if (chosen.length === 2) {
    first = chosen[0]!;
    second = chosen[1]!;
  } else {
    first = node instanceof SnapshotNode ? node : await pickSnapshot(s.connection, s.catalogs, 'Diff Two Snapshots (1/2)', (x) => x.incremental);
    const family = first.family;
    second = await pickSnapshot(
      s.connection,
      s.catalogs,
      `Diff ${first.snapshot.name} with... (2/2)`,
      (x, f) => x.incremental && !sameResourceId(x.id, first.snapshot.id) && (!family || f?.id === family.id),
    );
  }
  await openDiff(s, first.snapshot, second.snapshot, first.family ?? second.family);
}

/** Brings back map panels after a reload: the pair is in the panel's state, the ranges are listed again. */
export function registerDiffRestore(s: DiskDeltaServices): vscode.Disposable {
  return registerBlockMapSerializer(
    s.context,
    async (state) => {
      if (!state.restoreKey || s.connection.kind === 'none') return undefined;
      const { older, newer } = JSON.parse(state.restoreKey) as { older: string; newer: string };
      const a = await s.catalogs.findSnapshot(older);
      const b = await s.catalogs.findSnapshot(newer);
      const clients = await s.connection.clientsFor(newer.split('/')[2] ?? '');
      const oldInfo = a?.snapshot ?? required(await clients.compute.getSnapshot(older));
      const newInfo = b?.snapshot ?? required(await clients.compute.getSnapshot(newer));
      const family = b?.catalog.families.find((f) => f.snapshots.some((x) => sameResourceId(x.id, newer)));
      const listed = await listDiff(s, oldInfo, newInfo);
      return { source: sourceFor(s, listed, family), title: `${oldInfo.name} → ${newInfo.name}` };
    },
    s.log,
  );
}
