/** The scoring formula of the original sample: one second's output from cadence (rpm) and resistance (%). */
export function output(cadence: number, resistance: number): number {
  return ((cadence + 35) * (resistance + 65)) / 100;
}

/** Scores are published rounded to hundredths: enough for display, and keeps leaderboards compact. */
export function roundScore(value: number): number {
  return Math.round(value * 100) / 100;
}

/** Outputs are summed in millionths: integers add exactly, so a total cannot depend on arrival order. */
const SCORE_UNITS = 1_000_000;

/**
 * `total + value`, independent of the order values arrive in (plain floating-point addition is not
 * associative: the same seconds in another order can differ in the last digit, and after rounding, in the
 * hundredths a leaderboard shows). Exact for totals up to 2^33 (~8.6e9) output, far beyond a day of racing.
 */
export function addOutput(total: number, value: number): number {
  return (Math.round(total * SCORE_UNITS) + Math.round(value * SCORE_UNITS)) / SCORE_UNITS;
}
