/** The scoring formula of the original sample: one second's output from cadence (rpm) and resistance (%). */
export function output(cadence: number, resistance: number): number {
  return ((cadence + 35) * (resistance + 65)) / 100;
}

/** Scores are published rounded to hundredths: enough for display, and keeps leaderboards compact. */
export function roundScore(value: number): number {
  return Math.round(value * 100) / 100;
}
