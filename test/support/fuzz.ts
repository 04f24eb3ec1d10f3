// Shared settings for the property-based tests in test/fuzz/ (fast-check).
import fc from 'fast-check';

/**
 * Fixed by default, so CI time is bounded and a failure replays as is; `FPM_BRIDGE_FUZZ_SEED` explores
 * other inputs and `FPM_BRIDGE_FUZZ_RUNS` multiplies the runs (e.g. 50 for a long local session).
 */
const SEED = Number(process.env.FPM_BRIDGE_FUZZ_SEED ?? 7_2026);
const FACTOR = Math.max(1, Number(process.env.FPM_BRIDGE_FUZZ_RUNS ?? 1));

/** fast-check parameters for `numRuns` cases; a failure reports the seed and path to replay it. */
export function fuzz<T>(numRuns: number): fc.Parameters<T> {
  return { seed: SEED, numRuns: numRuns * FACTOR };
}

/** Cuts `data` at the given positions (taken modulo its length, sorted), always covering it whole. */
export function cut(data: Buffer, positions: readonly number[]): Buffer[] {
  const at = [...new Set(positions.map((p) => (data.length === 0 ? 0 : p % (data.length + 1))))].sort(
    (a, b) => a - b,
  );
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of at) {
    chunks.push(data.subarray(from, p));
    from = p;
  }
  chunks.push(data.subarray(from));
  return chunks;
}

/** Cut positions for {@link cut}: none to many. */
export const cuts = fc.array(fc.nat(), { maxLength: 12 });
