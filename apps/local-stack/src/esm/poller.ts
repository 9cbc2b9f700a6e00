/**
 * Lambda's Kinesis event source mapping, locally: one loop per shard polls GetRecords (through the limits
 * layer, so within 5 calls/s per shard), forms batches (batch size, batching window, 6 MB payload), invokes the
 * same handler bundle that deploys, and applies Lambda's rules to the outcome — ReportBatchItemFailures
 * (resume from the lowest reported sequence number), bisect on function error, maximum retry attempts,
 * maximum record age, and the on-failure destination (JSON files in AWS's shape, shard and sequence range).
 * Each shard runs up to `parallelization_factor` batches at once; a partition key's records stay in order.
 * A mapping on an enhanced fan-out consumer reads as a subscription would (`enhanced-fan-out.ts`): every 50 ms,
 * outside the shared read limits, paced to the consumer's own 2 MiB/s per shard.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hashKeyOf, LAMBDA_INVOCATION_PAYLOAD_MAX_BYTES } from '@alleycat/schema';
import {
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  type ShardIteratorType,
} from '@aws-sdk/client-kinesis';
import {
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_RETRY_BASE_DELAY_MS,
  DEFAULT_SHARD_DISCOVERY_MS,
  MAX_RETRY_DELAY_MS,
  MIN_EVENT_ENTRY_BYTES,
} from '../constants.js';
import { withinMs } from '../deadline.js';
import { ConfigurationError, HandlerInvocationError } from '../errors.js';
import { Environments, type HandlerSource } from './bundle-handler.js';
import { ConsumerReadPacer, EFO_POLL_INTERVAL_MS, readBytesOf } from './enhanced-fan-out.js';
import {
  type BatchVerdict,
  eventRecordBytes,
  type FunctionIdentity,
  interpretResponse,
  type KinesisEventRecord,
  lambdaContext,
  type OnFailureCondition,
  onFailureRecord,
  type SourceIdentity,
  type StoredRecord,
  toEventRecord,
} from './event.js';
import { RecordsReader } from './records-reader.js';

export type Handler = (event: unknown, context: unknown) => unknown;

export interface EventSourceMappingConfig {
  streamName: string;
  batchSize: number;
  maximumBatchingWindowInSeconds: number;
  startingPosition: 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP';
  startingPositionTimestamp?: Date;
  parallelizationFactor: number;
  bisectBatchOnFunctionError: boolean;
  /** -1: retry until the record expires. */
  maximumRetryAttempts: number;
  /** -1: never expire (within the stream's retention). */
  maximumRecordAgeInSeconds: number;
  reportBatchItemFailures: boolean;
  /** Folder standing for the on-failure destination (the DLQ); absent: discarded records are only counted. */
  onFailureDir?: string;
  /**
   * The enhanced fan-out consumer the mapping reads through (its `event_source_arn`); absent: the mapping
   * polls the stream as a shared-throughput reader.
   */
  consumerArn?: string;
}

export interface PollerOptions {
  mapping: EventSourceMappingConfig;
  /** For the rare calls (ListShards, GetShardIterator). */
  kinesis: KinesisClient;
  /** The same Kinesis endpoint, for GetRecords on the JSON wire (`records-reader.ts` says why). */
  kinesisEndpoint: string;
  handler: HandlerSource;
  function: FunctionIdentity;
  source: SourceIdentity;
  /**
   * Minimum time between GetRecords calls on one shard (default 250 ms: 4/s, leaving room in the shared 5/s
   * limit; 50 ms for a mapping on an enhanced fan-out consumer, which has no share in it).
   */
  pollIntervalMs?: number;
  /** Pause before retrying a failed batch (doubles per attempt, capped at 2 s). */
  retryBaseDelayMs?: number;
  /** Folder for per-shard checkpoints, so a restarted poller resumes where it stopped (none: start over). */
  checkpointDir?: string;
  /** How often new shards are looked for (ms). */
  shardDiscoveryMs?: number;
  log?: (line: string) => void;
  now?: () => number;
}

export interface PollerStats {
  invocations: number;
  recordsDelivered: number;
  /** Records checkpointed after a successful (or partially successful) invocation. */
  recordsSucceeded: number;
  failedInvocations: number;
  partialFailures: number;
  bisections: number;
  /** Failed attempts to write an on-failure record (each is retried until it succeeds). */
  onFailureWriteErrors: number;
  /** Records sent to the on-failure destination (retries exhausted or too old). */
  recordsDiscarded: number;
  onFailureBatches: number;
  throttledPolls: number;
  /** Reads an enhanced fan-out mapping held back to stay within its consumer's 2 MiB/s per shard. */
  pacedPolls: number;
  /**
   * Kinesis arrival → invocation start, summed over records delivered (ms), and the longest: the mapping's
   * share of the end-to-end latency (poll interval, batching window, waiting for the shard's previous batch).
   */
  arrivalToInvokeMsTotal: number;
  arrivalToInvokeMsMax: number;
  /** Time spent inside the handler (ms): total and the longest invocation. */
  handlerMsTotal: number;
  handlerMsMax: number;
  /** GetRecords calls that failed for another reason (Kinesis unreachable, restarting). */
  pollErrors: number;
  /** How far behind the newest record the slowest shard is (ms), as Lambda's IteratorAge. */
  iteratorAgeMs: number;
  /** Invocations running now. */
  inFlight: number;
}

interface RetryState {
  headSequence?: string;
  /** Retries used on the head's batch (a bisection uses none). */
  attempts: number;
  /** Invocations of a batch holding the head record, bisections included (what an on-failure record reports). */
  invocations: number;
  forcedSizes: number[];
}

/**
 * A shard position: resume at a record still to do, or after the last one done; or, for a LATEST mapping
 * that has done none yet, at the time it started (so a restart skips nothing written while it was down).
 */
type Checkpoint = (
  | { kind: 'AT_SEQUENCE_NUMBER' | 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string }
  | { kind: 'AT_TIMESTAMP'; timestampMs: number }
) & {
  /** The shard's starting sequence number: a checkpoint of an older stream of the same name is ignored. */
  shardStart?: string;
};

/**
 * Whether `pending` holds a full invocation's payload (6 MB of event): each record's base64 data plus the
 * least its event entry adds, so never said too early.
 */
function fillsAnInvocation(pending: StoredRecord[]): boolean {
  let bytes = 0;
  for (const record of pending) {
    bytes += record.Data.length + MIN_EVENT_ENTRY_BYTES;
    if (bytes >= LAMBDA_INVOCATION_PAYLOAD_MAX_BYTES) return true;
  }
  return false;
}

function after(sequenceNumber: string | undefined): Checkpoint | undefined {
  return sequenceNumber === undefined ? undefined : { kind: 'AFTER_SEQUENCE_NUMBER', sequenceNumber };
}

interface Lane {
  pending: StoredRecord[];
  /** The lane's batch being invoked (with its retries and backoff): lanes run independently of each other. */
  inflight?: Promise<void>;
  /** When the lane's batching window began: when its previous invocation ended (Lambda's rule for Kinesis). */
  windowStartMs: number;
  retry: RetryState;
}

export class EventSourceMappingPoller {
  private readonly options: PollerOptions;
  private readonly mapping: EventSourceMappingConfig;
  private readonly reader: RecordsReader;
  private readonly now: () => number;
  private environments?: Environments;
  private running = false;
  private readonly loops = new Map<string, Promise<void>>();
  private discovery?: NodeJS.Timeout;
  private discovering?: Promise<void>;
  /**
   * Each shard's starting sequence number when last listed. A shard id whose starting sequence number changed
   * belongs to a new stream of the same name: the old one was deleted and recreated.
   */
  private readonly shardStarts = new Map<string, string>();
  /** Bumped when the stream is replaced: shard loops of an older generation stop. */
  private generation = 0;
  /** A GetRecords found the stream gone: when it is listed again, it is a new stream. */
  private streamGone = false;
  private readonly wakers = new Set<() => void>();
  private readonly counters: PollerStats = {
    invocations: 0,
    recordsDelivered: 0,
    recordsSucceeded: 0,
    failedInvocations: 0,
    partialFailures: 0,
    bisections: 0,
    recordsDiscarded: 0,
    onFailureBatches: 0,
    onFailureWriteErrors: 0,
    throttledPolls: 0,
    pacedPolls: 0,
    arrivalToInvokeMsTotal: 0,
    arrivalToInvokeMsMax: 0,
    pollErrors: 0,
    handlerMsTotal: 0,
    handlerMsMax: 0,
    iteratorAgeMs: 0,
    inFlight: 0,
  };
  private readonly iteratorAges = new Map<string, number>();

  constructor(options: PollerOptions) {
    validateMapping(options.mapping);
    this.options = options;
    this.mapping = options.mapping;
    this.reader = new RecordsReader(options.kinesisEndpoint);
    this.now = options.now ?? Date.now;
  }

  stats(): PollerStats {
    return { ...this.counters, iteratorAgeMs: Math.max(0, ...this.iteratorAges.values()) };
  }

  async start(): Promise<void> {
    this.environments = await Environments.of(this.options.handler);
    this.running = true;
    await this.discoverShards();
    this.discovery = setInterval(
      () => this.rediscover(),
      this.options.shardDiscoveryMs ?? DEFAULT_SHARD_DISCOVERY_MS,
    );
  }

  /** Lists shards again now (one listing at a time): new shards, or a stream deleted and recreated. */
  private rediscover(): void {
    this.discovering ??= this.discoverShards()
      .catch((error: unknown) => this.log(`shard discovery failed: ${String(error)}`))
      .finally(() => {
        this.discovering = undefined;
      });
  }

  /** Stops polling; resolves when every shard loop has finished its current batch. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.discovery) clearInterval(this.discovery);
    for (const wake of this.wakers) wake();
    await Promise.allSettled(this.loops.values());
    this.reader.close();
  }

  private log(line: string): void {
    (this.options.log ?? ((l: string) => process.stderr.write(`[event-source-mapping] ${l}\n`)))(line);
  }

  private async discoverShards(): Promise<void> {
    const shards = [];
    let nextToken: string | undefined;
    do {
      const page = await this.options.kinesis.send(
        nextToken === undefined
          ? new ListShardsCommand({ StreamName: this.mapping.streamName })
          : new ListShardsCommand({ NextToken: nextToken }),
      );
      shards.push(...(page.Shards ?? []));
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
    const replaced =
      (this.streamGone && shards.length > 0) ||
      shards.some((shard) => {
        const known = this.shardStarts.get(shard.ShardId!);
        return known !== undefined && known !== shard.SequenceNumberRange?.StartingSequenceNumber;
      });
    if (replaced) {
      // Same name, new stream: the old shards' iterators and checkpoints point into records that no longer
      // exist (kinesalite answers them with empty pages, forever). Start over on the new stream's shards.
      this.log(
        `stream ${this.mapping.streamName} was recreated; reading it from ${this.mapping.startingPosition}`,
      );
      this.generation += 1;
      for (const wake of this.wakers) wake();
      await Promise.allSettled(this.loops.values());
      await Promise.all([...this.loops.keys()].map((shardId) => this.dropCheckpoint(shardId)));
      this.loops.clear();
      this.iteratorAges.clear();
      this.shardStarts.clear();
      this.streamGone = false;
    }
    for (const shard of shards) {
      const start = shard.SequenceNumberRange?.StartingSequenceNumber;
      if (start !== undefined) this.shardStarts.set(shard.ShardId!, start);
      const shardId = shard.ShardId!;
      if (this.loops.has(shardId) || !this.running) continue;
      const loop = this.runShard(shardId).catch((error: unknown) => {
        this.log(`${shardId}: stopped on ${String(error)}`);
      });
      this.loops.set(shardId, loop);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }

  private async shardIterator(shardId: string, position?: Checkpoint): Promise<string | undefined> {
    const request =
      position?.kind === 'AT_TIMESTAMP'
        ? {
            ShardIteratorType: 'AT_TIMESTAMP' as ShardIteratorType,
            Timestamp: new Date(position.timestampMs),
          }
        : position !== undefined
          ? {
              ShardIteratorType: position.kind as ShardIteratorType,
              StartingSequenceNumber: position.sequenceNumber,
            }
          : this.mapping.startingPosition === 'AT_TIMESTAMP'
            ? {
                ShardIteratorType: 'AT_TIMESTAMP' as ShardIteratorType,
                Timestamp: this.mapping.startingPositionTimestamp,
              }
            : { ShardIteratorType: this.mapping.startingPosition as ShardIteratorType };
    const answer = await this.options.kinesis.send(
      new GetShardIteratorCommand({ StreamName: this.mapping.streamName, ShardId: shardId, ...request }),
    );
    return answer.ShardIterator;
  }

  private checkpointFile(shardId: string): string | undefined {
    const dir = this.options.checkpointDir;
    return dir === undefined ? undefined : path.join(dir, `${shardId}.json`);
  }

  /** Where a restarted poller resumes a shard, as Lambda keeps its place across its own restarts. */
  private async readCheckpoint(shardId: string): Promise<Checkpoint | undefined> {
    const file = this.checkpointFile(shardId);
    if (file === undefined) return undefined;
    let checkpoint: Checkpoint;
    try {
      checkpoint = JSON.parse(await readFile(file, 'utf8')) as Checkpoint;
    } catch {
      return undefined;
    }
    const start = this.shardStarts.get(shardId);
    if (checkpoint.shardStart !== undefined && start !== undefined && checkpoint.shardStart !== start) {
      this.log(`${shardId}: checkpoint belongs to an earlier stream of the same name; ignored`);
      return undefined;
    }
    return checkpoint;
  }

  private async dropCheckpoint(shardId: string): Promise<void> {
    const file = this.checkpointFile(shardId);
    if (file !== undefined) await rm(file, { force: true });
  }

  private async writeCheckpoint(shardId: string, checkpoint: Checkpoint): Promise<void> {
    const file = this.checkpointFile(shardId);
    if (file === undefined) return;
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(
      `${file}.tmp`,
      JSON.stringify({ ...checkpoint, shardStart: this.shardStarts.get(shardId) }),
    );
    await rename(`${file}.tmp`, file); // atomic: a crash leaves the old checkpoint or the new one
  }

  private async runShard(shardId: string): Promise<void> {
    const consumerArn = this.mapping.consumerArn;
    let pollInterval =
      this.options.pollIntervalMs ??
      (consumerArn === undefined ? DEFAULT_POLL_INTERVAL_MS : EFO_POLL_INTERVAL_MS);
    // The consumer's dedicated 2 MiB/s on this shard (enhanced fan-out only).
    const pacer = consumerArn === undefined ? undefined : new ConsumerReadPacer(this.now());
    const windowMs = this.mapping.maximumBatchingWindowInSeconds * 1000;
    const saved = await this.readCheckpoint(shardId);
    const startedAtMs = Date.now(); // compared with Kinesis arrival times: the real clock
    let iterator = saved
      ? await this.shardIterator(shardId, saved).catch(() => this.shardIterator(shardId))
      : await this.shardIterator(shardId);
    let savedKey = JSON.stringify(saved ?? null);
    // Writes the checkpoint `position()` gives when it differs from the saved one; one write at a time, in
    // order (lanes finish concurrently), each reading the position when its turn comes.
    let checkpointing = Promise.resolve();
    const persist = (position: () => Checkpoint | undefined): Promise<void> => {
      checkpointing = checkpointing.then(async () => {
        const checkpoint = position();
        const key = JSON.stringify(checkpoint ?? null);
        if (checkpoint === undefined || key === savedKey) return;
        await this.writeCheckpoint(shardId, checkpoint).catch((error: unknown) =>
          this.log(`${shardId}: cannot write checkpoint: ${String(error)}`),
        );
        savedKey = key;
      });
      return checkpointing;
    };
    if (saved === undefined && this.mapping.startingPosition === 'LATEST' && iterator !== undefined) {
      // Lambda keeps a mapping's position from its start: a restart before the first batch must not move
      // LATEST on past what was written meanwhile.
      await persist(() => ({ kind: 'AT_TIMESTAMP', timestampMs: startedAtMs }));
    }
    let lastFetched: string | undefined;
    let lastPollMs = 0;
    // One lane per concurrent batch (parallelization factor). A partition key always maps to the same lane,
    // so a key's records stay in order, as Lambda keeps them.
    const lanes: Lane[] = Array.from({ length: this.mapping.parallelizationFactor }, () => ({
      pending: [],
      windowStartMs: this.now(),
      retry: { attempts: 0, invocations: 0, forcedSizes: [] },
    }));
    const laneOf = (record: StoredRecord) =>
      lanes.length === 1 ? lanes[0]! : lanes[Number(hashKeyOf(record.PartitionKey) % BigInt(lanes.length))]!;
    const buffered = () => lanes.reduce((n, lane) => n + lane.pending.length, 0);
    const generation = this.generation;
    // The shard's checkpoint after a lane's batch: everything before the earliest record still pending in any
    // lane is done (all fetched records are done when none is pending).
    const saveCheckpoint = (): Promise<void> =>
      persist(() => {
        const heads = lanes.flatMap((lane) => (lane.pending[0] ? [lane.pending[0].SequenceNumber] : []));
        return heads.length > 0
          ? {
              kind: 'AT_SEQUENCE_NUMBER',
              sequenceNumber: heads.reduce((a, b) => (BigInt(a) <= BigInt(b) ? a : b)),
            }
          : after(lastFetched);
      });

    while (this.running && generation === this.generation) {
      // Fetch when the buffer cannot fill a batch per lane, at most once per poll interval.
      const canFetch =
        iterator !== undefined &&
        buffered() < this.mapping.batchSize * lanes.length &&
        this.now() - lastPollMs >= pollInterval;
      const pacedMs = canFetch ? (pacer?.waitMs(this.now()) ?? 0) : 0;
      if (pacedMs > 0) {
        // Over the consumer's 2 MiB/s: a push is never refused, it delivers later. Move the next read back.
        this.counters.pacedPolls += 1;
        lastPollMs = this.now() + pacedMs - pollInterval;
      } else if (canFetch && iterator !== undefined) {
        lastPollMs = this.now();
        try {
          // No more than the lanes can take: after a stall (a cold start, an outage) kinesalite takes seconds
          // to serve a 10,000-record page, and the records behind the backlog would wait for all of it.
          const want = Math.min(10_000, this.mapping.batchSize * lanes.length - buffered());
          const page = await this.reader.getRecords(iterator, want, consumerArn);
          pacer?.charge(readBytesOf(page.records), this.now());
          iterator = page.nextShardIterator;
          this.iteratorAges.set(shardId, page.millisBehindLatest ?? 0);
          for (const record of page.records) {
            const lane = laneOf(record);
            lane.pending.push(record);
            lastFetched = record.SequenceNumber;
          }
        } catch (error) {
          const name = (error as Error).name;
          if (name === 'ProvisionedThroughputExceededException') {
            this.counters.throttledPolls += 1;
            if (consumerArn !== undefined && pollInterval < DEFAULT_POLL_INTERVAL_MS) {
              // A subscription is never throttled: this Kinesis endpoint charged the read to the shared limits
              // (a limits layer that does not know enhanced fan-out). Read at the shared rate rather than fail.
              pollInterval = DEFAULT_POLL_INTERVAL_MS;
              this.log(
                `${shardId}: the Kinesis endpoint throttled an enhanced fan-out read (it charges the shared read limits); reading every ${pollInterval} ms instead`,
              );
            }
            await this.sleep(1_000);
          } else if (name === 'ExpiredIteratorException') {
            iterator = await this.shardIterator(shardId, after(lastFetched));
          } else {
            // Kinesis unreachable or restarting: keep the buffer, wait, and pick up after the last record read.
            this.counters.pollErrors += 1;
            if (name === 'ResourceNotFoundException') this.streamGone = true;
            this.log(`${shardId}: GetRecords failed (${name}: ${(error as Error).message}); retrying in 1 s`);
            await this.sleep(1_000);
            // The stream may have been recreated meanwhile (an emulator restarted without its data): look now.
            this.rediscover();
            iterator = await this.shardIterator(shardId, after(lastFetched)).catch(() => iterator);
          }
          continue;
        }
      }
      // Lambda invokes when the window has passed, the batch size is met, or the payload reaches 6 MB; each
      // lane on its own, so a slow or retrying partition key holds back only its lane.
      for (const lane of lanes) {
        if (lane.inflight !== undefined || lane.pending.length === 0) continue;
        const waiting =
          windowMs > 0 &&
          lane.retry.forcedSizes.length === 0 &&
          lane.retry.attempts === 0 &&
          lane.pending.length < this.mapping.batchSize &&
          iterator !== undefined &&
          this.now() - lane.windowStartMs < windowMs &&
          !fillsAnInvocation(lane.pending);
        if (waiting) continue;
        lane.inflight = this.processLane(shardId, lane)
          .then(saveCheckpoint, (error: unknown) =>
            this.log(`${shardId}: batch failed unexpectedly: ${String(error)}`),
          )
          .finally(() => {
            lane.inflight = undefined;
          });
      }
      const running = lanes.flatMap((lane) => (lane.inflight === undefined ? [] : [lane.inflight]));
      if (running.length === 0) {
        if (buffered() === 0) {
          if (iterator === undefined) break; // closed shard, fully processed
          await this.sleep(Math.max(10, pollInterval - (this.now() - lastPollMs)));
        } else await this.sleep(Math.min(pollInterval, windowMs)); // records waiting out their window
        continue;
      }
      // Read ahead while batches run (as Lambda's pollers do), so the next one can start as soon as one
      // returns: wake up for a batch's end or the next poll (or a lane's window), whichever comes first.
      await Promise.race([
        ...running,
        this.sleep(Math.max(5, Math.min(pollInterval - (this.now() - lastPollMs), windowMs || pollInterval))),
      ]);
    }
    await Promise.all(lanes.map((lane) => lane.inflight));
    await checkpointing;
  }

  /** Invokes one batch of the lane (after sending its aged-out records to the on-failure destination). */
  private async processLane(shardId: string, lane: Lane): Promise<void> {
    await this.expireOldRecords(shardId, lane.pending, lane.retry);
    if (lane.pending.length > 0) await this.processBatch(shardId, lane.pending, lane.retry);
    lane.windowStartMs = this.now();
  }

  /** Drops head records older than maximum_record_age to the on-failure destination. */
  private async expireOldRecords(shardId: string, pending: StoredRecord[], retry: RetryState): Promise<void> {
    const maxAge = this.mapping.maximumRecordAgeInSeconds;
    if (maxAge < 0) return;
    const cutoff = this.now() - maxAge * 1000;
    let expired = 0;
    while (expired < pending.length && pending[expired]!.ApproximateArrivalTimestamp.getTime() < cutoff)
      expired += 1;
    if (expired === 0) return;
    const records = pending.splice(0, expired);
    // As Lambda reports it: the invocations the records had (if they aged out while being retried), and
    // the function's error only if it was invoked at all.
    const invokeCount = retry.headSequence === records[0]!.SequenceNumber ? retry.invocations : 0;
    retry.attempts = 0;
    retry.invocations = 0;
    retry.forcedSizes = [];
    await this.sendToOnFailure(
      shardId,
      records,
      'RecordAgeExceeded',
      invokeCount,
      invokeCount > 0 ? 'Unhandled' : undefined,
    );
  }

  private async processBatch(shardId: string, pending: StoredRecord[], retry: RetryState): Promise<void> {
    if (retry.headSequence !== pending[0]!.SequenceNumber) {
      retry.headSequence = pending[0]!.SequenceNumber;
      retry.attempts = 0;
      retry.invocations = 0;
    }
    const wanted = Math.min(
      retry.forcedSizes[0] ?? this.mapping.batchSize,
      this.mapping.batchSize,
      pending.length,
    );
    const batch: StoredRecord[] = [];
    const events: KinesisEventRecord[] = [];
    let bytes = 20;
    for (const record of pending.slice(0, wanted)) {
      const event = toEventRecord(record, shardId, this.options.source);
      const size = eventRecordBytes(event);
      if (batch.length > 0 && bytes + size > LAMBDA_INVOCATION_PAYLOAD_MAX_BYTES) break;
      bytes += size;
      batch.push(record);
      events.push(event);
    }
    const verdict = await this.invoke(events, batch);
    retry.invocations += 1;
    if (verdict.kind === 'success') {
      pending.splice(0, batch.length);
      this.counters.recordsSucceeded += batch.length;
      retry.forcedSizes.shift();
      retry.attempts = 0;
      return;
    }
    if (verdict.kind === 'partial') {
      this.counters.partialFailures += 1;
      // Everything before the first reported failure is done; processing resumes at it.
      pending.splice(0, verdict.resumeIndex);
      this.counters.recordsSucceeded += verdict.resumeIndex;
      const remainder = batch.length - verdict.resumeIndex;
      retry.forcedSizes.shift();
      retry.headSequence = pending[0]!.SequenceNumber;
      // As Lambda does with bisect on: the batch is split at the reported record and the rest retried whole
      // (the whole batch when it is the first), as a retry; only a function error halves a batch.
      if (this.mapping.bisectBatchOnFunctionError) retry.forcedSizes.unshift(remainder);
      return this.afterFailure(shardId, pending, retry, remainder, 'partial batch failure');
    }
    this.counters.failedInvocations += 1;
    if (this.mapping.bisectBatchOnFunctionError && batch.length > 1) {
      // Bisecting does not use up a retry attempt: each half is tried on its own.
      this.counters.bisections += 1;
      const half = Math.ceil(batch.length / 2);
      retry.forcedSizes.shift();
      retry.forcedSizes.unshift(half, batch.length - half);
      return;
    }
    return this.afterFailure(shardId, pending, retry, batch.length, verdict.reason);
  }

  private async afterFailure(
    shardId: string,
    pending: StoredRecord[],
    retry: RetryState,
    failedCount: number,
    reason: string,
  ): Promise<void> {
    retry.attempts += 1;
    const max = this.mapping.maximumRetryAttempts;
    if (max >= 0 && retry.attempts > max) {
      const records = pending.splice(0, failedCount);
      retry.forcedSizes.shift();
      const invokeCount = retry.attempts;
      retry.attempts = 0;
      this.log(
        `${shardId}: ${records.length} record(s) discarded after ${invokeCount} attempt(s): ${reason}`,
      );
      await this.sendToOnFailure(shardId, records, 'RetryAttemptsExhausted', invokeCount, 'Unhandled');
      return;
    }
    const delay = Math.min(
      MAX_RETRY_DELAY_MS,
      (this.options.retryBaseDelayMs ?? DEFAULT_RETRY_BASE_DELAY_MS) * 2 ** (retry.attempts - 1),
    );
    await this.sleep(delay);
  }

  private async invoke(events: KinesisEventRecord[], batch: StoredRecord[]): Promise<BatchVerdict> {
    this.counters.invocations += 1;
    this.counters.inFlight += 1;
    this.counters.recordsDelivered += batch.length;
    const timeoutMs = this.options.function.timeoutSeconds * 1000;
    const context = lambdaContext(this.options.function, this.now() + timeoutMs, this.now);
    const startedMs = Date.now();
    for (const record of batch) {
      const waited = startedMs - record.ApproximateArrivalTimestamp.getTime();
      this.counters.arrivalToInvokeMsTotal += waited;
      this.counters.arrivalToInvokeMsMax = Math.max(this.counters.arrivalToInvokeMsMax, waited);
    }
    try {
      const answered = await withinMs(timeoutMs, this.environments!.invoke({ Records: events }, context));
      if (answered === undefined) {
        throw new HandlerInvocationError(
          'timeout',
          `Task timed out after ${this.options.function.timeoutSeconds.toFixed(2)} seconds`,
        );
      }
      return interpretResponse(answered.value, batch, this.mapping.reportBatchItemFailures);
    } catch (error) {
      const reason =
        error instanceof HandlerInvocationError ? error.message : `handler threw ${String(error)}`;
      this.log(`${batch[0] ? events[0]!.eventID : ''}: ${reason}`);
      return { kind: 'failure', reason };
    } finally {
      this.counters.inFlight -= 1;
      const elapsed = Date.now() - startedMs;
      this.counters.handlerMsTotal += elapsed;
      this.counters.handlerMsMax = Math.max(this.counters.handlerMsMax, elapsed);
    }
  }

  private async sendToOnFailure(
    shardId: string,
    records: StoredRecord[],
    condition: OnFailureCondition,
    invokeCount: number,
    functionError: string | undefined,
  ): Promise<void> {
    this.counters.recordsDiscarded += records.length;
    this.counters.onFailureBatches += 1;
    const dir = this.mapping.onFailureDir;
    if (dir === undefined) return;
    const record = onFailureRecord({
      records,
      shardId,
      streamArn: this.options.source.streamArn,
      functionArn: this.options.function.functionArn,
      condition,
      invokeCount,
      functionError,
      nowMs: this.now(),
    });
    const name = `${record.timestamp.replace(/[:.]/g, '-')}-${shardId}-${record.KinesisBatchInfo.startSequenceNumber}.json`;
    // The records are only dropped from the shard once their range is written down: keep trying (the shard
    // waits, as it would for an unavailable destination) until it is stored or the poller stops.
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(dir, { recursive: true });
        await writeFile(path.join(dir, name), `${JSON.stringify(record, null, 2)}\n`);
        return;
      } catch (error) {
        this.counters.onFailureWriteErrors += 1;
        this.log(
          `${shardId}: cannot write the on-failure record ${name} (attempt ${attempt}): ${String(error)}`,
        );
        if (!this.running) return;
        await this.sleep(Math.min(MAX_RETRY_DELAY_MS, 100 * attempt));
      }
    }
  }
}

function validateMapping(mapping: EventSourceMappingConfig): void {
  const where = `event source mapping on ${mapping.streamName}`;
  if (!Number.isInteger(mapping.batchSize) || mapping.batchSize < 1 || mapping.batchSize > 10_000) {
    throw new ConfigurationError(where, `batch_size must be 1..10000, got ${mapping.batchSize}`);
  }
  if (mapping.maximumBatchingWindowInSeconds < 0 || mapping.maximumBatchingWindowInSeconds > 300) {
    throw new ConfigurationError(where, `maximum_batching_window_in_seconds must be 0..300`);
  }
  if (mapping.maximumRetryAttempts < -1 || mapping.maximumRetryAttempts > 10_000) {
    throw new ConfigurationError(where, `maximum_retry_attempts must be -1..10000`);
  }
  if (
    mapping.maximumRecordAgeInSeconds !== -1 &&
    (mapping.maximumRecordAgeInSeconds < 60 || mapping.maximumRecordAgeInSeconds > 604_800)
  ) {
    throw new ConfigurationError(where, `maximum_record_age_in_seconds must be -1 or 60..604800`);
  }
  if (
    !Number.isInteger(mapping.parallelizationFactor) ||
    mapping.parallelizationFactor < 1 ||
    mapping.parallelizationFactor > 10
  ) {
    throw new ConfigurationError(
      where,
      `parallelization_factor must be 1..10, got ${mapping.parallelizationFactor}`,
    );
  }
  if (mapping.startingPosition === 'AT_TIMESTAMP' && mapping.startingPositionTimestamp === undefined) {
    throw new ConfigurationError(where, 'AT_TIMESTAMP needs starting_position_timestamp');
  }
}
