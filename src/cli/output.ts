import { DiskDeltaError, isAbortError } from '../core/ports';
import { redact } from '../core/secret';

/** A plain, aligned text table for people; scripts use --json. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** One clear line (plus a hint) for any failure; never a stack trace, never a secret. */
export function describeError(error: unknown): string {
  if (error instanceof DiskDeltaError) {
    const status = error.statusCode ? ` (HTTP ${error.statusCode})` : '';
    return redact(`error ${error.code}${status}: ${error.message}${error.hint ? `\n  ${error.hint}` : ''}`);
  }
  if (isAbortError(error)) return 'cancelled';
  const e = error as { code?: string; message?: string };
  return redact(`error${e.code ? ` ${e.code}` : ''}: ${e.message ?? String(error)}`);
}
