/**
 * Azure resource name rules, checked before any call so a user sees the problem in the input box.
 * Each `validate*` returns a message for the user, or undefined when the name is valid: the shape VS Code's
 * `InputBoxOptions.validateInput` expects, and what the CLI prints before refusing.
 */
import { DiskDeltaError } from './errors';

export type NameKind = 'disk' | 'snapshot' | 'resourceGroup' | 'storageAccount' | 'container';

const LABEL: Record<NameKind, string> = {
  disk: 'Disk',
  snapshot: 'Snapshot',
  resourceGroup: 'Resource group',
  storageAccount: 'Storage account',
  container: 'Container',
};

/** Azure: disk and snapshot names are 1-80 characters — docs/azure-behaviour.md#limits. */
export const MAX_COMPUTE_NAME = 80;
/** Azure: resource group names are 1-90 characters — learn.microsoft.com "Naming rules and restrictions for Azure resources" (Microsoft.Resources). */
export const MAX_RESOURCE_GROUP_NAME = 90;

function quoteList(chars: Iterable<string>): string {
  return [...new Set(chars)].map((c) => (c === ' ' ? 'spaces' : `"${c}"`)).join(', ');
}

/** Managed disk and snapshot names (the rules are the same for both). */
function validateComputeName(name: string, kind: 'disk' | 'snapshot'): string | undefined {
  const label = LABEL[kind];
  // Azure: 1-80 chars of letters, digits, _ - .; start with a letter or digit; end with a letter, digit or _ — docs/azure-behaviour.md#limits.
  if (name.length === 0) return `Enter a ${kind} name.`;
  if (name.length > MAX_COMPUTE_NAME) return `${label} names can have at most ${MAX_COMPUTE_NAME} characters (this one has ${name.length}).`;
  const bad = [...name].filter((c) => !/^[A-Za-z0-9_.-]$/.test(c));
  if (bad.length > 0) return `${label} names can only contain letters, digits, "_", "-" and "." (not ${quoteList(bad)}).`;
  if (!/^[A-Za-z0-9]/.test(name)) return `${label} names must start with a letter or a digit.`;
  if (!/[A-Za-z0-9_]$/.test(name)) return `${label} names must end with a letter, a digit or "_".`;
  return undefined;
}

export function validateSnapshotName(name: string): string | undefined {
  return validateComputeName(name, 'snapshot');
}

export function validateDiskName(name: string): string | undefined {
  return validateComputeName(name, 'disk');
}

/**
 * Resource group names: 1-90 characters of letters, digits (Unicode ones too), `_`, `-`, `.`, `(`, `)`; not
 * ending with a period. Azure compares them case-insensitively.
 */
export function validateResourceGroupName(name: string): string | undefined {
  // Azure: Microsoft.Resources/resourcegroups 1-90, alphanumerics/underscores/parentheses/hyphens/periods, no trailing period — learn.microsoft.com resource-name-rules.
  if (name.length === 0) return 'Enter a resource group name.';
  if (name.length > MAX_RESOURCE_GROUP_NAME) {
    return `Resource group names can have at most ${MAX_RESOURCE_GROUP_NAME} characters (this one has ${name.length}).`;
  }
  const bad = [...name].filter((c) => !/^[\p{L}\p{N}_().-]$/u.test(c));
  if (bad.length > 0) return `Resource group names can only contain letters, digits, "_", "-", ".", "(" and ")" (not ${quoteList(bad)}).`;
  if (name.endsWith('.')) return 'Resource group names cannot end with a period.';
  return undefined;
}

/** Storage account names: 3-24 lowercase letters and digits. */
export function validateStorageAccountName(name: string): string | undefined {
  // Azure: Microsoft.Storage/storageAccounts 3-24 lowercase letters and numbers — learn.microsoft.com resource-name-rules.
  if (name.length < 3 || name.length > 24) return `Storage account names have 3 to 24 characters (this one has ${name.length}).`;
  if (!/^[a-z0-9]+$/.test(name)) return 'Storage account names can only contain lowercase letters and digits.';
  return undefined;
}

/** Blob container names: 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit. */
export function validateContainerName(name: string): string | undefined {
  // Azure Storage: container names 3-63 chars, lowercase letters/numbers/hyphens, start with letter or number, no consecutive hyphens — "Naming and Referencing Containers, Blobs, and Metadata".
  if (name.length < 3 || name.length > 63) return `Container names have 3 to 63 characters (this one has ${name.length}).`;
  if (!/^[a-z0-9-]+$/.test(name)) return 'Container names can only contain lowercase letters, digits and "-".';
  if (!/^[a-z0-9]/.test(name)) return 'Container names must start with a letter or a digit.';
  if (name.endsWith('-')) return 'Container names must end with a letter or a digit.';
  if (name.includes('--')) return 'Container names cannot contain two hyphens in a row.';
  return undefined;
}

const VALIDATORS: Record<NameKind, (name: string) => string | undefined> = {
  disk: validateDiskName,
  snapshot: validateSnapshotName,
  resourceGroup: validateResourceGroupName,
  storageAccount: validateStorageAccountName,
  container: validateContainerName,
};

export function validateName(kind: NameKind, name: string): string | undefined {
  return VALIDATORS[kind](name);
}

/**
 * Throws a `DiskDeltaError` (code `InvalidName`) whose message carries the validation message; the hint
 * says what to do (not the same reason again: messages and hints are printed one after the other).
 */
export function assertValidName(kind: NameKind, name: string): void {
  const problem = validateName(kind, name);
  if (problem !== undefined) {
    throw new DiskDeltaError(
      `"${name}" is not a valid ${LABEL[kind].toLowerCase()} name: ${problem}`,
      'InvalidName',
      `Choose another ${LABEL[kind].toLowerCase()} name.`,
    );
  }
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** `YYYYMMDD-HHMM` in UTC: snapshots of one disk can live in several regions, so names use one clock. */
export function nameTimestamp(date: Date): string {
  return `${date.getUTCFullYear()}${pad2(date.getUTCMonth() + 1)}${pad2(date.getUTCDate())}` + `-${pad2(date.getUTCHours())}${pad2(date.getUTCMinutes())}`;
}

/** A name derived from `base`, made valid for a disk or snapshot and short enough to take `suffix`. */
function fitComputeName(base: string, suffix: string, fallback: string): string {
  let stem = base.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  stem = stem.slice(0, MAX_COMPUTE_NAME - suffix.length).replace(/[.-]+$/, '');
  if (stem.length === 0) stem = fallback;
  const name = `${stem}${suffix}`;
  // The suffix may end in "." or "-" only if a caller passes such a suffix; keep the result valid anyway.
  return /[A-Za-z0-9_]$/.test(name) ? name : `${name.replace(/[.-]+$/, '')}_`;
}

/**
 * A valid snapshot name such as `<disk>-incr-20261122-0143` (UTC), with the disk part shortened (and any
 * character Azure refuses replaced by `-`) so that the whole stays within 80 characters.
 */
export function suggestSnapshotName(diskName: string, date: Date, kind: 'incr' | 'full' = 'incr'): string {
  return fitComputeName(diskName, `-${kind}-${nameTimestamp(date)}`, 'snapshot');
}

/** A valid name for a disk restored from a snapshot, such as `<snapshot>-restored`. */
export function suggestRestoredDiskName(snapshotName: string): string {
  return fitComputeName(snapshotName, '-restored', 'disk');
}
