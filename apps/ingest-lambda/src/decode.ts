/**
 * One Kinesis record → race messages, handed to a visitor as the schema's rows (no object per message). The
 * data is a single race message (what the IoT rule writes), the schema's batch form, or a KPL aggregate of
 * either (Lambda does not de-aggregate). Everything that cannot be used is returned as a rejection with the
 * schema's `ParseError` shape; nothing here throws.
 */
import { AggregationError, deaggregate, isAggregated } from '@alleycat/kinesis-agg';
import { type RaceRow, type RaceRowVisitor, readRaceRecord } from '@alleycat/schema';
import type { Rejection, RejectReason } from './types.js';

/**
 * Called once per message read from a record: the row (refilled for the next one: copy what you keep) and,
 * when the record is a KPL aggregate, the sub-sequence number of the user record it came from.
 */
export type RecordVisitor = (row: Readonly<RaceRow>, subSequenceNumber?: number) => void;

/** What a record with nothing refused returns (shared: most records). */
export const NO_REJECTIONS: readonly Rejection[] = Object.freeze([]);

const EQUALS = 0x3d;

/**
 * The bytes padded base64 `text` decodes to, or undefined when its length is not a multiple of 4. Node's
 * decoder silently skips characters outside the alphabet (and whitespace), which would turn a mangled record
 * into a misleading JSON error. No scan is needed to catch that: n padded characters with p `=` decode to
 * exactly 3n/4 − p bytes, and every skipped character makes the output shorter than that (at least one byte
 * per skipped character). The URL-safe alphabet (`-`, `_`) is accepted as Node does: the same bytes.
 */
function decodedLength(text: string): number | undefined {
  const length = text.length;
  if (length % 4 !== 0) return undefined;
  const padding =
    length === 0
      ? 0
      : text.charCodeAt(length - 1) !== EQUALS
        ? 0
        : text.charCodeAt(length - 2) === EQUALS
          ? 2
          : 1;
  return (length / 4) * 3 - padding;
}

/**
 * Node's own base64 decode into a buffer, without `Buffer#write`'s argument handling around it (a fifth of a
 * record's base64 cost); `Buffer#write` where a runtime has no such method.
 */
const base64Into: (into: Buffer, text: string) => number =
  typeof (Buffer.prototype as { base64Write?: unknown }).base64Write === 'function'
    ? (into, text) =>
        (into as Buffer & { base64Write(text: string, offset: number, length: number): number }).base64Write(
          text,
          0,
          into.length,
        )
    : (into, text) => into.write(text, 0, 'base64');

/** Scratch space for the base64 decode: one record at a time, reused (no allocation per record). */
let scratch = Buffer.allocUnsafe(4096);

/**
 * Base64 → bytes in `scratch[0, n)`, followed by a 0 (the schema's scanner reads the record in place when
 * it finds one there); returns n, or -1 when the text is not padded base64 (`decodedLength`). The bytes
 * are valid until the next call.
 */
function decodeBase64IntoScratch(text: string): number {
  const expected = decodedLength(text);
  if (expected === undefined) return -1;
  // Room for all Node may write (never more than 3n/4) before it notices a bad character, and the 0.
  const room = (text.length / 4) * 3 + 1;
  if (scratch.length < room) scratch = Buffer.allocUnsafe(Math.max(room, scratch.length * 2));
  const written = base64Into(scratch, text);
  if (written !== expected) return -1;
  scratch[written] = 0;
  return written;
}

/**
 * Base64 → bytes, or undefined when the text is not padded base64, in a buffer reused by the next call:
 * a caller that keeps them must copy them.
 */
export function decodeBase64Transient(text: string): Uint8Array | undefined {
  const length = decodeBase64IntoScratch(text);
  return length < 0 ? undefined : scratch.subarray(0, length);
}

const notBase64: RejectReason = {
  code: 'not_base64',
  path: '',
  message: 'kinesis.data is not padded base64 (a character outside the alphabet, or a bad length)',
};

const BASE64_TEXT = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * A `not_json` payload that is itself base64 of a JSON object or array was encoded twice — the AWS CLI v2
 * without `--cli-binary-format raw-in-base64-out`, or a producer that base64-encodes before an SDK that
 * encodes again. Say so in the reason (the code stays `not_json`); anything else is returned as it is.
 * Runs only for rejected payloads.
 */
export function withEncodingHint(reason: RejectReason, data: Uint8Array): RejectReason {
  if (reason.code !== 'not_json' || data.byteLength % 4 !== 0 || data.byteLength === 0) return reason;
  const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1');
  if (!BASE64_TEXT.test(text)) return reason;
  const inner = Buffer.from(text, 'base64').toString('utf8').trimStart();
  if (!inner.startsWith('{') && !inner.startsWith('[')) return reason;
  try {
    JSON.parse(inner);
  } catch {
    return reason;
  }
  return {
    ...reason,
    message: `${reason.message} — the payload is base64 of JSON, so it was base64-encoded twice: send the JSON bytes (AWS CLI v2: --cli-binary-format raw-in-base64-out)`,
  };
}

/**
 * Reads one record's data (already base64-decoded), `data[0, length)`, all of it by default: each message
 * goes to `visit` (a row refilled for the next one: copy what you keep), what is refused comes back. A user
 * record of an aggregate is visited whole or refused whole; the common record, one message, is read from
 * `data` as it is, with no view made of it.
 */
export function readRecordData(
  bytes: Uint8Array,
  visit: RecordVisitor,
  length = bytes.byteLength,
): readonly Rejection[] {
  if (!isAggregated(bytes, length)) {
    const error = readRaceRecord(bytes, visit, length);
    if (error === undefined) return NO_REJECTIONS;
    const data = length === bytes.byteLength ? bytes : bytes.subarray(0, length);
    return [{ reason: withEncodingHint(error, data), data }];
  }
  const data = length === bytes.byteLength ? bytes : bytes.subarray(0, length);
  let userRecords: ReturnType<typeof deaggregate>;
  try {
    userRecords = deaggregate(data);
  } catch (error) {
    if (!(error instanceof AggregationError)) throw error;
    // The whole aggregate is refused: the decoder returns all user records or none.
    return [
      { reason: { code: 'corrupt_aggregate', path: '', message: `KPL aggregate: ${error.message}` }, data },
    ];
  }
  let rejections: Rejection[] | undefined;
  let sub = 0;
  const visitUser: RaceRowVisitor = (row) => visit(row, sub);
  for (const user of userRecords) {
    sub = user.subSequenceNumber;
    const error = readRaceRecord(user.data, visitUser);
    if (error !== undefined) {
      rejections ??= [];
      rejections.push({
        subSequenceNumber: user.subSequenceNumber,
        reason: withEncodingHint(error, user.data),
        data: user.data,
      });
    }
  }
  return rejections ?? NO_REJECTIONS;
}

/** Reads one record's base64 `kinesis.data`, as `readRecordData` does. */
export function readKinesisData(base64: string, visit: RecordVisitor): readonly Rejection[] {
  const length = decodeBase64IntoScratch(base64);
  if (length < 0) return [{ reason: notBase64, data: Buffer.from(base64, 'latin1') }];
  const rejections = readRecordData(scratch, visit, length);
  // Rejected payloads outlive this call (they go to the errors sink): copy them out of the scratch space.
  for (const r of rejections) r.data = new Uint8Array(r.data);
  return rejections;
}

/**
 * The base64 of user record `subSequenceNumber` of the aggregate in `base64` (for a report on a user record
 * refused after decoding); the whole record's if it is not there, which a record that decoded cannot be.
 */
export function userRecordBase64(base64: string, subSequenceNumber: number): string {
  const user = deaggregate(Buffer.from(base64, 'base64')).find(
    (u) => u.subSequenceNumber === subSequenceNumber,
  );
  return user === undefined ? base64 : Buffer.from(user.data).toString('base64');
}
