/**
 * `pnpm bench:invocation`: where one invocation's wall time goes with the real I/O — dynalite (in a child
 * process, as the local stack runs it) and an IoT data-plane HTTP endpoint — and what latency that gives a
 * rider's second, from its arrival in the stream to the first leaderboard the endpoint receives with it.
 *
 * Shape (defaults = the local stack's pipeline bench): BENCH_RIDERS 1000 in BENCH_RACES 6 races, one record
 * per rider per second for BENCH_SECONDS 20, partition key = racerId over BENCH_SHARDS 2 shards (MD5, as
 * Kinesis does). Each shard is its own "container" (processor, store, SDK clients) and is polled as the
 * event source mapping does: every 250 ms (the shards' polls BENCH_PHASE_MS 125 apart), one batch at a time,
 * a batch = every record arrived by the poll (≤ 1,000). All riders' seconds arrive in the same instant (the
 * worst case, as in the pipeline bench). Settle delay: ALLEYCAT_PUBLISH_SETTLE_MS as the Lambda reads it.
 *
 * Per invocation it reports the wall time and, per kind of step, how long at least one such step was in
 * flight (steps of different races overlap, so these do not add up to the wall time).
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { hashKeyOf, LAMBDA_ENV, type LeaderboardMessage, output, shardIndexFor } from '@alleycat/schema';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { KinesisStreamRecord } from 'aws-lambda';
import { sleep } from '../src/concurrency.js';
import { DEFAULT_PUBLISH_SETTLE_MS } from '../src/constants.js';
import { DynamoStateStore } from '../src/dynamo-store.js';
import { MemoryInvalidRecordSink } from '../src/invalid-sink.js';
import { IngestProcessor, type LoggerLike, type MetricsLike } from '../src/processor.js';
import { IotLeaderboardPublisher } from '../src/publisher.js';
import type { StateStore } from '../src/state-store.js';
import type { LeaderboardPublisher } from '../src/types.js';
import { startDynalite, TEST_CREDENTIALS } from '../test/helpers/dynalite.js';
import { startIotServer } from '../test/helpers/iot-server.js';
import { record } from './corpus.js';

const RIDERS = Number(process.env['BENCH_RIDERS'] ?? 1000);
const RACES = Number(process.env['BENCH_RACES'] ?? 6);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 20);
const SHARDS = Number(process.env['BENCH_SHARDS'] ?? 2);
const PHASE_MS = Number(process.env['BENCH_PHASE_MS'] ?? 125);
const POLL_MS = 250;
const BATCH_SIZE = 1000;
const settleEnv = process.env[LAMBDA_ENV.publishSettleMs];
const SETTLE_MS = settleEnv === undefined ? DEFAULT_PUBLISH_SETTLE_MS : Number(settleEnv);

const quietLogger: LoggerLike = {
  debug() {},
  info() {},
  warn() {},
  error(message, ...extra) {
    console.error(message, ...extra);
  },
  appendKeys() {},
  removeKeys() {},
};

/** Intervals during which a kind of step was in flight, for the current invocation of one shard. */
class StepClock {
  spans = new Map<string, Array<[number, number]>>();
  counts = new Map<string, number>();
  async time<T>(kind: string, run: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await run();
    } finally {
      const list = this.spans.get(kind) ?? [];
      list.push([start, performance.now()]);
      this.spans.set(kind, list);
      this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    }
  }
  /** Length of the union of a kind's intervals (ms). */
  busy(kind: string): number {
    const list = [...(this.spans.get(kind) ?? [])].sort((a, b) => a[0] - b[0]);
    let total = 0;
    let end = Number.NEGATIVE_INFINITY;
    for (const [s, e] of list) {
      if (e <= end) continue;
      total += e - Math.max(s, end);
      end = e;
    }
    return total;
  }
  reset(): void {
    this.spans.clear();
    this.counts.clear();
  }
}

const STORE_STEPS: Record<string, string> = {
  loadBoard: 'read board',
  saveBoard: 'write board',
  readPublish: 'read slot',
  claimPublish: 'claim slot',
  sealPublish: 'seal (+ board back)',
  releasePublish: 'release slot',
  updateBest: 'bests',
  markOpen: 'open-race index',
  markClosed: 'open-race index',
  listOpen: 'open-race index',
};

/** The store with every call timed. */
function timedStore(store: DynamoStateStore, clock: StepClock): StateStore {
  return new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      const step = typeof name === 'string' ? STORE_STEPS[name] : undefined;
      if (step === undefined || typeof value !== 'function') return value;
      return (...args: unknown[]) => clock.time(step, () => value.apply(target, args));
    },
  });
}

/** CPU time (ms) a process has used, from /proc (Linux). */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in clock ticks (100/s)
}

const dynalite = await startDynalite();
// The dynalite child: this process's child running the helper script.
const dynalitePid = Number(
  execFileSync('pgrep', ['-P', String(process.pid), '-f', 'dynalite-child'], { encoding: 'utf8' }).trim(),
);
const iot = await startIotServer();
try {
  const table = 'alleycat-bench-invocation';
  await dynalite.createTable(table);

  // The race: rider i in class 1 + i % RACES, race 9000 + class (as the pipeline bench).
  const riders = Array.from({ length: RIDERS }, (_, i) => {
    const racerId = 1 + i;
    return {
      racerId,
      classId: 1 + (i % RACES),
      shard: shardIndexFor(hashKeyOf(String(racerId)), SHARDS),
      expected: [0] as number[],
      next: 1,
    };
  });
  const t0 = Date.now() + 1_500;
  const arrivals: Array<Array<{ at: number; record: KinesisStreamRecord }>> = Array.from(
    { length: SHARDS },
    () => [],
  );
  for (let s = 1; s <= SECONDS; s++) {
    const at = t0 + (s - 1) * 1000;
    for (const r of riders) {
      const cadence = 60 + ((r.racerId * 7 + s * 13) % 60);
      const resistance = 20 + ((r.racerId + s * 3) % 50);
      r.expected.push(r.expected[s - 1]! + output(cadence, resistance));
      const m = {
        uuid: crypto.randomUUID(),
        event: s === SECONDS ? 'final' : 'update',
        deviceTimestamp: at,
        second: s,
        raceId: 9000 + r.classId,
        name: `Rider ${r.racerId}`,
        racerId: r.racerId,
        classId: r.classId,
        cadence,
        resistance,
      };
      arrivals[r.shard]!.push({
        at,
        record: record(Buffer.from(JSON.stringify(m)), String(r.racerId), r.shard, at),
      });
    }
  }

  // Latency: first leaderboard (as the endpoint received it) showing the rider's total through second s.
  const byId = new Map(riders.map((r) => [r.racerId, r]));
  const latencies: number[] = [];
  const publishedBefore = iot.published.length;
  const watcher = setInterval(() => scan(), 5);
  let scanned = publishedBefore;
  function scan(): void {
    for (; scanned < iot.published.length; scanned++) {
      const { message, receivedAt } = iot.published[scanned]! as {
        message: LeaderboardMessage;
        receivedAt: number;
      };
      for (const [racerId, , total] of message.standings) {
        const rider = byId.get(racerId);
        if (rider === undefined) continue;
        while (
          rider.next <= SECONDS &&
          total >= Math.round(rider.expected[rider.next]! * 100) / 100 - 0.011
        ) {
          latencies.push(receivedAt - (t0 + (rider.next - 1) * 1000));
          rider.next++;
        }
      }
    }
  }

  interface Invocation {
    shard: number;
    records: number;
    wallMs: number;
    queuedMs: number;
    steps: Record<string, number>;
    calls: Record<string, number>;
    conflicts: number;
    writes: number;
  }
  const invocations: Invocation[] = [];
  const kinds = new Set<string>();

  const cpuBefore = process.cpuUsage();
  const dynaliteCpuBefore = cpuMsOf(dynalitePid);
  await Promise.all(
    arrivals.map(async (queue, shard) => {
      const clock = new StepClock();
      const dynamoStore = new DynamoStateStore(dynalite.client, table);
      const store = timedStore(dynamoStore, clock);
      const iotClient = new IoTDataPlaneClient({
        region: 'us-east-1',
        endpoint: iot.endpoint,
        credentials: TEST_CREDENTIALS,
        requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 50 }) }),
        maxAttempts: 2,
      });
      const inner = new IotLeaderboardPublisher(iotClient);
      const publisher: LeaderboardPublisher = {
        publish: (topic, message) => clock.time('publish (IoT)', () => inner.publish(topic, message)),
      };
      const metrics: MetricsLike = { addMetric() {} };
      let conflicts = 0;
      const processor = new IngestProcessor({
        store,
        publisher,
        sink: new MemoryInvalidRecordSink(),
        logger: quietLogger,
        metrics: {
          addMetric(name, unit, value) {
            if (name === 'StateConflicts') conflicts += value;
            metrics.addMetric(name, unit, value);
          },
        },
        resultsTopicPrefix: 'alleycat-subscribe',
        raceTimeoutSeconds: 120,
        publishSettleMs: SETTLE_MS,
        wait: (ms) => clock.time('waits (settle, slot)', () => sleep(ms)),
      });
      let next = 0;
      // As the mapping: GetRecords at most every 250 ms per shard, and never during the shard's invocation.
      let pollAt = t0 - 1000 + shard * PHASE_MS;
      while (next < queue.length) {
        while (pollAt < queue[next]!.at) pollAt += POLL_MS;
        await sleep(pollAt - Date.now());
        const polledAt = Date.now();
        const batch: KinesisStreamRecord[] = [];
        let oldest = Number.POSITIVE_INFINITY;
        while (next < queue.length && queue[next]!.at <= polledAt && batch.length < BATCH_SIZE) {
          oldest = Math.min(oldest, queue[next]!.at);
          batch.push(queue[next++]!.record);
        }
        if (batch.length === 0) {
          pollAt += POLL_MS;
          continue;
        }
        clock.reset();
        conflicts = 0;
        const writesBefore = dynamoStore.stats.writes;
        const start = performance.now();
        const response = await processor.process({ Records: batch });
        const wallMs = performance.now() - start;
        if (response.batchItemFailures.length > 0) throw new Error('unexpected batch failure');
        const steps: Record<string, number> = {};
        const calls: Record<string, number> = {};
        for (const kind of clock.spans.keys()) {
          steps[kind] = clock.busy(kind);
          calls[kind] = clock.counts.get(kind) ?? 0;
          kinds.add(kind);
        }
        invocations.push({
          shard,
          records: batch.length,
          wallMs,
          queuedMs: polledAt - oldest,
          steps,
          calls,
          conflicts,
          writes: dynamoStore.stats.writes - writesBefore,
        });
        pollAt = Math.max(polledAt + POLL_MS, Date.now());
      }
      iotClient.destroy();
    }),
  );
  const cpu = process.cpuUsage(cpuBefore);
  const benchCpuMs = (cpu.user + cpu.system) / 1000;
  const dynaliteCpuMs = cpuMsOf(dynalitePid) - dynaliteCpuBefore;
  await sleep(200);
  scan();
  clearInterval(watcher);

  const q = (values: number[], p: number) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
  };
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const f = (v: number) => v.toFixed(0).padStart(6);
  const missing = riders.reduce((n, r) => n + (SECONDS + 1 - r.next), 0);
  console.log(
    `${RIDERS} riders, ${RACES} races, ${SECONDS} s, ${SHARDS} shards (polls ${PHASE_MS} ms apart), settle ${SETTLE_MS} ms; dynalite + IoT endpoint on 127.0.0.1`,
  );
  const walls = invocations.map((i) => i.wallMs);
  console.log(
    `\n${invocations.length} invocations, ${Math.round(mean(invocations.map((i) => i.records)))} records each on average`,
  );
  console.log('per invocation (ms)                       mean    p50    p90    max   calls in all');
  const row = (name: string, values: number[], calls = '') =>
    console.log(
      `${name.padEnd(38)}${f(mean(values))} ${f(q(values, 0.5))} ${f(q(values, 0.9))} ${f(Math.max(...values))}   ${calls}`,
    );
  row('wall time', walls);
  row(
    '  waiting in the stream (oldest record)',
    invocations.map((i) => i.queuedMs),
  );
  for (const kind of [...kinds].sort()) {
    const calls = invocations.reduce((n, i) => n + (i.calls[kind] ?? 0), 0);
    row(
      `  ${kind} in flight`,
      invocations.map((i) => i.steps[kind] ?? 0),
      String(calls),
    );
  }
  console.log(
    `state conflicts (lost conditional writes): ${invocations.reduce((n, i) => n + i.conflicts, 0)}; DynamoDB writes: ${invocations.reduce((n, i) => n + i.writes, 0)} (${((invocations.reduce((n, i) => n + i.writes, 0) / (RIDERS * SECONDS)) * 1000).toFixed(1)} per 1,000 rider-seconds); leaderboards received: ${iot.published.length - publishedBefore}`,
  );
  console.log(
    `CPU per invocation: handler + bench process ${(benchCpuMs / invocations.length).toFixed(0)} ms, dynalite ${(dynaliteCpuMs / invocations.length).toFixed(0)} ms (${((benchCpuMs + dynaliteCpuMs) / 1000).toFixed(1)} CPU-s in all; load-independent, unlike the wall times)`,
  );
  console.log(
    `\nrecord arrival → leaderboard received (every rider-second; ${latencies.length} seen, ${missing} never): p50 ${q(latencies, 0.5)} ms, p90 ${q(latencies, 0.9)} ms, p99 ${q(latencies, 0.99)} ms, max ${Math.max(...latencies)} ms`,
  );
  console.log(
    '(includes waiting for the 250 ms poll and for the shard’s previous batch, as the local stack does)',
  );
} finally {
  await Promise.all([dynalite.stop(), iot.stop()]);
}
