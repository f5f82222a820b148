import { DiskDeltaError } from './errors';

export interface ResourceIdParts {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly provider: string;
  readonly type: string;
  readonly name: string;
}

const PATTERN = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+)\/([^/]+)\/([^/]+)$/i;

/** Splits an ARM id such as `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/n`. */
export function parseResourceId(id: string): ResourceIdParts {
  const m = PATTERN.exec(id.trim().replace(/\/+$/, ''));
  if (!m) {
    throw new DiskDeltaError(
      `"${id}" is not an Azure resource id.`,
      'InvalidResourceId',
      'Pass a full id such as /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Compute/snapshots/<name>.',
    );
  }
  return { subscriptionId: m[1]!, resourceGroup: m[2]!, provider: m[3]!, type: m[4]!, name: m[5]! };
}

export function resourceId(subscriptionId: string, resourceGroup: string, provider: string, type: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/${provider}/${type}/${name}`;
}

/** ARM ids compare case-insensitively (resource group names are case-insensitive in Azure). */
export function sameResourceId(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

export function isSnapshotId(id: string): boolean {
  try {
    const p = parseResourceId(id);
    return p.provider.toLowerCase() === 'microsoft.compute' && p.type.toLowerCase() === 'snapshots';
  } catch {
    return false;
  }
}

export function isDiskId(id: string): boolean {
  try {
    const p = parseResourceId(id);
    return p.provider.toLowerCase() === 'microsoft.compute' && p.type.toLowerCase() === 'disks';
  } catch {
    return false;
  }
}
