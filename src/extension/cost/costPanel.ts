import * as vscode from 'vscode';
import { withReadAccess } from '../../core/access';
import { usedBytes } from '../../core/cost';
import { projectFamilyCost, type FamilyCostProjection } from '../../core/costProjection';
import { DIFF_WINDOW_BYTES, withSnapshotDiff } from '../../core/diff';
import type { SnapshotFamily } from '../../core/families';
import type { SnapshotInfo } from '../../core/model';
import { offsetWindows } from '../../core/pageRanges';
import { createNonce } from '../blockMap/html';
import { familyOf } from '../commands/snapshots';
import { pickFamily } from '../pickers';
import { withCancellableProgress } from '../progress';
import type { DiskDeltaServices } from '../services';
import { settings } from '../settings';
import type { DiskDeltaNode } from '../tree/items';
import { costChartSvg } from './chart';
import { costPage } from './html';

const ALLOCATED_KEY = 'diskDelta.allocatedSizes.v1';

/** Allocated bytes of a family's first snapshot (its used size), listed once and kept by uniqueId. */
async function allocatedBytes(s: DiskDeltaServices, snapshot: SnapshotInfo, signal: AbortSignal): Promise<number> {
  const known = s.context.globalState.get<Record<string, number>>(ALLOCATED_KEY) ?? {};
  const cached = known[snapshot.uniqueId];
  if (cached !== undefined) return cached;
  const clients = await s.connection.clientsFor(snapshot.subscriptionId);
  const bytes = await withReadAccess(
    clients.compute,
    [snapshot.id],
    { durationSeconds: settings.sasDurationSeconds(), signal, alreadyGranted: new Set(snapshot.diskState === 'ActiveSAS' ? [snapshot.id] : []) },
    async ([grant]) => {
      const source = clients.dataPlane.openSas(grant!.url());
      let sum = 0;
      for (const w of offsetWindows(snapshot.sizeBytes, DIFF_WINDOW_BYTES)) sum += await usedBytes(source.listRanges(w, { signal }));
      return sum;
    },
  );
  await s.context.globalState.update(ALLOCATED_KEY, { ...known, [snapshot.uniqueId]: bytes });
  return bytes;
}

/** Used size of every snapshot of the family: from diffs already run, else listed now (and kept). */
async function familyUsage(s: DiskDeltaServices, family: SnapshotFamily, report: (m: string) => void, signal: AbortSignal): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const snaps = family.snapshots;
  const clients = await s.connection.clientsFor(snaps[0]!.subscriptionId);
  for (const [i, snap] of snaps.entries()) {
    report(`${i + 1}/${snaps.length}: ${snap.name}`);
    if (i === 0) {
      out.set(snap.id.toLowerCase(), await allocatedBytes(s, snap, signal));
      continue;
    }
    const prev = snaps[i - 1]!;
    let used = s.usedSizes.get(prev, snap);
    if (used === undefined) {
      used = await withSnapshotDiff(
        clients.compute,
        clients.dataPlane,
        prev.id,
        snap.id,
        { signal, sasDurationSeconds: settings.sasDurationSeconds() },
        (diff) => usedBytes(diff.ranges()),
      );
      await s.usedSizes.set(prev, snap, used);
    }
    out.set(snap.id.toLowerCase(), used);
  }
  return out;
}

export function projectionFor(s: DiskDeltaServices, family: SnapshotFamily, usage: ReadonlyMap<string, number>): FamilyCostProjection {
  const record = s.copies.recordOf(family.snapshots[0]?.familyId ?? family.id) ?? s.copies.recordOf(family.id);
  return projectFamilyCost({
    snapshots: family.snapshots.map((x) => ({ id: x.id, name: x.name, timeCreated: x.timeCreated })),
    usedBytes: usage,
    pricePerGiBMonth: settings.pricePerGiBMonth(),
    currency: settings.currency(),
    copiedUpTo: record?.lastCopiedSnapshotId,
  });
}

/** Show Cost: the family's used size per snapshot and projected monthly bill, source and copy target, as a chart. */
export async function showCostCommand(s: DiskDeltaServices, node?: DiskDeltaNode): Promise<void> {
  const family = familyOf(node) ?? (await pickFamily(s.connection, s.catalogs, 'Show Cost of a Snapshot Family'));
  if (!family.snapshots.length) return;
  const usage = await withCancellableProgress(`Cost of ${family.sourceName}: reading used sizes`, (report, signal) =>
    familyUsage(s, family, (message) => report({ message }), signal),
  );
  s.tree.redraw();
  const title = `Cost: ${family.sourceName}`;
  const panel = vscode.window.createWebviewPanel('diskDelta.cost', title, vscode.ViewColumn.Active, { enableScripts: false, localResourceRoots: [] });
  const render = () => {
    const projection = projectionFor(s, family, usage);
    panel.webview.html = costPage(costChartSvg(projection, { title: `${family.sourceName}: storage and monthly bill` }), title, createNonce());
  };
  render();
  const sub = vscode.workspace.onDidChangeConfiguration((e) => {
    if (e.affectsConfiguration('diskDelta.cost')) render();
  });
  panel.onDidDispose(() => sub.dispose());
}
