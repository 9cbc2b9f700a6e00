/**
 * Shard math for a provisioned Kinesis stream. A shard takes 1,000 records/s or 1 MiB/s of writes, whichever
 * binds first; `maxUtilisation` keeps headroom for bursts and producer retries, because an IoT rule action
 * that Kinesis throttles goes to the error action and is not retried into the stream.
 */
import { InvalidArgumentError } from './errors.js';
import {
  KINESIS_PUT_PAYLOAD_UNIT_BYTES,
  KINESIS_RECORD_MAX_BYTES,
  KINESIS_SHARD_WRITE_BYTES_PER_SECOND,
  KINESIS_SHARD_WRITE_RECORDS_PER_SECOND,
} from './limits.js';

/**
 * `single`: one record per message (the seed's bikes). `batched`: several messages per record — the schema's
 * batch form (several seconds of a racer, at most `RACE_BATCH_MAX_SAMPLES`) or a KPL aggregate (many racers'
 * messages, up to Kinesis's 1 MiB record).
 */
export type TrafficPattern = 'single' | 'batched';

/** Options given as `undefined` take their defaults (`| undefined` says so under `exactOptionalPropertyTypes`). */
export interface CapacityInput {
  riders: number;
  /** Messages each rider sends per second. Default 1. */
  messagesPerSecond?: number | undefined;
  /** Average bytes of one message. Default 170 (the seed's message). */
  averageMessageBytes?: number | undefined;
  /** Default `single`. */
  pattern?: TrafficPattern | undefined;
  /** Messages per record when `batched`. Default 5 (the seed's "buffer 5 seconds, send once"). */
  messagesPerRecord?: number | undefined;
  /** Average partition key bytes (Kinesis counts them against the byte limit). Default 8. */
  partitionKeyBytes?: number | undefined;
  /** Fraction (0–1] of each shard limit the plan may use. Default 0.8. */
  maxUtilisation?: number | undefined;
}

export type CapacityLimit = 'records' | 'bytes';

export interface CapacityPlan {
  shards: number;
  /** The limit that decided `shards` (records when both need the same count). */
  bindingLimit: CapacityLimit;
  recordsPerSecond: number;
  /** Data plus partition keys, per second. */
  bytesPerSecond: number;
  /** Bytes of one record's data. */
  recordBytes: number;
  /** Fraction of each per-shard limit used at `shards`. */
  utilisation: Record<CapacityLimit, number>;
  /** Shards each limit alone would need at `maxUtilisation`. */
  shardsNeeded: Record<CapacityLimit, number>;
  /** Billed PUT payload units per second (each record costs ceil(bytes / 25 KiB)). */
  putPayloadUnitsPerSecond: number;
  input: Required<CapacityInput>;
}

export const CAPACITY_DEFAULTS = {
  messagesPerSecond: 1,
  averageMessageBytes: 170,
  pattern: 'single',
  messagesPerRecord: 5,
  partitionKeyBytes: 8,
  maxUtilisation: 0.8,
} as const satisfies Omit<Required<CapacityInput>, 'riders'>;

function positive(name: string, value: number, integer = false): number {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new InvalidArgumentError(
      name,
      `must be a positive ${integer ? 'integer' : 'number'}, got ${value}`,
    );
  }
  return value;
}

/**
 * Ceiling that ignores floating-point dust (1000 / (1000 × 1.0) must be 1, not 2). The tolerance is relative
 * (a billionth of the quotient): an absolute one stops absorbing dust once quotients reach the millions, and
 * planned one shard more than a load that overshoots k shards by 4e-11 of their limit (found by the property
 * test: 138,525 riders, batches of 11 × 49,714 B, utilisation 0.05).
 */
const ceil = (x: number) => Math.max(1, Math.ceil(x * (1 - 1e-9)));

/** Shards needed for a rider population, which limit binds, and how hard each limit is used. */
export function planCapacity(options: CapacityInput): CapacityPlan {
  // An option given as `undefined` (a config passed straight through) takes its default, as an absent one does.
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError('options', `must be an object with riders, got ${String(options)}`);
  const input = { ...CAPACITY_DEFAULTS } as Required<CapacityInput>;
  const given = options as unknown as Record<string, unknown>;
  for (const key of ['riders', ...Object.keys(CAPACITY_DEFAULTS)] as Array<keyof CapacityInput>) {
    if (given[key] !== undefined) (input as unknown as Record<string, unknown>)[key] = given[key];
  }
  positive('riders', input.riders, true);
  positive('messagesPerSecond', input.messagesPerSecond);
  positive('averageMessageBytes', input.averageMessageBytes);
  positive('messagesPerRecord', input.messagesPerRecord, true);
  if (!Number.isFinite(input.partitionKeyBytes) || input.partitionKeyBytes < 1) {
    throw new InvalidArgumentError('partitionKeyBytes', `must be at least 1, got ${input.partitionKeyBytes}`);
  }
  if (!(input.maxUtilisation > 0 && input.maxUtilisation <= 1)) {
    throw new InvalidArgumentError('maxUtilisation', `must be in (0, 1], got ${input.maxUtilisation}`);
  }
  if (input.pattern !== 'single' && input.pattern !== 'batched') {
    throw new InvalidArgumentError(
      'pattern',
      `must be "single" or "batched", got ${JSON.stringify(input.pattern)}`,
    );
  }

  const perRecord = input.pattern === 'batched' ? input.messagesPerRecord : 1;
  const messagesPerSecond = input.riders * input.messagesPerSecond;
  const recordsPerSecond = messagesPerSecond / perRecord;
  // A batch is costed as its messages side by side: an upper bound, since a batch shares its header.
  const recordBytes = input.averageMessageBytes * perRecord;
  if (recordBytes > KINESIS_RECORD_MAX_BYTES) {
    throw new InvalidArgumentError(
      input.pattern === 'batched' ? 'messagesPerRecord' : 'averageMessageBytes',
      input.pattern === 'batched'
        ? `records of ${perRecord} × ${input.averageMessageBytes} B = ${recordBytes} B exceed Kinesis's 1 MiB`
        : `records of ${recordBytes} B exceed Kinesis's 1 MiB`,
    );
  }
  const bytesPerSecond = recordsPerSecond * (recordBytes + input.partitionKeyBytes);

  const shardsNeeded = {
    records: ceil(recordsPerSecond / (KINESIS_SHARD_WRITE_RECORDS_PER_SECOND * input.maxUtilisation)),
    bytes: ceil(bytesPerSecond / (KINESIS_SHARD_WRITE_BYTES_PER_SECOND * input.maxUtilisation)),
  };
  const shards = Math.max(shardsNeeded.records, shardsNeeded.bytes);
  return {
    shards,
    bindingLimit: shardsNeeded.records >= shardsNeeded.bytes ? 'records' : 'bytes',
    recordsPerSecond,
    bytesPerSecond,
    recordBytes,
    utilisation: {
      records: recordsPerSecond / (shards * KINESIS_SHARD_WRITE_RECORDS_PER_SECOND),
      bytes: bytesPerSecond / (shards * KINESIS_SHARD_WRITE_BYTES_PER_SECOND),
    },
    shardsNeeded,
    putPayloadUnitsPerSecond: recordsPerSecond * Math.ceil(recordBytes / KINESIS_PUT_PAYLOAD_UNIT_BYTES),
    input,
  };
}
