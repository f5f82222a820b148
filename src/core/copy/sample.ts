/**
 * Sampled verification (`--verify sample:<percent>`): after a step, hash a random share of its changed ranges on
 * both sides instead of all of them, for copies where reading everything back costs too much. Which ranges are
 * sampled follows from a seed and each range's offset alone, so the summary's seed says exactly what was read
 * and a second look at the same ranges needs nothing else.
 */
import { DiskDeltaError } from '../errors';
import type { VerifyMode } from './plan';

const SAMPLE = /^sample:(\d+(?:\.\d+)?)$/;

/** The share of ranges a `sample:<percent>` mode hashes, 0 < percent <= 100; undefined for the other modes. */
export function samplePercent(mode: VerifyMode): number | undefined {
  const m = SAMPLE.exec(mode);
  return m ? Number(m[1]) : undefined;
}

/** Reads a verification mode as typed by a user (CLI flag, setting). */
export function parseVerifyMode(text: string): VerifyMode {
  const t = text.trim().toLowerCase();
  if (t === 'changed' || t === 'full' || t === 'none') return t;
  const m = SAMPLE.exec(t);
  const percent = m ? Number(m[1]) : NaN;
  if (!(percent > 0 && percent <= 100)) {
    throw new DiskDeltaError(
      `"${text}" is not a verification mode.`,
      'InvalidVerifyMode',
      'Use changed (the default), full, none, or sample:<percent> with a percent above 0 and at most 100, e.g. sample:5.',
    );
  }
  return `sample:${percent}`;
}

/** A fresh 32-bit seed. */
export function newSampleSeed(random: () => number): number {
  return Math.floor(random() * 0x1_0000_0000) >>> 0;
}

/** Mixes the seed with a page number into a uniform 32-bit value (a 32-bit integer hash, murmur3's finaliser). */
function mix(seed: number, page: number): number {
  let h = (seed ^ Math.imul(page >>> 0, 0x9e3779b1) ^ Math.imul(Math.floor(page / 0x1_0000_0000), 0x85ebca77)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** True for the ranges (by start offset) a sample of `percent` with `seed` hashes. */
export function sampleSelector(seed: number, percent: number): (offset: number) => boolean {
  const threshold = (percent / 100) * 0x1_0000_0000;
  return (offset) => percent >= 100 || mix(seed, Math.floor(offset / 512)) < threshold;
}
