/**
 * The cost chart as an SVG picture: a bar per snapshot (its used size, left axis) and the projected
 * monthly bill over time on the source side (solid line) and the copy target side (dashed), right axis.
 * Pure: no vscode, so it is unit-tested as text.
 */
import type { FamilyCostProjection } from '../../core/costProjection';
import { formatBytes, formatCost } from '../../core/format';

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A "nice" axis maximum: 1, 2 or 5 times a power of ten, at least the value. */
export function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 5, 10]) if (m * p >= value) return m * p;
  return 10 * p;
}

export interface ChartOptions {
  readonly width?: number;
  readonly height?: number;
  readonly title: string;
}

export function costChartSvg(p: FamilyCostProjection, options: ChartOptions): string {
  const width = options.width ?? 900;
  const height = options.height ?? 420;
  const m = { left: 80, right: 90, top: 56, bottom: 120 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const n = Math.max(1, p.points.length);
  const slot = plotW / n;
  const barW = Math.max(2, Math.min(48, slot * 0.6));
  const biggest = Math.max(0, ...p.points.map((x) => x.usedBytes ?? 0));
  // Byte ticks in whole binary units: 5 GiB, not 5.37 GB.
  const unit = biggest >= 1024 ** 3 ? 1024 ** 3 : biggest >= 1024 ** 2 ? 1024 ** 2 : 1024;
  const maxBytes = niceMax(biggest / unit) * unit;
  const maxMoney = niceMax(Math.max(0, ...p.points.map((x) => Math.max(x.sourceMonthly, x.targetMonthly ?? 0))));
  const x = (i: number) => m.left + slot * i + slot / 2;
  const yBytes = (b: number) => m.top + plotH - (b / maxBytes) * plotH;
  const yMoney = (v: number) => m.top + plotH - (v / maxMoney) * plotH;
  // Enough digits that small bills (a few MiB) do not all read 0.00.
  const digits = Math.min(6, Math.max(2, Math.ceil(-Math.log10(maxMoney)) + 2));
  const money = (v: number) => formatCost(v, v >= 10 && maxMoney >= 10 ? 0 : digits, p.currency);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" class="cost-chart" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" aria-label="${esc(options.title)}">`,
    `<title>${esc(options.title)}</title>`,
    `<text class="title" x="${m.left}" y="22">${esc(options.title)}</text>`,
  );
  const summary = [
    `source ${money(p.sourceMonthly)} / month`,
    p.target ? `copy target ${money(p.target.monthly)} / month (up to ${p.target.upTo})` : 'no copy target',
    `at ${p.pricePerGiBMonth} ${p.currency} per GiB-month`,
    p.unknown ? `${p.unknown} used size(s) unknown` : '',
  ]
    .filter(Boolean)
    .join(' · ');
  out.push(`<text class="summary" x="${m.left}" y="42">${esc(summary)}</text>`);
  // Grid and axes.
  for (let k = 0; k <= 4; k++) {
    const y = m.top + (plotH * k) / 4;
    out.push(`<line class="grid" x1="${m.left}" x2="${m.left + plotW}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}"/>`);
    out.push(`<text class="axis left" x="${m.left - 8}" y="${(y + 4).toFixed(1)}" text-anchor="end">${esc(formatBytes((maxBytes * (4 - k)) / 4))}</text>`);
    out.push(`<text class="axis right" x="${m.left + plotW + 8}" y="${(y + 4).toFixed(1)}">${esc(money((maxMoney * (4 - k)) / 4))}</text>`);
  }
  out.push(
    `<text class="axis-title" x="14" y="${m.top + plotH / 2}" transform="rotate(-90 14 ${m.top + plotH / 2})" text-anchor="middle">used size per snapshot</text>`,
  );
  out.push(
    `<text class="axis-title" x="${width - 10}" y="${m.top + plotH / 2}" transform="rotate(90 ${width - 10} ${m.top + plotH / 2})" text-anchor="middle">monthly bill (${esc(p.currency)})</text>`,
  );
  // Bars: used size of each snapshot.
  p.points.forEach((pt, i) => {
    const label = `${pt.name}: ${pt.usedBytes === undefined ? 'used size unknown' : formatBytes(pt.usedBytes)} · source ${money(pt.sourceMonthly)} / month${pt.targetMonthly !== undefined ? ` · target ${money(pt.targetMonthly)} / month` : ''}`;
    if (pt.usedBytes === undefined) {
      out.push(
        `<rect class="bar unknown" x="${(x(i) - barW / 2).toFixed(1)}" y="${m.top}" width="${barW.toFixed(1)}" height="${plotH}"><title>${esc(label)}</title></rect>`,
      );
    } else {
      const y = yBytes(pt.usedBytes);
      const h = Math.max(1, m.top + plotH - y);
      out.push(
        `<rect class="bar" x="${(x(i) - barW / 2).toFixed(1)}" y="${(m.top + plotH - h).toFixed(1)}" width="${barW.toFixed(1)}" height="${h.toFixed(1)}"><title>${esc(label)}</title></rect>`,
      );
    }
    // The used size over each bar: small ones stay readable next to a large first snapshot.
    if (pt.usedBytes !== undefined) {
      const top = Math.min(yBytes(pt.usedBytes), m.top + plotH - 1);
      out.push(`<text class="value" x="${x(i).toFixed(1)}" y="${(top - 4).toFixed(1)}" text-anchor="middle">${esc(formatBytes(pt.usedBytes))}</text>`);
    }
    const short = pt.name.length > 22 ? `…${pt.name.slice(-21)}` : pt.name;
    const lx = x(i);
    const ly = m.top + plotH + 16;
    out.push(
      `<text class="xlabel" x="${lx.toFixed(1)}" y="${ly}" transform="rotate(25 ${lx.toFixed(1)} ${ly})"><title>${esc(`${pt.name}, ${pt.time}`)}</title>${esc(short)}</text>`,
    );
  });
  // Lines: projected monthly bill over time.
  const line = (values: { i: number; v: number }[], cls: string) => {
    if (!values.length) return;
    const d = values.map((q, k) => `${k ? 'L' : 'M'}${x(q.i).toFixed(1)},${yMoney(q.v).toFixed(1)}`).join(' ');
    out.push(`<path class="line ${cls}" d="${d}"/>`);
    for (const q of values)
      out.push(
        `<circle class="point ${cls}" cx="${x(q.i).toFixed(1)}" cy="${yMoney(q.v).toFixed(1)}" r="3.5"><title>${esc(money(q.v))} / month</title></circle>`,
      );
  };
  line(
    p.points.map((pt, i) => ({ i, v: pt.sourceMonthly })),
    'source',
  );
  line(
    p.points.flatMap((pt, i) => (pt.targetMonthly === undefined ? [] : [{ i, v: pt.targetMonthly }])),
    'target',
  );
  // Legend.
  const ly = height - 10;
  out.push(
    `<rect class="bar" x="${m.left}" y="${ly - 9}" width="12" height="10"/><text class="legend" x="${m.left + 16}" y="${ly}">used size</text>`,
    `<line class="line source" x1="${m.left + 110}" x2="${m.left + 134}" y1="${ly - 4}" y2="${ly - 4}"/><text class="legend" x="${m.left + 140}" y="${ly}">source (incremental snapshots) / month</text>`,
    `<line class="line target" x1="${m.left + 420}" x2="${m.left + 444}" y1="${ly - 4}" y2="${ly - 4}"/><text class="legend" x="${m.left + 450}" y="${ly}">copy target (base blob + blob snapshots) / month</text>`,
  );
  out.push('</svg>');
  return out.join('\n');
}
