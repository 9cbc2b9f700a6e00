/**
 * The limits layer for clients that speak AWS CBOR (the AWS SDK for Java, KCL, KPL): the same limits, StreamARN
 * mapping and errors as JSON clients get, answered in CBOR.
 */
import { hashKeyOf, KIB, MIB, shardIndexFor } from '@alleycat/schema';
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KinesisLimitsProxy } from '../src/kinesis/limits-proxy.js';
import { createStream, manualClock } from './helpers.js';
import {
  AMZ_CBOR,
  decodeJavaStyle,
  encodeJavaStyle,
  JavaStyleCborKinesis,
  KinesisCborError,
} from './java-cbor-client.js';
import { type LimitsHarness, startLimitsHarness } from './limits-harness.js';

let limits: LimitsHarness;
let proxy: KinesisLimitsProxy;
let java: JavaStyleCborKinesis;
let direct: KinesisClient;
let clock: ReturnType<typeof manualClock>;

async function setUp(enabled = true): Promise<void> {
  clock = manualClock();
  limits = await startLimitsHarness({ enabled, now: clock.now });
  ({ proxy, direct } = limits);
  java = new JavaStyleCborKinesis(limits.url);
}

async function tearDown(): Promise<void> {
  java.destroy();
  await limits.close();
}

interface PutRecordsAnswer {
  FailedRecordCount: number;
  Records: Array<{ ShardId?: string; SequenceNumber?: string; ErrorCode?: string; ErrorMessage?: string }>;
}
interface KinesisRecord {
  Data: Buffer;
  PartitionKey: string;
  SequenceNumber: string;
  ApproximateArrivalTimestamp: Date;
}
interface GetRecordsAnswer {
  Records: KinesisRecord[];
  NextShardIterator: string;
  MillisBehindLatest: number;
}

const entries = (n: number, key: (i: number) => string, bytes = 100) =>
  Array.from({ length: n }, (_, i) => ({
    Data: Buffer.alloc(bytes, 65 + (i % 26)),
    PartitionKey: key(i),
  }));

const putRecords = (stream: string, records: ReturnType<typeof entries>) =>
  java.send<PutRecordsAnswer>('PutRecords', { Records: records, StreamName: stream });

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.fail('expected an error answer'),
    (error: unknown) => error as KinesisCborError,
  );

/** Every record in a stream, read straight from kinesalite in JSON (SDK v3). */
async function readStored(stream: string, shardId = 'shardId-000000000000') {
  const { ShardIterator } = await direct.send(
    new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
  );
  const records = [];
  let iterator = ShardIterator;
  for (;;) {
    const page = await direct.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
    records.push(...(page.Records ?? []));
    if ((page.Records?.length ?? 0) === 0) return records;
    iterator = page.NextShardIterator;
  }
}

describe('Kinesis limits layer for CBOR clients (enforcing)', () => {
  beforeEach(() => setUp(true));
  afterEach(tearDown);

  it('throttles PutRecords per entry past 1,000 records/s on a shard, in request order, in CBOR', async () => {
    await createStream(direct, 'one', 1);
    const answers: PutRecordsAnswer[] = [];
    for (let call = 0; call < 3; call++) {
      answers.push(
        await putRecords(
          'one',
          entries(500, (i) => `k${call}-${i}`),
        ),
      );
    }
    expect(answers.map((a) => a.FailedRecordCount)).toEqual([0, 0, 500]);
    expect(answers[0]!.Records[0]).toEqual({
      ShardId: 'shardId-000000000000',
      SequenceNumber: expect.stringMatching(/^\d+$/),
    });
    for (const entry of answers[2]!.Records) {
      expect(entry).toEqual({
        ErrorCode: 'ProvisionedThroughputExceededException',
        ErrorMessage:
          'Rate exceeded for shard shardId-000000000000 in stream one under account 000000000000.',
      });
    }
    // What a CBOR client wrote, a JSON client reads back byte for byte.
    const stored = await readStored('one');
    expect(stored).toHaveLength(1000);
    expect(Buffer.from(stored[27]!.Data!)).toEqual(Buffer.alloc(100, 65 + 1));
    expect(stored[27]!.PartitionKey).toBe('k0-27');
    expect(proxy.stats()).toMatchObject({ throttledRecords: 500, writtenRecords: 1000, cborRequests: 3 });

    clock.advance(500); // half a second's tokens are back
    expect(
      (
        await putRecords(
          'one',
          entries(500, (i) => `l${i}`),
        )
      ).FailedRecordCount,
    ).toBe(0);
    expect(
      (
        await putRecords(
          'one',
          entries(10, (i) => `m${i}`),
        )
      ).FailedRecordCount,
    ).toBe(10);
  });

  it('routes by MD5 of the partition key and throttles only the hot shard', async () => {
    await createStream(direct, 'four', 4);
    const hot: string[] = [];
    const cold: string[] = [];
    for (let i = 0; hot.length < 1100 || cold.length < 300; i++) {
      const key = `racer-${i}`;
      if (shardIndexFor(hashKeyOf(key), 4) === 1) {
        if (hot.length < 1100) hot.push(key);
      } else if (cold.length < 300) cold.push(key);
    }
    const keys = [...hot.slice(0, 1000), ...cold, ...hot.slice(1000)];
    const results: Array<{ key: string; shardId?: string; error?: string }> = [];
    for (let start = 0; start < keys.length; start += 500) {
      const batch = keys.slice(start, start + 500);
      const answer = await java.send<PutRecordsAnswer>('PutRecords', {
        StreamName: 'four',
        Records: batch.map((k) => ({ PartitionKey: k, Data: Buffer.from(k) })),
      });
      answer.Records.forEach((r, i) => {
        results.push({ key: batch[i]!, shardId: r.ShardId, error: r.ErrorCode });
      });
    }
    for (const r of results) {
      const expected = `shardId-${String(shardIndexFor(hashKeyOf(r.key), 4)).padStart(12, '0')}`;
      if (r.error === undefined) expect(r.shardId).toBe(expected);
      else expect(expected).toBe('shardId-000000000001');
    }
    expect(results.filter((r) => r.error !== undefined).map((r) => r.key)).toEqual(hot.slice(1000));
  });

  it('throttles on bytes: 1 MiB/s of data plus partition key per shard', async () => {
    await createStream(direct, 'bytes', 1);
    const answer = await putRecords(
      'bytes',
      entries(11, (i) => `k${i}`.padStart(2, '0'), 100 * KIB),
    );
    expect(answer.Records.map((r) => r.ErrorCode ?? 'ok')).toEqual([
      ...Array(10).fill('ok'),
      'ProvisionedThroughputExceededException',
    ]);
  });

  it('answers a throttled PutRecord with HTTP 400, a CBOR {__type, message} and x-amzn-ErrorType', async () => {
    await createStream(direct, 'single', 1);
    await putRecords(
      'single',
      entries(500, (i) => `a${i}`),
    );
    await putRecords(
      'single',
      entries(500, (i) => `b${i}`),
    );
    const raw = await java.raw(
      'PutRecord',
      encodeJavaStyle({ StreamName: 'single', PartitionKey: 'x', Data: Buffer.from('x') }),
    );
    expect(raw.status).toBe(400);
    expect(raw.headers['content-type']).toBe(AMZ_CBOR);
    expect(raw.headers['x-amzn-errortype']).toBe('ProvisionedThroughputExceededException:');
    expect(decodeJavaStyle(raw.body)).toEqual({
      __type: 'ProvisionedThroughputExceededException',
      message: 'Rate exceeded for shard shardId-000000000000 in stream single under account 000000000000.',
    });
    clock.advance(10);
    const ok = await java.send('PutRecord', {
      StreamName: 'single',
      PartitionKey: 'x',
      Data: Buffer.from('x'),
    });
    expect(ok).toEqual({ ShardId: 'shardId-000000000000', SequenceNumber: expect.stringMatching(/^\d+$/) });
  });

  it('reads records as AWS sends them to CBOR clients, and allows 5 GetRecords calls/s per shard', async () => {
    await createStream(direct, 'reads', 2);
    const before = Date.now();
    await putRecords('reads', [
      { PartitionKey: 'a', Data: Buffer.from([0, 1, 2, 250, 255]) },
      { PartitionKey: 'a', Data: Buffer.alloc(0) },
      { PartitionKey: 'a', Data: Buffer.from('hello') },
    ]);
    const after = Date.now();
    const shardId = `shardId-${String(shardIndexFor(hashKeyOf('a'), 2)).padStart(12, '0')}`;
    const { ShardIterator } = await java.send<{ ShardIterator: string }>('GetShardIterator', {
      StreamName: 'reads',
      ShardId: shardId,
      ShardIteratorType: 'TRIM_HORIZON',
    });
    const raw = await java.raw('GetRecords', encodeJavaStyle({ ShardIterator, Limit: 100 }));
    expect(raw.status).toBe(200);
    expect(raw.headers['content-type']).toBe(AMZ_CBOR);
    // On the wire: Data as a byte string (major type 2), the arrival time as tag 1 + an 8-byte integer.
    expect(raw.body.includes(Buffer.from('4568656c6c6f', 'hex'))).toBe(true);
    const key = Buffer.concat([Buffer.from([0x78, 27]), Buffer.from('ApproximateArrivalTimestamp')]);
    const at = raw.body.indexOf(key) + key.length;
    expect(raw.body.subarray(at, at + 2).toString('hex')).toBe('c11b');
    const page = decodeJavaStyle(raw.body) as GetRecordsAnswer;
    expect(page.Records.map((r) => [r.PartitionKey, r.Data])).toEqual([
      ['a', Buffer.from([0, 1, 2, 250, 255])],
      ['a', Buffer.alloc(0)],
      ['a', Buffer.from('hello')],
    ]);
    for (const record of page.Records) {
      // Read as epoch milliseconds, the arrival time is the wall-clock time of the write (not 1970, not 58,000).
      expect(record.ApproximateArrivalTimestamp.getTime()).toBeGreaterThanOrEqual(before);
      expect(record.ApproximateArrivalTimestamp.getTime()).toBeLessThanOrEqual(after);
    }

    let iterator = page.NextShardIterator;
    for (let i = 0; i < 4; i++) {
      iterator = (await java.send<GetRecordsAnswer>('GetRecords', { ShardIterator: iterator }))
        .NextShardIterator;
    }
    const throttled = await failure(java.send('GetRecords', { ShardIterator: iterator }));
    expect(throttled).toBeInstanceOf(KinesisCborError);
    expect(throttled).toMatchObject({
      errorCode: 'ProvisionedThroughputExceededException',
      status: 400,
      message: `Rate exceeded for Shard - 000000000000/reads/${shardId}`,
    });
    clock.advance(200);
    await java.send('GetRecords', { ShardIterator: iterator });
    expect(proxy.stats().throttledReads).toBe(1);
  });

  it('throttles reads after 2 MiB/s of records from one shard', async () => {
    await createStream(direct, 'bigreads', 1);
    const { ShardIterator } = await java.send<{ ShardIterator: string }>('GetShardIterator', {
      StreamName: 'bigreads',
      ShardId: 'shardId-000000000000',
      ShardIteratorType: 'TRIM_HORIZON',
    });
    for (let i = 0; i < 3; i++) {
      clock.advance(1000); // the write limit is not under test here
      await putRecords(
        'bigreads',
        entries(4, (j) => `k${i}${j}`, 256 * KIB - 8),
      );
    }
    const first = await java.send<GetRecordsAnswer>('GetRecords', { ShardIterator, Limit: 10_000 });
    expect(first.Records).toHaveLength(12);
    const error = await failure(java.send('GetRecords', { ShardIterator: first.NextShardIterator }));
    expect(error.errorCode).toBe('ProvisionedThroughputExceededException');
    clock.advance(600);
    await java.send('GetRecords', { ShardIterator: first.NextShardIterator });
  });

  it('maps StreamARN to StreamName, and an ARN-addressed write is held to the same limits', async () => {
    await createStream(direct, 'arn', 1);
    const arn = (await direct.send(new DescribeStreamSummaryCommand({ StreamName: 'arn' })))
      .StreamDescriptionSummary!.StreamARN!;
    const first = await java.send<PutRecordsAnswer>('PutRecords', {
      StreamARN: arn,
      Records: entries(500, (i) => `a${i}`),
    });
    const second = await java.send<PutRecordsAnswer>('PutRecords', {
      StreamARN: arn,
      Records: entries(500, (i) => `b${i}`),
    });
    expect([first.FailedRecordCount, second.FailedRecordCount]).toEqual([0, 0]);
    const throttled = await failure(
      java.send('PutRecord', { StreamARN: arn, PartitionKey: 'k', Data: Buffer.from('hi') }),
    );
    expect(throttled.errorCode).toBe('ProvisionedThroughputExceededException');
    const { ShardIterator } = await java.send<{ ShardIterator: string }>('GetShardIterator', {
      StreamARN: arn,
      ShardId: 'shardId-000000000000',
      ShardIteratorType: 'LATEST',
    });
    expect(ShardIterator).toMatch(/^[A-Za-z0-9+/=]+$/);
    const summary = await java.send<{
      StreamDescriptionSummary: { StreamName: string; StreamCreationTimestamp: Date };
    }>('DescribeStreamSummary', { StreamARN: arn });
    expect(summary.StreamDescriptionSummary.StreamName).toBe('arn');
    // A timestamp in CBOR is epoch milliseconds: the stream was created minutes ago at most.
    expect(
      Math.abs(summary.StreamDescriptionSummary.StreamCreationTimestamp.getTime() - Date.now()),
    ).toBeLessThan(5 * 60_000);
    expect(proxy.stats().arnMapped).toBe(5);
  });

  it('reads AT_TIMESTAMP with the epoch-millisecond tag 1 timestamp the Java SDK sends', async () => {
    await createStream(direct, 'attime', 1);
    await putRecords('attime', [{ PartitionKey: 'p', Data: Buffer.from('early') }]);
    await new Promise((r) => setTimeout(r, 50));
    const between = new Date();
    await new Promise((r) => setTimeout(r, 50));
    await putRecords('attime', [{ PartitionKey: 'p', Data: Buffer.from('late') }]);
    const { ShardIterator } = await java.send<{ ShardIterator: string }>('GetShardIterator', {
      StreamName: 'attime',
      ShardId: 'shardId-000000000000',
      ShardIteratorType: 'AT_TIMESTAMP',
      Timestamp: between,
    });
    const page = await java.send<GetRecordsAnswer>('GetRecords', { ShardIterator });
    expect(page.Records.map((r) => r.Data.toString())).toEqual(['late']);
  });

  it('refuses bad requests as AWS does, in CBOR', async () => {
    await createStream(direct, 'big', 1);
    const tooBig = await failure(
      putRecords(
        'big',
        entries(6, (i) => `k${i}`, MIB),
      ),
    );
    expect(tooBig).toMatchObject({
      errorCode: 'InvalidArgumentException',
      status: 400,
      message: 'Records size exceeds 5 MB limit',
    });
    const oversize = await failure(
      java.send('PutRecord', { StreamName: 'big', PartitionKey: 'k', Data: Buffer.alloc(MIB + 1) }),
    );
    expect(oversize.errorCode).toBe('ValidationException');
    expect(oversize.message).toMatch(/less than or equal to 1048576/);
    const tooMany = await failure(
      putRecords(
        'big',
        entries(501, (i) => `k${i}`, 1),
      ),
    );
    expect(tooMany.errorCode).toBe('ValidationException');
    expect(tooMany.message).toMatch(
      /'records' failed to satisfy constraint: Member must have length less than or equal to 500/,
    );
    const missing = await failure(
      putRecords(
        'nope',
        entries(1, () => 'k'),
      ),
    );
    expect(missing).toMatchObject({ errorCode: 'ResourceNotFoundException', status: 400 });
    expect(missing.message).toBe('Stream nope under account 000000000000 not found.');
    const garbled = await java.raw('PutRecords', Buffer.from([0xbf, 0x61]));
    expect(garbled.status).toBe(400);
    expect(garbled.headers['content-type']).toBe(AMZ_CBOR);
    expect(decodeJavaStyle(garbled.body)).toMatchObject({ __type: 'SerializationException' });
    expect(proxy.stats().writtenRecords).toBe(0);
  });

  it('leaves traffic within the limits alone: nothing throttled, every record stored once', async () => {
    await createStream(direct, 'calm', 2);
    const keys = Array.from({ length: 1800 }, (_, i) => `rider-${i}`);
    const perShard = [0, 0];
    for (const key of keys) perShard[shardIndexFor(hashKeyOf(key), 2)]! += 1;
    expect(Math.max(...perShard)).toBeLessThanOrEqual(1000); // within one second's budget on each shard
    for (let start = 0; start < keys.length; start += 500) {
      const batch = keys.slice(start, start + 500);
      const answer = await java.send<PutRecordsAnswer>('PutRecords', {
        StreamName: 'calm',
        Records: batch.map((k) => ({ PartitionKey: k, Data: Buffer.from(k) })),
      });
      expect(answer.FailedRecordCount).toBe(0);
    }
    const stored = [
      ...(await readStored('calm', 'shardId-000000000000')),
      ...(await readStored('calm', 'shardId-000000000001')),
    ];
    expect(stored.map((r) => Buffer.from(r.Data!).toString()).sort()).toEqual([...keys].sort());
    expect(proxy.stats()).toMatchObject({ throttledRecords: 0, writtenRecords: 1800, cborRequests: 4 });
  });
});

describe('Kinesis limits layer for CBOR clients (kinesalite unreachable)', () => {
  it('answers HTTP 500 InternalFailureException in CBOR, which SDKs retry', async () => {
    const orphan = new KinesisLimitsProxy({ upstream: 'http://127.0.0.1:1' });
    const client = new JavaStyleCborKinesis(await orphan.listen(0));
    try {
      const raw = await client.raw(
        'PutRecord',
        encodeJavaStyle({ StreamName: 's', PartitionKey: 'k', Data: Buffer.from('x') }),
      );
      expect(raw.status).toBe(500);
      expect(raw.headers['content-type']).toBe(AMZ_CBOR);
      expect(raw.headers['x-amzn-errortype']).toBe('InternalFailureException:');
      expect(decodeJavaStyle(raw.body)).toEqual({
        __type: 'InternalFailureException',
        message: expect.stringMatching(/^local Kinesis limits layer: .*ECONNREFUSED/),
      });
    } finally {
      client.destroy();
      await orphan.close();
    }
  });
});

describe('Kinesis limits layer for CBOR clients (switched off)', () => {
  beforeEach(() => setUp(false));
  afterEach(tearDown);

  it('lets everything through, still storing Data as bytes and mapping StreamARN', async () => {
    await createStream(direct, 'free', 1);
    const arn = (await direct.send(new DescribeStreamSummaryCommand({ StreamName: 'free' })))
      .StreamDescriptionSummary!.StreamARN!;
    for (let call = 0; call < 4; call++) {
      const answer = await java.send<PutRecordsAnswer>('PutRecords', {
        StreamARN: arn,
        Records: entries(500, (i) => `${call}-${i}`),
      });
      expect(answer.FailedRecordCount).toBe(0);
    }
    const stored = await readStored('free');
    expect(stored).toHaveLength(2000);
    expect(Buffer.from(stored[1999]!.Data!)).toEqual(Buffer.alloc(100, 65 + (499 % 26)));
    expect(proxy.stats()).toMatchObject({ throttledRecords: 0, arnMapped: 4, cborRequests: 4 });
  });
});
