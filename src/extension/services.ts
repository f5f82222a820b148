import type * as vscode from 'vscode';
import type { CatalogCache } from './catalog';
import type { Connection } from './connection';
import type { Log } from './log';
import type { SnapshotTreeProvider } from './tree/snapshotTree';
import type { UsedSizeCache } from './usedSizes';
import type { CopyJobs } from './copyJobs';
import type { ActivityLog } from './activity/activityLog';
import type { DiskDeltaNode } from './tree/items';

/** What commands work with; built once at activation (tests of the extension drive it through VS Code). */
export interface DiskDeltaServices {
  readonly context: vscode.ExtensionContext;
  readonly log: Log;
  readonly connection: Connection;
  readonly catalogs: CatalogCache;
  readonly tree: SnapshotTreeProvider;
  readonly usedSizes: UsedSizeCache;
  readonly copies: CopyJobs;
  readonly activity: ActivityLog;
  readonly snapshotsView?: vscode.TreeView<DiskDeltaNode>;
}
