/**
 * A PutRecords producer that never drops silently.
 *
 * - Batches up to `KINESIS_PUT_RECORDS_MAX_ENTRIES` entries and `KINESIS_PUT_RECORDS_MAX_BYTES` (data plus
 *   partition keys); a batch leaves when full or when the first record in it has lingered `lingerMs`.
 * - At most `maxConcurrency` requests in flight. A batch waits while an earlier one holding any of its
 *   ordering keys (the partition key, unless the record names another) is still in flight, so a key's records
 *   reach Kinesis in the order they were put — also across retries, as long as a key appears once per batch.
 * - Entries a PutRecords response marks failed (`ErrorCode`, HTTP 200) are retried alone, with exponential
 *   backoff and full jitter, up to `maxAttempts`; a whole-request failure is classified with the SDK's error
 *   metadata and retried the same way only when retryable. What is still unsent at the bound is handed to
 *   `onUnsent` and returned by `flush()`, with its error code: counted, never silently dropped.
 */

import {
  KINESIS_PARTITION_KEY_MAX_CHARS,
  KINESIS_PUT_PAYLOAD_UNIT_BYTES,
  KINESIS_PUT_RECORDS_MAX_BYTES,
  KINESIS_PUT_RECORDS_MAX_ENTRIES,
  KINESIS_RECORD_MAX_BYTES,
  utf8ByteLength,
} from '@alleycat/schema';
import { type KinesisClient, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import { classifyRequestError } from './classify.js';
import { PRODUCER_DEFAULTS } from './constants.js';
import { InvalidRecordError } from './errors.js';
import type { ProducerRecord, ProducerStats, UnsentRecord } from './types.js';

export interface KinesisProducerOptions {
  client: KinesisClient;
  streamName: string;
  /** Preferred on AWS when set; local emulators want `streamName` (FIELD-NOTES). */
  streamARN?: string;
  lingerMs?: number;
  maxConcurrency?: number;
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  maxBufferedRecords?: number;
  /** Lower batch limits (tests, or to spread load); never above the PutRecords limits. */
  maxBatchEntries?: number;
  maxBatchBytes?: number;
  /** Called as soon as records are given up on (they are also returned by `flush`). */
  onUnsent?: (records: UnsentRecord[]) => void;
  /** Randomness for the jitter (tests pin it). */
  random?: () => number;
}

interface Entry {
  record: ProducerRecord;
  /** data + partition key bytes. */
  bytes: number;
}

const THROTTLED = 'ProvisionedThroughputExceededException';

export class KinesisProducer {
  private readonly client: KinesisClient;
  private readonly options: Required<
    Omit<KinesisProducerOptions, 'client' | 'streamARN' | 'onUnsent' | 'random'>
  >;
  private readonly streamARN: string | undefined;
  private readonly onUnsent: ((records: UnsentRecord[]) => void) | undefined;
  private readonly random: () => number;

  private buffer: Entry[] = [];
  private bufferBytes = 0;
  private lingerTimer: NodeJS.Timeout | undefined;
  private readonly ready: Entry[][] = [];
  private readyRecords = 0;
  private inFlight = 0;
  private inFlightRecords = 0;
  private readonly keysInFlight = new Map<string, number>();
  private unsent: UnsentRecord[] = [];
  private waiters: Array<() => void> = [];
  private readonly counters: ProducerStats = {
    recordsSent: 0,
    messagesSent: 0,
    recordsRetried: 0,
    recordsFailed: 0,
    messagesFailed: 0,
    bytesSent: 0,
    putPayloadUnits: 0,
    requests: 0,
    requestsFailed: 0,
    throttledEntries: 0,
  };

  constructor(options: KinesisProducerOptions) {
    this.client = options.client;
    this.streamARN = options.streamARN;
    this.onUnsent = options.onUnsent;
    this.random = options.random ?? Math.random;
    this.options = {
      streamName: options.streamName,
      lingerMs: options.lingerMs ?? PRODUCER_DEFAULTS.lingerMs,
      maxConcurrency: options.maxConcurrency ?? PRODUCER_DEFAULTS.maxConcurrency,
      maxAttempts: options.maxAttempts ?? PRODUCER_DEFAULTS.maxAttempts,
      baseDelayMs: options.baseDelayMs ?? PRODUCER_DEFAULTS.baseDelayMs,
      maxDelayMs: options.maxDelayMs ?? PRODUCER_DEFAULTS.maxDelayMs,
      maxBufferedRecords: options.maxBufferedRecords ?? PRODUCER_DEFAULTS.maxBufferedRecords,
      maxBatchEntries: Math.min(
        options.maxBatchEntries ?? KINESIS_PUT_RECORDS_MAX_ENTRIES,
        KINESIS_PUT_RECORDS_MAX_ENTRIES,
      ),
      maxBatchBytes: Math.min(
        options.maxBatchBytes ?? KINESIS_PUT_RECORDS_MAX_BYTES,
        KINESIS_PUT_RECORDS_MAX_BYTES,
      ),
    };
    for (const key of ['maxConcurrency', 'maxAttempts', 'maxBatchEntries', 'maxBufferedRecords'] as const) {
      const value = this.options[key];
      if (!Number.isInteger(value) || value < 1) {
        throw new RangeError(`${key} must be a positive integer, got ${value}`);
      }
    }
  }

  /** A copy of the counters. */
  get stats(): ProducerStats {
    return { ...this.counters };
  }

  /** Records accepted by `put` and not yet settled (sent or given up). */
  get pending(): number {
    return this.buffer.length + this.readyRecords + this.inFlightRecords;
  }

  /**
   * Queues one record. Resolves at once unless `maxBufferedRecords` are waiting, then when there is room.
   * Throws `InvalidRecordError` for a record Kinesis could never accept.
   */
  async put(record: ProducerRecord): Promise<void> {
    const entry = this.toEntry(record);
    while (this.buffer.length + this.readyRecords >= this.options.maxBufferedRecords) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.add(entry);
  }

  /** Queues many records (validating all first, so a bad one queues none). */
  async putMany(records: readonly ProducerRecord[]): Promise<void> {
    const entries = records.map((r) => this.toEntry(r));
    for (const entry of entries) {
      while (this.buffer.length + this.readyRecords >= this.options.maxBufferedRecords) {
        await new Promise<void>((resolve) => this.waiters.push(resolve));
      }
      this.add(entry);
    }
  }

  /**
   * Sends the batch being filled now instead of when its linger runs out, without waiting for anything: for
   * a caller that knows no record will follow soon (the simulator, once it has put a whole race second).
   */
  sendBuffered(): void {
    this.cut();
  }

  /** Sends everything queued, waits until all of it is settled, and returns (and forgets) what was not sent. */
  async flush(): Promise<UnsentRecord[]> {
    this.cut();
    while (this.pending > 0) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    const unsent = this.unsent;
    this.unsent = [];
    return unsent;
  }

  private toEntry(record: ProducerRecord): Entry {
    const dataBytes = record.data.byteLength;
    if (dataBytes > KINESIS_RECORD_MAX_BYTES) {
      throw new InvalidRecordError(
        `data is ${dataBytes} bytes; Kinesis takes at most ${KINESIS_RECORD_MAX_BYTES}`,
      );
    }
    const key = record.partitionKey;
    if (typeof key !== 'string' || key.length < 1 || key.length > KINESIS_PARTITION_KEY_MAX_CHARS) {
      throw new InvalidRecordError(
        `partition key must be 1–${KINESIS_PARTITION_KEY_MAX_CHARS} characters, got ${JSON.stringify(key)}`,
      );
    }
    const bytes = dataBytes + utf8ByteLength(key);
    if (bytes > this.options.maxBatchBytes) {
      throw new InvalidRecordError(
        `record of ${bytes} bytes exceeds the batch limit ${this.options.maxBatchBytes}`,
      );
    }
    return { record, bytes };
  }

  private add(entry: Entry): void {
    if (this.bufferBytes + entry.bytes > this.options.maxBatchBytes) this.cut();
    this.buffer.push(entry);
    this.bufferBytes += entry.bytes;
    if (this.buffer.length >= this.options.maxBatchEntries) this.cut();
    else if (this.lingerTimer === undefined) {
      this.lingerTimer = setTimeout(() => this.cut(), this.options.lingerMs);
    }
  }

  /** Closes the current batch and tries to start it. */
  private cut(): void {
    if (this.lingerTimer !== undefined) {
      clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
    }
    if (this.buffer.length > 0) {
      this.ready.push(this.buffer);
      this.readyRecords += this.buffer.length;
      this.buffer = [];
      this.bufferBytes = 0;
    }
    this.pump();
  }

  /** Starts ready batches in order while a slot is free and the head batch's keys are not in flight. */
  private pump(): void {
    while (this.inFlight < this.options.maxConcurrency && this.ready.length > 0) {
      const head = this.ready[0]!;
      if (this.holdsKeyInFlight(head)) break; // strict FIFO keeps per-key order
      this.ready.shift();
      this.readyRecords -= head.length;
      this.inFlight += 1;
      this.inFlightRecords += head.length;
      this.markKeys(head, 1);
      this.send(head).finally(() => {
        this.markKeys(head, -1);
        this.inFlight -= 1;
        this.inFlightRecords -= head.length;
        this.pump();
        this.wake();
      });
    }
    this.wake();
  }

  private holdsKeyInFlight(batch: Entry[]): boolean {
    if (this.keysInFlight.size === 0) return false;
    for (const { record } of batch) {
      if (this.keysInFlight.has(record.orderingKey ?? record.partitionKey)) return true;
    }
    return false;
  }

  private markKeys(batch: Entry[], delta: 1 | -1): void {
    for (const { record } of batch) {
      const key = record.orderingKey ?? record.partitionKey;
      const count = (this.keysInFlight.get(key) ?? 0) + delta;
      if (count === 0) this.keysInFlight.delete(key);
      else this.keysInFlight.set(key, count);
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** One batch until every entry is accepted or given up. Never throws. */
  private async send(batch: Entry[]): Promise<void> {
    let entries = batch;
    for (let attempt = 1; ; attempt++) {
      const failed: Array<{ entry: Entry; code: string; message: string }> = [];
      try {
        this.counters.requests += 1;
        const response = await this.client.send(
          new PutRecordsCommand({
            ...(this.streamARN ? { StreamARN: this.streamARN } : { StreamName: this.options.streamName }),
            Records: entries.map(toRequestEntry),
          }),
        );
        const results = response.Records ?? [];
        entries.forEach((entry, i) => {
          const result = results[i];
          if (result === undefined || result.ErrorCode) {
            const code = result?.ErrorCode ?? 'MissingResult';
            if (code === THROTTLED) this.counters.throttledEntries += 1;
            failed.push({ entry, code, message: result?.ErrorMessage ?? 'no result for this entry' });
          } else {
            this.accepted(entry);
          }
        });
      } catch (error) {
        this.counters.requestsFailed += 1;
        const classified = classifyRequestError(error);
        for (const entry of entries)
          failed.push({ entry, code: classified.code, message: classified.message });
        if (!classified.retryable) {
          this.giveUp(failed, attempt);
          return;
        }
      }
      if (failed.length === 0) return;
      if (attempt >= this.options.maxAttempts) {
        this.giveUp(failed, attempt);
        return;
      }
      entries = failed.map((f) => f.entry);
      this.counters.recordsRetried += entries.length;
      await sleep(this.backoff(attempt));
    }
  }

  /** Full jitter: uniform in [0, min(max, base × 2^(attempt−1))]. */
  private backoff(attempt: number): number {
    const cap = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** (attempt - 1));
    return Math.floor(this.random() * cap);
  }

  private accepted(entry: Entry): void {
    const c = this.counters;
    c.recordsSent += 1;
    c.messagesSent += entry.record.messages ?? 1;
    c.bytesSent += entry.bytes;
    c.putPayloadUnits += Math.max(
      1,
      Math.ceil(entry.record.data.byteLength / KINESIS_PUT_PAYLOAD_UNIT_BYTES),
    );
  }

  private giveUp(failed: Array<{ entry: Entry; code: string; message: string }>, attempts: number): void {
    const unsent = failed.map(({ entry, code, message }) => ({
      record: entry.record,
      errorCode: code,
      errorMessage: message,
      attempts,
    }));
    this.counters.recordsFailed += unsent.length;
    for (const u of unsent) this.counters.messagesFailed += u.record.messages ?? 1;
    this.unsent.push(...unsent);
    this.onUnsent?.(unsent);
  }
}

function toRequestEntry(entry: Entry): PutRecordsRequestEntry {
  const { data, partitionKey, explicitHashKey } = entry.record;
  return explicitHashKey === undefined
    ? { Data: data, PartitionKey: partitionKey }
    : { Data: data, PartitionKey: partitionKey, ExplicitHashKey: explicitHashKey };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
