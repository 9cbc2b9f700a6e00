/**
 * User records → KPL aggregated Kinesis records, each no larger than a size target. The exact encoded size
 * is tracked as records are added, so an aggregate is closed just before it would overflow — never re-encoded.
 */
import { createHash } from 'node:crypto';
import { KINESIS_PARTITION_KEY_MAX_CHARS, KINESIS_RECORD_MAX_BYTES } from '@alleycat/schema';
import { DEFAULT_AGGREGATE_MAX_BYTES, KPL_FRAMING_BYTES, KPL_MAGIC_BYTES } from './constants.js';
import { InvalidOptionError, InvalidUserRecordError } from './errors.js';
import type { AggregatorOptions, EncodedRecord, UserRecordInput } from './types.js';
import { varintSize, WIRE_LENGTH_DELIMITED, WIRE_VARINT, writeVarint } from './wire.js';

const MAGIC_LENGTH = KPL_MAGIC_BYTES.length;
const AGG_PARTITION_KEY_TABLE = (1 << 3) | WIRE_LENGTH_DELIMITED;
const AGG_EXPLICIT_HASH_KEY_TABLE = (2 << 3) | WIRE_LENGTH_DELIMITED;
const AGG_RECORDS = (3 << 3) | WIRE_LENGTH_DELIMITED;
const REC_PARTITION_KEY_INDEX = (1 << 3) | WIRE_VARINT;
const REC_EXPLICIT_HASH_KEY_INDEX = (2 << 3) | WIRE_VARINT;
const REC_DATA = (3 << 3) | WIRE_LENGTH_DELIMITED;

/** 2^128 - 1: the largest explicit hash key Kinesis accepts. */
const MAX_HASH_KEY = (1n << 128n) - 1n;
const HASH_KEY_PATTERN = /^(0|[1-9]\d{0,38})$/;

/** A user record accepted into the pending aggregate. */
interface Pending {
  partitionKeyIndex: number;
  /** -1 when the record has no explicit hash key. */
  explicitHashKeyIndex: number;
  data: Uint8Array;
  /** Encoded size of the `Record` message body (without its own tag and length). */
  bodySize: number;
  partitionKey: string;
  explicitHashKey: string | undefined;
}

/** A key table entry of the pending aggregate: the key, its index and its UTF-8 size. */
interface TableEntry {
  key: string;
  index: number;
  bytes: number;
}

/**
 * Packs user records into KPL aggregated records of at most `maxBytes` (data + outer partition key, as
 * Kinesis counts a record). Pure and synchronous: the caller owns timers (linger) and I/O.
 *
 * ```ts
 * const agg = new Aggregator();
 * for (const r of records) { const full = agg.add(r); if (full) send(full); }
 * const last = agg.flush(); if (last) send(last);
 * ```
 *
 * Records with different partition keys share an aggregate; the aggregate is routed by its first record's
 * keys. Keep one aggregator per shard (or per key) if sub-records must land on their own key's shard.
 */
export class Aggregator {
  readonly maxBytes: number;
  readonly passThroughSingle: boolean;

  #records: Pending[] = [];
  #partitionKeys = new Map<string, TableEntry>();
  #explicitHashKeys = new Map<string, TableEntry>();
  /** Exact size of the protobuf message for the pending records. */
  #messageBytes = 0;
  /** UTF-8 size of the outer partition key (the first pending record's). */
  #outerKeyBytes = 0;

  constructor(options: AggregatorOptions = {}) {
    const maxBytes = options.maxBytes ?? DEFAULT_AGGREGATE_MAX_BYTES;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1 || maxBytes > KINESIS_RECORD_MAX_BYTES) {
      throw new InvalidOptionError(
        'maxBytes',
        `must be an integer in [1, ${KINESIS_RECORD_MAX_BYTES}] (KINESIS_RECORD_MAX_BYTES), got ${maxBytes}`,
      );
    }
    this.maxBytes = maxBytes;
    this.passThroughSingle = options.passThroughSingle ?? true;
  }

  /** User records waiting in the pending aggregate. */
  get pendingRecords(): number {
    return this.#records.length;
  }

  /** `sizeBytes` of the record `flush()` would emit now; 0 when nothing is pending. */
  get pendingBytes(): number {
    const count = this.#records.length;
    if (count === 0) return 0;
    const first = this.#records[0]!;
    if (count === 1 && this.#canPassThrough(first.data)) return first.data.length + this.#outerKeyBytes;
    return KPL_FRAMING_BYTES + this.#messageBytes + this.#outerKeyBytes;
  }

  /**
   * Adds a user record. Returns the pending aggregate, closed, when this record did not fit into it (the
   * record then starts the next one); otherwise `undefined`. Throws `InvalidUserRecordError` — with nothing
   * changed — for a record Kinesis cannot carry or that cannot fit in `maxBytes` even alone.
   */
  add(record: UserRecordInput): EncodedRecord | undefined {
    const { partitionKey, explicitHashKey, data } = record;
    if (!(data instanceof Uint8Array)) {
      throw new InvalidUserRecordError('bad_data', `data must be a Uint8Array, got ${typeof data}`);
    }
    const knownKey = this.#partitionKeys.get(partitionKey);
    const keyBytes = knownKey ? knownKey.bytes : checkedKeyBytes(partitionKey);
    const knownHashKey =
      explicitHashKey === undefined ? undefined : this.#explicitHashKeys.get(explicitHashKey);
    if (explicitHashKey !== undefined && knownHashKey === undefined) checkHashKey(explicitHashKey);

    this.#checkFitsAlone(partitionKey, keyBytes, explicitHashKey, data);

    if (this.#records.length > 0) {
      const growth = this.#growth(knownKey, keyBytes, knownHashKey, explicitHashKey, data.length);
      if (KPL_FRAMING_BYTES + this.#messageBytes + growth.total + this.#outerKeyBytes <= this.maxBytes) {
        this.#append(record, keyBytes, growth.bodySize);
        return undefined;
      }
      const full = this.flush();
      this.#append(
        record,
        keyBytes,
        this.#growth(undefined, keyBytes, undefined, explicitHashKey, data.length).bodySize,
      );
      return full;
    }
    this.#append(
      record,
      keyBytes,
      this.#growth(undefined, keyBytes, undefined, explicitHashKey, data.length).bodySize,
    );
    return undefined;
  }

  /** Closes and returns the pending aggregate (or the lone record as-is); `undefined` when nothing is pending. */
  flush(): EncodedRecord | undefined {
    const records = this.#records;
    if (records.length === 0) return undefined;
    const first = records[0]!;
    let result: EncodedRecord;
    if (records.length === 1 && this.#canPassThrough(first.data)) {
      result = {
        partitionKey: first.partitionKey,
        explicitHashKey: first.explicitHashKey,
        data: first.data,
        userRecordCount: 1,
        aggregated: false,
        sizeBytes: first.data.length + this.#outerKeyBytes,
      };
    } else {
      const data = this.#encode();
      result = {
        partitionKey: first.partitionKey,
        explicitHashKey: first.explicitHashKey,
        data,
        userRecordCount: records.length,
        aggregated: true,
        sizeBytes: data.length + this.#outerKeyBytes,
      };
    }
    if (result.explicitHashKey === undefined) delete result.explicitHashKey;
    this.#reset();
    return result;
  }

  #canPassThrough(data: Uint8Array): boolean {
    return (
      this.passThroughSingle &&
      !(
        data.length >= MAGIC_LENGTH &&
        data[0] === KPL_MAGIC_BYTES[0] &&
        data[1] === KPL_MAGIC_BYTES[1] &&
        data[2] === KPL_MAGIC_BYTES[2] &&
        data[3] === KPL_MAGIC_BYTES[3]
      )
    );
  }

  /** Throws unless the record fits in `maxBytes` as the only record of an emitted record. */
  #checkFitsAlone(
    partitionKey: string,
    keyBytes: number,
    explicitHashKey: string | undefined,
    data: Uint8Array,
  ): void {
    let alone: number;
    if (this.#canPassThrough(data)) {
      alone = data.length + keyBytes;
    } else {
      const hashKeyBytes = explicitHashKey === undefined ? 0 : explicitHashKey.length; // ASCII digits
      const growth = aloneGrowth(keyBytes, hashKeyBytes, explicitHashKey !== undefined, data.length);
      alone = KPL_FRAMING_BYTES + growth + keyBytes;
    }
    if (alone > this.maxBytes) {
      throw new InvalidUserRecordError(
        'too_large',
        `record with partition key ${JSON.stringify(partitionKey.slice(0, 64))} needs ${alone} bytes, ` +
          `more than maxBytes ${this.maxBytes}`,
      );
    }
  }

  /** Bytes the protobuf message grows by when the record joins the pending aggregate. */
  #growth(
    knownKey: TableEntry | undefined,
    keyBytes: number,
    knownHashKey: TableEntry | undefined,
    explicitHashKey: string | undefined,
    dataBytes: number,
  ): { total: number; bodySize: number } {
    let total = 0;
    let keyIndex: number;
    if (knownKey) {
      keyIndex = knownKey.index;
    } else {
      keyIndex = this.#partitionKeys.size;
      total += 1 + varintSize(keyBytes) + keyBytes;
    }
    let bodySize = 1 + varintSize(keyIndex) + 1 + varintSize(dataBytes) + dataBytes;
    if (explicitHashKey !== undefined) {
      let hashKeyIndex: number;
      if (knownHashKey) {
        hashKeyIndex = knownHashKey.index;
      } else {
        hashKeyIndex = this.#explicitHashKeys.size;
        total += 1 + varintSize(explicitHashKey.length) + explicitHashKey.length;
      }
      bodySize += 1 + varintSize(hashKeyIndex);
    }
    total += 1 + varintSize(bodySize) + bodySize;
    return { total, bodySize };
  }

  #append(record: UserRecordInput, keyBytes: number, bodySize: number): void {
    const { partitionKey, explicitHashKey, data } = record;
    let key = this.#partitionKeys.get(partitionKey);
    if (!key) {
      key = { key: partitionKey, index: this.#partitionKeys.size, bytes: keyBytes };
      this.#partitionKeys.set(partitionKey, key);
      this.#messageBytes += 1 + varintSize(keyBytes) + keyBytes;
    }
    let hashKeyIndex = -1;
    if (explicitHashKey !== undefined) {
      let hashKey = this.#explicitHashKeys.get(explicitHashKey);
      if (!hashKey) {
        // Validated as decimal digits: one byte per character.
        hashKey = { key: explicitHashKey, index: this.#explicitHashKeys.size, bytes: explicitHashKey.length };
        this.#explicitHashKeys.set(explicitHashKey, hashKey);
        this.#messageBytes += 1 + varintSize(hashKey.bytes) + hashKey.bytes;
      }
      hashKeyIndex = hashKey.index;
    }
    this.#messageBytes += 1 + varintSize(bodySize) + bodySize;
    if (this.#records.length === 0) this.#outerKeyBytes = keyBytes;
    this.#records.push({
      partitionKeyIndex: key.index,
      explicitHashKeyIndex: hashKeyIndex,
      data,
      bodySize,
      partitionKey,
      explicitHashKey,
    });
  }

  /** Magic, protobuf message, MD5 of the message — into one buffer of exactly the tracked size. */
  #encode(): Uint8Array {
    const messageBytes = this.#messageBytes;
    const out = Buffer.allocUnsafe(KPL_FRAMING_BYTES + messageBytes);
    for (let i = 0; i < MAGIC_LENGTH; i++) out[i] = KPL_MAGIC_BYTES[i]!;
    let pos = MAGIC_LENGTH;
    // Keys are written straight into the output (no intermediate buffer per key).
    for (const { key, bytes } of this.#partitionKeys.values()) {
      out[pos++] = AGG_PARTITION_KEY_TABLE;
      pos = writeVarint(out, pos, bytes);
      pos += out.write(key, pos, bytes, 'utf8');
    }
    for (const { key, bytes } of this.#explicitHashKeys.values()) {
      out[pos++] = AGG_EXPLICIT_HASH_KEY_TABLE;
      pos = writeVarint(out, pos, bytes);
      pos += out.write(key, pos, bytes, 'latin1');
    }
    for (const record of this.#records) {
      out[pos++] = AGG_RECORDS;
      pos = writeVarint(out, pos, record.bodySize);
      out[pos++] = REC_PARTITION_KEY_INDEX;
      pos = writeVarint(out, pos, record.partitionKeyIndex);
      if (record.explicitHashKeyIndex >= 0) {
        out[pos++] = REC_EXPLICIT_HASH_KEY_INDEX;
        pos = writeVarint(out, pos, record.explicitHashKeyIndex);
      }
      out[pos++] = REC_DATA;
      pos = writeVarint(out, pos, record.data.length);
      out.set(record.data, pos);
      pos += record.data.length;
    }
    const messageEnd = MAGIC_LENGTH + messageBytes;
    if (pos !== messageEnd) {
      // A size-accounting bug would emit garbage from allocUnsafe; refuse instead.
      throw new Error(
        `kinesis-agg internal error: encoded ${pos - MAGIC_LENGTH} bytes, tracked ${messageBytes}`,
      );
    }
    out.set(createHash('md5').update(out.subarray(MAGIC_LENGTH, messageEnd)).digest(), messageEnd);
    return out;
  }

  #reset(): void {
    this.#records = [];
    this.#partitionKeys.clear();
    this.#explicitHashKeys.clear();
    this.#messageBytes = 0;
    this.#outerKeyBytes = 0;
  }
}

/** Aggregates `records` in order into as few Kinesis records as `options.maxBytes` allows. */
export function aggregate(records: Iterable<UserRecordInput>, options?: AggregatorOptions): EncodedRecord[] {
  const aggregator = new Aggregator(options);
  const out: EncodedRecord[] = [];
  for (const record of records) {
    const full = aggregator.add(record);
    if (full) out.push(full);
  }
  const last = aggregator.flush();
  if (last) out.push(last);
  return out;
}

/** Message bytes of an aggregate holding only this record. */
function aloneGrowth(keyBytes: number, hashKeyBytes: number, hasHashKey: boolean, dataBytes: number): number {
  let total = 1 + varintSize(keyBytes) + keyBytes;
  let bodySize = 1 + varintSize(0) + 1 + varintSize(dataBytes) + dataBytes;
  if (hasHashKey) {
    total += 1 + varintSize(hashKeyBytes) + hashKeyBytes;
    bodySize += 1 + varintSize(0);
  }
  return total + 1 + varintSize(bodySize) + bodySize;
}

/** Validates a partition key as Kinesis does and returns its UTF-8 size. */
function checkedKeyBytes(partitionKey: string): number {
  if (typeof partitionKey !== 'string' || partitionKey.length === 0) {
    throw new InvalidUserRecordError('bad_partition_key', 'partition key must be a non-empty string');
  }
  if (!(partitionKey as unknown as { isWellFormed(): boolean }).isWellFormed()) {
    throw new InvalidUserRecordError(
      'bad_partition_key',
      'partition key contains a lone surrogate (not UTF-8 encodable)',
    );
  }
  // `length` counts UTF-16 units; only count code points when it could matter.
  if (partitionKey.length > KINESIS_PARTITION_KEY_MAX_CHARS) {
    let chars = 0;
    for (const _ of partitionKey) chars++;
    if (chars > KINESIS_PARTITION_KEY_MAX_CHARS) {
      throw new InvalidUserRecordError(
        'bad_partition_key',
        `partition key has ${chars} characters, more than ${KINESIS_PARTITION_KEY_MAX_CHARS}`,
      );
    }
  }
  return Buffer.byteLength(partitionKey, 'utf8');
}

function checkHashKey(explicitHashKey: string): void {
  if (
    typeof explicitHashKey !== 'string' ||
    !HASH_KEY_PATTERN.test(explicitHashKey) ||
    BigInt(explicitHashKey) > MAX_HASH_KEY
  ) {
    throw new InvalidUserRecordError(
      'bad_explicit_hash_key',
      `explicit hash key must be a decimal integer in [0, 2^128 - 1], got ${JSON.stringify(explicitHashKey)}`,
    );
  }
}
