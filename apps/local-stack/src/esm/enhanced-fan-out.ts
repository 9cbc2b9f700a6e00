/**
 * Enhanced fan-out, locally. On AWS a mapping whose `event_source_arn` is a registered stream consumer gets
 * records pushed over `SubscribeToShard` (HTTP/2, ~70 ms propagation), with the consumer's own 2 MiB/s per shard
 * and nothing taken from the shard's shared 5 GetRecords/s and 2 MiB/s. kinesalite has no SubscribeToShard, so
 * the poller stands in for the push: it reads GetRecords every `EFO_POLL_INTERVAL_MS`, marks each read with
 * the consumer's ARN (`ENHANCED_FAN_OUT_CONSUMER_HEADER`) so the limits layer leaves the shared read limits
 * alone, and paces itself to the consumer's 2 MiB/s per shard with `ConsumerReadPacer` — as a push never
 * throttles its subscriber but never delivers more than 2 MiB/s either.
 *
 * Not emulated: the HTTP/2 event stream itself, the 5-minute subscription lifetime and its renewal (and the
 * one SubscribeToShard per second per consumer and shard that renewals are held to), ResourceInUseException
 * for a second subscriber, and the 20-consumers-per-stream limit.
 */
import { KINESIS_SHARD_READ_BYTES_PER_SECOND } from '@alleycat/schema';
import { TokenBucket } from '../kinesis/token-bucket.js';
import type { StoredRecord } from './event.js';

/**
 * Time between reads of one shard by an enhanced fan-out mapping. AWS pushes a record ~70 ms (average) after it
 * is written; reading every 50 ms gives a local wait of 0–50 ms (25 ms on average) plus the read itself, the
 * same order, at 20 cheap local calls per shard and second. (A polling mapping waits `DEFAULT_POLL_INTERVAL_MS`,
 * 250 ms, because its 5 calls/s are shared.)
 */
export const EFO_POLL_INTERVAL_MS = 50;

/**
 * Request header naming the consumer a GetRecords reads for: the local stand-in for `SubscribeToShard`'s
 * `ConsumerARN`. The limits layer does not charge such a read to the shard's shared read limits.
 */
export const ENHANCED_FAN_OUT_CONSUMER_HEADER = 'x-alleycat-consumer-arn';

/** Bytes a read counts against a shard's read throughput: data plus partition key, as Kinesis counts them. */
export function readBytesOf(records: readonly StoredRecord[]): number {
  let bytes = 0;
  for (const record of records) {
    bytes += Buffer.byteLength(record.Data, 'base64') + Buffer.byteLength(record.PartitionKey, 'utf8');
  }
  return bytes;
}

/**
 * The consumer's dedicated read throughput on one shard: at most a second's worth (2 MiB) at once, then
 * 2 MiB/s. A large read puts it in debt; the next read waits until the debt is paid, so the average stays
 * within the limit without any read being refused. Pure; time comes from the caller.
 */
export class ConsumerReadPacer {
  private readonly bucket: TokenBucket;

  constructor(nowMs: number, bytesPerSecond: number = KINESIS_SHARD_READ_BYTES_PER_SECOND) {
    this.bucket = new TokenBucket(bytesPerSecond, nowMs);
  }

  /** Milliseconds until the next read may start (0: now). */
  waitMs(nowMs: number): number {
    const available = this.bucket.available(nowMs);
    return available > 0 ? 0 : Math.ceil(((1 - available) * 1000) / this.bucket.ratePerSecond);
  }

  /** Counts a read's bytes against the consumer's throughput. */
  charge(bytes: number, nowMs: number): void {
    this.bucket.charge(bytes, nowMs);
  }
}
