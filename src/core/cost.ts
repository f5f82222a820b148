/**
 * Used size and cost of incremental snapshots, and the units the product shows them in.
 *
 * Azure bills an incremental snapshot for its used size only: the bytes that changed since the previous
 * snapshot of its family. The first snapshot of a family has no previous one, so its used size is all the
 * bytes the disk had allocated. Cleared (trimmed) ranges take no storage and are not counted.
 *
 *   usedGiB        = usedBytes / 2^30
 *   monthly cost   = usedGiB × pricePerGiBMonth
 *   daily usage    = usedGiB / daysInMonth   (what the Azure usage report shows per day, in GiB-months)
 *   daily cost     = daily usage × pricePerGiBMonth
 *
 * Example: 10 GiB used in a 31-day month shows 10 / 31 = 0.3226 GiB a day in the usage report.
 * Azure: incremental snapshots are billed for used size only; daily usage is GiB/31 in a 31-day month — docs/azure-behaviour.md#billing.
 */
import type { DiffRange, PageRange } from './model';

export const GiB = 1024 ** 3;

/** Days in the (UTC) month holding `date`. */
export function daysInMonth(date: Date): number {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
}

/**
 * Used bytes from a stream: the changed ranges of a diff against the previous snapshot, or, for the
 * first snapshot of a family, its allocated ranges (plain `PageRange`s, which all count).
 */
export async function usedBytes(ranges: AsyncIterable<PageRange | DiffRange> | Iterable<PageRange | DiffRange>): Promise<number> {
  let sum = 0;
  for await (const r of ranges) {
    if ((r as Partial<DiffRange>).kind !== 'cleared') sum += r.length;
  }
  return sum;
}

export interface CostEstimate {
  readonly usedBytes: number;
  readonly usedGiB: number;
  /** usedGiB × pricePerGiBMonth. */
  readonly monthlyCost: number;
  /** usedGiB / days in the month: the daily quantity of Azure's usage report (GiB-months). */
  readonly dailyUsageGiB: number;
  /** dailyUsageGiB × pricePerGiBMonth. */
  readonly dailyCost: number;
  readonly daysInMonth: number;
}

/** The cost of `usedBytes` of incremental snapshot storage in the month holding `at`. */
export function estimateCost(usedBytesValue: number, pricePerGiBMonth: number, at: Date): CostEstimate {
  const usedGiB = usedBytesValue / GiB;
  const days = daysInMonth(at);
  const dailyUsageGiB = usedGiB / days;
  return {
    usedBytes: usedBytesValue,
    usedGiB,
    monthlyCost: usedGiB * pricePerGiBMonth,
    dailyUsageGiB,
    dailyCost: dailyUsageGiB * pricePerGiBMonth,
    daysInMonth: days,
  };
}

export interface SnapshotUsage {
  readonly snapshotId: string;
  /** Bytes changed since the previous snapshot of the family (allocated bytes for the first). */
  readonly usedBytes: number;
}

/** Total used size and cost of a family: the sum over its snapshots. */
export function familyCost(usages: readonly SnapshotUsage[], pricePerGiBMonth: number, at: Date): CostEstimate {
  return estimateCost(
    usages.reduce((sum, u) => sum + u.usedBytes, 0),
    pricePerGiBMonth,
    at,
  );
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

function trimNumber(value: number, maxDigits: number): string {
  const digits = value < 10 ? maxDigits : value < 100 ? Math.min(1, maxDigits) : 0;
  return value.toFixed(digits).replace(/\.0+$/, '').replace(/(\.\d*?)0+$/, '$1');
}

/** Bytes in binary units: `512 B`, `4 MiB`, `1.5 GiB`, `32 TiB` (up to three significant digits). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '? B';
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${sign}${Math.round(value)} B`;
  // 1023.99 KiB would print as "1024 KiB": move up a unit instead.
  if (Number(trimNumber(value, 2)) >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${sign}${trimNumber(value, 2)} ${BYTE_UNITS[unit]}`;
}

/** A byte rate such as `58.3 MiB/s`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** A duration: `850 ms`, `45 s`, `3 min 05 s`, `2 h 07 min`, `3 d 4 h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const totalSeconds = Math.round(ms / 1000);
  if (totalSeconds < 60) return `${totalSeconds} s`;
  const totalMinutes = Math.floor(totalSeconds / 60);
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (totalMinutes < 60) return `${totalMinutes} min ${pad(totalSeconds % 60)} s`;
  const totalHours = Math.floor(totalMinutes / 60);
  if (totalHours < 24) return `${totalHours} h ${pad(totalMinutes % 60)} min`;
  return `${Math.floor(totalHours / 24)} d ${totalHours % 24} h`;
}

/** A money amount in the user's billing currency (no symbol: the price setting has no currency). */
export function formatCost(amount: number, fractionDigits = 2): string {
  return amount.toFixed(fractionDigits);
}
