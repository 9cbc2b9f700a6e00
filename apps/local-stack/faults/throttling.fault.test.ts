/**
 * Fault: sustained throttling. Riders well over the stream's write limits on the Kinesis path: the synthesized
 * 2 shards take 1,000 records/s each (enforced by the stack's limits layer, as AWS does: per-entry
 * `ProvisionedThroughputExceededException` in an HTTP 200 PutRecords answer), and the simulator offers twice
 * that for several seconds. The producer must back off and retry only the refused entries until all are in.
 *
 * Checked: Kinesis refused entries and the producer retried them; nothing unsent, every message built is in the
 * stream; the boards equal the stream's totals. Reported: publish → stream and publish → leaderboard lag
 * (p50/p99/max), the limits layer's counters.
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { percentile } from '../src/race/percentiles.js';
import { pollerStats, readRecords, readUnsent } from './checks.js';
import { startFaultStack } from './fault-stack.js';
import { useFaultRun } from './harness.js';
import {
  builtKeys,
  distinctSeconds,
  leaderboardLags,
  scheduledAt,
  settledBoards,
  simulate,
  totalsOf,
  watchBoards,
} from './race.js';

const FIELD = { riders: 500, seconds: 30, classes: 3, firstRacer: 1 };
/** 500 riders × 8 = 4,000 messages/s offered for ~4 s against 2 × 1,000 records/s. */
const SPEEDUP = 8;

const run = useFaultRun();

const ms = (values: number[]) =>
  `p50 ${Math.round(percentile(values, 50))} ms, p99 ${Math.round(percentile(values, 99))} ms, max ${Math.round(percentile(values, 100))} ms`;

it('sustained throttling (2× the shards’ write limits): producers back off, nothing lost, lag reported', async () => {
  const started = Date.now();
  const fault = await startFaultStack();
  run.fault = fault;
  run.note('stack up');
  const shards = fault.config.streams[0]!.shardCount;
  const watcher = await watchBoards(fault);
  run.watcher = watcher;
  const unsentFile = path.join(fault.dir, 'unsent.ndjson');
  const sim = simulate(
    fault,
    [
      `--riders=${FIELD.riders}`,
      `--seconds=${FIELD.seconds}`,
      `--speedup=${SPEEDUP}`,
      `--classes=${FIELD.classes}`,
      '--seed=74',
      `--first-racer=${FIELD.firstRacer}`,
    ],
    unsentFile,
  );
  run.sims.push(sim);
  const { summary, code } = await sim.done;
  run.note(`simulator exited ${code}`);
  const unsent = await readUnsent(unsentFile);

  const records = await readRecords(fault);
  const firstArrival = new Map<string, number>();
  for (const record of records) {
    for (const m of record.messages) {
      const key = `${m.raceId}:${m.racerId}:${m.second}`;
      if (!firstArrival.has(key) || firstArrival.get(key)! > record.arrivedAt)
        firstArrival.set(key, record.arrivedAt);
    }
  }
  const all = distinctSeconds(
    records.flatMap((r) => r.messages),
    summary.raceIds,
  );
  const expected = totalsOf(all);
  const wrong = await settledBoards(watcher.boards, summary.raceIds, expected, 60_000);
  run.note('boards settled (or the wait ran out)');
  const limits = await fault.stack.supervisor.stats(fault.part('kinesis'));
  const stats = await pollerStats(fault);
  const toStream = [...all].map(([key, m]) => firstArrival.get(key)! - scheduledAt(m, SPEEDUP));
  const toBoard = leaderboardLags(all, watcher.history, (m) => scheduledAt(m, SPEEDUP));
  const built = builtKeys(summary, FIELD);
  console.info(
    `[fault throttling] ${summary.messages} messages offered at ${FIELD.riders * SPEEDUP}/s to ${shards} shards (limit ${shards * 1_000} records/s) in ${summary.elapsedSeconds.toFixed(1)} s; producer: ${summary.throttled} entries throttled, ${summary.retried} retried, ${summary.requests} PutRecords, clock lag max ${summary.maxLagMs} ms, ${unsent.length} unsent; limits layer ${JSON.stringify(limits)}; stream ${all.size} distinct seconds; publish → stream ${ms(toStream)}; publish → leaderboard ${ms(toBoard.lags)} (${toBoard.missing} never shown); poller ${JSON.stringify(stats)}; racers off the stream's totals ${wrong.length}; ${Math.round((Date.now() - started) / 1000)} s`,
  );

  // The limits were hit, hard and for a while, and the producer backed off and retried the refused entries.
  expect(limits['throttledRecords']).toBeGreaterThan(summary.messages / 4);
  expect(summary.throttled).toBeGreaterThan(0);
  expect(summary.retried).toBeGreaterThanOrEqual(summary.throttled);
  // Nothing lost: nothing unsent, every message built is in the stream, the boards count it all once.
  expect(unsent.map((u) => `${u.errorCode}: ${u.errorMessage}`).slice(0, 5)).toEqual([]);
  expect([...built].filter((k) => !all.has(k)).slice(0, 10)).toEqual([]);
  expect(all.size).toBe(built.size);
  expect(wrong.slice(0, 10)).toEqual([]);
  expect(toBoard.missing).toBe(0);
});
