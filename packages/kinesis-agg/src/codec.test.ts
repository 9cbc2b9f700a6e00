import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frame } from '../test/protobuf.js';
import {
  Aggregator,
  aggregate,
  DEFAULT_AGGREGATE_MAX_BYTES,
  deaggregate,
  decodeRecord,
  type EncodedRecord,
  isAggregated,
  type UserRecordInput,
} from './index.js';

const text = (s: string) => Buffer.from(s, 'utf8');

function decodeAll(encoded: EncodedRecord[]) {
  return encoded.flatMap((e) => decodeRecord(e.data, e.partitionKey, e.explicitHashKey).records);
}

function expectSame(decoded: ReturnType<typeof decodeAll>, input: UserRecordInput[]) {
  expect(
    decoded.map((r) => [r.partitionKey, r.explicitHashKey, Buffer.from(r.data).toString('hex')]),
  ).toEqual(input.map((r) => [r.partitionKey, r.explicitHashKey, Buffer.from(r.data).toString('hex')]));
}

describe('round trip', () => {
  it('packs many small records into one aggregate and gets them back in order', () => {
    const input = Array.from({ length: 100 }, (_, i) => ({
      partitionKey: `race-1#racer-${i % 7}`,
      data: text(JSON.stringify({ second: i, cadence: 80 + (i % 10) })),
    }));
    const out = aggregate(input);
    expect(out).toHaveLength(1);
    const [agg] = out;
    expect(agg!.aggregated).toBe(true);
    expect(agg!.userRecordCount).toBe(100);
    expect(agg!.partitionKey).toBe('race-1#racer-0');
    expect(agg!.explicitHashKey).toBeUndefined();
    expect('explicitHashKey' in agg!).toBe(false);
    expect(agg!.sizeBytes).toBe(agg!.data.length + 'race-1#racer-0'.length);
    expect(isAggregated(agg!.data)).toBe(true);
    const records = deaggregate(agg!.data);
    expectSame(records, input);
    expect(records.map((r) => r.subSequenceNumber)).toEqual(input.map((_, i) => i));
  });

  it('dedups partition keys into the table', () => {
    const many = aggregate(
      Array.from({ length: 50 }, () => ({ partitionKey: 'k'.repeat(200), data: text('x') })),
    );
    const distinct = aggregate(
      Array.from({ length: 50 }, (_, i) => ({ partitionKey: `${i}`.padStart(200, 'k'), data: text('x') })),
    );
    expect(many[0]!.data.length).toBeLessThan(distinct[0]!.data.length - 40 * 200);
  });

  it('returns data as views into the input, without copying', () => {
    const [agg] = aggregate([
      { partitionKey: 'a', data: text('one') },
      { partitionKey: 'b', data: text('two') },
    ]);
    const records = deaggregate(agg!.data);
    expect(records[0]!.data.buffer).toBe(agg!.data.buffer);
    expect(Buffer.from(records[1]!.data).toString()).toBe('two');
  });

  it('decodes a plain Uint8Array view at an offset inside a larger buffer, and encodes from views', () => {
    const backing = new Uint8Array(64).fill(7);
    const input = [
      { partitionKey: 'a', data: backing.subarray(10, 20) },
      { partitionKey: 'b', data: backing.subarray(30, 31) },
    ];
    const [agg] = aggregate(input);
    const host = new ArrayBuffer(agg!.data.length + 100);
    const view = new Uint8Array(host, 37, agg!.data.length);
    view.set(agg!.data);
    const records = deaggregate(view);
    expectSame(records, input);
    expect(records[0]!.data.buffer).toBe(host);
    expect(records[0]!.data.byteOffset).toBeGreaterThan(37);
  });

  it('passes a lone record through unframed, with its own keys', () => {
    const data = text('{"a":1}');
    const [single] = aggregate([{ partitionKey: 'p', data, explicitHashKey: '42' }]);
    expect(single).toEqual({
      partitionKey: 'p',
      explicitHashKey: '42',
      data,
      userRecordCount: 1,
      aggregated: false,
      sizeBytes: data.length + 1,
    });
    expect(decodeRecord(single!.data, 'p', '42')).toEqual({
      aggregated: false,
      records: [{ partitionKey: 'p', explicitHashKey: '42', data, subSequenceNumber: 0 }],
    });
  });

  it('frames a lone record when pass-through is off, or when its data starts with the magic', () => {
    const [framed] = aggregate([{ partitionKey: 'p', data: text('x') }], { passThroughSingle: false });
    expect(framed!.aggregated).toBe(true);
    expect(deaggregate(framed!.data)[0]!.partitionKey).toBe('p');

    const looksAggregated = Buffer.from([0xf3, 0x89, 0x9a, 0xc2, 1, 2, 3]);
    const [wrapped] = aggregate([{ partitionKey: 'p', data: looksAggregated }]);
    expect(wrapped!.aggregated).toBe(true);
    expect(Buffer.from(deaggregate(wrapped!.data)[0]!.data)).toEqual(looksAggregated);
  });

  it('carries explicit hash keys, deduplicated, and the first record routes the aggregate', () => {
    const input: UserRecordInput[] = [
      { partitionKey: 'a', data: text('1') },
      { partitionKey: 'b', data: text('2'), explicitHashKey: '340282366920938463463374607431768211455' },
      { partitionKey: 'c', data: text('3'), explicitHashKey: '0' },
      { partitionKey: 'a', data: text('4'), explicitHashKey: '0' },
    ];
    const [agg] = aggregate(input);
    expect(agg!.partitionKey).toBe('a');
    expect(agg!.explicitHashKey).toBeUndefined();
    expectSame(deaggregate(agg!.data), input);
    const [second] = aggregate(input.slice(2));
    expect(second!.explicitHashKey).toBe('0');
  });

  it('keeps non-ASCII and BOM-led partition keys and empty data exactly', () => {
    const input = [
      { partitionKey: '\uFEFFrace', data: new Uint8Array(0) },
      { partitionKey: 'vélo-🚲', data: text('ü') },
    ];
    expectSame(deaggregate(aggregate(input)[0]!.data), input);
  });

  it('decodes an aggregate whose tables come after the records (field order is free in protobuf)', () => {
    const recordBody = [0x08, 0x00, 0x1a, 0x01, 0x41];
    const message = [0x1a, recordBody.length, ...recordBody, 0x0a, 0x01, 0x6b];
    expect(deaggregate(frame(message)).map((r) => [r.partitionKey, Buffer.from(r.data).toString()])).toEqual([
      ['k', 'A'],
    ]);
  });

  it('decodes an aggregate of zero records to no records', () => {
    expect(deaggregate(frame([]))).toEqual([]);
  });
});

describe('size target', () => {
  it('splits so no emitted record exceeds maxBytes, and fills each one', () => {
    const input = Array.from({ length: 1000 }, (_, i) => ({
      partitionKey: `racer-${i}`,
      data: text('x'.repeat(150 + (i % 50))),
    }));
    const out = aggregate(input);
    expect(out.length).toBeGreaterThan(1);
    for (const [i, e] of out.entries()) {
      expect(e.sizeBytes).toBe(e.data.length + Buffer.byteLength(e.partitionKey));
      expect(e.sizeBytes).toBeLessThanOrEqual(DEFAULT_AGGREGATE_MAX_BYTES);
      // Every aggregate but the last was closed because the next record would not fit (≤ one record's worth left).
      if (i < out.length - 1) expect(e.sizeBytes).toBeGreaterThan(DEFAULT_AGGREGATE_MAX_BYTES - 260);
    }
    expect(out.reduce((n, e) => n + e.userRecordCount, 0)).toBe(1000);
    expectSame(decodeAll(out), input);
  });

  it('reports pendingBytes exactly as the size flush() emits', () => {
    const agg = new Aggregator({ maxBytes: 4096 });
    expect(agg.pendingBytes).toBe(0);
    const added: UserRecordInput[] = [];
    for (let i = 0; i < 20; i++) {
      const record = { partitionKey: `k${i % 3}`, data: text('y'.repeat(i * 7)) };
      expect(agg.add(record)).toBeUndefined();
      added.push(record);
      expect(agg.pendingRecords).toBe(i + 1);
      const alone = aggregate(added, { maxBytes: 4096 });
      expect(alone).toHaveLength(1);
      expect(agg.pendingBytes).toBe(alone[0]!.sizeBytes);
    }
    const predicted = agg.pendingBytes;
    const out = agg.flush();
    expect(out!.sizeBytes).toBe(predicted);
    expect(agg.pendingRecords).toBe(0);
    expect(agg.pendingBytes).toBe(0);
    expect(agg.flush()).toBeUndefined();
  });

  it('emits the previous aggregate from add() when the new record does not fit', () => {
    const agg = new Aggregator({ maxBytes: 200 });
    expect(agg.add({ partitionKey: 'a', data: new Uint8Array(100) })).toBeUndefined();
    const full = agg.add({ partitionKey: 'b', data: new Uint8Array(100) });
    expect(full).toMatchObject({ partitionKey: 'a', userRecordCount: 1, aggregated: false, sizeBytes: 101 });
    expect(agg.pendingRecords).toBe(1);
    expect(agg.flush()).toMatchObject({ partitionKey: 'b', sizeBytes: 101 });
  });

  it('accepts a record that fills maxBytes exactly, and refuses one byte more', () => {
    const agg = new Aggregator({ maxBytes: 1000 });
    expect(agg.add({ partitionKey: 'pk', data: new Uint8Array(998) })).toBeUndefined();
    expect(agg.flush()!.sizeBytes).toBe(1000);
    expect(() => agg.add({ partitionKey: 'pk', data: new Uint8Array(999) })).toThrow(
      expect.objectContaining({ name: 'InvalidUserRecordError', code: 'too_large', retryable: false }),
    );
    expect(agg.pendingRecords).toBe(0);
  });
});

const keyArb = fc.oneof(
  fc.constantFrom('racer-1', 'racer-2', 'race#7'),
  fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }),
  fc.string({ minLength: 1, maxLength: 256, unit: 'binary' }),
);
const hashKeyArb = fc.option(
  fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map((n) => n.toString()),
  { nil: undefined },
);
const recordArb = fc
  .record({
    partitionKey: keyArb,
    data: fc.uint8Array({ maxLength: 600 }),
    explicitHashKey: hashKeyArb,
  })
  .map(({ explicitHashKey, ...rest }) =>
    explicitHashKey === undefined ? rest : { ...rest, explicitHashKey },
  );

describe('property: any list of records round-trips within the size target', () => {
  it('holds for every size target and pass-through setting', () => {
    fc.assert(
      fc.property(
        fc.array(recordArb, { maxLength: 80 }),
        // ≥ the largest generated record alone: 600 data + 2 × 1,024 key bytes + framing.
        fc.integer({ min: 2700, max: 30_000 }),
        fc.boolean(),
        (input, maxBytes, passThroughSingle) => {
          const out = aggregate(input, { maxBytes, passThroughSingle });
          for (const e of out) {
            expect(e.sizeBytes).toBeLessThanOrEqual(maxBytes);
            expect(e.sizeBytes).toBe(e.data.length + Buffer.byteLength(e.partitionKey));
            expect(e.aggregated).toBe(isAggregated(e.data));
            if (!e.aggregated) expect(e.userRecordCount).toBe(1);
          }
          expect(out.reduce((n, e) => n + e.userRecordCount, 0)).toBe(input.length);
          const decoded = decodeAll(out);
          expectSame(decoded, input);
          // Sub-sequence numbers restart at 0 in each emitted record and count up.
          let k = 0;
          for (const e of out) {
            for (let j = 0; j < e.userRecordCount; j++) expect(decoded[k++]!.subSequenceNumber).toBe(j);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
