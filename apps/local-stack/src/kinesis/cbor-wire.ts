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
 * would have sent (`cborToJsonShape`), and an answer is turned back (`jsonShapeToCbor`). Pure.
 */
import cbor from 'cbor';

/** Kinesis members that hold timestamps (Record, StreamDescription(Summary), StreamSummary, Consumer, inputs). */
const TIMESTAMP_MEMBERS: ReadonlySet<string> = new Set([
  'ApproximateArrivalTimestamp',
  'StreamCreationTimestamp',
  'ConsumerCreationTimestamp',
  'Timestamp',
]);

/** Kinesis members that hold blobs: a record's `Data` (PutRecord, PutRecordsRequestEntry, Record). */
const BLOB_MEMBERS: ReadonlySet<string> = new Set(['Data']);

/** CBOR tag 1 ("epoch-based date/time"), as the decoder hands it over: AWS puts milliseconds in it. */
class EpochTag {
  constructor(readonly value: unknown) {}
}

const DECODE_OPTIONS = {
  tags: { 1: (value: unknown) => new EpochTag(value) },
  preferMap: false,
} as const;

/**
 * A CBOR request body as the JSON-shaped params a JSON client would have sent (blobs as base64, timestamps as
 * epoch seconds), or undefined when the body is not one CBOR map.
 */
export function decodeCborParams(body: Buffer): Record<string, unknown> | undefined {
  let decoded: unknown;
  try {
    decoded = cbor.decodeFirstSync(body, DECODE_OPTIONS);
  } catch {
    return undefined;
  }
  const params = cborToJsonShape(decoded);
  if (typeof params !== 'object' || params === null || Array.isArray(params)) return undefined;
  return params as Record<string, unknown>;
}

/** A JSON-shaped answer (as kinesalite or the limits layer writes it) as AWS's CBOR bytes. */
export function encodeCborAnswer(value: unknown): Buffer {
  return cbor.encodeOne(jsonShapeToCbor(value));
}

/** A decoded CBOR value in the JSON protocol's shape. `member` is the name the value sits under, if any. */
export function cborToJsonShape(value: unknown, member?: string): unknown {
  if (value instanceof EpochTag) {
    return typeof value.value === 'number' ? value.value / 1000 : cborToJsonShape(value.value, member);
  }
  if (typeof value === 'number') {
    // An untagged number where a timestamp belongs is in the same unit the protocol uses: milliseconds.
    return member !== undefined && TIMESTAMP_MEMBERS.has(member) ? value / 1000 : value;
  }
  if (typeof value === 'bigint') return Number(value);
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (ArrayBuffer.isView(value)) {
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  }
  if (value instanceof Date) return value.getTime() / 1000; // tag 0 (date string)
  if (value instanceof cbor.Tagged) return cborToJsonShape(value.value, member); // other tags: their content
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
      return new cbor.Tagged(1, Math.round(value * 1000));
    }
  }
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
