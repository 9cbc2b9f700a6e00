/** Text of the live race screen and the final results (pure: state in, lines out). */
import { percentile } from './percentiles.js';
import { type RaceState, topOf } from './race-boards.js';

export interface RaceCounters {
  /** Race seconds elapsed / race length. */
  second: number;
  seconds: number;
  via: 'mqtt' | 'kinesis';
  /** Messages into the stream per second (rule deliveries or accepted Kinesis entries), last interval. */
  ingestPerSecond: number;
  /** Race messages the Lambda decoded per second, last interval. */
  processedPerSecond: number;
  processed: number;
  invalid: number;
  duplicates: number;
  /** Writes refused by the shard limits (per entry) and reads refused. */
  throttledWrites: number;
  throttledReads: number;
  /** Messages the rule's error action took (MQTT path). */
  errorActions: number;
  /** publish → leaderboard samples (MQTT path). */
  latenciesMs: readonly number[];
  /** The Lambda's `ArrivalLagMs` of its latest invocation (Kinesis arrival → invocation). */
  arrivalLagMs: number | undefined;
}

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const ms = (x: number) => (Number.isNaN(x) ? '–' : `${n(x)} ms`);

export function renderStatus(c: RaceCounters): string {
  const lag =
    c.latenciesMs.length > 0
      ? `lag p50 ${ms(percentile(c.latenciesMs, 50))} p99 ${ms(percentile(c.latenciesMs, 99))}`
      : `lag (arrival→Lambda) ${c.arrivalLagMs === undefined ? '–' : ms(c.arrivalLagMs)}`;
  return [
    `second ${Math.min(c.second, c.seconds)}/${c.seconds}`,
    `in ${n(c.ingestPerSecond)} msg/s`,
    `processed ${n(c.processedPerSecond)} msg/s (${n(c.processed)})`,
    lag,
    `invalid ${n(c.invalid)}`,
    `duplicates ${n(c.duplicates)}`,
    `throttled ${n(c.throttledWrites)}${c.throttledReads > 0 ? ` (+${n(c.throttledReads)} reads)` : ''}`,
    ...(c.via === 'mqtt' ? [`error action ${n(c.errorActions)}`] : []),
  ].join('  ');
}

export function renderBoards(races: readonly RaceState[], top: number): string[] {
  const lines: string[] = [];
  for (const race of races) {
    const state = race.closed ? 'finished' : `second ${race.second}`;
    lines.push(`class ${race.classId}  race ${race.raceId}  ${n(race.racers)} racers  ${state}`);
    for (const [racerId, , total, , rank] of topOf(race, top)) {
      const name = race.names.get(racerId) ?? `racer ${racerId}`;
      lines.push(`  ${String(rank).padStart(3)}. ${name.padEnd(22).slice(0, 22)} ${n(total).padStart(9)}`);
    }
  }
  return lines;
}

/** The whole screen: a heading, the counters, the boards. */
export function renderScreen(
  heading: string,
  c: RaceCounters,
  races: readonly RaceState[],
  top: number,
): string[] {
  return [
    heading,
    renderStatus(c),
    '',
    ...(races.length ? renderBoards(races, top) : ['(waiting for the first leaderboards…)']),
  ];
}
