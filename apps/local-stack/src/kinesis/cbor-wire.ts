/**
 * AWS's CBOR wire format for Kinesis (`application/x-amz-cbor-1.1`): what the AWS SDK for Java (v1 and v2), the
 * KCL and the KPL send by default. It is AWS JSON 1.1 with a CBOR body and two different member encodings:
 *
 * - blobs (`Data`) are CBOR byte strings, where JSON has base64 text;
 * - timestamps are CBOR tag 1 holding epoch **milliseconds** (an integer), where JSON has fractional epoch
 *   seconds. RFC 8949 says tag 1 holds seconds; AWS's CBOR does not (the Java SDKs write
 *   `Instant.toEpochMilli()` under tag 1, and their CBOR protocol factory reads payload timestamps as
 *   UNIX_TIMESTAMP_MILLIS; AWS answers `ApproximateArrivalTimestamp` the same way).
 *
 * The limits layer works on one shape, the JSON one: a CBOR request is turned into the params a JSON client
 * would have sent (`cborToJsonShape`), and an answer is turned back (`jsonShapeToCbor`). Members are told
 * apart by name (Kinesis has no string-keyed map in its answers, and a tag 1 or a byte string means a
 * timestamp or a blob wherever it is). Pure, apart from registering tag 1 with cbor-x once at import.
 */
import { addExtension, Decoder, Encoder, Tag } from 'cbor-x';

/** Kinesis members that hold timestamps (Record, StreamDescription(Summary), StreamSummary, Consumer, inputs). */
const TIMESTAMP_MEMBERS: ReadonlySet<string> = new Set([
  'ApproximateArrivalTimestamp',
  'StreamCreationTimestamp',
  'ConsumerCreationTimestamp',
  'Timestamp',
]);

/** Kinesis members that hold blobs: a record's `Data` (PutRecord, PutRecordsRequestEntry, Record). */
const BLOB_MEMBERS: ReadonlySet<string> = new Set(['Data']);

/** CBOR tag 1 ("epoch-based date/time") as AWS uses it: epoch milliseconds. */
export class EpochMillis {
  constructor(readonly value: unknown) {}
}

// cbor-x keeps tag handlers per process. Its own tag 1 reader takes seconds into a Date, and throws on the
// 64-bit integer a Java client sends (BigInt * 1000). Registered here, tag 1 is read and written as AWS does
// (nothing else in the local stack uses cbor-x).
addExtension({
  Class: EpochMillis,
  tag: 1,
  encode: (timestamp: EpochMillis, encode: (value: unknown) => Uint8Array) => encode(timestamp.value),
  decode: (value: unknown) => new EpochMillis(value),
});

const CBOR_OPTIONS = {
  useRecords: false, // plain CBOR maps, no cbor-x record extension
  mapsAsObjects: true,
  variableMapSize: true, // shortest map headers, as other encoders write them
  tagUint8Array: false, // a byte string, not RFC 8746 typed-array tag 64
} as const;
// 64-bit integers (a Java timestamp is one) as numbers, not BigInt: Kinesis has no integer past 2^53.
const DECODE_OPTIONS = { ...CBOR_OPTIONS, int64AsNumber: true };
const decoder = new Decoder(DECODE_OPTIONS);
const encoder = new Encoder(CBOR_OPTIONS);

/**
 * A CBOR request body as the JSON-shaped params a JSON client would have sent (blobs as base64, timestamps as
 * epoch seconds), or undefined when the body is not one CBOR map.
 */
export function decodeCborParams(body: Buffer): Record<string, unknown> | undefined {
  if (body.length === 0) return undefined;
  let decoded: unknown;
  try {
    decoded = decoder.decode(body);
  } catch {
    return undefined; // not CBOR, truncated, or more than one item
  }
  const params = cborToJsonShape(decoded);
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return undefined;
  return params as Record<string, unknown>;
}

/** A JSON-shaped answer (as kinesalite or the limits layer writes it) as AWS's CBOR bytes. */
export function encodeCborAnswer(value: unknown): Buffer {
  return encoder.encode(jsonShapeToCbor(value));
}

/** A decoded CBOR value in the JSON protocol's shape. `member` is the name the value sits under, if any. */
export function cborToJsonShape(value: unknown, member?: string): unknown {
  if (value instanceof EpochMillis) {
    return typeof value.value === 'number' ? value.value / 1000 : cborToJsonShape(value.value, member);
  }
  if (typeof value === 'bigint') return cborToJsonShape(Number(value), member);
  if (typeof value === 'number') {
    // An untagged number where a timestamp belongs is in the same unit the protocol uses: milliseconds.
    return member !== undefined && TIMESTAMP_MEMBERS.has(member) ? value / 1000 : value;
  }
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (ArrayBuffer.isView(value)) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  }
  if (value instanceof Date) return value.getTime() / 1000; // tag 0 (date string)
  if (value instanceof Tag) return cborToJsonShape(value.value, member); // other tags: their content
  if (Array.isArray(value)) return value.map((item) => cborToJsonShape(item));
  if (value instanceof Map) return objectOf(value.entries());
  if (typeof value === 'object' && value !== null) return objectOf(Object.entries(value));
  return value;
}

/** A JSON-shaped value with blobs as CBOR byte strings and timestamps as tag 1 epoch milliseconds. */
export function jsonShapeToCbor(value: unknown, member?: string): unknown {
  if (member !== undefined) {
    if (typeof value === 'string' && BLOB_MEMBERS.has(member)) return Buffer.from(value, 'base64');
    if (typeof value === 'number' && TIMESTAMP_MEMBERS.has(member)) {
      return new EpochMillis(cborInteger(Math.round(value * 1000)));
    }
  }
  if (typeof value === 'number') return cborInteger(value);
  if (Array.isArray(value)) return value.map((item) => jsonShapeToCbor(item));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) out[key] = jsonShapeToCbor(item, key);
    }
    return out;
  }
  return value;
}

/** cbor-x writes integers past 32 bits as float64; as BigInt they are CBOR integers, which Java reads as longs. */
function cborInteger(value: number): number | bigint {
  return Number.isSafeInteger(value) && Math.abs(value) > 0xffffffff ? BigInt(value) : value;
}

function objectOf(entries: Iterable<[unknown, unknown]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [rawKey, item] of entries) {
    const key = String(rawKey);
    // `undefined` has no JSON form (a JSON client omits the member); `__proto__` is no Kinesis member.
    if (item === undefined || key === '__proto__') continue;
    out[key] = cborToJsonShape(item, key);
  }
  return out;
}
