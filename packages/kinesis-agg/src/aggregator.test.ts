import { KINESIS_PARTITION_KEY_MAX_CHARS, KINESIS_RECORD_MAX_BYTES } from '@alleycat/schema';
import { describe, expect, it } from 'vitest';
import {
  Aggregator,
  aggregate,
  DEFAULT_AGGREGATE_MAX_BYTES,
  deaggregate,
  InvalidOptionError,
  InvalidUserRecordError,
  KinesisAggError,
  type UserRecordInput,
} from './index.js';

const data = Buffer.from('{"second":1}');

function refusal(record: unknown, aggregator = new Aggregator()) {
  try {
    aggregator.add(record as UserRecordInput);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidUserRecordError);
    expect(error).toBeInstanceOf(KinesisAggError);
    expect((error as InvalidUserRecordError).retryable).toBe(false);
    return (error as InvalidUserRecordError).code;
  }
  return 'accepted';
}

describe('Aggregator input validation', () => {
  it('refuses partition keys Kinesis would refuse', () => {
    expect(refusal({ partitionKey: '', data })).toBe('bad_partition_key');
    expect(refusal({ partitionKey: 42, data })).toBe('bad_partition_key');
    expect(refusal({ data })).toBe('bad_partition_key');
    expect(refusal({ partitionKey: 'x'.repeat(KINESIS_PARTITION_KEY_MAX_CHARS + 1), data })).toBe(
      'bad_partition_key',
    );
    expect(refusal({ partitionKey: 'a\uD800b', data })).toBe('bad_partition_key');
    expect(refusal({ partitionKey: '\uDC00', data })).toBe('bad_partition_key');
  });

  it('counts partition-key length in characters, not UTF-16 units', () => {
    expect(refusal({ partitionKey: 'x'.repeat(KINESIS_PARTITION_KEY_MAX_CHARS), data })).toBe('accepted');
    // 256 astral characters: 512 UTF-16 units, 1,024 UTF-8 bytes — still 256 characters.
    expect(refusal({ partitionKey: '🚲'.repeat(KINESIS_PARTITION_KEY_MAX_CHARS), data })).toBe('accepted');
    expect(refusal({ partitionKey: '🚲'.repeat(KINESIS_PARTITION_KEY_MAX_CHARS + 1), data })).toBe(
      'bad_partition_key',
    );
  });

  it('refuses explicit hash keys outside [0, 2^128 - 1] or not in canonical decimal', () => {
    for (const bad of ['', '01', '-1', '1.5', 'abc', ' 1', String(1n << 128n), null, 7]) {
      expect(refusal({ partitionKey: 'p', data, explicitHashKey: bad }), String(bad)).toBe(
        'bad_explicit_hash_key',
      );
    }
    for (const good of ['0', '1', String((1n << 128n) - 1n)]) {
      expect(refusal({ partitionKey: 'p', data, explicitHashKey: good })).toBe('accepted');
    }
  });

  it('refuses data that is not bytes', () => {
    expect(refusal({ partitionKey: 'p', data: 'text' })).toBe('bad_data');
    expect(refusal({ partitionKey: 'p' })).toBe('bad_data');
  });

  it('refuses a record too large to emit even alone, and keeps what is pending', () => {
    const agg = new Aggregator({ maxBytes: 100 });
    agg.add({ partitionKey: 'a', data: Buffer.from('kept') });
    expect(refusal({ partitionKey: 'p', data: new Uint8Array(100) }, agg)).toBe('too_large');
    expect(agg.pendingRecords).toBe(1);
    expect(Buffer.from(agg.flush()!.data).toString()).toBe('kept');
  });

  it('sizes a framed lone record when its data starts with the magic', () => {
    const looksAggregated = Buffer.concat([Buffer.from([0xf3, 0x89, 0x9a, 0xc2]), new Uint8Array(60)]);
    // Passed through it would be 64 + 1 bytes; framed it needs 20 + 3 + 2 + 2 + 2 + 64 + 1 = 94.
    expect(refusal({ partitionKey: 'p', data: looksAggregated }, new Aggregator({ maxBytes: 93 }))).toBe(
      'too_large',
    );
    const [framed] = aggregate([{ partitionKey: 'p', data: looksAggregated }], { maxBytes: 94 });
    expect(framed!.sizeBytes).toBe(94);
  });

  it('validates maxBytes', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, KINESIS_RECORD_MAX_BYTES + 1]) {
      expect(() => new Aggregator({ maxBytes: bad })).toThrow(InvalidOptionError);
    }
    expect(new Aggregator().maxBytes).toBe(DEFAULT_AGGREGATE_MAX_BYTES);
    expect(new Aggregator({ maxBytes: KINESIS_RECORD_MAX_BYTES }).maxBytes).toBe(KINESIS_RECORD_MAX_BYTES);
  });
});

describe('Aggregator at the Kinesis record limit', () => {
  it('fills records up to 1 MiB and never past it', () => {
    const input = Array.from({ length: 40 }, (_, i) => ({
      partitionKey: `racer-${i}`,
      data: new Uint8Array(60_000 + i * 1000).fill(i),
    }));
    const out = aggregate(input, { maxBytes: KINESIS_RECORD_MAX_BYTES });
    expect(out.length).toBeGreaterThan(2);
    for (const e of out) expect(e.sizeBytes).toBeLessThanOrEqual(KINESIS_RECORD_MAX_BYTES);
    const decoded = out.flatMap((e) => (e.aggregated ? deaggregate(e.data) : [{ data: e.data }]));
    expect(decoded.map((r) => r.data.length)).toEqual(input.map((r) => r.data.length));
    expect(decoded.every((r, i) => r.data.every((b) => b === i))).toBe(true);
  });

  it('accepts one record of exactly 1 MiB including its partition key, passed through', () => {
    const [one] = aggregate([{ partitionKey: 'pk', data: new Uint8Array(KINESIS_RECORD_MAX_BYTES - 2) }], {
      maxBytes: KINESIS_RECORD_MAX_BYTES,
    });
    expect(one!.aggregated).toBe(false);
    expect(one!.sizeBytes).toBe(KINESIS_RECORD_MAX_BYTES);
  });
});
