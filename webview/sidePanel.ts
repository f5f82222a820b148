/** The text around the map: the status line, the summary, the histogram, the family's bars and the selection's ranges. */
import type { BlockMapSummary, CellRangesMessage, FamilyBars } from '../src/shared/blockMapProtocol';
import { formatBytes, formatCost, formatHex, formatPercent } from '../src/core/format';
import { dom, el } from './dom';
import type { MapState } from './state';

export function setStatus(message: string, isError = false): void {
  dom.status.textContent = message;
  dom.status.classList.toggle('error', isError);
}

export function offsetsText(offset: number, length: number): string {
  const last = offset + length - 1;
  return `${formatHex(offset)} – ${formatHex(last)} (${formatBytes(offset, true)} – ${formatBytes(offset + length, true)}, ${formatBytes(length)})`;
}

export function fractionText(state: MapState, cell: number): string {
  const c = state.changed[cell];
  const x = state.cleared[cell];
  if (c === undefined || Number.isNaN(c) || x === undefined || Number.isNaN(x)) return 'loading…';
  if (c === 0 && x === 0) return 'unchanged';
  const parts = [];
  if (c > 0) parts.push(`${formatPercent(c)} changed`);
  if (x > 0) parts.push(`${formatPercent(x)} cleared`);
  return parts.join(', ');
}

export function rangeItems(ranges: CellRangesMessage['ranges']): HTMLLIElement[] {
  return ranges.map((r) => {
    const item = el(
      'li',
      { class: r.kind },
      `${r.kind === 'cleared' ? 'cleared' : 'changed'} ${formatHex(r.offset)} – ${formatHex(r.offset + r.length - 1)}, ${formatBytes(r.length)}`,
    );
    item.title = `${r.offset} – ${r.offset + r.length - 1} (${r.length} bytes)`;
    return item;
  });
}

/** "… and 1,234 more" when a cell has more ranges than were listed. */
export function moreText(m: CellRangesMessage): string {
  return m.total > m.ranges.length ? `… and ${(m.total - m.ranges.length).toLocaleString('en-US')} more` : '';
}

export function showSelectionLoading(text: string): void {
  dom.selectionOffsets.textContent = text;
  dom.selectionRanges.replaceChildren();
  dom.selectionMore.textContent = 'Loading ranges…';
}

export function showSelectionRanges(m: CellRangesMessage): void {
  dom.selectionRanges.replaceChildren(...rangeItems(m.ranges));
  dom.selectionMore.textContent =
    moreText(m) || (m.ranges.length === 0 ? 'No ranges in this cell.' : `${m.total.toLocaleString('en-US')} range${m.total === 1 ? '' : 's'}.`);
}

export function clearSelection(): void {
  dom.selectionOffsets.textContent = 'Click a cell (or press Enter) to list its ranges.';
  dom.selectionRanges.replaceChildren();
  dom.selectionMore.textContent = '';
}

function setSummaryValue(id: string, text: string, exact?: number): void {
  const node = dom.summary(id);
  node.textContent = text;
  if (exact === undefined) delete node.dataset.value;
  else node.dataset.value = String(exact);
}

export function renderSummary(s: BlockMapSummary): void {
  setSummaryValue('changed', formatBytes(s.changedBytes), s.changedBytes);
  setSummaryValue('cleared', formatBytes(s.clearedBytes), s.clearedBytes);
  setSummaryValue('ranges', s.rangeCount.toLocaleString('en-US'), s.rangeCount);
  setSummaryValue('largest', formatBytes(s.largestRangeBytes), s.largestRangeBytes);
  setSummaryValue('share', formatPercent(s.shareOfDisk), s.shareOfDisk);
  setSummaryValue('disk', formatBytes(s.diskSizeBytes), s.diskSizeBytes);
  setSummaryValue('used', s.usedBytes === undefined ? 'unknown' : formatBytes(s.usedBytes), s.usedBytes);
  setSummaryValue(
    'cost',
    s.monthlyCost === undefined ? 'unknown' : `${formatCost(s.monthlyCost.amount, 2, s.monthlyCost.currency)} / month`,
    s.monthlyCost?.amount,
  );
  for (const [id, exact] of [
    ['changed', s.changedBytes],
    ['cleared', s.clearedBytes],
    ['largest', s.largestRangeBytes],
    ['used', s.usedBytes],
  ] as const) {
    if (exact !== undefined) dom.summary(id).title = `${exact.toLocaleString('en-US')} bytes`;
  }
  const pair = s.fromLabel && s.toLabel ? ` from ${s.fromLabel} to ${s.toLabel}` : '';
  dom.summaryText.textContent =
    `Summary${pair}: ${formatBytes(s.changedBytes)} changed and ${formatBytes(s.clearedBytes)} cleared in ` +
    `${s.rangeCount.toLocaleString('en-US')} ranges; the largest range is ${formatBytes(s.largestRangeBytes)}; ` +
    `${formatPercent(s.shareOfDisk)} of the ${formatBytes(s.diskSizeBytes)} disk.`;
  renderHistogram(s.sizeHistogram, s.sizeHistogramOpenEnded === true);
}

function renderHistogram(histogram: readonly number[], openEnded: boolean): void {
  const first = histogram.findIndex((n) => n > 0);
  let last = -1;
  histogram.forEach((n, i) => {
    if (n > 0) last = i;
  });
  const bars = dom.histogram;
  bars.replaceChildren();
  dom.text('histogram-min').textContent = first < 0 ? 'no ranges' : formatBytes(2 ** first);
  dom.text('histogram-max').textContent = last < 0 ? '' : formatBytes(2 ** last);
  if (first < 0) return;
  const max = Math.max(...histogram);
  for (let k = first; k <= last; k++) {
    const n = histogram[k] ?? 0;
    const sizes = openEnded && k === histogram.length - 1 ? `${formatBytes(2 ** k)} or more` : `${formatBytes(2 ** k)} to under ${formatBytes(2 ** (k + 1))}`;
    const label = `${n.toLocaleString('en-US')} range${n === 1 ? '' : 's'} of ${sizes}`;
    const bar = el('div', { class: 'bar', role: 'listitem', 'aria-label': label, title: label });
    // Square root keeps rare sizes visible next to a dominant one.
    bar.style.height = `${n === 0 ? 0 : Math.max(2, Math.sqrt(n / max) * 100)}%`;
    bars.append(bar);
  }
}

/** The family's consecutive pairs as bars; `onPick` runs when the user picks another pair. */
export function renderFamily(f: FamilyBars, onPick: (index: number) => void): void {
  dom.family.hidden = f.bars.length === 0;
  const max = Math.max(1, ...f.bars.map((b) => b.changedBytes + b.clearedBytes));
  const buttons = f.bars.map((b, i) => {
    const label = `${b.fromLabel} → ${b.toLabel}${b.time ? ` (${b.time})` : ''}: ${formatBytes(b.changedBytes)} changed, ${formatBytes(b.clearedBytes)} cleared`;
    const button = el('button', { class: 'bar', 'aria-label': label, title: label, 'aria-pressed': String(i === f.selected), 'data-index': String(i) });
    button.style.height = `${Math.max(2, ((b.changedBytes + b.clearedBytes) / max) * 100)}%`;
    button.addEventListener('click', () => onPick(i));
    return button;
  });
  dom.familyBars.replaceChildren(...buttons);
  dom.text('family-first').textContent = f.bars[0]?.toLabel ?? '';
  dom.text('family-last').textContent = f.bars.length > 1 ? (f.bars[f.bars.length - 1]?.toLabel ?? '') : '';
}
