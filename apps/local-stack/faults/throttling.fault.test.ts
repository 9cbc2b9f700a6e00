/**
 * Fault: sustained throttling. Riders well over the stream's write limits on the Kinesis path, enforced as AWS
 * does (per-entry `ProvisionedThroughputExceededException` in an HTTP 200 PutRecords answer) by the project's
 * limits layer. This shared 2-core machine cannot offer twice AWS's 2 × 1,000 records/s while it also runs
 * the stack (the producer got ~350–1,200 records/s through), so it writes through a second limits layer
 * (`KinesisLimitsProxy`, same code) with the per-shard write limit scaled down tenfold to 100 records/s, in
 * front of the stack's own; the synthesized 2 shards then take 200 records/s and the simulator offers 500/s
 * for 4 s — a backlog that keeps the shards at their limit for about 10 s.
 * The producer must back off and retry only the refused entries until all are in.
 *
 * Checked: Kinesis refused entries and the producer retried them; nothing unsent, every message built is in the
 * stream; the boards equal the stream's totals. Reported: publish → stream and publish → leaderboard lag
 * (p50/p99/max), the limits layer's counters.
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { KinesisLimitsProxy } from '../src/kinesis/limits-proxy.js';
import { percentile } from '../src/race/percentiles.js';
import { pollerStats, readRecords, readUnsent } from './checks.js';
import { useFaultRun } from './harness.js';
import {
  builtKeys,
  distinctSeconds,
  fieldArgs,
  leaderboardLags,
  scheduledAt,
  settledBoards,
  simulate,
  totalsOf,
} from './race.js';

const FIELD = { riders: 100, seconds: 20, classes: 3, firstRacer: 1 };
/** 100 riders × 5 = 500 messages/s offered for 4 s against 2 shards × 100 records/s. */
const SPEEDUP = 5;
const SHARD_WRITE_RECORDS_PER_SECOND = 100;

const run = useFaultRun();

const ms = (values: number[]) =>
  `p50 ${Math.round(percentile(values, 50))} ms, p99 ${Math.round(percentile(values, 99))} ms, max ${Math.round(percentile(values, 100))} ms`;

it('sustained throttling (2× the shards’ write limits, scaled down): producers back off, nothing lost, lag reported', async () => {
  const started = Date.now();
  const { fault, watcher } = await run.startStack();
  const shards = fault.config.streams[0]!.shardCount;
  const limited = new KinesisLimitsProxy({
    upstream: fault.stack.endpoints.kinesis,
    limits: { writeRecordsPerSecond: SHARD_WRITE_RECORDS_PER_SECOND },
  });
  const limitedUrl = await limited.listen(0);
  run.cleanups.push(() => limited.close());
  const unsentFile = path.join(fault.dir, 'unsent.ndjson');
  const sim = simulate(fault, fieldArgs(FIELD, 74, SPEEDUP), unsentFile, {
    kind: 'kinesis',
    endpoint: limitedUrl,
  });
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
  const limits = limited.stats();
  const stats = await pollerStats(fault);
  const toStream = [...all].map(([key, m]) => firstArrival.get(key)! - scheduledAt(m, SPEEDUP));
  const toBoard = leaderboardLags(all, watcher.history, (m) => scheduledAt(m, SPEEDUP));
  const built = builtKeys(summary, FIELD);
  console.info(
    `[fault throttling] ${summary.messages} messages offered at ${FIELD.riders * SPEEDUP}/s to ${shards} shards (limit ${shards * SHARD_WRITE_RECORDS_PER_SECOND} records/s) in ${summary.elapsedSeconds.toFixed(1)} s; producer: ${summary.throttled} entries throttled, ${summary.retried} retried, ${summary.requests} PutRecords, clock lag max ${summary.maxLagMs} ms, ${unsent.length} unsent; limits layer ${JSON.stringify(limits)}; stream ${all.size} distinct seconds; publish → stream ${ms(toStream)}; publish → leaderboard ${ms(toBoard.lags)} (${toBoard.missing} never shown); poller ${JSON.stringify(stats)}; racers off the stream's totals ${wrong.length}; ${Math.round((Date.now() - started) / 1000)} s`,
  );

  // The limits were hit, and for a while: the shards' limit, not the offer, paced the delivery (all of it took
  // at least ~the messages over the limit), and the producer retried the refused entries.
  const limit = shards * SHARD_WRITE_RECORDS_PER_SECOND;
  expect(limits['throttledRecords']).toBeGreaterThan(summary.messages / 20);
  expect(summary.elapsedSeconds).toBeGreaterThan((0.9 * summary.messages) / limit);
  expect(summary.throttled).toBeGreaterThan(0);
  expect(summary.retried).toBeGreaterThanOrEqual(summary.throttled);
  // Nothing lost: nothing unsent, every message built is in the stream, the boards count it all once.
  expect(unsent.map((u) => `${u.errorCode}: ${u.errorMessage}`).slice(0, 5)).toEqual([]);
  expect([...built].filter((k) => !all.has(k)).slice(0, 10)).toEqual([]);
  expect(all.size).toBe(built.size);
  expect(wrong.slice(0, 10)).toEqual([]);
  expect(toBoard.missing).toBe(0);
});
