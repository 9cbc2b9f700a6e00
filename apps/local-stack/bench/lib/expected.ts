/**
 * What the leaderboards must show, computed independently of the pipeline: the simulator's field replayed
 * from the same seed with the simulator's own model (apps/bike-client `createField`/`nextMessage`, loaded by
 * path: a benchmark-only dependency), each racer's total after every race second summed as the Lambda sums
 * (`addOutput`, in millionths) and rounded as boards publish it (`roundScore`).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { addOutput, output, type RaceMessage, roundScore } from '@alleycat/schema';
import type { Slice } from './simulator.js';
import { BIKE_CLIENT_DIR } from './stack.js';

interface RaceModule {
  createField(options: {
    riders: number;
    classes: number;
    seconds: number;
    seed: number | string;
    firstRacerId?: number;
    raceIdBase: number;
  }): unknown[];
  nextMessage(racer: unknown, second: number, seconds: number, deviceTimestamp: number): RaceMessage;
}

/** Cumulative totals: `total(racerId, s)` = the board total once seconds 0 … s are counted. */
export class ExpectedTotals {
  readonly riders: number;
  readonly seconds: number;
  /** racerId r (1-based), second s → rounded total, at `(r − 1) × seconds + s`. */
  private readonly totals: Float64Array;

  constructor(riders: number, seconds: number, totals: Float64Array) {
    this.riders = riders;
    this.seconds = seconds;
    this.totals = totals;
  }

  total(racerId: number, second: number): number {
    return this.totals[(racerId - 1) * this.seconds + second]!;
  }

  final(racerId: number): number {
    return this.total(racerId, this.seconds - 1);
  }
}

/** Replays every slice's field (racers 1 … riders, as `simulate --first-racer` builds them). */
export async function expectedTotals(
  slices: readonly Slice[],
  options: { seconds: number; classes: number; seed: number },
): Promise<ExpectedTotals> {
  const race = (await import(pathToFileURL(path.join(BIKE_CLIENT_DIR, 'src', 'race.ts')).href)) as RaceModule;
  const riders = slices.reduce((n, s) => n + s.riders, 0);
  const totals = new Float64Array(riders * options.seconds);
  for (const slice of slices) {
    const field = race.createField({
      riders: slice.riders,
      classes: options.classes,
      seconds: options.seconds,
      seed: options.seed,
      firstRacerId: slice.firstRacer,
      raceIdBase: 0,
    });
    for (const [i, racer] of field.entries()) {
      let total = 0;
      const base = (slice.firstRacer + i - 1) * options.seconds;
      for (let s = 0; s < options.seconds; s++) {
        const m = race.nextMessage(racer, s, options.seconds, 0);
        total = addOutput(total, output(m.cadence, m.resistance));
        totals[base + s] = roundScore(total);
      }
    }
  }
  return new ExpectedTotals(riders, options.seconds, totals);
}
