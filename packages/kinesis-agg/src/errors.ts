/**
 * Stable, machine-readable reasons an aggregated record cannot be decoded. Consumers branch on `code`;
 * `message` is for people. None is retryable: decoding the same bytes again gives the same result.
 */
export const AGGREGATION_ERROR_CODES = [
  /** `deaggregate` was given bytes that do not start with the KPL magic. */
  'not_aggregated',
  /** The record, a varint or a length-delimited field ends before its declared end. */
  'truncated',
  /** The MD5 trailer does not match the protobuf bytes (corrupted, or not written by a KPL encoder). */
  'checksum_mismatch',
  /** A varint runs longer than the 10 bytes a 64-bit value can take. */
  'bad_varint',
  /** A wire type that does not exist (6, 7), or an end-group with no matching start-group. */
  'bad_wire_type',
  /** A known field arrives with a wire type other than its declared one. */
  'wrong_wire_type',
  /** A field number of 0 or above 2^29 - 1. */
  'bad_field_number',
  /** A `Record` lacks a required field (`partition_key_index` or `data`). */
  'missing_field',
  /** A `Record` points past the end of the partition-key or explicit-hash-key table. */
  'bad_index',
  /** A partition key or explicit hash key in the tables is not valid UTF-8. */
  'bad_utf8',
  /** Protobuf groups (deprecated; skipped as unknown fields) nest deeper than `MAX_GROUP_DEPTH`. */
  'nesting_too_deep',
] as const;

export type AggregationErrorCode = (typeof AGGREGATION_ERROR_CODES)[number];

/** Reasons the `Aggregator` refuses a user record (a producer-side, caller error). */
export const USER_RECORD_ERROR_CODES = [
  /** Partition key empty, longer than Kinesis allows, or not well-formed Unicode (a lone surrogate). */
  'bad_partition_key',
  /** Explicit hash key not a decimal integer in [0, 2^128 - 1]. */
  'bad_explicit_hash_key',
  /** `data` is not a `Uint8Array`. */
  'bad_data',
  /** The record cannot fit in one emitted record of the aggregator's `maxBytes`, even on its own. */
  'too_large',
] as const;

export type UserRecordErrorCode = (typeof USER_RECORD_ERROR_CODES)[number];

/** Base class of every error this package throws. `retryable` says whether trying again can succeed. */
export class KinesisAggError extends Error {
  readonly retryable: boolean = false;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KinesisAggError';
  }
}

/**
 * Bytes that claim to be (or must be) a KPL aggregate and are not a valid one. `offset` is the byte offset
 * into the whole Kinesis record data (magic included) where the fault was found. Never retryable: the
 * record is poison and belongs wherever invalid records go.
 */
export class AggregationError extends KinesisAggError {
  readonly code: AggregationErrorCode;
  readonly offset: number;
  constructor(code: AggregationErrorCode, offset: number, detail: string) {
    super(`${code} at byte ${offset}: ${detail}`);
    this.name = 'AggregationError';
    this.code = code;
    this.offset = offset;
  }
}

/** A user record given to the `Aggregator` that Kinesis or the format cannot carry. Nothing was buffered. */
export class InvalidUserRecordError extends KinesisAggError {
  readonly code: UserRecordErrorCode;
  constructor(code: UserRecordErrorCode, detail: string) {
    super(`${code}: ${detail}`);
    this.name = 'InvalidUserRecordError';
    this.code = code;
  }
}

/** An option outside its domain (a programming error). */
export class InvalidOptionError extends KinesisAggError {
  readonly option: string;
  constructor(option: string, detail: string) {
    super(`${option}: ${detail}`);
    this.name = 'InvalidOptionError';
    this.option = option;
  }
}
