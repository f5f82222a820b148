/**
 * The activity log: what Disk Delta did (creates, copies, restores, deletes, revokes, tag edits), when,
 * how it ended and how long it took - as the Azure extensions' Activity Log shows long operations.
 * Kept in a file of the extension's global storage: ids, names and messages only, redacted (no SAS).
 */
import { redact } from './secret';

export type ActivityKind = 'create' | 'copy' | 'restore' | 'delete' | 'revoke' | 'tags';
export type ActivityOutcome = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface ActivityEntry {
  /** Unique within the log. */
  readonly id: string;
  readonly kind: ActivityKind;
  /** e.g. "Create snapshot orders-db-20261120". */
  readonly title: string;
  readonly outcome: ActivityOutcome;
  /** ISO time the operation started. */
  readonly startedAt: string;
  readonly endedAt?: string;
  readonly durationMs?: number;
  /** The resource the operation made or acted on (reveal / open in portal). */
  readonly resourceId?: string;
  /** Failure message, redacted. */
  readonly error?: string;
  /** Short detail shown after the title, e.g. "to backups (westus)". */
  readonly detail?: string;
}

/** Entries kept; older ones are dropped. */
export const ACTIVITY_CAP = 200;
export const ACTIVITY_FILE_VERSION = 1;

const KINDS: readonly ActivityKind[] = ['create', 'copy', 'restore', 'delete', 'revoke', 'tags'];
const OUTCOMES: readonly ActivityOutcome[] = ['running', 'succeeded', 'failed', 'cancelled'];

/** Adds or replaces (same id) an entry; newest first, at most `cap`. */
export function upsertActivity(entries: readonly ActivityEntry[], entry: ActivityEntry, cap = ACTIVITY_CAP): ActivityEntry[] {
  const clean = sanitize(entry);
  const rest = entries.filter((e) => e.id !== clean.id);
  return sortNewestFirst([clean, ...rest]).slice(0, Math.max(0, cap));
}

/** Ends a running entry: outcome, end time and duration. */
export function finishActivity(entry: ActivityEntry, outcome: Exclude<ActivityOutcome, 'running'>, at: Date, error?: string): ActivityEntry {
  const started = Date.parse(entry.startedAt);
  return {
    ...entry,
    outcome,
    endedAt: at.toISOString(),
    durationMs: Number.isFinite(started) ? Math.max(0, at.getTime() - started) : undefined,
    ...(error !== undefined ? { error: redact(error) } : {}),
  };
}

function sortNewestFirst(entries: ActivityEntry[]): ActivityEntry[] {
  return entries.sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt));
}

function sanitize(e: ActivityEntry): ActivityEntry {
  return {
    ...e,
    title: redact(e.title),
    ...(e.detail !== undefined ? { detail: redact(e.detail) } : {}),
    ...(e.error !== undefined ? { error: redact(e.error) } : {}),
  };
}

/** The file's text. */
export function serializeActivity(entries: readonly ActivityEntry[]): string {
  return JSON.stringify({ version: ACTIVITY_FILE_VERSION, entries: entries.map(sanitize) }, null, 2);
}

/**
 * Entries from the file's text; anything unreadable is dropped rather than failing the view. An entry
 * still "running" in the file belongs to a window that closed mid-operation: it is shown as cancelled.
 */
export function parseActivity(text: string, now: Date = new Date()): ActivityEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  const raw = (parsed as { version?: unknown; entries?: unknown }) ?? {};
  if (raw.version !== ACTIVITY_FILE_VERSION || !Array.isArray(raw.entries)) return [];
  const out: ActivityEntry[] = [];
  for (const r of raw.entries as unknown[]) {
    if (typeof r !== 'object' || r === null) continue;
    const e = r as Record<string, unknown>;
    if (typeof e['id'] !== 'string' || typeof e['title'] !== 'string' || typeof e['startedAt'] !== 'string') continue;
    if (!KINDS.includes(e['kind'] as ActivityKind) || !OUTCOMES.includes(e['outcome'] as ActivityOutcome)) continue;
    if (Number.isNaN(Date.parse(e['startedAt']))) continue;
    let entry: ActivityEntry = {
      id: e['id'],
      kind: e['kind'] as ActivityKind,
      title: e['title'],
      outcome: e['outcome'] as ActivityOutcome,
      startedAt: e['startedAt'],
      ...(typeof e['endedAt'] === 'string' ? { endedAt: e['endedAt'] } : {}),
      ...(typeof e['durationMs'] === 'number' ? { durationMs: e['durationMs'] } : {}),
      ...(typeof e['resourceId'] === 'string' ? { resourceId: e['resourceId'] } : {}),
      ...(typeof e['error'] === 'string' ? { error: e['error'] } : {}),
      ...(typeof e['detail'] === 'string' ? { detail: e['detail'] } : {}),
    };
    if (entry.outcome === 'running') entry = finishActivity(entry, 'cancelled', now, 'Interrupted: VS Code closed while it ran.');
    out.push(sanitize(entry));
  }
  return sortNewestFirst(out).slice(0, ACTIVITY_CAP);
}
