/**
 * One Kinesis record → race messages. The data is a single race message (what the IoT rule writes), the
 * schema's batch form, or a KPL aggregate of either (Lambda does not de-aggregate). Everything that cannot
 * be used is returned as a rejection with the schema's `ParseError` shape; nothing here throws.
 */
import { AggregationError, deaggregate, isAggregated } from '@alleycat/kinesis-agg';
import { parseRaceRecord } from '@alleycat/schema';
import type { DecodedRecord, RejectReason } from './types.js';

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

/** Scratch space for `decodeBase64Transient`: one record at a time, reused (no allocation per record). */
let scratch = Buffer.allocUnsafe(4096);

/**
 * Base64 → bytes, or undefined when the text is not padded base64 (`decodedLength`), decoded into a buffer
 * reused by the next call (no allocation per record): the bytes are valid until then, so a caller that
 * keeps them (a rejection's payload) must copy them. A race message is read at once and keeps no reference
 * to its bytes (the schema's parser builds strings), which is what makes this safe on the hot path.
 */
export function decodeBase64Transient(text: string): Uint8Array | undefined {
  const expected = decodedLength(text);
  if (expected === undefined) return undefined;
  // Room for all Node may write (never more than 3n/4) before it notices a bad character.
  const room = (text.length / 4) * 3;
  if (scratch.length < room) scratch = Buffer.allocUnsafe(Math.max(room, scratch.length * 2));
  const written = scratch.write(text, 0, 'base64');
  return written === expected ? scratch.subarray(0, written) : undefined;
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

/** Decodes and parses one record's data (already base64-decoded). */
export function decodeRecordData(data: Uint8Array): DecodedRecord {
  if (!isAggregated(data)) {
    const parsed = parseRaceRecord(data);
    return parsed.ok
      ? { messages: parsed.messages, rejections: [], userRecords: 1 }
      : {
          messages: [],
          rejections: [{ reason: withEncodingHint(parsed.error, data), data }],
          userRecords: 1,
        };
  }
  let userRecords: ReturnType<typeof deaggregate>;
  try {
    userRecords = deaggregate(data);
  } catch (error) {
    if (!(error instanceof AggregationError)) throw error;
    // The whole aggregate is refused: the decoder returns all user records or none.
    return {
      messages: [],
      rejections: [
        { reason: { code: 'corrupt_aggregate', path: '', message: `KPL aggregate: ${error.message}` }, data },
      ],
      userRecords: 1,
    };
  }
  const result: DecodedRecord = { messages: [], rejections: [], userRecords: userRecords.length };
  for (const user of userRecords) {
    const parsed = parseRaceRecord(user.data);
    if (parsed.ok) {
      for (const m of parsed.messages) result.messages.push(m);
    } else {
      result.rejections.push({
        subSequenceNumber: user.subSequenceNumber,
        reason: withEncodingHint(parsed.error, user.data),
        data: user.data,
      });
    }
  }
  return result;
}

/** Decodes one record's base64 `kinesis.data`. */
export function decodeKinesisData(base64: string): DecodedRecord {
  const data = decodeBase64Transient(base64);
  if (data === undefined) {
    return {
      messages: [],
      rejections: [{ reason: notBase64, data: Buffer.from(base64, 'latin1') }],
      userRecords: 1,
    };
  }
  const decoded = decodeRecordData(data);
  // Rejected payloads outlive this call (they go to the errors sink): copy them out of the scratch space.
  for (const r of decoded.rejections) r.data = new Uint8Array(r.data);
  return decoded;
}
