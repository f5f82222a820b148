/**
 * `disk-delta doctor` and "Disk Delta: Run Diagnostics": checks, each by a harmless call (a token, a
 * read, a list, a permissions query), that what a diff or a copy needs is in place, and says how to fix
 * what is not. Written against ports; the CLI and the extension print the same results.
 */
import type { StorageAccountInfo } from './model';
import type { ComputeApi, DataPlane } from './ports';
import { DiskDeltaError, isAbortError } from './errors';
import { parseResourceId } from './resourceId';
import { redact } from './secret';

export type DoctorStatus = 'ok' | 'warn' | 'fail';

/** One result; the field names are the contract of `disk-delta doctor --json`. */
export interface DoctorCheck {
  readonly check: string;
  readonly status: DoctorStatus;
  readonly detail: string;
  /** What to do about a warning or failure; empty when the check passed. */
  readonly fix: string;
}

/** What an identity may do at a scope (Microsoft.Authorization permissions: actions minus notActions). */
export interface PermissionSet {
  readonly actions: readonly string[];
  readonly notActions: readonly string[];
  readonly dataActions?: readonly string[];
  readonly notDataActions?: readonly string[];
}

/** The reads the checks need beyond ComputeApi and DataPlane; `src/azure` implements them. */
export interface DiagnosticsApi {
  /** Gets an ARM token; returns who it was issued to, as far as the token says. */
  signIn(signal?: AbortSignal): Promise<string>;
  /** A resource provider's `registrationState` in the subscription (e.g. `Registered`). */
  providerState(subscriptionId: string, namespace: string, signal?: AbortSignal): Promise<string>;
  /** The caller's permissions at a scope (a resource group or resource id); undefined when they cannot be read. */
  permissions(scopeId: string, signal?: AbortSignal): Promise<PermissionSet[] | undefined>;
  /** How many disks and snapshots a resource group holds (a list call: proves read access). */
  listResourceGroup(subscriptionId: string, resourceGroup: string, signal?: AbortSignal): Promise<{ disks: number; snapshots: number }>;
  /** Resolves when an HTTPS endpoint answers at all (any status); rejects when it cannot be reached. */
  reachable(url: string, signal?: AbortSignal): Promise<void>;
}

export interface DoctorRequest {
  readonly compute: ComputeApi;
  readonly dataPlane: DataPlane;
  readonly diagnostics: DiagnosticsApi;
  /** The subscription to check; when missing, the only one available (as the CLI picks it). */
  readonly subscriptionId?: string;
  /** A storage account resource id: the copy target to check. */
  readonly targetAccountId?: string;
  /** Resource groups of source disks; by default those of the subscription's disks (at most 10). */
  readonly resourceGroups?: readonly string[];
  /** Container a copy writes to (default `disk-delta`). */
  readonly container?: string;
  readonly signal?: AbortSignal;
}

/** Actions a diff and a copy take on the source resource group. */
export const SOURCE_ACTIONS = [
  'Microsoft.Compute/disks/read',
  'Microsoft.Compute/snapshots/read',
  'Microsoft.Compute/snapshots/write',
  'Microsoft.Compute/snapshots/beginGetAccess/action',
  'Microsoft.Compute/snapshots/endGetAccess/action',
] as const;

/** Actions a copy takes on the target account: it reads the account and writes blobs with Entra ID (no keys). */
export const TARGET_ACTIONS = ['Microsoft.Storage/storageAccounts/read'] as const;
export const TARGET_DATA_ACTIONS = [
  'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read',
  'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write',
] as const;

function matches(pattern: string, action: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
      .join('.*')}$`,
    'i',
  );
  return re.test(action);
}

/** Whether a permission set allows `action` (Azure RBAC: any action pattern matches and no notAction does). */
export function allows(sets: readonly PermissionSet[], action: string, data = false): boolean {
  return sets.some((s) => {
    const allowed = data ? (s.dataActions ?? []) : s.actions;
    const denied = data ? (s.notDataActions ?? []) : s.notActions;
    return allowed.some((a) => matches(a, action)) && !denied.some((a) => matches(a, action));
  });
}

function message(error: unknown): string {
  if (error instanceof DiskDeltaError) return redact(`${error.code}${error.statusCode ? ` (HTTP ${error.statusCode})` : ''}: ${error.message}`);
  const e = error as { code?: string; message?: string };
  return redact(`${e.code ? `${e.code}: ` : ''}${e.message ?? String(error)}`);
}

function statusOf(error: unknown): number | undefined {
  return error instanceof DiskDeltaError ? error.statusCode : (error as { statusCode?: number }).statusCode;
}

const ok = (check: string, detail: string): DoctorCheck => ({ check, status: 'ok', detail, fix: '' });
const warn = (check: string, detail: string, fix: string): DoctorCheck => ({ check, status: 'warn', detail, fix });
const fail = (check: string, detail: string, fix: string): DoctorCheck => ({ check, status: 'fail', detail, fix });

/** Runs every check in order; a failure that makes later checks meaningless ends the run early. */
export async function runDoctor(request: DoctorRequest): Promise<DoctorCheck[]> {
  const results: DoctorCheck[] = [];
  const { compute, diagnostics, signal } = request;
  const guard = async <T>(fn: () => Promise<T>): Promise<{ value?: T; error?: unknown }> => {
    try {
      return { value: await fn() };
    } catch (error) {
      if (isAbortError(error) || signal?.aborted) throw error;
      return { error };
    }
  };

  // 1. Sign-in: a token for Azure Resource Manager.
  const token = await guard(() => diagnostics.signIn(signal));
  if (token.error !== undefined) {
    results.push(
      fail(
        'sign-in',
        `No ARM token: ${message(token.error)}`,
        'Sign in: `az login` (or set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or use a managed identity); in VS Code run "Disk Delta: Sign in to Azure".',
      ),
    );
    return results;
  }
  results.push(ok('sign-in', `Signed in (${token.value}).`));

  // 2. Subscription.
  const subs = await guard(() => compute.listSubscriptions({ signal }));
  if (subs.error !== undefined) {
    results.push(
      fail(
        'subscription',
        `Cannot list subscriptions: ${message(subs.error)}`,
        'Check the network path to Azure Resource Manager and that the sign-in is for the right tenant.',
      ),
    );
    return results;
  }
  const list = subs.value ?? [];
  let subscriptionId = request.subscriptionId;
  if (!subscriptionId) {
    if (list.length !== 1) {
      results.push(
        fail(
          'subscription',
          list.length === 0 ? 'No subscription is available to this sign-in.' : `${list.length} subscriptions are available; none was chosen.`,
          'Pass --subscription <id> (or set AZURE_SUBSCRIPTION_ID); ask for Reader access if none is listed.',
        ),
      );
      return results;
    }
    subscriptionId = list[0]!.subscriptionId;
  }
  const sub = list.find((s) => s.subscriptionId.toLowerCase() === subscriptionId!.toLowerCase());
  if (!sub) {
    results.push(
      fail(
        'subscription',
        `Subscription ${subscriptionId} is not available to this sign-in.`,
        'Check the id, sign in to its tenant, or ask for at least Reader on it.',
      ),
    );
    return results;
  }
  results.push(ok('subscription', `${sub.displayName} (${sub.subscriptionId}).`));

  // 3. Resource providers.
  for (const namespace of ['Microsoft.Compute', 'Microsoft.Storage']) {
    const name = `provider ${namespace}`;
    const state = await guard(() => diagnostics.providerState(subscriptionId!, namespace, signal));
    if (state.error !== undefined)
      results.push(
        warn(
          name,
          `Cannot read the registration: ${message(state.error)}`,
          `Check it in the portal (Subscriptions > Resource providers) or with \`az provider show --namespace ${namespace}\`.`,
        ),
      );
    else if (state.value === 'Registered') results.push(ok(name, 'Registered.'));
    else
      results.push(
        fail(name, `Registration state: ${state.value}.`, `Register it: \`az provider register --namespace ${namespace} --subscription ${subscriptionId}\`.`),
      );
  }

  // 4. Source resource groups: a list (read) and the permissions a diff and a copy use.
  let groups = request.resourceGroups ? [...request.resourceGroups] : undefined;
  if (!groups) {
    const seen = new Map<string, string>();
    const disks = await guard(async () => {
      for await (const d of compute.listDisks(subscriptionId!, { signal })) if (seen.size < 10) seen.set(d.resourceGroup.toLowerCase(), d.resourceGroup);
    });
    if (disks.error !== undefined) {
      results.push(
        fail(
          'disks',
          `Cannot list the subscription's disks: ${message(disks.error)}`,
          "Ask for the Reader role (or Disk Snapshot Contributor) on the subscription or the disks' resource groups.",
        ),
      );
      groups = [];
    } else {
      groups = [...seen.values()];
      if (groups.length === 0)
        results.push(warn('disks', 'The subscription has no managed disks.', 'Pass --resource-group <name> to check the group your disks will be in.'));
    }
  }
  for (const rg of groups) {
    const name = `resource group ${rg}`;
    const listed = await guard(() => diagnostics.listResourceGroup(subscriptionId!, rg, signal));
    if (listed.error !== undefined) {
      const status = statusOf(listed.error);
      results.push(
        fail(
          name,
          `Cannot list its disks and snapshots: ${message(listed.error)}`,
          status === 404 ? 'Check the resource group name.' : 'Ask for Disk Snapshot Contributor (or Contributor) on this resource group.',
        ),
      );
      continue;
    }
    const sets = await guard(() => diagnostics.permissions(`/subscriptions/${subscriptionId}/resourceGroups/${rg}`, signal));
    const counts = `${listed.value!.disks} disk(s), ${listed.value!.snapshots} snapshot(s)`;
    if (sets.error !== undefined || sets.value === undefined) {
      results.push(
        warn(
          name,
          `${counts} readable; the permissions could not be read${sets.error !== undefined ? ` (${message(sets.error)})` : ''}.`,
          'Make sure you hold Disk Snapshot Contributor (snapshots write, beginGetAccess, endGetAccess) on it.',
        ),
      );
      continue;
    }
    const missing = SOURCE_ACTIONS.filter((a) => !allows(sets.value!, a));
    if (missing.length > 0)
      results.push(
        fail(name, `${counts} readable, but missing: ${missing.join(', ')}.`, 'Ask for Disk Snapshot Contributor (or Contributor) on this resource group.'),
      );
    else results.push(ok(name, `${counts}; snapshots can be created, granted and revoked.`));
  }

  // 5. Target account: read, permissions, the container, the blob endpoint.
  const container = request.container ?? 'disk-delta';
  const endpoints = new Map<string, string>();
  if (request.targetAccountId) {
    let account: StorageAccountInfo | undefined;
    let parts: ReturnType<typeof parseResourceId> | undefined;
    try {
      parts = parseResourceId(request.targetAccountId);
    } catch {
      parts = undefined;
    }
    if (!parts || parts.type.toLowerCase() !== 'storageaccounts') {
      results.push(
        fail(
          'target account',
          `${request.targetAccountId} is not a storage account resource id.`,
          'Pass /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<name>.',
        ),
      );
    } else {
      const accounts = await guard(() => compute.listStorageAccounts(parts!.subscriptionId, { signal }));
      account = accounts.value?.find((a) => a.id.toLowerCase() === request.targetAccountId!.toLowerCase());
      if (accounts.error !== undefined)
        results.push(
          fail(
            'target account',
            `Cannot read storage accounts: ${message(accounts.error)}`,
            'Ask for Reader (or Storage Account Contributor) on the target account.',
          ),
        );
      else if (!account)
        results.push(
          fail(
            'target account',
            `${parts.name} was not found in subscription ${parts.subscriptionId}.`,
            'Check the id; `az storage account show --ids <id>` should find it.',
          ),
        );
      else
        results.push(
          ok(
            'target account',
            `${account.name} in ${account.location}${account.kind ? ` (${account.kind}` : ''}${account.sku ? `, ${account.sku})` : account.kind ? ')' : ''}.`,
          ),
        );

      if (account) {
        endpoints.set(account.name, account.blobEndpoint);
        const sets = await guard(() => diagnostics.permissions(`/subscriptions/${parts!.subscriptionId}/resourceGroups/${parts!.resourceGroup}`, signal));
        if (sets.error !== undefined || sets.value === undefined) {
          results.push(
            warn(
              'target account permissions',
              'The permissions could not be read.',
              'Make sure you hold Storage Account Contributor, or Storage Blob Data Contributor, on the account.',
            ),
          );
        } else {
          const missing = [
            ...TARGET_ACTIONS.filter((a) => !allows(sets.value!, a)),
            ...TARGET_DATA_ACTIONS.filter((a) => !allows(sets.value!, a, true)).map((a) => `data action ${a}`),
          ];
          if (missing.length === 0) results.push(ok('target account permissions', 'The account can be read and its blobs read and written with Entra ID.'));
          else
            results.push(
              fail(
                'target account permissions',
                `Missing: ${missing.join(', ')}.`,
                'Ask for Storage Blob Data Contributor on the target account (Disk Delta writes blobs with Entra ID, not account keys), and Reader on it.',
              ),
            );
        }
        const exists = await guard(async () => (await request.dataPlane.targetStore(account!, container)).containerExists({ signal }));
        if (exists.error !== undefined) {
          const status = statusOf(exists.error);
          results.push(
            fail(
              `container ${account.name}/${container}`,
              `Cannot read it: ${message(exists.error)}`,
              status === 403
                ? "Ask for Storage Blob Data Contributor on the account, or allow key access; check the account's firewall allows this network."
                : 'Check that the blob endpoint is reachable from here (firewall, private endpoint, proxy).',
            ),
          );
        } else {
          results.push(
            exists.value
              ? ok(`container ${account.name}/${container}`, 'Exists and is readable.')
              : ok(`container ${account.name}/${container}`, 'Readable; it does not exist yet and a copy creates it.'),
          );
        }
      }
    }
  }
  if (!request.targetAccountId) {
    const accounts = await guard(() => compute.listStorageAccounts(subscriptionId!, { signal }));
    if (accounts.error !== undefined)
      results.push(
        warn(
          'storage accounts',
          `Cannot list storage accounts: ${message(accounts.error)}`,
          'Ask for Reader on the subscription, or pass --target-account <id>.',
        ),
      );
    else {
      const byRegion = new Map<string, StorageAccountInfo>();
      for (const a of accounts.value ?? []) if (!byRegion.has(a.location)) byRegion.set(a.location, a);
      for (const a of [...byRegion.values()].slice(0, 4)) endpoints.set(a.name, a.blobEndpoint);
      if (byRegion.size === 0)
        results.push(
          warn(
            'storage accounts',
            'The subscription has no storage account to copy into.',
            'Create a StorageV2 account in the target region, then pass it as --target-account.',
          ),
        );
      else
        results.push(
          ok(
            'storage accounts',
            `${accounts.value!.length} storage account(s) in ${byRegion.size} region(s); one blob endpoint per region is checked (pass --target-account <id> to check a copy target).`,
          ),
        );
    }
  }
  for (const [name, url] of endpoints) {
    const reached = await guard(() => diagnostics.reachable(url, signal));
    if (reached.error !== undefined)
      results.push(
        fail(
          `blob endpoint ${name}`,
          `${url} cannot be reached: ${message(reached.error)}`,
          'Check DNS, proxy and firewall rules (or the private endpoint) between this machine and the account.',
        ),
      );
    else results.push(ok(`blob endpoint ${name}`, `${url} answers.`));
  }
  return results;
}

/** Exit status of `disk-delta doctor`: 1 when any check failed. */
export function doctorExitCode(checks: readonly DoctorCheck[]): number {
  return checks.some((c) => c.status === 'fail') ? 1 : 0;
}

/** Plain text for the terminal and the output channel: one line per check, its fix indented below. */
export function formatDoctorReport(checks: readonly DoctorCheck[]): string {
  const mark = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`[${mark[c.status]}] ${c.check}: ${c.detail}`);
    if (c.fix) lines.push(`       fix: ${c.fix}`);
  }
  const failed = checks.filter((c) => c.status === 'fail').length;
  const warned = checks.filter((c) => c.status === 'warn').length;
  lines.push(
    '',
    failed ? `${failed} check(s) failed, ${warned} warning(s).` : warned ? `All required checks passed, ${warned} warning(s).` : 'All checks passed.',
  );
  return lines.join('\n');
}

/** Markdown for the extension's preview. */
export function formatDoctorMarkdown(checks: readonly DoctorCheck[]): string {
  const icon = { ok: '✅', warn: '⚠️', fail: '❌' } as const;
  const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [
    '# Disk Delta diagnostics',
    '',
    '| | Check | Result | Fix |',
    '|---|---|---|---|',
    ...checks.map((c) => `| ${icon[c.status]} | ${esc(c.check)} | ${esc(c.detail)} | ${esc(c.fix)} |`),
    '',
    formatDoctorReport(checks).split('\n').pop() ?? '',
  ].join('\n');
}
