import { RANGE_SIZE_BUCKETS as CORE_BUCKETS, type DiffSummary } from '../../core/blockMap';
import { formatBytes, formatCost, formatPercent } from '../../core/format';
import type { BlockMapSummary } from '../../shared/blockMapProtocol';

/** What the map shows besides the diff itself, when the extension knows it. */
export interface SummaryExtras {
  readonly usedBytes?: number;
  readonly monthlyCost?: { readonly amount: number; readonly currency?: string };
  readonly fromLabel?: string;
  readonly toLabel?: string;
}

/**
 * The core's diff summary in the map's wire form: one histogram of both kinds indexed by log2 of the
 * range size (the core's buckets start at 512 B and its last one is open-ended).
 */
export function toBlockMapSummary(summary: DiffSummary, extras: SummaryExtras = {}): BlockMapSummary {
  const offset = Math.log2(CORE_BUCKETS[0]?.min ?? 512);
  const histogram = new Array<number>(offset + CORE_BUCKETS.length).fill(0);
  CORE_BUCKETS.forEach((_, i) => {
    histogram[offset + i] = (summary.changedHistogram[i] ?? 0) + (summary.clearedHistogram[i] ?? 0);
  });
  return {
    diskSizeBytes: summary.diskSizeBytes,
    changedBytes: summary.changedBytes,
    clearedBytes: summary.clearedBytes,
    rangeCount: summary.rangeCount,
    changedRangeCount: summary.changedRangeCount,
    clearedRangeCount: summary.clearedRangeCount,
    largestRangeBytes: summary.largestRange?.length ?? 0,
    shareOfDisk: Math.min(1, summary.changedShare + summary.clearedShare),
    sizeHistogram: histogram,
    sizeHistogramOpenEnded: CORE_BUCKETS[CORE_BUCKETS.length - 1]?.max === undefined,
    ...extras,
  };
}

/** The summary as plain text lines (what "Copy summary" puts on the clipboard). */
export function summaryText(title: string, s: BlockMapSummary): string {
  const lines = [
    title,
    `Changed: ${formatBytes(s.changedBytes)} (${s.changedBytes} bytes)`,
    `Cleared: ${formatBytes(s.clearedBytes)} (${s.clearedBytes} bytes)`,
    `Ranges: ${s.rangeCount}`,
    `Largest range: ${formatBytes(s.largestRangeBytes)} (${s.largestRangeBytes} bytes)`,
    `Share of disk: ${formatPercent(s.shareOfDisk)} of ${formatBytes(s.diskSizeBytes)}`,
  ];
  if (s.usedBytes !== undefined) lines.push(`Snapshot used size: ${formatBytes(s.usedBytes)} (${s.usedBytes} bytes)`);
  if (s.monthlyCost !== undefined) lines.push(`Estimated cost: ${formatCost(s.monthlyCost.amount, 2, s.monthlyCost.currency)} per month`);
  return lines.join('\n');
}
