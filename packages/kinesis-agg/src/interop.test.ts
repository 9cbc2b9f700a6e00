/**
 * Interoperability with an independent implementation of the KPL format: aws-kinesis-agg 4.2.8 (awslabs,
 * protobufjs-based), both directions, plus byte-for-byte equality of what the two encoders emit.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Aggregator, aggregate, deaggregate, type UserRecordInput } from './index.js';

/** The parts of aws-kinesis-agg's CommonJS API these tests call (its bundled typings need aws-sdk v2). */
interface KplRecord {
  partitionKey: string;
  explicitPartitionKey?: string;
  subSequenceNumber: number;
  data: string;
}
interface KplEncoded {
  partitionKey: string;
  data: Buffer;
  ExplicitHashKey?: string;
}
interface KplModule {
  aggregate(
    records: { partitionKey: string; data: Buffer; explicitHashKey?: string }[],
    encodedRecordHandler: (encoded: KplEncoded, callback: (err?: Error) => void) => void,
    afterPutAggregatedRecords: () => void,
    errorCallback: (error: Error) => void,
  ): void;
  deaggregateSync(
    kinesisRecord: { data: string; partitionKey: string; sequenceNumber: string },
    computeChecksums: boolean,
    callback: (err: Error | null | undefined, userRecords?: KplRecord[]) => void,
  ): void;
}
const kpl = createRequire(import.meta.url)('aws-kinesis-agg') as KplModule;

function theirAggregate(records: UserRecordInput[]): Promise<KplEncoded[]> {
  return new Promise((resolve, reject) => {
    const out: KplEncoded[] = [];
    kpl.aggregate(
      records.map((r) => ({ ...r, data: Buffer.from(r.data) })),
      (encoded, callback) => {
        out.push(encoded);
        callback();
      },
      () => resolve(out),
      reject,
    );
  });
}

/**
 * aws-kinesis-agg builds its key tables with `Object.keys({...})`, which lists array-index-like keys
 * ("0" … "4294967294") first and in numeric order, not in the order it assigned their indexes.
 */
function isArrayIndex(key: string): boolean {
  return /^(0|[1-9]\d*)$/.test(key) && Number(key) < 2 ** 32 - 1;
}

function theirDeaggregate(data: Uint8Array, partitionKey: string): KplRecord[] {
  let result: KplRecord[] | undefined;
  kpl.deaggregateSync(
    {
      data: Buffer.from(data).toString('base64'),
      partitionKey,
      sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
    },
    true,
    (err, records) => {
      if (err) throw err;
      result = records;
    },
  );
  if (!result) throw new Error('aws-kinesis-agg did not call back');
  return result;
}

const text = (s: string) => Buffer.from(s, 'utf8');

const raceMessages: UserRecordInput[] = Array.from({ length: 120 }, (_, i) => ({
  partitionKey: `race-42#racer-${i % 9}`,
  data: text(
    JSON.stringify({
      uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      event: 'update',
      second: i,
      raceId: 42,
      racerId: i % 9,
      cadence: 70 + (i % 30),
      resistance: 20 + (i % 40),
    }),
  ),
  ...(i % 4 === 0 ? { explicitHashKey: String(BigInt(i) * 2n ** 120n) } : {}),
}));

// Their records without an explicit hash key report the table's entry 0 when the table is not empty
// (protobufjs defaults the absent optional index to 0), so the key is compared only where one was set.
function expectTheirs(theirs: KplRecord[], input: UserRecordInput[]) {
  expect(theirs.map((r) => [r.partitionKey, r.data, r.subSequenceNumber])).toEqual(
    input.map((r, i) => [r.partitionKey, Buffer.from(r.data).toString('base64'), i]),
  );
  input.forEach((r, i) => {
    if (r.explicitHashKey !== undefined) expect(theirs[i]!.explicitPartitionKey).toBe(r.explicitHashKey);
  });
}

describe('interop with aws-kinesis-agg 4.2.8', () => {
  it('emits the same bytes as aws-kinesis-agg for the same records', async () => {
    const [ours] = aggregate(raceMessages, { maxBytes: 1024 * 1024 });
    const [theirs] = await theirAggregate(raceMessages);
    expect(ours!.userRecordCount).toBe(raceMessages.length);
    expect(Buffer.from(ours!.data).toString('hex')).toBe(theirs!.data.toString('hex'));
    expect(ours!.partitionKey).toBe(theirs!.partitionKey);
  });

  it('aws-kinesis-agg decodes our aggregates (checksums verified)', () => {
    const out = aggregate(raceMessages, { maxBytes: 2048 });
    expect(out.length).toBeGreaterThan(3);
    let offset = 0;
    for (const e of out) {
      const slice = raceMessages.slice(offset, offset + e.userRecordCount);
      if (e.aggregated) expectTheirs(theirDeaggregate(e.data, e.partitionKey), slice);
      offset += e.userRecordCount;
    }
    expect(offset).toBe(raceMessages.length);
  });

  it('we decode aws-kinesis-agg aggregates', async () => {
    const encoded = await theirAggregate(raceMessages);
    const decoded = encoded.flatMap((e) => deaggregate(e.data));
    expect(
      decoded.map((r) => [
        r.partitionKey,
        r.explicitHashKey,
        Buffer.from(r.data).toString(),
        r.subSequenceNumber,
      ]),
    ).toEqual(
      raceMessages.map((r, i) => [r.partitionKey, r.explicitHashKey, Buffer.from(r.data).toString(), i]),
    );
  });

  it('agrees both ways on arbitrary records (property)', async () => {
    const recordArb = fc.record(
      {
        partitionKey: fc.oneof(
          fc.string({ minLength: 1, maxLength: 64, unit: 'grapheme' }),
          fc.nat().map(String),
        ),
        data: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a)),
        explicitHashKey: fc.oneof(
          fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }).map(String),
          fc.nat(20).map(String),
        ),
      },
      { requiredKeys: ['partitionKey', 'data'] },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(recordArb, { minLength: 1, maxLength: 40 }), async (input) => {
        const aggregator = new Aggregator({ maxBytes: 1024 * 1024, passThroughSingle: false });
        for (const r of input) expect(aggregator.add(r)).toBeUndefined();
        const ours = aggregator.flush()!;
        expectTheirs(theirDeaggregate(ours.data, ours.partitionKey), input);

        // Their encoder keeps its key tables in plain objects, so it mislabels array-index-like keys (see the
        // test below) and keys Object.prototype already has (`__proto__`, `constructor`, …): give it keys it
        // gets right.
        const safe = input.map(({ partitionKey, explicitHashKey, data }) => ({
          partitionKey:
            isArrayIndex(partitionKey) || partitionKey in Object.prototype
              ? `k${partitionKey}`
              : partitionKey,
          data,
          explicitHashKey:
            explicitHashKey !== undefined && isArrayIndex(explicitHashKey)
              ? String(BigInt(explicitHashKey) + 2n ** 32n)
              : explicitHashKey,
        }));
        const safeOurs = aggregate(safe, { maxBytes: 1024 * 1024, passThroughSingle: false })[0]!;
        const theirs = await theirAggregate(safe);
        expect(theirs).toHaveLength(1);
        expect(Buffer.from(safeOurs.data).equals(theirs[0]!.data)).toBe(true);
        const decoded = deaggregate(theirs[0]!.data);
        expect(
          decoded.map((r) => [r.partitionKey, r.explicitHashKey, Buffer.from(r.data).toString('hex')]),
        ).toEqual(safe.map((r) => [r.partitionKey, r.explicitHashKey, r.data.toString('hex')]));
      }),
      { numRuns: 150 },
    );
  });

  it('keeps keys with their records where aws-kinesis-agg 4.2.8 swaps array-index-like keys', async () => {
    const input: UserRecordInput[] = [
      { partitionKey: 'racer-7', data: text('a'), explicitHashKey: '10' },
      { partitionKey: '7', data: text('b'), explicitHashKey: '2' },
      { partitionKey: '3', data: text('c'), explicitHashKey: '2' },
    ];
    const keysOf = (records: { partitionKey: string; explicitHashKey: string | undefined }[]) =>
      records.map((r) => [r.partitionKey, r.explicitHashKey]);

    const [ours] = aggregate(input);
    expect(keysOf(deaggregate(ours!.data))).toEqual(
      keysOf(input.map((r) => ({ ...r, explicitHashKey: r.explicitHashKey }))),
    );
    // Their decoder reads our tables correctly: the fault is only in their encoder.
    expect(
      theirDeaggregate(ours!.data, ours!.partitionKey).map((r) => [r.partitionKey, r.explicitPartitionKey]),
    ).toEqual(keysOf(input.map((r) => ({ ...r, explicitHashKey: r.explicitHashKey }))));

    const [theirs] = await theirAggregate(input);
    expect(keysOf(deaggregate(theirs!.data))).toEqual([
      ['3', '2'],
      ['7', '10'],
      ['racer-7', '10'],
    ]);
  });
});
