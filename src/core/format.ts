/**
 * How every part of Disk Delta writes sizes, rates, durations, offsets, shares and amounts: the CLI, the
 * extension's tree and notifications, and the block-map webview all show the same text for the same value.
 */

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

function trimNumber(value: number, maxDigits: number): string {
  const digits = value < 10 ? maxDigits : value < 100 ? Math.min(1, maxDigits) : 0;
  const text = value.toFixed(digits);
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/**
 * Bytes in binary units: `512 B`, `4 MiB`, `1.5 GiB`, `32 TiB` (up to three significant digits).
 * `precise` keeps up to three decimals, for offsets that lie a cell apart.
 */
export function formatBytes(bytes: number, precise = false): string {
  if (!Number.isFinite(bytes)) return '? B';
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < BYTE_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${sign}${Math.round(value)} B`;
  if (precise) return `${sign}${value.toFixed(3).replace(/\.?0+$/, '')} ${BYTE_UNITS[unit]}`;
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

/** A money amount in the user's billing currency, with the currency code when one is set. */
export function formatCost(amount: number, fractionDigits = 2, currency?: string): string {
  return `${amount.toFixed(fractionDigits)}${currency ? ` ${currency}` : ''}`;
}

/** A byte offset as 0x-prefixed hex, e.g. 0x10000000000. */
export function formatHex(offset: number): string {
  return `0x${offset.toString(16).toUpperCase()}`;
}

/** A share such as `12.5%`, `0.42%` or `<0.01%`. */
export function formatPercent(fraction: number): string {
  if (fraction === 0) return '0%';
  const p = fraction * 100;
  if (p < 0.01) return '<0.01%';
  return `${p >= 10 ? p.toFixed(1) : p.toFixed(2)}%`;
}
