/**
 * The rules engine's Kinesis writer. IoT's Kinesis action writes each message on its own (PutRecord). On this
 * machine a PutRecord round trip to kinesalite costs milliseconds, which would cap the MQTT path at a few
 * hundred messages/s. So messages that arrive while a request is in flight are sent together as one
 * PutRecords. Each message still gets exactly its own outcome: Kinesis judges PutRecords entries one by one
 * (shard limits, ProvisionedThroughputExceededException per entry). A request that fails as a whole (for
 * example a ValidationException caused by one bad entry) is replayed entry by entry with PutRecord, so one
 * bad message cannot fail its neighbours.
 */

import { KINESIS_PUT_RECORDS_MAX_BYTES, KINESIS_PUT_RECORDS_MAX_ENTRIES } from '@alleycat/schema';
import {
  type KinesisClient,
  PutRecordCommand,
  type PutRecordCommandOutput,
  PutRecordsCommand,
  type PutRecordsCommandOutput,
} from '@aws-sdk/client-kinesis';

export interface PutOutcome {
  ok: boolean;
  /** On failure: `<ErrorCode or exception name>: <message>`, as the error action reports it. */
  error?: string;
  /** On failure: whether Kinesis throttled the record. */
  throttled?: boolean;
  sequenceNumber?: string;
  shardId?: string;
}

interface Pending {
  streamName: string;
  partitionKey: string;
  data: Uint8Array;
  resolve: (outcome: PutOutcome) => void;
}

export interface KinesisBatcherOptions {
  kinesis: KinesisClient;
  /** PutRecords requests in flight at once, across streams (default 8). */
  maxInFlight?: number;
}

export class KinesisBatcher {
  private readonly kinesis: KinesisClient;
  private readonly maxInFlight: number;
  private queue: Pending[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(options: KinesisBatcherOptions) {
    this.kinesis = options.kinesis;
    this.maxInFlight = options.maxInFlight ?? 8;
  }

  put(streamName: string, partitionKey: string, data: Uint8Array): Promise<PutOutcome> {
    return new Promise((resolve) => {
      this.queue.push({ streamName, partitionKey, data, resolve });
      if (!this.scheduled) {
        this.scheduled = true;
        // Let everything arriving in this turn of the event loop join the same request.
        setImmediate(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.takeBatch();
      this.inFlight += 1;
      this.send(batch).finally(() => {
        this.inFlight -= 1;
        this.pump();
      });
    }
  }

  /** Up to 500 entries / 5 MiB of one stream, from the head of the queue. */
  private takeBatch(): Pending[] {
    const stream = this.queue[0]!.streamName;
    const batch: Pending[] = [];
    // One pass, the rest kept in order (a splice per entry taken made a second's burst quadratic).
    const rest: Pending[] = [];
    let bytes = 0;
    let full = false;
    for (const entry of this.queue) {
      if (!full && entry.streamName === stream) {
        const size = entry.data.byteLength + Buffer.byteLength(entry.partitionKey);
        full =
          batch.length >= KINESIS_PUT_RECORDS_MAX_ENTRIES ||
          (batch.length > 0 && bytes + size > KINESIS_PUT_RECORDS_MAX_BYTES);
        if (!full) {
          bytes += size;
          batch.push(entry);
          continue;
        }
      }
      rest.push(entry);
    }
    this.queue = rest;
    return batch;
  }

  private async send(batch: Pending[]): Promise<void> {
    if (batch.length === 1) {
      batch[0]!.resolve(await this.putOne(batch[0]!));
      return;
    }
    let answer: PutRecordsCommandOutput;
    try {
      answer = await this.kinesis.send(
        new PutRecordsCommand({
          StreamName: batch[0]!.streamName,
          Records: batch.map((e) => ({ PartitionKey: e.partitionKey, Data: e.data })),
        }),
      );
    } catch {
      // The whole request failed: replay each message on its own, in order, so each gets its own verdict.
      for (const entry of batch) entry.resolve(await this.putOne(entry));
      return;
    }
    batch.forEach((entry, i) => {
      const result = answer.Records?.[i];
      if (result?.ErrorCode === undefined) {
        entry.resolve({
          ok: true,
          sequenceNumber: result?.SequenceNumber,
          shardId: result?.ShardId,
        } as PutOutcome);
      } else {
        entry.resolve({
          ok: false,
          error: `${result.ErrorCode}: ${result.ErrorMessage ?? ''}`,
          throttled: result.ErrorCode === 'ProvisionedThroughputExceededException',
        });
      }
    });
  }

  private async putOne(entry: Pending): Promise<PutOutcome> {
    try {
      const answer: PutRecordCommandOutput = await this.kinesis.send(
        new PutRecordCommand({
          StreamName: entry.streamName,
          PartitionKey: entry.partitionKey,
          Data: entry.data,
        }),
      );
      return { ok: true, sequenceNumber: answer.SequenceNumber, shardId: answer.ShardId } as PutOutcome;
    } catch (error) {
      const name = (error as Error).name;
      return {
        ok: false,
        error: `${name}: ${(error as Error).message}`,
        throttled: name === 'ProvisionedThroughputExceededException',
      };
    }
  }
}
