import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesField, frame, record, tag, varint, varintField } from '../test/protobuf.js';
import {
  AGGREGATION_ERROR_CODES,
  AggregationError,
  type AggregationErrorCode,
  aggregate,
  deaggregate,
  decodeRecord,
  KinesisAggError,
  MAX_GROUP_DEPTH,
} from './index.js';

const MAGIC = [0xf3, 0x89, 0x9a, 0xc2];
/** Offset of the first protobuf byte in a framed record. */
const M = 4;

function errorOf(data: Uint8Array): AggregationError {
  try {
    deaggregate(data);
  } catch (error) {
    expect(error).toBeInstanceOf(AggregationError);
    return error as AggregationError;
  }
  throw new Error('expected deaggregate to throw');
}

function expectError(data: Uint8Array, code: AggregationErrorCode, offset: number) {
  const error = errorOf(data);
  expect({ code: error.code, offset: error.offset }).toEqual({ code, offset });
  expect(error).toBeInstanceOf(KinesisAggError);
  expect(error.name).toBe('AggregationError');
  expect(error.retryable).toBe(false);
  expect(error.message).toContain(`${code} at byte ${offset}`);
  // decodeRecord reports the same fault for the same bytes (a record without the magic is not an aggregate).
  if (code !== 'not_aggregated') expect(() => decodeRecord(data, 'outer')).toThrow(error.message);
}

const table = bytesField(1, 'pk');
const okRecord = bytesField(3, record(0, 'data'));

describe('corrupt aggregates give a typed error with a code and the byte offset', () => {
  it('not_aggregated: no magic', () => {
    expectError(Buffer.from('{"second":1}'), 'not_aggregated', 0);
    expectError(new Uint8Array(0), 'not_aggregated', 0);
  });

  it('truncated: too short for magic and MD5', () => {
    expectError(Buffer.from([...MAGIC, 1, 2, 3]), 'truncated', 7);
    expectError(Buffer.from(MAGIC), 'truncated', 4);
  });

  it('checksum_mismatch: a flipped bit in the message or the digest', () => {
    const [agg] = aggregate([
      { partitionKey: 'a', data: Buffer.from('one') },
      { partitionKey: 'b', data: Buffer.from('two') },
    ]);
    const end = agg!.data.length - 16;
    for (const at of [M, M + 7, end - 1, end, agg!.data.length - 1]) {
      const bad = Buffer.from(agg!.data);
      bad[at]! ^= 0x01;
      expectError(bad, 'checksum_mismatch', end);
    }
    // A record cut short loses part of its digest too.
    expectError(agg!.data.subarray(0, agg!.data.length - 1), 'checksum_mismatch', end - 1);
  });

  it('truncated: length-delimited fields, varints and fixed-width fields running past their end', () => {
    // Table entry claims 5 bytes, 1 present: the fault is at the length prefix.
    expectError(frame([0x0a, 0x05, 0x61]), 'truncated', M + 1);
    // A record body whose partition_key_index varint is cut by the end of the record.
    expectError(frame([...table, 0x1a, 0x03, 0x08, 0x80, 0x80]), 'truncated', M + table.length + 3);
    // A nested length that fits the message but not its record.
    expectError(
      frame([...table, 0x1a, 0x04, 0x08, 0x00, 0x1a, 0x05, 0x61, 0x62]),
      'truncated',
      M + table.length + 5,
    );
    // Unknown fixed64 and fixed32 fields with too few bytes.
    expectError(frame([...table, ...tag(9, 1), 1, 2, 3]), 'truncated', M + table.length);
    expectError(frame([...table, ...tag(9, 5), 1, 2]), 'truncated', M + table.length);
    // A tag cut in the middle.
    expectError(frame([...table, 0x80]), 'truncated', M + table.length);
    // A group that never ends.
    expectError(frame([...table, ...tag(9, 3), ...varintField(1, 5)]), 'truncated', M + table.length);
  });

  it('bad_varint: more than 10 bytes', () => {
    expectError(frame([...tag(9, 0), ...Array(10).fill(0xff), 0x01]), 'bad_varint', M + 1);
  });

  it('bad_wire_type: wire types 6 and 7, and an end-group with no start', () => {
    expectError(frame([...table, ...tag(9, 6)]), 'bad_wire_type', M + table.length);
    expectError(frame([...table, ...tag(9, 7)]), 'bad_wire_type', M + table.length);
    expectError(frame([...table, ...tag(9, 4)]), 'bad_wire_type', M + table.length);
    // Inside a record too.
    expectError(
      frame([...table, ...bytesField(3, [...record(0, 'x'), ...tag(12, 7)])]),
      'bad_wire_type',
      M + 6 + 5,
    );
  });

  it('wrong_wire_type: a known field with another wire type', () => {
    expectError(frame([...varintField(1, 1)]), 'wrong_wire_type', M);
    expectError(frame([...table, ...varintField(3, 1)]), 'wrong_wire_type', M + table.length);
    // Record.data as a varint; Record.partition_key_index as bytes; Record.tags as a varint.
    expectError(
      frame([...table, ...bytesField(3, [...varintField(1, 0), ...varintField(3, 7)])]),
      'wrong_wire_type',
      M + 6 + 2,
    );
    expectError(
      frame([...table, ...bytesField(3, [...bytesField(1, 'x'), ...bytesField(3, 'x')])]),
      'wrong_wire_type',
      M + 6,
    );
    expectError(
      frame([...table, ...bytesField(3, [...record(0, 'x'), ...varintField(4, 1)])]),
      'wrong_wire_type',
      M + 6 + 5,
    );
  });

  it('bad_field_number: field 0 or above 2^29 - 1', () => {
    expectError(frame([0x02, 0x00]), 'bad_field_number', M);
    expectError(frame([...table, ...varint(2 ** 29 * 8), 0x00]), 'bad_field_number', M + table.length);
  });

  it('missing_field: a record without partition_key_index or without data', () => {
    expectError(
      frame([...table, ...bytesField(3, record(undefined, 'x'))]),
      'missing_field',
      M + table.length,
    );
    expectError(
      frame([...table, ...okRecord, ...bytesField(3, record(0, undefined))]),
      'missing_field',
      M + table.length + okRecord.length,
    );
  });

  it('bad_index: an index past the end of its table', () => {
    expectError(frame([...table, ...bytesField(3, record(1, 'x'))]), 'bad_index', M + table.length);
    expectError(frame([...table, ...bytesField(3, record(0, 'x', 0))]), 'bad_index', M + table.length);
    expectError(
      frame([...table, ...okRecord, ...bytesField(3, [...varintField(1, 2n ** 63n), ...bytesField(3, 'x')])]),
      'bad_index',
      M + table.length + okRecord.length,
    );
    // No table at all.
    expectError(frame(okRecord), 'bad_index', M);
  });

  it('bad_utf8: a table entry that is not UTF-8', () => {
    expectError(frame([...bytesField(1, [0x61, 0xff]), ...okRecord]), 'bad_utf8', M);
    expectError(frame([...table, ...bytesField(2, [0xc3]), ...okRecord]), 'bad_utf8', M + table.length);
  });

  it('nesting_too_deep: groups nested past MAX_GROUP_DEPTH', () => {
    const depth = MAX_GROUP_DEPTH + 1;
    // Each group tag of field 9 is one byte.
    const open = Array.from({ length: depth }, () => tag(9, 3)).flat();
    const close = Array.from({ length: depth }, () => tag(9, 4)).flat();
    expectError(
      frame([...table, ...okRecord, ...open, ...close]),
      'nesting_too_deep',
      M + table.length + okRecord.length + MAX_GROUP_DEPTH,
    );
    // One level less is fine: skipped as an unknown field.
    const ok = frame([...table, ...okRecord, ...open.slice(1), ...close.slice(1)]);
    expect(deaggregate(ok)).toHaveLength(1);
  });

  it('covers every declared code', () => {
    // Keep this list in step with the tests above: a new code needs a test.
    const tested: AggregationErrorCode[] = [
      'not_aggregated',
      'truncated',
      'checksum_mismatch',
      'bad_varint',
      'bad_wire_type',
      'wrong_wire_type',
      'bad_field_number',
      'missing_field',
      'bad_index',
      'bad_utf8',
      'nesting_too_deep',
    ];
    expect([...tested].sort()).toEqual([...AGGREGATION_ERROR_CODES].sort());
  });
});

describe('forward compatibility', () => {
  it('skips unknown fields of every wire type, at both levels, and opaque tags', () => {
    const unknown = [
      ...varintField(10, 2n ** 64n - 1n),
      ...tag(11, 1),
      ...[1, 2, 3, 4, 5, 6, 7, 8],
      ...bytesField(12, 'future'),
      ...tag(13, 5),
      ...[1, 2, 3, 4],
      ...tag(14, 3),
      ...varintField(1, 1),
      ...tag(15, 3),
      ...bytesField(2, 'nested'),
      ...tag(15, 4),
      ...tag(14, 4),
      ...varintField(2 ** 29 - 1, 0),
    ];
    const tags = bytesField(4, [...bytesField(1, 'key'), ...bytesField(2, 'value')]);
    const message = [
      ...unknown,
      ...bytesField(1, 'a'),
      ...bytesField(2, '77'),
      ...unknown,
      ...bytesField(3, [...unknown, ...record(0, 'first', 0), ...tags, ...unknown]),
      ...bytesField(3, [...tags, ...bytesField(3, 'second'), ...varintField(1, 0)]),
      ...unknown,
    ];
    const records = deaggregate(frame(message));
    expect(records.map((r) => [r.partitionKey, r.explicitHashKey, Buffer.from(r.data).toString()])).toEqual([
      ['a', '77', 'first'],
      ['a', undefined, 'second'],
    ]);
  });

  it('keeps the last value of a repeated singular field, as protobuf does', () => {
    const body = [
      ...varintField(1, 1),
      ...bytesField(3, 'old'),
      ...varintField(1, 0),
      ...bytesField(3, 'new'),
    ];
    const records = deaggregate(
      frame([...bytesField(1, 'a'), ...bytesField(1, 'b'), ...bytesField(3, body)]),
    );
    expect(records.map((r) => [r.partitionKey, Buffer.from(r.data).toString()])).toEqual([['a', 'new']]);
  });
});

/** Decoding either succeeds with in-bounds views or throws an AggregationError with a known code. */
function decodeSafely(data: Uint8Array): void {
  try {
    const { records } = decodeRecord(data, 'outer');
    for (const r of records) {
      expect(r.data.buffer).toBe(data.buffer);
      expect(r.data.byteOffset).toBeGreaterThanOrEqual(data.byteOffset);
      expect(r.data.byteOffset + r.data.length).toBeLessThanOrEqual(data.byteOffset + data.length);
      expect(typeof r.partitionKey).toBe('string');
    }
  } catch (error) {
    if (!(error instanceof AggregationError)) throw error;
    expect(AGGREGATION_ERROR_CODES).toContain(error.code);
    expect(Number.isInteger(error.offset)).toBe(true);
    expect(error.offset).toBeGreaterThanOrEqual(0);
    expect(error.offset).toBeLessThanOrEqual(data.length);
  }
}

describe('fuzz: nothing but AggregationError, never a crash', () => {
  it('random bytes, with and without the magic', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, magic) => {
        decodeSafely(magic ? Buffer.from([...MAGIC, ...bytes]) : bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('random protobuf messages behind a valid MD5', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (message) => decodeSafely(frame(message))),
      { numRuns: 3000 },
    );
  });

  it('mutated valid aggregates behind a valid MD5 (bit flips, cuts, insertions)', () => {
    const [agg] = aggregate(
      Array.from({ length: 6 }, (_, i) => ({
        partitionKey: `racer-${i % 3}`,
        data: Buffer.from(`{"second":${i}}`),
        ...(i % 2 ? { explicitHashKey: String(i * 1000) } : {}),
      })),
    );
    const message = [...agg!.data.subarray(4, agg!.data.length - 16)];
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        const bytes = [...message];
        for (const m of mutations) {
          const at = m.at % (bytes.length + 1);
          if (m.kind === 'flip' && at < bytes.length) bytes[at]! ^= 1 << m.bit;
          if (m.kind === 'cut') bytes.splice(at, m.length);
          if (m.kind === 'insert') bytes.splice(at, 0, ...m.bytes);
        }
        decodeSafely(frame(bytes));
      }),
      { numRuns: 3000 },
    );
  });
});
