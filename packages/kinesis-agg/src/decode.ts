/**
 * KPL aggregated record → user records. Verifies the MD5 before parsing, resolves every table index, and
 * either returns all user records or throws `AggregationError`: never a partial result.
 */
import { createHash } from 'node:crypto';
import { KPL_DIGEST_BYTES, KPL_FRAMING_BYTES, KPL_MAGIC_BYTES } from './constants.js';
import { AggregationError } from './errors.js';
import type { DecodedRecord, UserRecord } from './types.js';
import { Reader, WIRE_LENGTH_DELIMITED, WIRE_VARINT } from './wire.js';

const MAGIC_0 = KPL_MAGIC_BYTES[0]!;
const MAGIC_1 = KPL_MAGIC_BYTES[1]!;
const MAGIC_2 = KPL_MAGIC_BYTES[2]!;
const MAGIC_3 = KPL_MAGIC_BYTES[3]!;
const MAGIC_LENGTH = KPL_MAGIC_BYTES.length;

// Tags (field number << 3 | wire type) of the fields this decoder understands.
const AGG_PARTITION_KEY_TABLE = (1 << 3) | WIRE_LENGTH_DELIMITED;
const AGG_EXPLICIT_HASH_KEY_TABLE = (2 << 3) | WIRE_LENGTH_DELIMITED;
const AGG_RECORDS = (3 << 3) | WIRE_LENGTH_DELIMITED;
const REC_PARTITION_KEY_INDEX = (1 << 3) | WIRE_VARINT;
const REC_EXPLICIT_HASH_KEY_INDEX = (2 << 3) | WIRE_VARINT;
const REC_DATA = (3 << 3) | WIRE_LENGTH_DELIMITED;
const REC_TAGS = (4 << 3) | WIRE_LENGTH_DELIMITED;

// `ignoreBOM` keeps a leading U+FEFF in a key instead of silently stripping it.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** Longest table entry decoded by the ASCII fast path (a partition key is at most 256 characters). */
const ASCII_FAST_PATH_MAX = 64;

/**
 * True when `data[0, byteLength)` (all of it by default: a caller decoding into a reused buffer passes the
 * record's length) starts with the KPL magic bytes. It may still turn out to be a corrupt aggregate.
 */
export function isAggregated(data: Uint8Array, byteLength = data.length): boolean {
  return (
    byteLength >= MAGIC_LENGTH &&
    data[0] === MAGIC_0 &&
    data[1] === MAGIC_1 &&
    data[2] === MAGIC_2 &&
    data[3] === MAGIC_3
  );
}

/**
 * Decodes one Kinesis record's data: the user records of a KPL aggregate, or the record itself (with the
 * outer partition key and explicit hash key) when it is not one. Throws `AggregationError` for an aggregate
 * that is corrupt.
 */
export function decodeRecord(
  data: Uint8Array,
  partitionKey: string,
  explicitHashKey?: string,
): DecodedRecord {
  if (!isAggregated(data)) {
    return { aggregated: false, records: [{ partitionKey, explicitHashKey, data, subSequenceNumber: 0 }] };
  }
  return { aggregated: true, records: deaggregate(data) };
}

/**
 * Decodes a KPL aggregate into its user records, in order, with `data` as views into `data`.
 * Throws `AggregationError` (`not_aggregated` when the magic is missing) — never returns part of a record.
 */
export function deaggregate(data: Uint8Array): UserRecord[] {
  if (!isAggregated(data)) {
    throw new AggregationError('not_aggregated', 0, 'data does not start with the KPL magic f3899ac2');
  }
  if (data.length < KPL_FRAMING_BYTES) {
    throw new AggregationError(
      'truncated',
      data.length,
      `${data.length} bytes cannot hold the magic and the ${KPL_DIGEST_BYTES}-byte MD5`,
    );
  }
  const end = data.length - KPL_DIGEST_BYTES;
  verifyDigest(data, end);
  return parseAggregatedRecord(data, MAGIC_LENGTH, end);
}

function verifyDigest(data: Uint8Array, end: number): void {
  const digest = createHash('md5').update(data.subarray(MAGIC_LENGTH, end)).digest();
  for (let i = 0; i < KPL_DIGEST_BYTES; i++) {
    if (digest[i] !== data[end + i]) {
      throw new AggregationError('checksum_mismatch', end, 'MD5 trailer does not match the protobuf message');
    }
  }
}

/** Per parsed `Record`, five numbers in a flat array (no object per record until the output). */
const SLOTS = 5;
const NO_INDEX = -1;

function parseAggregatedRecord(data: Uint8Array, start: number, end: number): UserRecord[] {
  const reader = new Reader(data, start, end);
  const partitionKeys: string[] = [];
  const explicitHashKeys: string[] = [];
  // [tag offset, partition key index, explicit hash key index | NO_INDEX, data start, data end] per record.
  const parsed: number[] = [];

  while (reader.pos < end) {
    const tagOffset = reader.pos;
    const tag = reader.tag();
    switch (tag) {
      case AGG_PARTITION_KEY_TABLE:
        partitionKeys.push(readString(reader, tagOffset));
        break;
      case AGG_EXPLICIT_HASH_KEY_TABLE:
        explicitHashKeys.push(readString(reader, tagOffset));
        break;
      case AGG_RECORDS:
        parseRecord(reader, tagOffset, parsed);
        break;
      default:
        if (tag >>> 3 <= 3) throw wrongWireType(tag, tagOffset, 'AggregatedRecord');
        reader.skip(tag, tagOffset);
    }
  }

  // Tables may follow the records that point into them, so indexes are resolved only after the whole message.
  const count = parsed.length / SLOTS;
  const records = new Array<UserRecord>(count);
  for (let i = 0, p = 0; i < count; i++, p += SLOTS) {
    const partitionKey = partitionKeys[parsed[p + 1]!];
    if (partitionKey === undefined) {
      throw new AggregationError(
        'bad_index',
        parsed[p]!,
        `record ${i}: partition_key_index ${parsed[p + 1]} outside a table of ${partitionKeys.length}`,
      );
    }
    const ehkIndex = parsed[p + 2]!;
    let explicitHashKey: string | undefined;
    if (ehkIndex !== NO_INDEX) {
      explicitHashKey = explicitHashKeys[ehkIndex];
      if (explicitHashKey === undefined) {
        throw new AggregationError(
          'bad_index',
          parsed[p]!,
          `record ${i}: explicit_hash_key_index ${ehkIndex} outside a table of ${explicitHashKeys.length}`,
        );
      }
    }
    records[i] = {
      partitionKey,
      explicitHashKey,
      data: data.subarray(parsed[p + 3]!, parsed[p + 4]!),
      subSequenceNumber: i,
    };
  }
  return records;
}

function parseRecord(reader: Reader, recordOffset: number, parsed: number[]): void {
  const recordEnd = reader.lengthDelimitedEnd();
  const outerEnd = reader.end;
  reader.end = recordEnd;
  // Protobuf semantics: a repeated non-repeated field keeps its last value.
  let partitionKeyIndex = NO_INDEX;
  let explicitHashKeyIndex = NO_INDEX;
  let dataStart = NO_INDEX;
  let dataEnd = NO_INDEX;
  while (reader.pos < recordEnd) {
    const tagOffset = reader.pos;
    const tag = reader.tag();
    switch (tag) {
      case REC_PARTITION_KEY_INDEX:
        partitionKeyIndex = reader.varint();
        break;
      case REC_EXPLICIT_HASH_KEY_INDEX:
        explicitHashKeyIndex = reader.varint();
        break;
      case REC_DATA:
        dataEnd = reader.lengthDelimitedEnd();
        dataStart = reader.pos;
        reader.pos = dataEnd;
        break;
      case REC_TAGS:
        // Tags are opaque to this codec; their framing is still checked by the skip.
        reader.skip(tag, tagOffset);
        break;
      default:
        if (tag >>> 3 <= 4) throw wrongWireType(tag, tagOffset, 'Record');
        reader.skip(tag, tagOffset);
    }
  }
  reader.end = outerEnd;
  if (partitionKeyIndex === NO_INDEX) {
    throw new AggregationError('missing_field', recordOffset, 'Record without partition_key_index');
  }
  if (dataStart === NO_INDEX) {
    throw new AggregationError('missing_field', recordOffset, 'Record without data');
  }
  parsed.push(recordOffset, partitionKeyIndex, explicitHashKeyIndex, dataStart, dataEnd);
}

function readString(reader: Reader, tagOffset: number): string {
  const end = reader.lengthDelimitedEnd();
  const start = reader.pos;
  reader.pos = end;
  const bytes = reader.bytes;
  // Keys are short and almost always ASCII: building them by hand is several times faster than TextDecoder.
  if (end - start <= ASCII_FAST_PATH_MAX) {
    let ascii = '';
    let i = start;
    for (; i < end; i++) {
      const b = bytes[i]!;
      if (b >= 0x80) break;
      ascii += String.fromCharCode(b);
    }
    if (i === end) return ascii;
  }
  try {
    return utf8.decode(bytes.subarray(start, end));
  } catch {
    throw new AggregationError('bad_utf8', tagOffset, 'table entry is not valid UTF-8');
  }
}

function wrongWireType(tag: number, offset: number, message: string): AggregationError {
  return new AggregationError(
    'wrong_wire_type',
    offset,
    `${message} field ${tag >>> 3} has wire type ${tag & 7}, not its declared one`,
  );
}
