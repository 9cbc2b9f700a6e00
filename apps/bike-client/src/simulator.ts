/**
 * The load simulator: a field of riders in one race per class, each sending one message per race second
 * into a sink (Kinesis or MQTT). The clock paces seconds (optionally sped up); if the sink cannot keep up,
 * seconds are sent late rather than skipped, and the lateness is reported.
 */
import type { RaceMessage } from '@alleycat/schema';
import { createField, encodeChecked, nextMessage, type Racer } from './race.js';
import { RaceClock } from './race-clock.js';
import type { SimulationSummary, Sink, SinkCounters } from './types.js';

export interface SimulationOptions {
  riders: number;
  seconds: number;
  classes: number;
  speedup: number;
  seed: number | string;
  firstRacerId?: number;
  /** Default: start second × 1,000 (raceId of class c = base + c). */
  raceIdBase?: number;
  startMs?: number;
}

export interface SimulationProgress {
  second: number;
  seconds: number;
  built: number;
  counters: SinkCounters;
}

export class Simulation {
  readonly options: SimulationOptions;
  readonly racers: Racer[];
  readonly clock: RaceClock;
  readonly raceIds: number[];
  built = 0;
  second = -1;

  constructor(options: SimulationOptions) {
    this.options = options;
    this.clock = new RaceClock({
      seconds: options.seconds,
      speedup: options.speedup,
      ...(options.startMs === undefined ? {} : { startMs: options.startMs }),
    });
    const raceIdBase = options.raceIdBase ?? Math.floor(this.clock.startMs / 1000) * 1000;
    this.racers = createField({
      riders: options.riders,
      classes: options.classes,
      seconds: options.seconds,
      seed: options.seed,
      raceIdBase,
      ...(options.firstRacerId === undefined ? {} : { firstRacerId: options.firstRacerId }),
    });
    this.raceIds = Array.from(
      { length: Math.min(options.classes, options.riders) },
      (_, c) => raceIdBase + c + 1,
    );
  }

  /** The messages of one race second, validated (throws `InvalidMessageError` on a bug). */
  buildSecond(second: number): { messages: RaceMessage[]; payloads: string[] } {
    const timestamp = this.clock.deviceTimestampOf(second);
    const messages = this.racers.map((racer) => nextMessage(racer, second, this.options.seconds, timestamp));
    const payloads = messages.map(encodeChecked);
    this.built += messages.length;
    return { messages, payloads };
  }

  /** Runs the race into `sink` and returns the summary (the sink is flushed, not closed). */
  async run(sink: Sink, signal?: AbortSignal): Promise<SimulationSummary> {
    const started = performance.now();
    for await (const second of this.clock.ticks(signal)) {
      this.second = second;
      const { messages, payloads } = this.buildSecond(second);
      await sink.send(messages, payloads);
    }
    const undelivered = await sink.flush();
    const elapsedSeconds = (performance.now() - started) / 1000;
    const c = sink.counters();
    return {
      sink: sink.name,
      riders: this.options.riders,
      classes: this.options.classes,
      seconds: this.options.seconds,
      speedup: this.options.speedup,
      seed: this.options.seed,
      raceIds: this.raceIds,
      messages: this.built,
      delivered: c.delivered,
      failed: c.failed,
      retried: c.retried,
      requests: c.requests,
      records: c.records,
      bytes: c.bytes,
      putPayloadUnits: c.putPayloadUnits,
      throttled: c.throttled,
      elapsedSeconds,
      messagesPerSecond: c.delivered / Math.max(elapsedSeconds, 1e-9),
      requestsPerMessage: this.built === 0 ? 0 : c.requests / this.built,
      maxLagMs: Math.round(this.clock.maxLagMs),
      undelivered,
    };
  }

  progress(counters: SinkCounters): SimulationProgress {
    return { second: this.second, seconds: this.options.seconds, built: this.built, counters };
  }
}
