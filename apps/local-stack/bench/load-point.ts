/**
 * One point of the load search: a fresh stack (stream sized for the riders), `alleycat simulate` children
 * sending R riders at 1 Hz for S seconds along one path, a listener on the leaderboards measuring when each
 * (racer, second) shows up, the Lambda's own counters, and the CPU and peak memory of every process.
 * It passes when every message sent was counted (and each racer's final board total is exact), nothing was
 * set aside, the simulator kept its 1 Hz clock, the latency did not grow over the run and p99 ≤ the limit.
 * It stops early — and fails — as soon as that p99 can no longer be met or the simulator falls behind.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { LAMBDA_ENV, parseLeaderboardMessage, planCapacity, RESULTS_TOPIC_FILTER } from '@alleycat/schema';
import mqtt from 'mqtt';
import { percentile } from '../src/race/percentiles.js';
import { RaceBoards } from '../src/race/race-boards.js';
import { type ExpectedTotals, expectedTotals } from './lib/expected.js';
import { LatencyTracker, lagGrowthMs } from './lib/latency.js';
import { type PartUsage, UsageMeter } from './lib/procfs.js';
import {
  type LoadPath,
  type SimulatorSummary,
  type Slice,
  slicesOf,
  startSimulators,
} from './lib/simulator.js';
import { type BenchStack, countFiles, startBenchStack } from './lib/stack.js';

export interface PointOptions {
  path: LoadPath;
  riders: number;
  seconds: number;
  classes: number;
  seed: number;
  /** p99 end-to-end latency must stay at or under this (ms). */
  maxP99Ms: number;
  /** After the race, how long to wait for the last seconds to reach the boards. */
  drainMs: number;
  ridersPerProcess: number;
  /** Shards override (default: the schema's `planCapacity` for the path). */
  shards?: number;
  stackFile?: string;
  limitsEnabled: boolean;
  /** The Lambda's `ALLEYCAT_PUBLISH_SETTLE_MS` (default: the stack's). */
  publishSettleMs?: number;
  /** A simulator tick later than this behind its schedule means the producer cannot keep 1 Hz. */
  maxTickLagMs: number;
  /** Run every point to its end even when it has certainly failed (for diagnosis). */
  earlyStop: boolean;
  /** Race seconds left out of the latency percentiles (connections, first invocations, JIT). */
  warmupSeconds: number;
  /** Lag growth (mean latency of the last third of the race minus the first third) that fails a point. */
  maxLagGrowthMs: number;
  log?: (line: string) => void;
}

export interface PointResult {
  path: LoadPath;
  riders: number;
  seconds: number;
  shards: number;
  pass: boolean;
  /** Why it failed (empty when it passed). */
  failures: string[];
  /** The run was cut short by an early-stop condition (figures cover the part that ran). */
  stoppedEarlyAfterS: number | null;
  sent: number;
  delivered: number;
  /**
   * (racer, second) pairs the leaderboards counted: each racer's seconds up to the last one its board total
   * includes (and `boardMismatches` = 0 proves each final total is exactly the sum of what was sent).
   */
  counted: number;
  /** The Lambda's own SecondsCounted metric (EMF), as a cross-check of `counted`. */
  lambdaSecondsCounted: number;
  /** sent − counted − accounted for: messages nobody can point to. */
  lost: number;
  accountedFor: {
    undelivered: number;
    ruleErrorActions: number;
    invalid: number;
    dlqFiles: number;
    /** Built by a simulator killed before it could report (early stop) and not on any board. */
    unsentInKilledSimulators: number;
  };
  /** (racer, second) pairs a leaderboard showed, of sent. */
  onBoards: number;
  /** Racers whose final board total is not the total of what they sent. */
  boardMismatches: number;
  throttledRetried: number;
  /** Over race seconds from `warmupSeconds` on; `…WithWarmup`: every second. */
  latencyMs: {
    p50: number;
    p90: number;
    p99: number;
    max: number;
    p99WithWarmup: number;
    maxWithWarmup: number;
    /** Timed from each second's tick instead of each bike's publish (differs on the MQTT path only). */
    p50FromTick: number;
    p99FromTick: number;
    /** Pairs timed from their own publish call (MQTT); the rest from their second's tick. */
    timedFromPublish: number;
    warmupSeconds: number;
  };
  lagGrowthMs: number;
  /** Mean latency of each race second (ms): the shape of the run. */
  meanLatencyBySecondMs: Array<number | null>;
  simulatorMaxTickLagMs: number;
  duplicatesCounted: number;
  /** Every EMF metric of the Lambda, summed over the run. */
  lambdaMetrics: Record<string, number>;
  /** Where the time goes: the event source mapping's wait and handler time, the boards' way back. */
  stages: {
    kinesisArrivalToInvokeMs: { mean: number; max: number | null };
    handlerMs: { invocations: number; mean: number; max: number | null };
    lambdaPublishToBoardReceivedMs: { boards: number; p50: number; p99: number };
    leaderboardsPublished: number;
  };
  parts: PartUsage[];
  wallSeconds: number;
  /** The machine's 1-minute load average when the point started and ended (2 cores: above 2 means contention). */
  loadAverage: { start: number; end: number };
}

/** Shards a user would provision for this path and rider count (the schema's capacity plan, 80 % headroom). */
export function shardsFor(path: LoadPath, riders: number): number {
  return path === 'kinesis-aggregated'
    ? // KPL aggregates ~25 KB records of ~150 messages: bytes, not records, bind.
      planCapacity({ riders, pattern: 'batched', messagesPerRecord: 100 }).shards
    : planCapacity({ riders }).shards;
}

/** The parts measured, in table order: label → supervisor part names. */
export const MEASURED_PARTS: ReadonlyArray<[label: string, parts: string[]]> = [
  ['broker+rule', ['broker']],
  ['kinesis+limits', ['kinesalite', 'kinesis']],
  ['dynamodb', ['dynamodb']],
  ['iot-data', ['iot-data']],
  ['esm+lambda', ['event-source-mapping']],
];

export async function runPoint(options: PointOptions): Promise<PointResult> {
  const log = options.log ?? (() => {});
  const shards = options.shards ?? shardsFor(options.path, options.riders);
  const slices = slicesOf(
    options.riders,
    options.path === 'mqtt' ? Math.min(options.ridersPerProcess, 5_000) : options.riders,
  );
  const expected = await expectedTotals(slices, options);
  const bench = await startBenchStack({
    shards,
    limitsEnabled: options.limitsEnabled,
    ...(options.stackFile ? { stackFile: options.stackFile } : {}),
    ...(options.publishSettleMs === undefined
      ? {}
      : { lambdaEnvironment: { [LAMBDA_ENV.publishSettleMs]: String(options.publishSettleMs) } }),
  });
  try {
    return await measure(options, bench, slices, expected, log);
  } finally {
    await bench.stop();
  }
}

async function measure(
  options: PointOptions,
  bench: BenchStack,
  slices: Slice[],
  expected: ExpectedTotals,
  log: (line: string) => void,
): Promise<PointResult> {
  const { riders, seconds } = options;
  const pairs = riders * seconds;
  const sliceSize = slices[0]!.riders;
  const tracker = new LatencyTracker(
    expected,
    slices.length,
    (racerId) => Math.floor((racerId - 1) / sliceSize),
    options.maxP99Ms,
    options.warmupSeconds,
  );
  const boards = new RaceBoards();
  /** The Lambda's publish (`publishedAt`) → this listener, per board: the return leg of the latency. */
  const boardDelivery: number[] = [];
  const meter = new UsageMeter();
  for (const [label, names] of MEASURED_PARTS) {
    for (const part of bench.stack.supervisor.running())
      if (names.includes(part.name)) meter.add(label, part.pid);
  }

  const listener = await mqtt.connectAsync(bench.stack.endpoints.mqtt, {
    clientId: `bench-load-${process.pid}`,
    protocolVersion: 4,
    reconnectPeriod: 1000,
  });
  listener.on('message', (_topic, payload) => {
    const parsed = parseLeaderboardMessage(payload);
    if (!parsed.ok) return;
    const now = Date.now();
    tracker.board(parsed.leaderboard, now);
    if (parsed.leaderboard.part === 1) boardDelivery.push(now - parsed.leaderboard.publishedAt);
    boards.receive(parsed.leaderboard, now);
  });
  await listener.subscribeAsync(RESULTS_TOPIC_FILTER, { qos: 0 });

  const started = Date.now();
  const loadAtStart = os.loadavg()[0]!;
  /** When each slice's race second 0 started: its clock's schedule. */
  const clockStart: number[] = [];
  let firstTickAt: number | undefined;
  let maxTickLagMs = 0;
  meter.start();
  meter.add('bench listener', process.pid);
  const fleet = startSimulators({
    path: options.path,
    riders,
    seconds,
    classes: options.classes,
    seed: options.seed,
    ridersPerProcess: options.ridersPerProcess,
    mqttUrl: bench.stack.endpoints.mqtt,
    kinesisEndpoint: bench.stack.endpoints.kinesis,
    streamName: bench.streamName,
    region: bench.config.region,
    dataDir: bench.dataDir,
    onTick: (slice, second, at) => {
      tracker.tick(slice.index, second, at);
      firstTickAt ??= at;
      clockStart[slice.index] ??= at - second * 1000;
      const start = clockStart[slice.index]!;
      maxTickLagMs = Math.max(maxTickLagMs, at - (start + second * 1000));
    },
    onPublished: (second, racerIds, at) => {
      for (let i = 0; i < racerIds.length; i++) tracker.published(racerIds[i]!, second, at[i]!);
    },
    // MQTT bikes stay connected until the boards show their last second (or the drain time is up).
    holdBikes: options.path === 'mqtt',
    onHeld: () => {
      held += 1;
      heldSince ??= Date.now();
    },
    onUsage: (pid, usage) => meter.final(pid, usage),
  });
  let held = 0;
  let heldSince: number | undefined;
  let released = false;
  const releaseWhenOnBoards = (now: number) => {
    if (released || held < fleet.slices.length) return;
    const sentPairs = fleet.slices.reduce((n, s) => n + s.riders * (tracker.lastSecondSent(s.index) + 1), 0);
    if (tracker.seen + tracker.untimed < sentPairs && now - heldSince! < options.drainMs) return;
    released = true;
    fleet.release();
  };
  for (const pid of fleet.pids) meter.add('simulator', pid);

  // Watch the run: early stop once the point has certainly failed.
  let exited = false;
  const summaries = fleet.done.finally(() => {
    exited = true;
  });
  summaries.catch(() => {});
  let stopReason: string | undefined;
  /** With earlyStop off: the first reason the run would have been stopped (it runs on, and fails at the end). */
  let wouldStop: string | undefined;
  let stoppedAt: number | undefined;
  const overdueLimit = Math.floor(tracker.steadyPairs * 0.01);
  while (!exited && stopReason === undefined) {
    await Promise.race([sleep(1_000), summaries.catch(() => {})]);
    meter.poll();
    const now = Date.now();
    releaseWhenOnBoards(now);
    let reason: string | undefined;
    if (firstTickAt === undefined) {
      if (now - started > 60_000) reason = 'the simulator never started its race clock (60 s)';
    } else if (maxTickLagMs > options.maxTickLagMs) {
      reason = `the simulator fell behind its 1 Hz clock by ${maxTickLagMs} ms`;
    } else if (wouldStop === undefined) {
      const overdue = tracker.overdue(now);
      if (overdue > overdueLimit) {
        reason = `p99 > ${options.maxP99Ms} ms certain: ${overdue} of ${tracker.steadyPairs} (racer, second) pairs after the warm-up (> 1 %) took longer`;
      }
    }
    if (reason === undefined || exited) continue;
    if (options.earlyStop || firstTickAt === undefined) {
      stopReason = reason;
      stoppedAt = now;
      log(`  stopping early: ${reason}`);
      await fleet.stop();
    } else if (wouldStop === undefined) {
      wouldStop = reason;
      log(`  would stop early (running on, --no-early-stop): ${reason}`);
    }
  }
  const failures: string[] = [];
  const summary: SimulatorSummary[] = [];
  let killedUnsent = 0;
  for (const [i, settled] of (await summaries).entries()) {
    if (settled.status === 'fulfilled') {
      summary.push(settled.value);
      continue;
    }
    failures.push((settled.reason as Error).message);
    // No summary (killed after an early stop): what it sent is unknown, what reached the boards is not. Its
    // messages count as sent and delivered as far as the boards show them; the rest of what it built died
    // in its buffers with it (reported, not called lost: the point has failed anyway).
    const slice = slices[i]!;
    const onBoards = tracker.countedFor(slice.firstRacer, slice.riders);
    killedUnsent += slice.riders * (tracker.lastSecondSent(slice.index) + 1) - onBoards;
    summary.push({ ...EMPTY_SUMMARY, messages: onBoards, delivered: onBoards });
  }
  const parts = meter.finish();
  const raceEnded = Date.now();

  const sent = sum(summary, 'messages');
  const failed = sum(summary, 'failed');
  {
    // Drain (after an early stop too, so its counts are not just what was in flight): the last seconds travel
    // through the stream, the Lambda and back.
    const deadline = Date.now() + options.drainMs;
    while (Date.now() < deadline && tracker.seen + tracker.untimed < sent - failed) await sleep(250);
    await sleep(500); // boards of the last second still on their way to the listener
    // The invocation that published the last boards reports its metrics when it ends, after the closing
    // racers' bests: wait for them, so the Lambda's counts cross-check the whole race (10,000 closing racers'
    // bests took longer than 10 s on dynalite: the count read 1,193,318–1,196,668 of 1,200,000 then).
    const metricsDeadline = Date.now() + 60_000;
    while (
      Date.now() < metricsDeadline &&
      bench.metrics.get('SecondsCounted') < tracker.seen + tracker.untimed
    ) {
      await sleep(250);
    }
  }
  await listener.endAsync(true).catch(() => {});

  const brokerPart = bench.part('broker');
  const rules = brokerPart
    ? await bench.stack.supervisor.stats(brokerPart).catch(() => ({}) as Record<string, number>)
    : {};
  const accountedFor = {
    undelivered: failed,
    ruleErrorActions: rules['errorActions'] ?? 0,
    invalid: bench.metrics.get('InvalidRecords'),
    dlqFiles: await countFiles(bench.stack.dirs.onFailure),
    unsentInKilledSimulators: killedUnsent,
  };
  const counted = tracker.seen + tracker.untimed;
  const esmPart = bench.part('event-source-mapping');
  const esm = esmPart
    ? await bench.stack.supervisor.stats(esmPart).catch(() => ({}) as Record<string, number>)
    : {};
  const mean = (total: string, count: string) =>
    Math.round((esm[total] ?? Number.NaN) / Math.max(1, esm[count] ?? 0));
  const stages = {
    kinesisArrivalToInvokeMs: {
      mean: mean('arrivalToInvokeMsTotal', 'recordsDelivered'),
      max: esm['arrivalToInvokeMsMax'] ?? null,
    },
    handlerMs: {
      invocations: esm['invocations'] ?? 0,
      mean: mean('handlerMsTotal', 'invocations'),
      max: esm['handlerMsMax'] ?? null,
    },
    lambdaPublishToBoardReceivedMs: {
      boards: boardDelivery.length,
      p50: percentile(boardDelivery, 50),
      p99: percentile(boardDelivery, 99),
    },
    leaderboardsPublished: bench.metrics.get('LeaderboardsPublished'),
  };
  const lost = Math.max(
    0,
    sent - counted - accountedFor.undelivered - accountedFor.ruleErrorActions - accountedFor.invalid,
  );
  const mismatches = tracker.mismatches(boards.totals());
  const growth = lagGrowthMs(tracker.meanBySecond(), tracker.warmupSeconds);
  const latencyMs = {
    p50: tracker.percentile(50),
    p90: tracker.percentile(90),
    p99: tracker.percentile(99),
    max: tracker.percentile(100),
    p99WithWarmup: tracker.percentile(99, 'all'),
    maxWithWarmup: tracker.percentile(100, 'all'),
    p50FromTick: tracker.percentile(50, 'fromTick'),
    p99FromTick: tracker.percentile(99, 'fromTick'),
    timedFromPublish: tracker.timedFromPublish,
    warmupSeconds: tracker.warmupSeconds,
  };

  if (stopReason !== undefined) failures.push(`stopped early: ${stopReason}`);
  else {
    if (sent !== pairs) failures.push(`the simulators built ${sent} messages, expected ${pairs}`);
    if (lost > 0) failures.push(`${lost} messages lost (sent, not counted, not accounted for)`);
    const setAside = failed + accountedFor.ruleErrorActions + accountedFor.invalid + accountedFor.dlqFiles;
    if (setAside > 0)
      failures.push(`${setAside} messages or batches set aside (undelivered, error action, invalid, DLQ)`);
    if (mismatches.length > 0)
      failures.push(
        `${mismatches.length} racers' final board totals differ from what they sent (e.g. racer ${mismatches[0]})`,
      );
    if (tracker.untimed > 0)
      failures.push(`${tracker.untimed} pairs reached a board before their send time was known`);
    if (!(latencyMs.p99 <= options.maxP99Ms))
      failures.push(`p99 ${latencyMs.p99} ms > ${options.maxP99Ms} ms`);
    if (counted < pairs)
      failures.push(`${pairs - counted} of ${pairs} (racer, second) pairs never on a board within the drain`);
    // Judged on races with ≥ 10 s per third after the warm-up: on shorter ones one slow second decides it.
    if (seconds - tracker.warmupSeconds >= MIN_SECONDS_FOR_LAG_GROWTH && growth > options.maxLagGrowthMs)
      failures.push(`lag grew by ${Math.round(growth)} ms over the race`);
    if (maxTickLagMs > options.maxTickLagMs) failures.push(`simulator clock ${maxTickLagMs} ms behind`);
  }
  return {
    path: options.path,
    riders,
    seconds,
    shards: bench.shards,
    pass: failures.length === 0,
    failures,
    stoppedEarlyAfterS:
      stoppedAt === undefined ? null : Math.round((stoppedAt - (firstTickAt ?? started)) / 1000),
    sent,
    delivered: sum(summary, 'delivered'),
    counted,
    lambdaSecondsCounted: bench.metrics.get('SecondsCounted'),
    lost,
    accountedFor,
    onBoards: tracker.seen,
    boardMismatches: mismatches.length,
    throttledRetried: sum(summary, 'throttled'),
    latencyMs,
    lagGrowthMs: Math.round(growth),
    meanLatencyBySecondMs: tracker.meanBySecond().map((x) => (Number.isFinite(x) ? Math.round(x) : null)),
    simulatorMaxTickLagMs: Math.round(Math.max(maxTickLagMs, ...summary.map((s) => s.maxLagMs))),
    duplicatesCounted: bench.metrics.get('DuplicateSeconds'),
    stages,
    lambdaMetrics: { ...bench.metrics.totals },
    parts,
    wallSeconds: Math.round((raceEnded - started) / 1000),
    loadAverage: { start: round2(loadAtStart), end: round2(os.loadavg()[0]!) },
  };
}

const EMPTY_SUMMARY: SimulatorSummary = {
  messages: 0,
  delivered: 0,
  failed: 0,
  retried: 0,
  throttled: 0,
  requests: 0,
  records: 0,
  maxLagMs: 0,
  undelivered: 0,
  undeliveredFile: null,
  raceIds: [],
};
const MIN_SECONDS_FOR_LAG_GROWTH = 30;
const round2 = (x: number) => Math.round(x * 100) / 100;
const sum = (summaries: SimulatorSummary[], key: keyof SimulatorSummary) =>
  summaries.reduce((n, s) => n + Number(s[key] ?? 0), 0);
