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
  raceIds: number[];
  elapsedSeconds: number;
}

export interface RunningSimulation {
  pid: number;
  /** The simulator's JSON summary once it exits (rejects when it writes none). */
  done: Promise<{ summary: SimulationReport; code: number | null; stderr: string }>;
  kill(): void;
}

/** Starts `alleycat simulate --via kinesis` against the stack; the undelivered report goes to `undeliveredFile`. */
export function simulate(fault: FaultStack, args: string[], undeliveredFile: string): RunningSimulation {
  const child = spawn(
    process.execPath,
    [
      ALLEYCAT,
      'simulate',
      '--json',
      '--via=kinesis',
      `--kinesis-endpoint=${fault.stack.endpoints.kinesis}`,
      `--stream=${STREAM}`,
      '--region=eu-west-1',
      `--undelivered-file=${undeliveredFile}`,
      ...args,
    ],
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
              `the simulator exited with ${code} and no JSON summary; stderr: ${stderr.slice(-2_000)}`,
            ),
          );
        }
      });
    },
  );
  return {
    pid: child.pid!,
    done,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    },
  };
}

/** Subscribes to every leaderboard the stack publishes. */
export async function watchBoards(
  fault: FaultStack,
): Promise<{ boards: RaceBoards; close(): Promise<void> }> {
  const boards = new RaceBoards();
  const client = await mqtt.connectAsync(fault.stack.endpoints.mqtt, {
    clientId: `fault-watcher-${process.pid}`,
    protocolVersion: 4,
    reconnectPeriod: 200,
  });
  client.on('message', (_topic, payload) => {
    const board = parseLeaderboardMessage(payload);
    if (board.ok) boards.receive(board.leaderboard, Date.now());
  });
  await client.subscribeAsync(RESULTS_TOPIC_FILTER, { qos: 1 });
  return { boards, close: () => client.endAsync(true) };
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
