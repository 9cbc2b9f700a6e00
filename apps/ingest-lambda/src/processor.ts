/**
 * One invocation: decode every record, reject what is invalid (to the errors sink), group the messages by
 * race, and for each race merge them into its board with one conditional write, update bests, publish the
 * leaderboard. Failures that retrying can fix are answered with `batchItemFailures` from the first affected
 * record; Lambda then re-delivers from there and the boards absorb what was already counted.
 */
import {
  type InvalidRecordReport,
  invalidRecordKey,
  type LeaderboardMessage,
  type RaceRow,
  resultsTopicFor,
} from '@alleycat/schema';
import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import {
  addToGroup,
  classOf,
  closeIdleRace,
  firstRecordOf,
  isRaceClosed,
  latestSecond,
  leaderboardFor,
  type MergeResult,
  mergeGroup,
  NO_PUBLISH,
  newBoard,
  newMessageColumns,
  newRaceGroup,
  type PublishState,
  payloadKey,
  type RaceBoard,
  racersAwaited,
  roundArrived,
  roundOverdue,
  roundSecondOf,
  sourcesOf,
} from './board.js';
import { isRetryable } from './classify.js';
import { forEachLimit, sleep } from './concurrency.js';
import {
  BEST_CONCURRENCY,
  DEFAULT_PUBLISH_SETTLE_MS,
  MAX_SEAL_ATTEMPTS,
  MAX_STATE_ATTEMPTS,
  METRIC,
  PUBLISH_INTERVAL_MS,
  PUBLISH_MIN_GAP_MS,
  RACE_CONCURRENCY,
  SINK_CONCURRENCY,
  STATE_CONFLICT_BACKOFF_MAX_MS,
  STATE_CONFLICT_BACKOFF_MS,
  SWEEP_INTERVAL_MS,
} from './constants.js';
import { readKinesisData, userRecordBase64 } from './decode.js';
import { BoardTooLargeError, CorruptBoardError, StateConflictError } from './errors.js';
import { bestKey, type StateStore } from './state-store.js';
import type { Clock, InvalidRecordSink, LeaderboardPublisher, RaceGroup, RejectReason } from './types.js';

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
  /** Waits for the settle delay and for a busy slot; injectable so tests need not sleep. */
  wait?: (ms: number) => Promise<void>;
  publishIntervalMs?: number;
  /** Delay between claiming the slot and publishing (default `DEFAULT_PUBLISH_SETTLE_MS`). */
  publishSettleMs?: number;
  sweepIntervalMs?: number;
}

interface Rejected {
  recordIndex: number;
  subSequenceNumber?: number;
  reason: RejectReason;
  /** Base64 of the rejected bytes when they are a part of the record (a KPL user record). */
  partBase64?: string;
}

/**
 * What a writer owes the leaderboard after its write (README § Leaderboards): to publish the board it
 * wrote, when that write sealed the claim (`sealed`: the messages, built from exactly that version, and the
 * slot as it was before, to put back if the publish fails); to seal a claim whose round is in but whose
 * publish must wait for the minimum gap after the previous one (`claimedAtMs`); or, for a closed race's
 * last version written after the current claim was sealed, a trailing claim once the slot frees
 * (`afterClaimAtMs`: the claim it saw; `second`: its round). An open race's later versions owe nothing:
 * the next round's claim, made by the next second's first write, covers them.
 */
export type PublishDuty =
  | {
      raceId: number;
      sealed: {
        claimedAtMs: number;
        classId: number;
        messages: LeaderboardMessage[];
        previous: PublishState;
      };
      claimedAtMs?: undefined;
      afterClaimAtMs?: undefined;
    }
  | {
      raceId: number;
      claimedAtMs: number;
      afterClaimAtMs?: undefined;
      sealed?: undefined;
    }
  | {
      raceId: number;
      claimedAtMs?: undefined;
      afterClaimAtMs: number;
      /** When it may claim: a second after the claim it saw, or the minimum gap for a newer second. */
      claimAtMs: number;
      version: number;
      second: number;
      sealed?: undefined;
    };

/** A closed racer's best to raise, with the first record of its race (handed back if the update fails). */
interface BestDue {
  racerId: number;
  classId: number;
  raceId: number;
  total: number;
  firstRecord: number;
}

/** Poison for a race's state, not a fault of the environment: retrying cannot help. */
function isStatePoison(error: unknown): boolean {
  return error instanceof BoardTooLargeError || error instanceof CorruptBoardError;
}

/**
 * What a writer of `version` (or a reader of it, when its records changed nothing) owes the leaderboard,
 * given the slot as it was at its write (`slot`, exact: the write was conditioned on it) and that it did
 * not claim: nothing if that version is published or the current claim is not sealed yet (its seal will
 * read this version); otherwise a trailing claim once the slot frees. Pure, for the README's argument.
 */
export function publishDutyOf(
  raceId: number,
  version: number,
  slot: PublishState,
  nowMs: number,
  intervalMs: number,
  second = 0,
  minGapMs = PUBLISH_MIN_GAP_MS,
): PublishDuty | undefined {
  if (version <= slot.version) return undefined;
  const unsealed = slot.claimedAtMs !== 0 && slot.sealedAtMs !== slot.claimedAtMs;
  // An unsealed claim younger than an interval is still in play: a write will seal it (or the sweep will).
  if (unsealed && nowMs - slot.claimedAtMs < intervalMs) return undefined;
  // The claim rule of a merge write: a round of a newer second may come the minimum gap after the last.
  const claimAtMs = slot.claimedAtMs + (second > slot.second ? minGapMs : intervalMs);
  return { raceId, afterClaimAtMs: slot.claimedAtMs, claimAtMs, version, second };
}

/**
 * What a race owes the leaderboard when no write of it owes anything (the scheduled sweep, or a writer that
 * neither claimed nor sealed): to seal a claim whose round is past the settle delay, or a trailing round of
 * `second` for a version written after the last seal. Pure.
 */
export function owedDuty(
  board: RaceBoard,
  nowMs: number,
  intervalMs: number,
  settleMs: number,
  second = latestSecond(board),
): PublishDuty | undefined {
  const slot = board.publish;
  if (slot.claimedAtMs !== 0 && slot.sealedAtMs !== slot.claimedAtMs) {
    return roundOverdue(board, slot, nowMs, settleMs)
      ? { raceId: board.raceId, claimedAtMs: slot.claimedAtMs }
      : undefined;
  }
  return publishDutyOf(board.raceId, board.version, slot, nowMs, intervalMs, second);
}

/** What one scheduled sweep did: open races seen, closed by timeout, leaderboards published, races failed. */
export interface SweepResult {
  open: number;
  closed: number;
  published: number;
  failed: number;
}

/**
 * Backoff after a lost conditional write, full jitter doubled per attempt; one wait per attempt number
 * for all of an invocation's races, so that those that lost together retry together.
 */
function sharedBackoff(): (attempt: number) => Promise<void> {
  const waits = new Map<number, Promise<void>>();
  return (attempt) => {
    let wait = waits.get(attempt);
    if (wait === undefined) {
      wait = sleep(
        Math.random() *
          Math.min(STATE_CONFLICT_BACKOFF_MAX_MS, STATE_CONFLICT_BACKOFF_MS * 2 ** (attempt - 1)),
      );
      waits.set(attempt, wait);
      void wait.then(() => waits.delete(attempt));
    }
    return wait;
  };
}

/** The bests a race's closed racers are owed: each one's total in the race's class. */
function closedRacersBests(board: RaceBoard): Array<Omit<BestDue, 'firstRecord'>> {
  const bests: Array<Omit<BestDue, 'firstRecord'>> = [];
  for (const r of board.racers.values()) {
    if (r.closed !== undefined) {
      bests.push({ racerId: r.racerId, classId: board.classId, raceId: board.raceId, total: r.total });
    }
  }
  return bests;
}

/** `logger` with `keys` on every line (a run's own shard, whatever keys the shared logger holds by then). */
function withKeys(logger: LoggerLike, keys: Record<string, unknown>): LoggerLike {
  return {
    debug: (message, ...extra) => logger.debug(message, keys, ...extra),
    info: (message, ...extra) => logger.info(message, keys, ...extra),
    warn: (message, ...extra) => logger.warn(message, keys, ...extra),
    error: (message, ...extra) => logger.error(message, keys, ...extra),
    appendKeys: (more) => logger.appendKeys(more),
    removeKeys: (names) => logger.removeKeys(names),
  };
}

/** The first rejection of each payload (a record, or one user record of an aggregate), in order. */
function oncePerPayload(rejected: Rejected[]): Rejected[] {
  const seen = new Set<string>();
  return rejected.filter((r) => {
    const key = payloadKey(r.recordIndex, r.subSequenceNumber);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
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
  private readonly settleMs: number;
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
    this.settleMs = options.publishSettleMs ?? DEFAULT_PUBLISH_SETTLE_MS;
    this.sweepIntervalMs = options.sweepIntervalMs ?? SWEEP_INTERVAL_MS;
  }

  /**
   * Processes a batch. With `deadlineMs` (epoch ms; the handler sets it a margin before the function's
   * timeout), an invocation still running then hands the whole batch back instead of being killed: the
   * answer, its metrics and logs still go out, and Lambda retries the batch (what finished counts once).
   */
  async process(event: KinesisStreamEvent, deadlineMs?: number): Promise<KinesisStreamBatchResponse> {
    const records = event.Records ?? [];
    if (records.length === 0) {
      this.metrics.addMetric(METRIC.records, 'Count', 0);
      return { batchItemFailures: [] };
    }
    const run = { abandoned: false, log: withKeys(this.logger, { shardId: shardIdOf(records[0]!) }) };
    let timer: NodeJS.Timeout | undefined;
    try {
      const processing = this.processRecords(records, run);
      if (deadlineMs === undefined) return await processing;
      const outOfTime = new Promise<'out of time'>((resolve) => {
        timer = setTimeout(() => resolve('out of time'), Math.max(0, deadlineMs - Date.now()));
      });
      const outcome = await Promise.race([processing, outOfTime]);
      if (outcome !== 'out of time') return outcome;
      run.abandoned = true;
      // Whatever is still in flight finishes or fails on its own; its writes are conditional, so the retry
      // of the batch counts nothing twice.
      processing.catch(() => {});
      run.log.error('invocation out of time; the whole batch is handed back for a retry', {
        firstSequenceNumber: records[0]!.kinesis.sequenceNumber,
        records: records.length,
      });
      this.metrics.addMetric(METRIC.outOfTime, 'Count', 1);
      this.metrics.addMetric(METRIC.batchItemFailures, 'Count', records.length);
      return { batchItemFailures: [{ itemIdentifier: records[0]!.kinesis.sequenceNumber }] };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * `run.abandoned` is set when `process` gave up waiting: metrics then belong to nobody and are not added.
   * `run.log` carries the batch's shard on every line, also from a run that outlives its invocation (the
   * shared logger's keys are the next invocation's by then).
   */
  private async processRecords(
    records: KinesisStreamRecord[],
    run: { abandoned: boolean; log: LoggerLike },
  ): Promise<KinesisStreamBatchResponse> {
    const nowMs = this.clock();
    const writesBefore = this.store.stats.writes;
    const lostBefore = this.store.stats.conditionalFailures;
    let firstFailed = Number.POSITIVE_INFINITY;
    const fail = (index: number): void => {
      if (index < firstFailed) firstFailed = index;
    };

    // Decode everything first (pure CPU): messages grouped by race, rejections aside.
    const byRace = new Map<number, RaceGroup>();
    const columns = newMessageColumns(records.length);
    const rejected: Rejected[] = [];
    let messages = 0;
    let oldestArrival = Number.POSITIVE_INFINITY;
    let newestArrival = 0;
    // The record being read, for the visitor (one closure per invocation, not per record).
    let recordIndex = 0;
    let arrivalMs = 0;
    const addRow = (row: Readonly<RaceRow>, subSequenceNumber?: number): void => {
      let group = byRace.get(row.raceId);
      if (group === undefined) {
        group = newRaceGroup(row.raceId, columns);
        byRace.set(row.raceId, group);
      }
      addToGroup(group, row, recordIndex, arrivalMs, subSequenceNumber);
      messages++;
    };
    for (let i = 0; i < records.length; i++) {
      const kinesis = records[i]!.kinesis;
      // Lambda always sets it; a hand-made event may not (then: now, so timeouts still make sense).
      const arrival = kinesis.approximateArrivalTimestamp;
      arrivalMs = Number.isFinite(arrival) && arrival > 0 ? Math.round(arrival * 1000) : nowMs;
      recordIndex = i;
      if (arrivalMs < oldestArrival) oldestArrival = arrivalMs;
      if (arrivalMs > newestArrival) newestArrival = arrivalMs;
      const refusals = readKinesisData(kinesis.data, addRow);
      // Indexed: most records refuse nothing, and an iterator over the empty list is not free.
      for (let k = 0; k < refusals.length; k++) {
        const r = refusals[k]!;
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

    // State per race, a bounded number at once. A race's publish starts as soon as its write is done (it
    // may wait for its round to complete); bests, off the leaderboard's path, go after every race's write.
    const publishing: Array<Promise<void>> = [];
    const bests: BestDue[] = [];
    const totals = {
      counted: 0,
      duplicates: 0,
      racers: 0,
      races: 0,
      bests: 0,
      bestWrites: 0,
      published: 0,
      conflicts: 0,
    };
    const backoff = sharedBackoff();
    await forEachLimit([...byRace.entries()], RACE_CONCURRENCY, async ([raceId, group]) => {
      const firstRecord = firstRecordOf(group);
      try {
        const outcome = await this.processRace(raceId, group, nowMs, totals, backoff);
        for (const r of outcome.rejected) rejected.push(r);
        for (const b of outcome.bests) bests.push({ ...b, firstRecord });
        const duty = outcome.duty;
        if (duty !== undefined) {
          publishing.push(
            this.fulfil(duty, run.log).then(
              (published) => {
                if (published) totals.published++;
              },
              (error: unknown) =>
                this.onPublishError(
                  error,
                  firstRecord,
                  records[firstRecord]!.kinesis.sequenceNumber,
                  duty.raceId,
                  fail,
                  run.log,
                ),
            ),
          );
        }
      } catch (error) {
        if (isStatePoison(error)) {
          // The race's state cannot take these messages; keep them inspectable and let the shard move on.
          run.log.error('race state rejected its records', { raceId, error });
          const reason = { code: 'state_rejected', path: '', message: (error as Error).message };
          for (const source of sourcesOf(group)) rejected.push({ ...source, reason });
          return;
        }
        fail(firstRecord);
        run.log.error('race failed; its records will be retried', {
          raceId,
          retryable: isRetryable(error),
          sequenceNumber: records[firstRecord]!.kinesis.sequenceNumber,
          error,
        });
      }
    });

    // Bests (a write per closed racer: a race's last second brings hundreds) go after the leaderboards, so
    // that the closing board does not queue behind them at DynamoDB.
    // One report per refused payload: a batch-form record's messages are refused together, for one reason.
    const refused = oncePerPayload(rejected);
    const rejecting = this.writeRejections(records, refused, fail, run.log);
    await Promise.all(publishing);
    await Promise.all([rejecting, this.updateBests(bests, nowMs, totals, records, fail, run.log)]);

    // Not while the state's dependencies are failing: the sweep's reads would only add to the trouble.
    if (firstFailed === Number.POSITIVE_INFINITY && !run.abandoned) await this.sweepIfDue(nowMs);
    if (run.abandoned) return { batchItemFailures: [] }; // nobody reads it: `process` answered already

    this.metrics.addMetric(METRIC.secondsCounted, 'Count', totals.counted);
    this.metrics.addMetric(METRIC.duplicates, 'Count', totals.duplicates);
    this.metrics.addMetric(METRIC.racersUpdated, 'Count', totals.racers);
    this.metrics.addMetric(METRIC.racesUpdated, 'Count', totals.races);
    this.metrics.addMetric(METRIC.bestsUpdated, 'Count', totals.bests);
    this.metrics.addMetric(METRIC.leaderboardsPublished, 'Count', totals.published);
    this.metrics.addMetric(METRIC.stateConflicts, 'Count', totals.conflicts);
    // Every write request, including lost conditions: what DynamoDB bills (the README's writes per 1,000).
    this.metrics.addMetric(METRIC.stateWrites, 'Count', this.store.stats.writes - writesBefore);
    this.metrics.addMetric(
      METRIC.stateWritesLost,
      'Count',
      this.store.stats.conditionalFailures - lostBefore,
    );
    this.metrics.addMetric(METRIC.bestWrites, 'Count', totals.bestWrites);
    this.metrics.addMetric(METRIC.invalidRecords, 'Count', refused.length);

    run.log.debug('batch processed', {
      firstSequenceNumber: records[0]!.kinesis.sequenceNumber,
      lastSequenceNumber: records[records.length - 1]!.kinesis.sequenceNumber,
      records: records.length,
      messages,
      racesInBatch: byRace.size,
      invalid: refused.length,
      ...totals,
      elapsedMs: this.clock() - nowMs,
      oldestAgeMs: Math.max(0, nowMs - oldestArrival),
      newestAgeMs: Math.max(0, nowMs - newestArrival),
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
    group: RaceGroup,
    nowMs: number,
    totals: Record<
      'counted' | 'duplicates' | 'racers' | 'races' | 'bests' | 'published' | 'conflicts',
      number
    >,
    backoff: (attempt: number) => Promise<void>,
  ): Promise<{ rejected: Rejected[]; bests: Array<Omit<BestDue, 'firstRecord'>>; duty?: PublishDuty }> {
    let board: RaceBoard | undefined;
    let result: MergeResult | undefined;
    let claimed = false;
    let sealed: Extract<PublishDuty, { sealed: object }>['sealed'] | undefined;
    let sealDue = false;
    let slot: PublishState = NO_PUBLISH;
    const roundSecond = roundSecondOf(group);
    for (let attempt = 1; ; attempt++) {
      claimed = false; // a claim or seal made by a lost write was never made
      sealed = undefined;
      sealDue = false;
      const stored = await this.store.loadBoard(raceId);
      if (stored === undefined) {
        // Indexed before the board exists (idempotent), so a failure between the two cannot leave a race
        // that the timeout sweep never sees.
        await this.store.markOpen({ raceId, classId: classOf(group), openedAtMs: nowMs });
      }
      board = stored ?? newBoard(raceId, classOf(group), nowMs);
      const readVersion = board.version;
      slot = { ...board.publish };
      // Who a round of `roundSecond` claimed now would wait for: racers at the second before it, as read.
      const expected = racersAwaited(board, roundSecond);
      result = mergeGroup(board, group, this.timeoutMs);
      if (!result.changed) break;
      board.version = readVersion + 1;
      const now = this.clock();
      // The first write of a newer second claims its round (replacing a claim still unsealed: its racers'
      // seconds go out with this round); without a newer second, a claim a whole interval after the last.
      claimed = roundSecond > slot.second || now - slot.claimedAtMs >= this.intervalMs;
      if (claimed) board.publish = { ...board.publish, claimedAtMs: now, second: roundSecond, expected };
      // Is the current claim's round in with this write (every racer it waits for has reached its second),
      // overdue (a racer it waits for is late by more than the settle delay), or the race over? Then this
      // write seals it and publishes what it writes — or, within the minimum gap of the previous publish,
      // seals it once the gap has passed.
      const claim = board.publish;
      const open = claim.claimedAtMs !== 0 && (claimed || slot.sealedAtMs !== slot.claimedAtMs);
      if (
        open &&
        (roundArrived(board, claim) || roundOverdue(board, claim, now, this.settleMs) || isRaceClosed(board))
      ) {
        if (now - slot.sentAtMs >= PUBLISH_MIN_GAP_MS) {
          const previous = { ...slot };
          board.publish = {
            ...claim,
            sealedAtMs: claim.claimedAtMs,
            sentAtMs: now,
            version: board.version,
            racers: board.racers.size,
          };
          // Built before the write, from exactly the version written (the racers may be merged into by
          // another invocation of this container once the write has returned them to the cache).
          const messages = leaderboardFor(board, now, board.racers.size !== previous.racers);
          sealed = { claimedAtMs: claim.claimedAtMs, classId: board.classId, messages, previous };
        } else sealDue = true;
      }
      const saved = await this.store.saveBoard(board, {
        version: readVersion,
        claimedAtMs: slot.claimedAtMs,
        sealedAtMs: slot.sealedAtMs,
        claim: claimed,
        seal: sealed !== undefined,
      });
      if (saved) break;
      totals.conflicts++;
      if (attempt >= MAX_STATE_ATTEMPTS) throw new StateConflictError(raceId, attempt);
      // Full jitter: two shards that collided should not collide again in lockstep. The races of this
      // invocation that lost together wait together, so their retries still share one read and one write.
      await backoff(attempt);
    }

    totals.counted += result.secondsCounted;
    totals.duplicates += result.duplicates;
    totals.racers += result.racersUpdated;
    if (result.changed) totals.races++;

    // Bests wait for the race to close, then every racer's is (re)applied by each invocation with records of
    // it (a max, read first: a retry after a failed update applies it again). Raised at each racer's own
    // final, hundreds would be written before the shard's next batch — the rest of the race's last second,
    // whose leaderboard waits for it. An open race's closed racers get theirs when it closes (or times out).
    const bests = isRaceClosed(board) ? closedRacersBests(board) : [];
    const rejected: Rejected[] = result.rejected.map((r) => ({ ...r }));
    // A claim whose round is not in yet owes nothing: a later write (of this shard or another) brings it
    // in or finds it overdue and seals it; the invocation does not wait for it (README § Leaderboards).
    // Versions written after a seal go out with the next round — except a closed race's last one, and
    // a replay's (records already counted: a retry after a failed publish), which claim a trailing round;
    // a replay that finds the current claim overdue seals it, as a write would have. (Neither claimed nor
    // sealed, the board's slot is still the one read, so what it owes is what the sweep would find.)
    const duty: PublishDuty | undefined =
      sealed !== undefined
        ? { raceId, sealed }
        : sealDue
          ? { raceId, claimedAtMs: board.publish.claimedAtMs }
          : claimed || (result.changed && !isRaceClosed(board))
            ? undefined
            : owedDuty(board, this.clock(), this.intervalMs, this.settleMs, roundSecond);
    return duty === undefined ? { rejected, bests } : { rejected, bests, duty };
  }

  /**
   * Publishes what `duty` owes: for a trailing duty, first waits for the slot to free and claims it (if
   * someone else claims it first, their seal comes after this writer's version and covers it); then seals
   * the claim once the minimum gap after the previous publish has passed — the seal reads the board as it
   * is then — and publishes that board. True if this invocation published.
   */
  private async fulfil(duty: PublishDuty, log: LoggerLike = this.logger): Promise<boolean> {
    const { raceId } = duty;
    if (duty.sealed !== undefined) {
      const { claimedAtMs, classId, messages, previous } = duty.sealed;
      await this.sendOrRelease(raceId, claimedAtMs, previous, classId, messages);
      return true;
    }
    let claimedAtMs: number;
    if (duty.claimedAtMs !== undefined) claimedAtMs = duty.claimedAtMs;
    else {
      await this.waitUntil(duty.claimAtMs);
      // A read first (cheaper than a lost claim, which bills the whole board item): another shard's
      // claim since our write, or a publish of our version, covers it.
      const slot = await this.store.readPublish(raceId);
      if (slot === undefined || slot.claimedAtMs !== duty.afterClaimAtMs || slot.version >= duty.version) {
        return false;
      }
      const now = this.clock();
      if (!(await this.store.claimPublish(raceId, duty.afterClaimAtMs, now, duty.second))) return false;
      claimedAtMs = now;
    }
    for (let attempt = 1; attempt <= MAX_SEAL_ATTEMPTS; attempt++) {
      const now = this.clock();
      const sealed = await this.store.sealPublish(raceId, claimedAtMs, now, PUBLISH_MIN_GAP_MS);
      if ('lost' in sealed) return false; // sealed by another writer, or replaced by a later claim
      if ('retryAtMs' in sealed) {
        await this.waitUntil(sealed.retryAtMs);
        continue;
      }
      const { board } = sealed;
      // Names go out when racers joined since the last publish (and every few seconds, see leaderboardFor).
      const messages = leaderboardFor(board, now, board.racers.size !== board.publish.racers);
      await this.sendOrRelease(raceId, claimedAtMs, board.publish, board.classId, messages);
      return true;
    }
    log.warn('leaderboard slot stayed busy; publish left to the next writer', { raceId });
    return false;
  }

  /**
   * Raises the bests of closed racers (idempotent: a max). A failure hands back the race's records, whose
   * retry applies the bests again.
   */
  private async updateBests(
    bests: BestDue[],
    nowMs: number,
    totals: { bests: number; bestWrites: number },
    records: KinesisStreamRecord[],
    fail: (i: number) => void,
    log: LoggerLike,
  ): Promise<void> {
    const failedRaces = new Set<number>();
    await forEachLimit(await this.bestsToRaise(bests, log), BEST_CONCURRENCY, async (b) => {
      if (failedRaces.has(b.raceId)) return;
      try {
        totals.bestWrites++;
        if (await this.store.updateBest(b.racerId, b.classId, b.total, b.raceId, nowMs)) totals.bests++;
      } catch (error) {
        failedRaces.add(b.raceId);
        fail(b.firstRecord);
        log.error('best update failed; the race’s records will be retried', {
          raceId: b.raceId,
          retryable: isRetryable(error),
          sequenceNumber: records[b.firstRecord]!.kinesis.sequenceNumber,
          error,
        });
      }
    });
  }

  /**
   * Of these bests, the ones that would raise what is stored: one BatchGetItem per 100 racers instead of a
   * conditional write each (billed even when its condition fails) — at steady state a race seldom beats a
   * racer's best. A read that fails leaves them all to write, as before; a stale read only adds a write.
   */
  private async bestsToRaise<T extends { racerId: number; classId: number; total: number }>(
    bests: T[],
    log: LoggerLike = this.logger,
  ): Promise<T[]> {
    if (bests.length === 0) return bests;
    let stored: Map<string, number>;
    try {
      stored = await this.store.readBests(bests);
    } catch (error) {
      log.warn('could not read the bests; writing them all', { error });
      return bests;
    }
    return bests.filter((b) => {
      const best = stored.get(bestKey(b.racerId, b.classId));
      return best === undefined || best < b.total;
    });
  }

  private async waitUntil(atMs: number): Promise<void> {
    const ms = atMs - this.clock();
    if (ms > 0) await this.wait(ms);
  }

  /** Publishes a sealed board; if that fails, puts the slot back so that the retry (or the next writer) can. */
  private async sendOrRelease(
    raceId: number,
    claimedAtMs: number,
    previous: PublishState,
    classId: number,
    messages: LeaderboardMessage[],
  ): Promise<void> {
    const topic = resultsTopicFor(classId, this.prefix);
    try {
      for (const message of messages) await this.publisher.publish(topic, message);
    } catch (error) {
      await this.store
        .releasePublish(raceId, claimedAtMs, previous)
        .catch((releaseError: unknown) =>
          this.logger.warn('could not release the publish slot', { raceId, error: releaseError }),
        );
      throw error;
    }
  }

  private onPublishError(
    error: unknown,
    firstRecord: number,
    sequenceNumber: string,
    raceId: number,
    fail: (i: number) => void,
    log: LoggerLike,
  ): void {
    if (isRetryable(error)) {
      fail(firstRecord);
      log.error('leaderboard publish failed; records will be retried', {
        raceId,
        retryable: true,
        sequenceNumber,
        error,
      });
    } else {
      // A refused publish (policy, topic) does not heal by retrying: the state is safe, the board stale.
      log.error('leaderboard publish refused', { raceId, retryable: false, error });
    }
  }

  private async writeRejections(
    records: KinesisStreamRecord[],
    rejected: Rejected[],
    fail: (i: number) => void,
    log: LoggerLike,
  ): Promise<void> {
    if (rejected.length === 0) return;
    const rejectedAt = new Date(this.clock()).toISOString();
    await forEachLimit(rejected, SINK_CONCURRENCY, async (r) => {
      const record = records[r.recordIndex]!;
      // Refused at merge time, a user record's own bytes are found again (rare: the record is decoded twice).
      if (r.subSequenceNumber !== undefined && r.partBase64 === undefined)
        r.partBase64 = userRecordBase64(record.kinesis.data, r.subSequenceNumber);
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
      log.warn('invalid record', {
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
        log.error('could not store an invalid record', { key, retryable: isRetryable(error), error });
      }
    });
  }

  /**
   * The scheduled sweep (an EventBridge schedule invokes the function with a Scheduled Event, because nothing
   * else runs it once traffic stops): closes races idle past the timeout and publishes what a race still owes
   * — a round past the settle delay that no write sealed (an awaited racer never came), or a version written
   * after the last seal with no next round (the last seconds of a race that stopped without `final`). Waits
   * here hold back no shard. A race that fails is logged and left to the next sweep.
   */
  async sweep(): Promise<SweepResult> {
    const nowMs = this.clock();
    const result: SweepResult = { open: 0, closed: 0, published: 0, failed: 0 };
    // Every sweep says it ran (and how many races it could not settle), so a silent schedule shows.
    this.metrics.addMetric(METRIC.sweeps, 'Count', 1);
    let open: Awaited<ReturnType<StateStore['listOpen']>>;
    try {
      open = await this.store.listOpen();
    } catch (error) {
      this.metrics.addMetric(METRIC.sweepFailures, 'Count', 1);
      this.logger.error('scheduled sweep could not list the open races', { error });
      throw error;
    }
    result.open = open.length;
    await forEachLimit(open, RACE_CONCURRENCY, async (race) => {
      try {
        const board = await this.store.loadBoard(race.raceId);
        if (board === undefined || nowMs - board.lastArrivalMs > this.timeoutMs) {
          if (await this.closeIfIdle(race.raceId, nowMs, board)) result.closed++;
          return;
        }
        const duty = owedDuty(board, this.clock(), this.intervalMs, this.settleMs);
        if (duty !== undefined && (await this.fulfil(duty))) {
          result.published++;
          this.metrics.addMetric(METRIC.leaderboardsPublished, 'Count', 1);
        }
      } catch (error) {
        result.failed++;
        this.logger.warn('scheduled sweep could not settle a race', { raceId: race.raceId, error });
      }
    });
    this.lastSweepMs = nowMs;
    await this.compact(nowMs);
    this.metrics.addMetric(METRIC.sweepFailures, 'Count', result.failed);
    this.logger.info('scheduled sweep', { ...result });
    return result;
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
    await this.compact(nowMs);
  }

  /** Moves finished races out of the shared live item (README § Item design); a failure waits for the next sweep. */
  private async compact(nowMs: number): Promise<void> {
    try {
      const { moved, markersRemoved } = await this.store.compact(nowMs);
      if (moved + markersRemoved > 0) this.logger.info('live item compacted', { moved, markersRemoved });
    } catch (error) {
      this.logger.warn('live item compaction failed', { error });
    }
  }

  /**
   * Closes the race if it is idle past the timeout; true when it is closed now. `loaded`: the board as the
   * caller just read it (used for the first attempt instead of a second read).
   */
  private async closeIfIdle(raceId: number, nowMs: number, loaded?: RaceBoard): Promise<boolean> {
    for (let attempt = 1; attempt <= MAX_STATE_ATTEMPTS; attempt++) {
      const board = attempt === 1 && loaded !== undefined ? loaded : await this.store.loadBoard(raceId);
      if (board === undefined) {
        await this.store.markClosed(raceId);
        return true;
      }
      if (nowMs - board.lastArrivalMs <= this.timeoutMs) return false;
      const readVersion = board.version;
      const slot = { ...board.publish };
      const closedNow = closeIdleRace(board);
      let duty: PublishDuty | undefined;
      if (closedNow.length > 0) {
        board.version = readVersion + 1;
        const claimAt = this.clock();
        const claim = claimAt - slot.claimedAtMs >= this.intervalMs;
        if (claim) board.publish = { ...board.publish, claimedAtMs: claimAt, expected: 0 };
        const saved = await this.store.saveBoard(board, {
          version: readVersion,
          claimedAtMs: slot.claimedAtMs,
          sealedAtMs: slot.sealedAtMs,
          claim,
        });
        if (!saved) continue;
        this.metrics.addMetric(METRIC.racesClosedByTimeout, 'Count', 1);
        duty = claim
          ? { raceId, claimedAtMs: claimAt }
          : publishDutyOf(raceId, board.version, slot, this.clock(), this.intervalMs);
      } else {
        duty = publishDutyOf(raceId, board.version, slot, this.clock(), this.intervalMs);
      }
      // The race is closed: every racer gets their best (again: a max, and a sweep may have died here).
      await forEachLimit(await this.bestsToRaise(closedRacersBests(board)), BEST_CONCURRENCY, async (r) => {
        await this.store.updateBest(r.racerId, r.classId, r.total, raceId, nowMs);
      });
      // A failed publish leaves the race in the index: the next sweep finds its version unpublished.
      if (duty !== undefined && (await this.fulfil(duty))) {
        this.metrics.addMetric(METRIC.leaderboardsPublished, 'Count', 1);
      }
      if (!isRaceClosed(board)) return false;
      await this.store.markClosed(raceId);
      return true;
    }
    return false;
  }
}
