import type * as vscode from 'vscode';
import type { CopyJobs, CopyRecord } from '../copyJobs';
import type { ActivityHandle, ActivityLog } from './activityLog';

/**
 * Records differential copies in the activity log from the copy records the copy flow keeps: a record
 * turning "running" starts an entry, leaving "running" ends it (done: succeeded, failed, interrupted:
 * cancelled). Watching the records keeps the copy flow itself free of activity code.
 */
export function recordCopies(copies: CopyJobs, activity: ActivityLog): vscode.Disposable {
  const running = new Map<string, ActivityHandle>();
  const seen = new Map<string, CopyRecord['state']>();
  for (const r of Object.values(copies.records)) seen.set(r.familyId.toLowerCase(), r.state === 'running' ? 'interrupted' : r.state);
  return copies.onDidChange((familyId) => {
    if (!familyId) return;
    const key = familyId.toLowerCase();
    const record = copies.recordOf(familyId);
    if (!record) return;
    const previous = seen.get(key);
    seen.set(key, record.state);
    if (record.state === previous) return;
    if (record.state === 'running') {
      running.get(key)?.cancelled();
      running.set(
        key,
        activity.start('copy', `Copy ${record.familyName} to ${record.targetAccountName}`, {
          resourceId: record.upToSnapshotId,
          detail: `${record.targetRegion}, ${record.container}/${record.blobName}`,
        }),
      );
      return;
    }
    const handle = running.get(key);
    if (!handle) return;
    running.delete(key);
    if (record.state === 'done') handle.succeeded();
    else if (record.state === 'failed') handle.failed(record.error ?? 'The copy failed.');
    else handle.cancelled();
  });
}
