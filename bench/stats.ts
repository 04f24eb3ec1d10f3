/**
 * Summaries of repeated measurements. A single run on a machine shared with other work is never a result:
 * the benches repeat each measurement in alternating rounds and report the median with the whole range.
 */

/** The median and the range of a set of runs' values (NaN ones, from failed runs, left out). */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Runs with a value. */
  n: number;
}

export function spread(values: readonly number[]): Spread {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const mid = v.length >> 1;
  const median = v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v.at(-1)!, n: v.length };
}

export function fmt(n: number, digits: number): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '–';
}

/** `median [min–max]`, e.g. `0.98 [0.91–1.04]`; a unit suffix such as `×` goes on the median only. */
export function fmtSpread(s: Spread, digits: number, unit = ''): string {
  if (s.n === 0) return '–';
  if (s.n === 1) return `${fmt(s.median, digits)}${unit} (1 run)`;
  return `${fmt(s.median, digits)}${unit} [${fmt(s.min, digits)}–${fmt(s.max, digits)}]`;
}

/** Nearest-rank percentile `p` (0–100) of ascending `sorted` values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
