/**
 * End-to-end latency of every (racer, second): from its publish to the moment a leaderboard showing the racer's
 * total including it was received. The publish is the bike's own publish call where the simulator reports it
 * (MQTT: one bike a message, called one after another for a whole field in one process, so the last bike of a
 * second publishes tens of ms after the first), else the moment the simulator started sending that second (its
 * tick: the Kinesis producers hand a second's records over at once). Latency from the tick is kept too. Boards carry totals, not
 * seconds: second s of a racer is "on the board" once the board's total reaches the expected total after s
 * (every second adds at least 22.75 output, so the thresholds cannot be confused). Pure: the caller feeds
 * ticks, boards and times.
 */
import type { LeaderboardMessage } from '@alleycat/schema';
import type { ExpectedTotals } from './expected.js';

/** Boards round to hundredths; allow for that and for float noise. */
const TOLERANCE = 0.011;
const HISTOGRAM_MS = 120_000;

export class LatencyTracker {
  private readonly expected: ExpectedTotals;
  private readonly sliceOf: (racerId: number) => number;
  /** ticks[slice][second] = wall ms at which that slice started sending that second. */
  private readonly ticks: number[][];
  /** Wall ms of each (racer, second)'s publish, at (racerId − 1) × seconds + second; 0 = not reported. */
  private readonly publishedAt: Float64Array;
  /** Next second not yet seen on a board, per racer (index racerId − 1). */
  private readonly next: Int32Array;
  /** 1 ms buckets; the last one holds everything ≥ HISTOGRAM_MS. Seconds after the warm-up only… */
  private readonly histogram = new Uint32Array(HISTOGRAM_MS + 1);
  /** …and every second, warm-up included. */
  private readonly histogramAll = new Uint32Array(HISTOGRAM_MS + 1);
  /** After the warm-up, from the second's tick (equal to `histogram` where no publish was reported). */
  private readonly histogramFromTick = new Uint32Array(HISTOGRAM_MS + 1);
  /** Per race second: latency sum and count, to see whether the pipeline falls further behind over the run. */
  private readonly perSecondSum: Float64Array;
  private readonly perSecondCount: Uint32Array;
  /** Pairs on a board (all seconds) and after the warm-up. */
  seen = 0;
  seenSteady = 0;
  /** Pairs timed from their own publish (reported before their board came); the rest, from their tick. */
  timedFromPublish = 0;
  /** (racer, second) pairs on a board before their tick was known (should stay 0). */
  untimed = 0;
  over = 0;
  private readonly limitMs: number;
  /**
   * Race seconds 0 … warmup − 1 are left out of the percentiles and the early stop: the first seconds pay for
   * connections, first invocations and JIT once, not for the load (still counted for loss, and in `all`).
   */
  readonly warmupSeconds: number;

  constructor(
    expected: ExpectedTotals,
    slices: number,
    sliceOf: (racerId: number) => number,
    limitMs: number,
    warmupSeconds = 0,
  ) {
    this.expected = expected;
    this.sliceOf = sliceOf;
    this.limitMs = limitMs;
    this.warmupSeconds = Math.max(0, Math.min(warmupSeconds, expected.seconds - 1));
    this.ticks = Array.from({ length: slices }, () => []);
    this.next = new Int32Array(expected.riders);
    this.publishedAt = new Float64Array(expected.riders * expected.seconds);
    this.perSecondSum = new Float64Array(expected.seconds);
    this.perSecondCount = new Uint32Array(expected.seconds);
  }

  tick(slice: number, second: number, at: number): void {
    this.ticks[slice]![second] = at;
  }

  /** The simulator's report of one bike's publish of `second` (wall ms). */
  published(racerId: number, second: number, at: number): void {
    if (racerId >= 1 && racerId <= this.expected.riders && second >= 0 && second < this.expected.seconds)
      this.publishedAt[(racerId - 1) * this.expected.seconds + second] = at;
  }

  get ticksSeen(): number {
    return this.ticks.reduce((n, t) => n + t.filter((x) => x !== undefined).length, 0);
  }

  board(board: LeaderboardMessage, receivedAt: number): void {
    const { expected } = this;
    for (const [racerId, , total] of board.standings) {
      if (!(racerId >= 1 && racerId <= expected.riders)) continue;
      let s = this.next[racerId - 1]!;
      if (s >= expected.seconds || total < expected.total(racerId, s) - TOLERANCE) continue;
      const ticks = this.ticks[this.sliceOf(racerId)]!;
      const row = (racerId - 1) * expected.seconds;
      while (s < expected.seconds && total >= expected.total(racerId, s) - TOLERANCE) {
        const tick = ticks[s];
        if (tick === undefined) this.untimed += 1;
        else {
          const published = this.publishedAt[row + s]!;
          if (published > 0) this.timedFromPublish += 1;
          this.record(s, receivedAt - (published || tick), receivedAt - tick);
        }
        s += 1;
      }
      this.next[racerId - 1] = s;
    }
  }

  private record(second: number, ms: number, fromTickMs: number): void {
    const bucket = Math.min(HISTOGRAM_MS, Math.max(0, Math.round(ms)));
    this.histogramAll[bucket]! += 1;
    this.seen += 1;
    this.perSecondSum[second]! += ms;
    this.perSecondCount[second]! += 1;
    if (second < this.warmupSeconds) return;
    this.histogram[bucket]! += 1;
    this.histogramFromTick[Math.min(HISTOGRAM_MS, Math.max(0, Math.round(fromTickMs)))]! += 1;
    this.seenSteady += 1;
    if (ms > this.limitMs) this.over += 1;
  }

  /**
   * Pairs already known to exceed the limit: seen late, or still not on a board more than `limitMs` after they
   * were published. Once this passes 1 % of all pairs, p99 cannot end under the limit.
   */
  overdue(now: number): number {
    let overdue = this.over;
    for (let r = 1; r <= this.expected.riders; r++) {
      const ticks = this.ticks[this.sliceOf(r)]!;
      const row = (r - 1) * this.expected.seconds;
      for (let s = Math.max(this.next[r - 1]!, this.warmupSeconds); s < this.expected.seconds; s++) {
        const sent = this.publishedAt[row + s] || ticks[s];
        if (sent === undefined || now - sent <= this.limitMs) break;
        overdue += 1;
      }
    }
    return overdue;
  }

  /** Pairs the percentiles are over: every racer's seconds after the warm-up. */
  get steadyPairs(): number {
    return this.expected.riders * (this.expected.seconds - this.warmupSeconds);
  }

  /**
   * Nearest-rank percentile (ms) of the latencies seen after the warm-up (`all`: every second; `fromTick`: after
   * the warm-up, timed from each second's tick instead of each publish); NaN when none.
   */
  percentile(p: number, which: 'steady' | 'all' | 'fromTick' = 'steady'): number {
    const histogram =
      which === 'all' ? this.histogramAll : which === 'fromTick' ? this.histogramFromTick : this.histogram;
    const count = which === 'all' ? this.seen : this.seenSteady;
    if (count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * count));
    let cumulative = 0;
    for (let ms = 0; ms < histogram.length; ms++) {
      cumulative += histogram[ms]!;
      if (cumulative >= rank) return ms;
    }
    return HISTOGRAM_MS;
  }

  /** Mean latency per race second (NaN where none was seen): the trend shows lag building up. */
  meanBySecond(): number[] {
    return Array.from(this.perSecondSum, (sum, s) =>
      this.perSecondCount[s]! > 0 ? sum / this.perSecondCount[s]! : Number.NaN,
    );
  }

  /** (racer, second) pairs on the boards for racers `first … first + count − 1`. */
  countedFor(first: number, count: number): number {
    let n = 0;
    for (let r = first; r < first + count; r++) n += this.next[r - 1]!;
    return n;
  }

  /** The last race second each slice started sending (−1: none): what a racer's final total must include. */
  lastSecondSent(slice: number): number {
    return this.ticks[slice]!.length - 1;
  }

  /**
   * Racers whose latest board total differs from the total of the seconds their simulator sent (all of them,
   * unless the run was stopped early), given the latest totals the boards showed.
   */
  mismatches(boardTotals: Map<number, number>): number[] {
    const wrong: number[] = [];
    for (let r = 1; r <= this.expected.riders; r++) {
      const last = this.lastSecondSent(this.sliceOf(r));
      if (last < 0) continue;
      const total = boardTotals.get(r);
      if (total === undefined || Math.abs(total - this.expected.total(r, last)) > TOLERANCE) wrong.push(r);
    }
    return wrong;
  }
}

/**
 * Whether the lag grew over the run: mean latency of the last third of race seconds (after the warm-up) minus
 * that of the first third (ms). A pipeline that keeps up has a flat line; one that falls behind, a rising one.
 */
export function lagGrowthMs(meanBySecond: readonly number[], warmupSeconds = 0): number {
  meanBySecond = meanBySecond.slice(warmupSeconds);
  const third = Math.max(1, Math.floor(meanBySecond.length / 3));
  const mean = (xs: readonly number[]) => {
    const finite = xs.filter(Number.isFinite);
    return finite.length === 0 ? Number.NaN : finite.reduce((a, b) => a + b, 0) / finite.length;
  };
  return mean(meanBySecond.slice(-third)) - mean(meanBySecond.slice(0, third));
}
