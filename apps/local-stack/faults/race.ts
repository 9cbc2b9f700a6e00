/**
 * A race for a fault test: the real simulator (apps/bike-client, `alleycat simulate --via kinesis`) as a child
 * process, a watcher of the leaderboards, and the checks: boards against totals computed from the race's
 * messages, every message built accounted for.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import {
  output,
  parseLeaderboardMessage,
  type RaceMessage,
  RESULTS_TOPIC_FILTER,
  roundScore,
} from '@alleycat/schema';
import mqtt from 'mqtt';
import { RaceBoards } from '../src/race/race-boards.js';
import { readAllMessages, waitFor } from '../test/helpers.js';
import { type FaultStack, STREAM } from './fault-stack.js';

const REPO = path.join(import.meta.dirname, '..', '..', '..');
const ALLEYCAT = path.join(REPO, 'apps', 'bike-client', 'bin', 'alleycat.mjs');

export interface SimulationReport {
  messages: number;
  delivered: number;
  failed: number;
  retried: number;
  requests: number;
  throttled: number;
  raceIds: number[];
  elapsedSeconds: number;
  /** Largest lateness of a race second against its schedule (the producer could not keep up). */
  maxLagMs: number;
}

export interface RunningSimulation {
  pid: number;
  /** The simulator's JSON summary once it exits (rejects when it writes none). */
  done: Promise<{ summary: SimulationReport; code: number | null; stderr: string }>;
  /** What it wrote to stderr so far (for diagnostics while it still runs). */
  stderr(): string;
  kill(): void;
}

/** A race's field: what the simulator is asked to build. */
export interface RaceField {
  riders: number;
  seconds: number;
  classes: number;
  firstRacer: number;
}

/** The simulator's flags for `field`, seeded, at `speedup`× real time. */
export function fieldArgs(field: RaceField, seed: number, speedup = 2): string[] {
  return [
    `--riders=${field.riders}`,
    `--seconds=${field.seconds}`,
    `--speedup=${speedup}`,
    `--classes=${field.classes}`,
    `--seed=${seed}`,
    `--first-racer=${field.firstRacer}`,
  ];
}

/** Which path the simulator takes: straight into Kinesis, or one MQTT connection per bike. */
export type Via =
  | { kind: 'kinesis' /** Default: the stack's Kinesis endpoint (limits layer). */; endpoint?: string }
  | { kind: 'mqtt'; qos: 0 | 1 /** Default: the stack's broker. */; url?: string };

/**
 * Starts `alleycat simulate` against the stack (`--via kinesis` unless `via` says otherwise); the undelivered
 * report goes to `undeliveredFile`.
 */
export function simulate(
  fault: FaultStack,
  args: string[],
  undeliveredFile: string,
  via: Via = { kind: 'kinesis' },
): RunningSimulation {
  const pathArgs =
    via.kind === 'kinesis'
      ? [
          '--via=kinesis',
          `--kinesis-endpoint=${via.endpoint ?? fault.stack.endpoints.kinesis}`,
          `--stream=${STREAM}`,
          '--region=eu-west-1',
        ]
      : ['--via=mqtt', `--mqtt-url=${via.url ?? fault.stack.endpoints.mqtt}`, `--qos=${via.qos}`];
  const child = spawn(
    process.execPath,
    [ALLEYCAT, 'simulate', '--json', ...pathArgs, `--undelivered-file=${undeliveredFile}`, ...args],
    {
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_REGION: 'eu-west-1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  const done = new Promise<{ summary: SimulationReport; code: number | null; stderr: string }>(
    (resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => {
        try {
          resolve({ summary: JSON.parse(stdout) as SimulationReport, code, stderr });
        } catch {
          reject(
            new Error(
              `the simulator exited with ${code} and no JSON summary; stdout: ${stdout.slice(-500)}; stderr: ${stderr.slice(-2_000)}`,
            ),
          );
        }
      });
    },
  );
  // A rejection nobody awaits yet (the test is still injecting its fault) must not become unhandled.
  done.catch(() => undefined);
  return {
    pid: child.pid!,
    done,
    stderr: () => stderr,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    },
  };
}

/** A racer's board total as it changed, with the time the board carrying it arrived. */
export type TotalsSeen = Map<number, Array<{ at: number; total: number }>>;

export interface BoardWatcher {
  boards: RaceBoards;
  /** Every change of every racer's total, in arrival order (for publish → leaderboard lag). */
  history: TotalsSeen;
  close(): Promise<void>;
}

/** Subscribes to every leaderboard the stack publishes (mqtt.js, reconnecting: it survives a broker restart). */
export async function watchBoards(fault: FaultStack): Promise<BoardWatcher> {
  const boards = new RaceBoards();
  const history: TotalsSeen = new Map();
  const client = await mqtt.connectAsync(fault.stack.endpoints.mqtt, {
    clientId: `fault-watcher-${process.pid}`,
    protocolVersion: 4,
    reconnectPeriod: 200,
  });
  client.on('message', (_topic, payload) => {
    const board = parseLeaderboardMessage(payload);
    if (!board.ok) return;
    const at = Date.now();
    boards.receive(board.leaderboard, at);
    for (const [racerId, , total] of board.leaderboard.standings) {
      const seen = history.get(racerId) ?? [];
      if (seen.length === 0) history.set(racerId, seen);
      if (seen.at(-1)?.total !== total) seen.push({ at, total });
    }
  });
  await client.subscribeAsync(RESULTS_TOPIC_FILTER, { qos: 1 });
  return { boards, history, close: () => client.endAsync(true) };
}

/** One entry per (race, racer, second): what the boards must add up to, whatever was delivered twice. */
export function distinctSeconds(
  messages: readonly RaceMessage[],
  raceIds: readonly number[],
): Map<string, RaceMessage> {
  const seconds = new Map<string, RaceMessage>();
  for (const m of messages) {
    if (raceIds.includes(m.raceId)) seconds.set(`${m.raceId}:${m.racerId}:${m.second}`, m);
  }
  return seconds;
}

/** Totals per racer, computed here from the messages (never from the Lambda). */
export function totalsOf(seconds: Map<string, RaceMessage>): Map<number, number> {
  const sums = new Map<number, number>();
  for (const m of seconds.values())
    sums.set(m.racerId, (sums.get(m.racerId) ?? 0) + output(m.cadence, m.resistance));
  return new Map([...sums].map(([racerId, sum]) => [racerId, roundScore(sum)]));
}

/**
 * The Lambda adds a racer's seconds in arrival order, so the float sum may land on the other side of a
 * half-hundredth: within 0.01 is equal. A lost or doubled second moves a total by tens of units.
 */
export function sameTotal(a: number | undefined, b: number | undefined): boolean {
  return a !== undefined && b !== undefined && Math.abs(a - b) <= 0.0101;
}

export function boardTotals(boards: RaceBoards, raceIds: readonly number[]): Map<number, number> {
  const totals = new Map<number, number>();
  for (const id of raceIds) {
    for (const [racerId, standing] of boards.get(id)?.standings ?? []) totals.set(racerId, standing[2]);
  }
  return totals;
}

/** Racers whose board total differs from the expected one: [racerId, expected, on the board]. */
export function mismatches(
  boards: RaceBoards,
  raceIds: readonly number[],
  expected: Map<number, number>,
): Array<[number, number, number | undefined]> {
  const seen = boardTotals(boards, raceIds);
  const wrong: Array<[number, number, number | undefined]> = [];
  for (const [racerId, total] of expected)
    if (!sameTotal(seen.get(racerId), total)) wrong.push([racerId, total, seen.get(racerId)]);
  for (const [racerId, total] of seen) if (!expected.has(racerId)) wrong.push([racerId, Number.NaN, total]);
  return wrong;
}

/** Waits until every race is closed and every total matches; returns what still differs at the deadline. */
export async function settledBoards(
  boards: RaceBoards,
  raceIds: readonly number[],
  expected: Map<number, number>,
  timeoutMs: number,
): Promise<Array<[number, number, number | undefined]>> {
  await waitFor(
    () =>
      (raceIds.every((id) => boards.get(id)?.closed) && mismatches(boards, raceIds, expected).length === 0) ||
      undefined,
    timeoutMs,
  ).catch(() => undefined);
  return mismatches(boards, raceIds, expected);
}

export function streamMessages(fault: FaultStack): Promise<RaceMessage[]> {
  return readAllMessages(fault.stack, STREAM);
}

/**
 * When the simulator sent a message: race second n is due on the wall at the race's start + n s / speed-up
 * (`deviceTimestamp` is the bikes' clock: start + n s). Sent late (the producer lagging) only makes lags larger.
 */
export function scheduledAt(message: RaceMessage, speedup: number): number {
  return message.deviceTimestamp - message.second * 1000 + (message.second * 1000) / speedup;
}

/**
 * publish → leaderboard, one sample per distinct second: the first board whose total for the racer includes
 * that second, i.e. reaches the sum of the racer's outputs up to it (a racer's records stay in order on their
 * shard, so seconds are counted in order). Seconds no board ever showed are returned in `missing`.
 */
export function leaderboardLags(
  seconds: Map<string, RaceMessage>,
  history: TotalsSeen,
  sentAt: (message: RaceMessage) => number,
): { lags: number[]; missing: number } {
  const byRacer = new Map<number, RaceMessage[]>();
  for (const m of seconds.values()) {
    const list = byRacer.get(m.racerId) ?? [];
    if (list.length === 0) byRacer.set(m.racerId, list);
    list.push(m);
  }
  const lags: number[] = [];
  let missing = 0;
  for (const [racerId, messages] of byRacer) {
    messages.sort((a, b) => a.raceId - b.raceId || a.second - b.second);
    const seen = history.get(racerId) ?? [];
    let sum = 0;
    let index = 0;
    for (const m of messages) {
      sum += output(m.cadence, m.resistance);
      const wanted = roundScore(sum) - 0.0101;
      while (index < seen.length && seen[index]!.total < wanted) index += 1;
      if (index === seen.length) missing += 1;
      else lags.push(seen[index]!.at - sentAt(m));
    }
  }
  return { lags, missing };
}

/**
 * `raceId:racerId:second` of every message a simulator run built, from its documented layout (bike-client
 * README): racers `firstRacer …`, rider i in class 1 + (i mod classes), race of class c = `raceIds[c − 1]`,
 * one message per racer per second.
 */
export function builtKeys(
  summary: Pick<SimulationReport, 'raceIds'>,
  field: { riders: number; seconds: number; classes: number; firstRacer: number },
): Set<string> {
  const keys = new Set<string>();
  for (let i = 0; i < field.riders; i++) {
    const raceId = summary.raceIds[i % field.classes]!;
    for (let second = 0; second < field.seconds; second++)
      keys.add(`${raceId}:${field.firstRacer + i}:${second}`);
  }
  return keys;
}

/**
 * Waits until a part's counter (IPC stats) reaches `atLeast`: a fault is injected once the race is really
 * running, however slowly this loaded machine started the bikes. Returns the counter's value.
 */
export async function partCounterAtLeast(
  fault: FaultStack,
  name: 'broker' | 'kinesis' | 'event-source-mapping',
  counter: string,
  atLeast: number,
  timeoutMs = 30_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await fault.stack.supervisor
      .stats(fault.part(name))
      .catch(() => ({}) as Record<string, number>);
    const value = stats[counter] ?? 0;
    if (value >= atLeast) return value;
    if (Date.now() > deadline)
      throw new Error(`${name}.${counter} reached only ${value} of ${atLeast} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
