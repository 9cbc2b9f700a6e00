/**
 * Race time. Second `n` of a race happens at `start + n s` on the bikes' clocks (`deviceTimestamp`) and, with
 * a speed-up, at `wallStart + n s / speedup` on the wall. Ticks are scheduled from the start, not from the
 * previous tick, so they never drift; a tick that is late is delivered at once and its lateness recorded.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface RaceClockOptions {
  /** Race seconds: ticks are 0 … seconds − 1. */
  seconds: number;
  /** Race time runs this many times faster than the wall clock (1 = live). */
  speedup?: number;
  /** The bikes' clock at second 0, ms since the epoch. Default: now. */
  startMs?: number;
  /** The wall clock (for tests). */
  now?: () => number;
}

export class RaceClock {
  readonly seconds: number;
  readonly speedup: number;
  readonly startMs: number;
  private readonly now: () => number;
  private wallStart = 0;
  /** Largest lateness of a tick so far, in wall ms (a sign the sender cannot keep up). */
  maxLagMs = 0;

  constructor(options: RaceClockOptions) {
    if (!Number.isInteger(options.seconds) || options.seconds < 1) {
      throw new RangeError(`seconds must be a positive integer, got ${options.seconds}`);
    }
    const speedup = options.speedup ?? 1;
    if (!(speedup > 0) || !Number.isFinite(speedup)) {
      throw new RangeError(`speedup must be a positive number, got ${speedup}`);
    }
    this.seconds = options.seconds;
    this.speedup = speedup;
    this.now = options.now ?? Date.now;
    this.startMs = Math.floor(options.startMs ?? this.now());
  }

  /** The bike-clock timestamp of race second `second`. */
  deviceTimestampOf(second: number): number {
    return this.startMs + second * 1000;
  }

  /** Wall time at which `second` is due (valid once ticking started). */
  wallTimeOf(second: number): number {
    return this.wallStart + (second * 1000) / this.speedup;
  }

  /** Yields every race second at its due wall time; stops early when `signal` aborts. */
  async *ticks(signal?: AbortSignal): AsyncGenerator<number> {
    this.wallStart = this.now();
    for (let second = 0; second < this.seconds; second++) {
      if (signal?.aborted) return;
      const wait = this.wallTimeOf(second) - this.now();
      if (wait > 0) {
        try {
          await sleep(wait, undefined, signal ? { signal } : undefined);
        } catch {
          return; // aborted
        }
      } else {
        this.maxLagMs = Math.max(this.maxLagMs, -wait);
      }
      yield second;
    }
  }
}
