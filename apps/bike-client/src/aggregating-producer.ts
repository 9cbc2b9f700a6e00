/**
 * KPL aggregation in front of the producer: many race messages packed into one Kinesis record in the
 * standard KPL format (`@alleycat/kinesis-agg`, the codec the Lambda decodes with), up to a size target.
 * That cuts PUT payload units (billed per 25 KiB) and lifts the per-shard 1,000 records/s ceiling.
 *
 * Like the KPL, one aggregate holds only user records bound for the same shard: records are grouped by the
 * shard owning their partition key's hash (from ListShards), and the aggregate is routed by its first
 * record's partition key, which hashes into that shard. Each user record so stays on its own key's shard,
 * and the aggregate's ordering key is the shard, so a shard's aggregates are never in flight together.
 */
import { Aggregator, decodeRecord, type EncodedRecord } from '@alleycat/kinesis-agg';
import { hashKeyOf } from '@alleycat/schema';
import { AGGREGATION_DEFAULT_TARGET_BYTES, PRODUCER_DEFAULTS } from './constants.js';
import type { KinesisProducer } from './kinesis-producer.js';
import type { ShardRange, UnsentRecord, UnsentUserRecord } from './types.js';

export interface AggregatingProducerOptions {
  producer: KinesisProducer;
  /** Open shards (see `listShardRanges`); one aggregate stream for the whole stream when absent. */
  shards?: readonly ShardRange[];
  /** Size target of one aggregated record (data + partition key). Default one PUT payload unit. */
  maxBytes?: number;
  /** A partly filled aggregate leaves after this long. */
  lingerMs?: number;
}

export interface UserRecord {
  data: Uint8Array;
  partitionKey: string;
}

export class AggregatingProducer {
  private readonly producer: KinesisProducer;
  private readonly shards: readonly ShardRange[];
  private readonly aggregators: Aggregator[];
  private readonly lingerMs: number;
  private lingerTimer: NodeJS.Timeout | undefined;
  /** User records handed to the aggregators. */
  userRecords = 0;
  /** Aggregated records emitted to the producer. */
  aggregatedRecords = 0;

  constructor(options: AggregatingProducerOptions) {
    this.producer = options.producer;
    this.shards = options.shards && options.shards.length > 0 ? options.shards : [];
    const count = Math.max(1, this.shards.length);
    const maxBytes = options.maxBytes ?? AGGREGATION_DEFAULT_TARGET_BYTES;
    this.aggregators = Array.from({ length: count }, () => new Aggregator({ maxBytes }));
    this.lingerMs = options.lingerMs ?? PRODUCER_DEFAULTS.lingerMs;
  }

  /** Index of the shard owning `partitionKey` (binary search over the sorted ranges). */
  private shardOf(partitionKey: string): number {
    if (this.shards.length <= 1) return 0;
    const hash = hashKeyOf(partitionKey);
    let lo = 0;
    let hi = this.shards.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.shards[mid]!.start <= hash) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Adds one user record; full aggregates go to the producer (which may apply backpressure). */
  async put(record: UserRecord): Promise<void> {
    const shard = this.shardOf(record.partitionKey);
    this.userRecords += 1;
    const full = this.aggregators[shard]!.add(record);
    if (full) await this.emit(full, shard);
    if (this.lingerTimer === undefined) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = undefined;
        void this.emitAll();
      }, this.lingerMs);
    }
  }

  async putMany(records: readonly UserRecord[]): Promise<void> {
    for (const record of records) await this.put(record);
  }

  private async emit(encoded: EncodedRecord, shard: number): Promise<void> {
    this.aggregatedRecords += 1;
    await this.producer.put({
      data: encoded.data,
      partitionKey: encoded.partitionKey,
      ...(encoded.explicitHashKey === undefined ? {} : { explicitHashKey: encoded.explicitHashKey }),
      orderingKey: `shard:${shard}`,
      messages: encoded.userRecordCount,
    });
  }

  private async emitAll(): Promise<void> {
    for (let shard = 0; shard < this.aggregators.length; shard++) {
      const last = this.aggregators[shard]!.flush();
      if (last) await this.emit(last, shard);
    }
  }

  /**
   * Emits the partial aggregates and sends them now instead of when the linger runs out (as KPL users call
   * `flush()` after a batch): for a caller that knows no record will follow soon.
   */
  async sendBuffered(): Promise<void> {
    if (this.lingerTimer !== undefined) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
    await this.emitAll();
    this.producer.sendBuffered();
  }

  /** Emits partial aggregates, flushes the producer and returns the unsent aggregates. */
  async flush(): Promise<UnsentRecord[]> {
    if (this.lingerTimer !== undefined) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
    await this.emitAll();
    return this.producer.flush();
  }
}

/** The user records inside unsent (possibly aggregated) records, each with its record's error. */
export function unsentUserRecords(unsent: readonly UnsentRecord[]): UnsentUserRecord[] {
  return unsent.flatMap((u) =>
    decodeRecord(u.record.data, u.record.partitionKey, u.record.explicitHashKey).records.map((r) => ({
      partitionKey: r.partitionKey,
      data: r.data,
      errorCode: u.errorCode,
      errorMessage: u.errorMessage,
      attempts: u.attempts,
    })),
  );
}
