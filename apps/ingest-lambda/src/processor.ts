/**
 * One invocation: decode every record, reject what is invalid (to the errors sink), group the messages by
 * race, and for each race merge them into its board with one conditional write, update bests, publish the
 * leaderboard. Failures that retrying can fix are answered with `batchItemFailures` from the first affected
 * record; Lambda then re-delivers from there and the boards absorb what was already counted.
 */
import { type InvalidRecordReport, invalidRecordKey, resultsTopicFor } from '@alleycat/schema';
import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import {
  closeIdleRace,
  isRaceClosed,
  leaderboardFor,
  type MergeResult,
  mergeMessages,
  newBoard,
  type RaceBoard,
} from './board.js';
import { isRetryable } from './classify.js';
import { forEachLimit, sleep } from './concurrency.js';
import {
  BEST_CONCURRENCY,
  MAX_STATE_ATTEMPTS,
  METRIC,
  PUBLISH_INTERVAL_MS,
  RACE_CONCURRENCY,
  SINK_CONCURRENCY,
  STATE_CONFLICT_BACKOFF_MS,
  SWEEP_INTERVAL_MS,
} from './constants.js';
import { decodeKinesisData } from './decode.js';
import { BoardTooLargeError, CorruptBoardError, StateConflictError } from './errors.js';
import type { StateStore } from './state-store.js';
import type {
  Clock,
  InvalidRecordSink,
  LeaderboardPublisher,
  RejectReason,
  SourcedMessage,
} from './types.js';

/** The parts of Powertools' Logger the processor uses (so tests and the benchmark can pass their own). */
export interface LoggerLike {
  debug(message: string, ...extra: Array<Record<string, unknown>>): void;
  info(message: string, ...extra: Array<Record<string, unknown>>): void;
  warn(message: string, ...extra: Array<Record<string, unknown>>): void;
  error(message: string, ...extra: Array<Record<string, unknown>>): void;
  appendKeys(keys: Record<string, unknown>): void;
  removeKeys(keys: string[]): void;
}

/** The parts of Powertools' Metrics the processor uses. */
export interface MetricsLike {
  addMetric(name: string, unit: 'Count' | 'Milliseconds', value: number): void;
}

export interface ProcessorOptions {
  store: StateStore;
  publisher: LeaderboardPublisher;
  sink: InvalidRecordSink;
  logger: LoggerLike;
  metrics: MetricsLike;
  resultsTopicPrefix: string;
  raceTimeoutSeconds: number;
  clock?: Clock;
  /** Waits before a deferred publish claim; injectable so tests need not sleep. */
  wait?: (ms: number) => Promise<void>;
  publishIntervalMs?: number;
  sweepIntervalMs?: number;
}

interface Rejected {
  recordIndex: number;
  subSequenceNumber?: number;
  reason: RejectReason;
  /** Base64 of the rejected bytes when they are a part of the record (a KPL user record). */
  partBase64?: string;
}

/** A publish left for the end of the invocation: the slot was busy when the board was written. */
interface DeferredPublish {
  board: RaceBoard;
  notBeforeMs: number;
  firstRecord: number;
  withNames: boolean;
}

/** Poison for a race's state, not a fault of the environment: retrying cannot help. */
function isStatePoison(error: unknown): boolean {
  return error instanceof BoardTooLargeError || error instanceof CorruptBoardError;
}

/** Kinesis `eventID` is `shardId-…:sequenceNumber`. */
export function shardIdOf(record: KinesisStreamRecord): string {
  const colon = record.eventID.indexOf(':');
  return colon > 0 ? record.eventID.slice(0, colon) : record.eventID;
}

export class IngestProcessor {
  private readonly store: StateStore;
  private readonly publisher: LeaderboardPublisher;
  private readonly sink: InvalidRecordSink;
  private readonly logger: LoggerLike;
  private readonly metrics: MetricsLike;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly clock: Clock;
  private readonly wait: (ms: number) => Promise<void>;
  private readonly intervalMs: number;
  private readonly sweepIntervalMs: number;
  private lastSweepMs = Number.NEGATIVE_INFINITY;

  constructor(options: ProcessorOptions) {
    this.store = options.store;
    this.publisher = options.publisher;
    this.sink = options.sink;
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.prefix = options.resultsTopicPrefix;
    this.timeoutMs = options.raceTimeoutSeconds * 1000;
    this.clock = options.clock ?? Date.now;
    this.wait = options.wait ?? sleep;
    this.intervalMs = options.publishIntervalMs ?? PUBLISH_INTERVAL_MS;
    this.sweepIntervalMs = options.sweepIntervalMs ?? SWEEP_INTERVAL_MS;
  }

  async process(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
    const records = event.Records ?? [];
    if (records.length === 0) {
      this.metrics.addMetric(METRIC.records, 'Count', 0);
      return { batchItemFailures: [] };
    }
    const shardId = shardIdOf(records[0]!);
    this.logger.appendKeys({ shardId });
    try {
      return await this.processRecords(records);
    } finally {
      this.logger.removeKeys(['shardId']);
    }
  }

  private async processRecords(records: KinesisStreamRecord[]): Promise<KinesisStreamBatchResponse> {
    const nowMs = this.clock();
    const writesBefore = this.store.stats.writes;
    let firstFailed = Number.POSITIVE_INFINITY;
    const fail = (index: number): void => {
      if (index < firstFailed) firstFailed = index;
    };

    // Decode everything first (pure CPU): messages grouped by race, rejections aside.
    const byRace = new Map<number, SourcedMessage[]>();
    const rejected: Rejected[] = [];
    let messages = 0;
    let oldestArrival = Number.POSITIVE_INFINITY;
    let newestArrival = 0;
    for (let i = 0; i < records.length; i++) {
      const kinesis = records[i]!.kinesis;
      // Lambda always sets it; a hand-made event may not (then: now, so timeouts still make sense).
      const arrival = kinesis.approximateArrivalTimestamp;
      const arrivalMs = Number.isFinite(arrival) && arrival > 0 ? Math.round(arrival * 1000) : nowMs;
      if (arrivalMs < oldestArrival) oldestArrival = arrivalMs;
      if (arrivalMs > newestArrival) newestArrival = arrivalMs;
      const decoded = decodeKinesisData(kinesis.data);
      for (const message of decoded.messages) {
        let list = byRace.get(message.raceId);
        if (list === undefined) {
          list = [];
          byRace.set(message.raceId, list);
        }
        list.push({ message, recordIndex: i, arrivalMs });
      }
      messages += decoded.messages.length;
      for (const r of decoded.rejections) {
        const entry: Rejected = { recordIndex: i, reason: r.reason };
        if (r.subSequenceNumber !== undefined) {
          entry.subSequenceNumber = r.subSequenceNumber;
          entry.partBase64 = Buffer.from(r.data).toString('base64');
        }
        rejected.push(entry);
      }
    }
    this.metrics.addMetric(METRIC.records, 'Count', records.length);
    this.metrics.addMetric(METRIC.messages, 'Count', messages);
    this.metrics.addMetric(METRIC.iteratorAge, 'Milliseconds', Math.max(0, nowMs - oldestArrival));
    this.metrics.addMetric(METRIC.arrivalLag, 'Milliseconds', Math.max(0, nowMs - newestArrival));

    // State per race, a bounded number at once; publishes whose slot was busy are collected for the end.
    const deferred: DeferredPublish[] = [];
    const totals = { counted: 0, duplicates: 0, racers: 0, races: 0, bests: 0, published: 0, conflicts: 0 };
    await forEachLimit([...byRace.entries()], RACE_CONCURRENCY, async ([raceId, list]) => {
      const firstRecord = list[0]!.recordIndex;
      try {
        const outcome = await this.processRace(raceId, list, nowMs, totals);
        for (const r of outcome.rejected) rejected.push(r);
        if (outcome.deferred !== undefined) deferred.push({ ...outcome.deferred, firstRecord });
      } catch (error) {
        if (isStatePoison(error)) {
          // The race's state cannot take these messages; keep them inspectable and let the shard move on.
          this.logger.error('race state rejected its records', { raceId, error });
          const reason = { code: 'state_rejected', path: '', message: (error as Error).message };
          const seen = new Set<number>();
          for (const s of list) {
            if (seen.has(s.recordIndex)) continue;
            seen.add(s.recordIndex);
            rejected.push({ recordIndex: s.recordIndex, reason });
          }
          return;
        }
        fail(firstRecord);
        this.logger.error('race failed; its records will be retried', {
          raceId,
          retryable: isRetryable(error),
          sequenceNumber: records[firstRecord]!.kinesis.sequenceNumber,
          error,
        });
      }
    });

    await this.writeRejections(records, rejected, fail);

    await Promise.all(
      deferred.map(async (d) => {
        try {
          if (await this.publishDeferred(d)) totals.published++;
        } catch (error) {
          this.onPublishError(error, d.firstRecord, d.board.raceId, fail);
        }
      }),
    );

    await this.sweepIfDue(nowMs);

    this.metrics.addMetric(METRIC.secondsCounted, 'Count', totals.counted);
    this.metrics.addMetric(METRIC.duplicates, 'Count', totals.duplicates);
    this.metrics.addMetric(METRIC.racersUpdated, 'Count', totals.racers);
    this.metrics.addMetric(METRIC.racesUpdated, 'Count', totals.races);
    this.metrics.addMetric(METRIC.bestsUpdated, 'Count', totals.bests);
    this.metrics.addMetric(METRIC.leaderboardsPublished, 'Count', totals.published);
    this.metrics.addMetric(METRIC.stateConflicts, 'Count', totals.conflicts);
    // Every write request, including lost conditions: what DynamoDB bills (the README's writes per 1,000).
    this.metrics.addMetric(METRIC.stateWrites, 'Count', this.store.stats.writes - writesBefore);
    this.metrics.addMetric(METRIC.invalidRecords, 'Count', rejected.length);

    this.logger.debug('batch processed', {
      firstSequenceNumber: records[0]!.kinesis.sequenceNumber,
      lastSequenceNumber: records[records.length - 1]!.kinesis.sequenceNumber,
      records: records.length,
      messages,
      racesInBatch: byRace.size,
      invalid: rejected.length,
      ...totals,
      failedFromSequenceNumber:
        firstFailed === Number.POSITIVE_INFINITY ? undefined : records[firstFailed]!.kinesis.sequenceNumber,
    });
    if (firstFailed === Number.POSITIVE_INFINITY) return { batchItemFailures: [] };
    this.metrics.addMetric(METRIC.batchItemFailures, 'Count', records.length - firstFailed);
    // Lambda resumes a Kinesis shard from the lowest reported sequence number: one entry says it all.
    return { batchItemFailures: [{ itemIdentifier: records[firstFailed]!.kinesis.sequenceNumber }] };
  }

  /**
   * Load → merge → conditional write, again from a fresh read when another invocation wrote the board in
   * between. Then bests and, if this write claimed the slot, the leaderboard.
   */
  private async processRace(
    raceId: number,
    list: SourcedMessage[],
    nowMs: number,
    totals: Record<
      'counted' | 'duplicates' | 'racers' | 'races' | 'bests' | 'published' | 'conflicts',
      number
    >,
  ): Promise<{ rejected: Rejected[]; deferred?: Omit<DeferredPublish, 'firstRecord'> }> {
    let board: RaceBoard | undefined;
    let result: MergeResult | undefined;
    let claimed = false;
    let previousPublish = { atMs: 0, version: 0 };
    for (let attempt = 1; ; attempt++) {
      claimed = false; // a claim made by a lost write was never made
      const stored = await this.store.loadBoard(raceId);
      if (stored === undefined) {
        // Indexed before the board exists (idempotent), so a failure between the two cannot leave a race
        // that the timeout sweep never sees.
        await this.store.markOpen({ raceId, classId: list[0]!.message.classId, openedAtMs: nowMs });
      }
      board = stored ?? newBoard(raceId, list[0]!.message.classId, nowMs);
      const readVersion = board.version;
      previousPublish = { atMs: board.publishedAtMs, version: board.publishedVersion };
      result = mergeMessages(board, list, this.timeoutMs);
      if (!result.changed) break;
      board.version = readVersion + 1;
      claimed = nowMs - board.publishedAtMs >= this.intervalMs;
      if (claimed) {
        board.publishedAtMs = nowMs;
        board.publishedVersion = board.version;
      }
      const saved = await this.store.saveBoard(board, {
        version: readVersion,
        publishedAtMs: previousPublish.atMs,
        claim: claimed,
      });
      if (saved) break;
      totals.conflicts++;
      if (attempt >= MAX_STATE_ATTEMPTS) throw new StateConflictError(raceId, attempt);
      // Full jitter: two shards that collided should not collide again in lockstep.
      await sleep(Math.random() * STATE_CONFLICT_BACKOFF_MS * 2 ** (attempt - 1));
    }

    totals.counted += result.secondsCounted;
    totals.duplicates += result.duplicates;
    totals.racers += result.racersUpdated;
    if (result.changed) totals.races++;

    await forEachLimit(result.bestsDue, BEST_CONCURRENCY, async (racerId) => {
      const racer = board.racers.get(racerId)!;
      if (await this.store.updateBest(racerId, board.classId, racer.total, raceId, nowMs)) totals.bests++;
    });
    const rejected: Rejected[] = result.rejected.map((r) => ({
      recordIndex: r.source.recordIndex,
      reason: r.reason,
    }));

    const withNames = result.newRacers > 0;
    if (claimed) {
      try {
        await this.publishBoard(board, nowMs, withNames);
        totals.published++;
      } catch (error) {
        // Give the slot back so the retry (or the next writer) publishes this version.
        await this.store
          .releasePublish(
            raceId,
            { atMs: board.publishedAtMs, version: board.publishedVersion },
            previousPublish,
          )
          .catch((releaseError: unknown) =>
            this.logger.warn('could not release the publish slot', { raceId, error: releaseError }),
          );
        if (isRetryable(error)) throw error;
        this.logger.error('leaderboard publish refused', { raceId, retryable: false, error });
      }
      return { rejected };
    }
    // The slot was busy. Mid-race the next write (any shard, within about a second) publishes a newer
    // version anyway; but when racers closed, or an earlier publish of this version failed, nothing may
    // follow, so this invocation waits for the slot and publishes itself.
    if (
      (result.changed && result.racersClosed > 0) ||
      (!result.changed && board.publishedVersion < board.version)
    ) {
      return {
        rejected,
        deferred: { board, notBeforeMs: previousPublish.atMs + this.intervalMs, withNames },
      };
    }
    return { rejected };
  }

  private async publishBoard(board: RaceBoard, publishedAtMs: number, withNames: boolean): Promise<void> {
    const topic = resultsTopicFor(board.classId, this.prefix);
    for (const message of leaderboardFor(board, publishedAtMs, withNames)) {
      await this.publisher.publish(topic, message);
    }
  }

  /**
   * Claims the slot once it is free and publishes this invocation's version, unless a version at least as
   * new was published meanwhile. Without this, the last seconds of a race written while another shard
   * held the slot would never reach the bikes.
   */
  private async publishDeferred(d: DeferredPublish): Promise<boolean> {
    const { board } = d;
    for (let attempt = 0; attempt < 3; attempt++) {
      await this.wait(
        Math.max(0, (attempt === 0 ? d.notBeforeMs : this.clock() + this.intervalMs) - this.clock()),
      );
      const now = this.clock();
      if (await this.store.claimPublish(board.raceId, board.version, now, this.intervalMs)) {
        try {
          await this.publishBoard(board, now, d.withNames);
        } catch (error) {
          await this.store
            .releasePublish(
              board.raceId,
              { atMs: now, version: board.version },
              { atMs: board.publishedAtMs, version: board.publishedVersion },
            )
            .catch(() => undefined);
          throw error;
        }
        return true;
      }
    }
    return false;
  }

  private onPublishError(
    error: unknown,
    firstRecord: number,
    raceId: number,
    fail: (i: number) => void,
  ): void {
    if (isRetryable(error)) {
      fail(firstRecord);
      this.logger.warn('leaderboard publish failed; records will be retried', { raceId, error });
    } else {
      // A refused publish (policy, topic) does not heal by retrying: the state is safe, the board stale.
      this.logger.error('leaderboard publish refused', { raceId, retryable: false, error });
    }
  }

  private async writeRejections(
    records: KinesisStreamRecord[],
    rejected: Rejected[],
    fail: (i: number) => void,
  ): Promise<void> {
    if (rejected.length === 0) return;
    const rejectedAt = new Date(this.clock()).toISOString();
    await forEachLimit(rejected, SINK_CONCURRENCY, async (r) => {
      const record = records[r.recordIndex]!;
      const report: InvalidRecordReport = {
        reason: r.reason,
        eventSourceARN: record.eventSourceARN,
        shardId: shardIdOf(record),
        sequenceNumber: record.kinesis.sequenceNumber,
        partitionKey: record.kinesis.partitionKey,
        approximateArrivalTimestamp: record.kinesis.approximateArrivalTimestamp,
        dataBase64: r.partBase64 ?? record.kinesis.data,
        rejectedAt,
      };
      if (r.subSequenceNumber !== undefined) report.subSequenceNumber = r.subSequenceNumber;
      const key = invalidRecordKey(report);
      this.logger.warn('invalid record', {
        sequenceNumber: report.sequenceNumber,
        subSequenceNumber: r.subSequenceNumber,
        reason: r.reason,
        key,
      });
      try {
        await this.sink.write(key, report);
      } catch (error) {
        // Never drop a rejected payload unrecorded: hand the record back to Lambda instead.
        fail(r.recordIndex);
        this.logger.error('could not store an invalid record', { key, retryable: isRetryable(error), error });
      }
    });
  }

  /** Closes races with no record for longer than the timeout (their `final`s were lost). */
  private async sweepIfDue(nowMs: number): Promise<void> {
    if (nowMs - this.lastSweepMs < this.sweepIntervalMs) return;
    this.lastSweepMs = nowMs;
    try {
      const open = await this.store.listOpen();
      const due = open.filter((race) => nowMs - race.openedAtMs > this.timeoutMs);
      await forEachLimit(due, RACE_CONCURRENCY, async (race) => {
        try {
          await this.closeIfIdle(race.raceId, nowMs);
        } catch (error) {
          this.logger.warn('timeout sweep could not close a race', { raceId: race.raceId, error });
        }
      });
    } catch (error) {
      this.logger.warn('timeout sweep failed', { error });
    }
  }

  private async closeIfIdle(raceId: number, nowMs: number): Promise<void> {
    for (let attempt = 1; attempt <= MAX_STATE_ATTEMPTS; attempt++) {
      const board = await this.store.loadBoard(raceId);
      if (board === undefined) {
        await this.store.markClosed(raceId);
        return;
      }
      if (nowMs - board.lastArrivalMs <= this.timeoutMs) return;
      const readVersion = board.version;
      const previousAt = board.publishedAtMs;
      const previousVersion = board.publishedVersion;
      const closedNow = closeIdleRace(board);
      const needsPublish = closedNow.length > 0 || board.publishedVersion < board.version;
      if (closedNow.length > 0) {
        board.version = readVersion + 1;
        const claim = nowMs - previousAt >= this.intervalMs;
        if (claim) {
          board.publishedAtMs = nowMs;
          board.publishedVersion = board.version;
        }
        if (
          !(await this.store.saveBoard(board, { version: readVersion, publishedAtMs: previousAt, claim }))
        ) {
          continue;
        }
        this.metrics.addMetric(METRIC.racesClosedByTimeout, 'Count', 1);
        if (!claim) return; // publish and index cleanup on a later sweep, once the slot is free
      } else if (needsPublish) {
        if (!(await this.store.claimPublish(raceId, board.version, nowMs, this.intervalMs))) return;
      }
      // Racers closed by timeout get their best (again: max is idempotent, and a sweep may have died here).
      await forEachLimit(
        [...board.racers.values()].filter((r) => r.closed === 'timeout'),
        BEST_CONCURRENCY,
        async (r) => {
          await this.store.updateBest(r.racerId, board.classId, r.total, raceId, nowMs);
        },
      );
      if (needsPublish) {
        try {
          await this.publishBoard(board, nowMs, true);
        } catch (error) {
          // Give the slot back: the next sweep finds the version unpublished and tries again.
          await this.store
            .releasePublish(
              raceId,
              { atMs: nowMs, version: board.version },
              { atMs: previousAt, version: previousVersion },
            )
            .catch(() => undefined);
          throw error;
        }
      }
      if (isRaceClosed(board)) await this.store.markClosed(raceId);
      return;
    }
  }
}
