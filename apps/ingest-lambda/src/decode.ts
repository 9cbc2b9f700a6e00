/**
 * One Kinesis record → race messages. The data is a single race message (what the IoT rule writes), the
 * schema's batch form, or a KPL aggregate of either (Lambda does not de-aggregate). Everything that cannot
 * be used is returned as a rejection with the schema's `ParseError` shape; nothing here throws.
 */
import { AggregationError, deaggregate, isAggregated } from '@alleycat/kinesis-agg';
import { parseRaceRecord } from '@alleycat/schema';
import type { DecodedRecord, RejectReason } from './types.js';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Base64 → bytes, or undefined when the text is not canonical base64 (Node's decoder silently skips bad
 * characters, which would turn a mangled record into a misleading JSON error). The length check is cheap;
 * the regular expression runs only if it fails, or for short inputs where a stray character hides.
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  const bytes = Buffer.from(text, 'base64');
  // Canonical base64 of n bytes is exactly 4·ceil(n/3) characters; anything dropped changes the length.
  if (text.length !== Math.ceil(bytes.length / 3) * 4 || !BASE64.test(text)) return undefined;
  return bytes;
}

const notBase64: RejectReason = {
  code: 'not_base64',
  path: '',
  message: 'kinesis.data is not canonical base64',
};

/** Decodes and parses one record's data (already base64-decoded). */
export function decodeRecordData(data: Uint8Array): DecodedRecord {
  if (!isAggregated(data)) {
    const parsed = parseRaceRecord(data);
    return parsed.ok
      ? { messages: parsed.messages, rejections: [], userRecords: 1 }
      : { messages: [], rejections: [{ reason: parsed.error, data }], userRecords: 1 };
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
        reason: parsed.error,
        data: user.data,
      });
    }
  }
  return result;
}

/** Decodes one record's base64 `kinesis.data`. */
export function decodeKinesisData(base64: string): DecodedRecord {
  const data = decodeBase64(base64);
  if (data === undefined) {
    return {
      messages: [],
      rejections: [{ reason: notBase64, data: Buffer.from(base64, 'latin1') }],
      userRecords: 1,
    };
  }
  return decodeRecordData(data);
}
