import net, { type AddressInfo } from 'node:net';
import { hashKeyOf, KIB, MIB, shardIndexFor } from '@alleycat/schema';
import {
  DescribeLimitsCommand,
  DescribeStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  ListStreamsCommand,
  PutRecordCommand,
  PutRecordsCommand,
  RegisterStreamConsumerCommand,
  SubscribeToShardCommand,
  UpdateShardCountCommand,
} from '@aws-sdk/client-kinesis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RecordsReader } from '../src/esm/records-reader.js';
import { localKinesisClient } from '../src/kinesis/client.js';
import { KinesisLimitsProxy } from '../src/kinesis/limits-proxy.js';
import { createStream, manualClock, run, storedRecords } from './helpers.js';
import { type LimitsHarness, startLimitsHarness } from './limits-harness.js';

let limits: LimitsHarness;
let proxy: KinesisLimitsProxy;
let viaProxy: KinesisClient;
let direct: KinesisClient;
let clock: ReturnType<typeof manualClock>;

async function setUp(enabled = true): Promise<void> {
  clock = manualClock();
  limits = await startLimitsHarness({ enabled, now: clock.now });
  ({ proxy, viaProxy, direct } = limits);
}

afterEach(() => limits.close());

const encoder = new TextEncoder();
const entries = (n: number, key: (i: number) => string, bytes = 100) =>
  Array.from({ length: n }, (_, i) => ({
    PartitionKey: key(i),
    Data: new Uint8Array(bytes).fill(65 + (i % 26)),
  }));

/** The JavaScript SDK's Kinesis client with only an endpoint (and placeholder credentials): HTTP/2 by default. */
const sdkAsItComes = (endpoint: string) =>
  new KinesisClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
  });
const proxyUrl = () => `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;

const countStored = async (client: KinesisClient, stream: string) =>
  (await storedRecords(client, stream)).length;

describe('Kinesis limits layer (enforcing)', () => {
  beforeEach(() => setUp(true));

  it('accepts 1,000 records/s on one shard and throttles the rest per entry, in request order', async () => {
    await createStream(direct, 'one', 1);
    const answers = [];
    for (let call = 0; call < 3; call++) {
      answers.push(
        await viaProxy.send(
          new PutRecordsCommand({ StreamName: 'one', Records: entries(500, (i) => `k${call}-${i}`) }),
        ),
      );
    }
    expect(answers.map((a) => a.FailedRecordCount)).toEqual([0, 0, 500]);
    const third = answers[2]!.Records!;
    expect(third).toHaveLength(500);
    for (const entry of third) {
      expect(entry.ErrorCode).toBe('ProvisionedThroughputExceededException');
      expect(entry.ErrorMessage).toBe(
        'Rate exceeded for shard shardId-000000000000 in stream one under account 000000000000.',
      );
      expect(entry.SequenceNumber).toBeUndefined();
    }
    expect(await countStored(direct, 'one')).toBe(1000);
    expect(proxy.stats().throttledRecords).toBe(500);

    // Half a second later half a second's worth of tokens is back.
    clock.advance(500);
    const later = await viaProxy.send(
      new PutRecordsCommand({ StreamName: 'one', Records: entries(500, (i) => `l${i}`) }),
    );
    expect(later.FailedRecordCount).toBe(0);
    const after = await viaProxy.send(
      new PutRecordsCommand({ StreamName: 'one', Records: entries(10, (i) => `m${i}`) }),
    );
    expect(after.FailedRecordCount).toBe(10);
  });

  it('routes each entry by MD5 of its partition key and throttles only the hot shard', async () => {
    await createStream(direct, 'four', 4);
    // 1,200 keys that all land on shard 2, interleaved with 300 spread over the others.
    const hot: string[] = [];
    const cold: string[] = [];
    for (let i = 0; hot.length < 1200 || cold.length < 300; i++) {
      const key = `racer-${i}`;
      if (shardIndexFor(hashKeyOf(key), 4) === 2) {
        if (hot.length < 1200) hot.push(key);
      } else if (cold.length < 300) cold.push(key);
    }
    const keys = hot.flatMap((k, i) => (i % 4 === 0 && cold[i / 4] !== undefined ? [cold[i / 4]!, k] : [k]));
    const results: Array<{ key: string; shardId?: string; error?: string }> = [];
    for (let start = 0; start < keys.length; start += 500) {
      const batch = keys.slice(start, start + 500);
      const answer = await viaProxy.send(
        new PutRecordsCommand({
          StreamName: 'four',
          Records: batch.map((k) => ({ PartitionKey: k, Data: encoder.encode(k) })),
        }),
      );
      answer.Records!.forEach((r, i) => {
        results.push({ key: batch[i]!, shardId: r.ShardId, error: r.ErrorCode });
      });
    }
    for (const r of results) {
      const expected = `shardId-${String(shardIndexFor(hashKeyOf(r.key), 4)).padStart(12, '0')}`;
      if (r.error === undefined) expect(r.shardId).toBe(expected);
      else expect(expected).toBe('shardId-000000000002');
    }
    expect(results.filter((r) => r.error !== undefined)).toHaveLength(200);
    expect(results.filter((r) => r.error === undefined && r.shardId !== 'shardId-000000000002')).toHaveLength(
      300,
    );
    expect(await countStored(direct, 'four')).toBe(1300);
  });

  it('throttles on bytes: 1 MiB/s of data plus partition key per shard', async () => {
    await createStream(direct, 'bytes', 1);
    // 100 KiB + a 2-byte key: ten fit in 1 MiB, the eleventh does not.
    const answer = await viaProxy.send(
      new PutRecordsCommand({
        StreamName: 'bytes',
        Records: entries(11, (i) => `k${i}`.padStart(2, '0'), 100 * KIB),
      }),
    );
    expect(answer.Records!.map((r) => r.ErrorCode ?? 'ok')).toEqual([
      ...Array(10).fill('ok'),
      'ProvisionedThroughputExceededException',
    ]);
  });

  it('takes a record of the largest size on an idle shard (over a second of bytes), then waits out the debt', async () => {
    await createStream(direct, 'largest', 1);
    // 1 MiB of data and a 1-byte key: more than the shard's 1 MiB/s, yet Kinesis takes it.
    const largest = { StreamName: 'largest', PartitionKey: 'k', Data: new Uint8Array(MIB).fill(66) };
    await viaProxy.send(new PutRecordCommand(largest));
    const small = { StreamName: 'largest', PartitionKey: 'k', Data: encoder.encode('x') };
    await expect(viaProxy.send(new PutRecordCommand(small))).rejects.toMatchObject({
      name: 'ProvisionedThroughputExceededException',
    });
    clock.advance(1_000); // the debt (one byte and the key) is repaid, and a little more
    await viaProxy.send(new PutRecordCommand(small));
    // A second largest record must wait for a full bucket again.
    await expect(viaProxy.send(new PutRecordCommand(largest))).rejects.toMatchObject({
      name: 'ProvisionedThroughputExceededException',
    });
    clock.advance(1_000);
    await viaProxy.send(new PutRecordCommand(largest));
    expect(await countStored(direct, 'largest')).toBe(3);
  });

  it('answers PutRecord with HTTP 400 ProvisionedThroughputExceededException when the shard is full', async () => {
    await createStream(direct, 'single', 1);
    await viaProxy.send(
      new PutRecordsCommand({ StreamName: 'single', Records: entries(500, (i) => `a${i}`) }),
    );
    await viaProxy.send(
      new PutRecordsCommand({ StreamName: 'single', Records: entries(500, (i) => `b${i}`) }),
    );
    const error = await viaProxy
      .send(new PutRecordCommand({ StreamName: 'single', PartitionKey: 'x', Data: encoder.encode('x') }))
      .catch((e: unknown) => e as { name: string; message: string; $metadata: { httpStatusCode: number } });
    expect(error).toMatchObject({
      name: 'ProvisionedThroughputExceededException',
      message: 'Rate exceeded for shard shardId-000000000000 in stream single under account 000000000000.',
      $metadata: { httpStatusCode: 400 },
    });
    clock.advance(10);
    const ok = await viaProxy.send(
      new PutRecordCommand({ StreamName: 'single', PartitionKey: 'x', Data: encoder.encode('x') }),
    );
    expect(ok.ShardId).toBe('shardId-000000000000');
  });

  it('allows 5 GetRecords calls per second per shard', async () => {
    await createStream(direct, 'reads', 2);
    const { ShardIterator } = await viaProxy.send(
      new GetShardIteratorCommand({
        StreamName: 'reads',
        ShardId: 'shardId-000000000000',
        ShardIteratorType: 'LATEST',
      }),
    );
    let iterator = ShardIterator;
    for (let i = 0; i < 5; i++) {
      iterator = (await viaProxy.send(new GetRecordsCommand({ ShardIterator: iterator }))).NextShardIterator;
    }
    const error = await viaProxy
      .send(new GetRecordsCommand({ ShardIterator: iterator }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'ProvisionedThroughputExceededException',
      $metadata: { httpStatusCode: 400 },
    });
    // The other shard has its own budget.
    const other = await viaProxy.send(
      new GetShardIteratorCommand({
        StreamName: 'reads',
        ShardId: 'shardId-000000000001',
        ShardIteratorType: 'LATEST',
      }),
    );
    await viaProxy.send(new GetRecordsCommand({ ShardIterator: other.ShardIterator }));
    clock.advance(200);
    await viaProxy.send(new GetRecordsCommand({ ShardIterator: iterator }));
    expect(proxy.stats().throttledReads).toBe(1);
  });

  it("leaves an enhanced fan-out consumer's reads out of the shard's shared read limits", async () => {
    await createStream(viaProxy, 'reads', 1);
    const start = (
      await viaProxy.send(
        new GetShardIteratorCommand({
          StreamName: 'reads',
          ShardId: 'shardId-000000000000',
          ShardIteratorType: 'LATEST',
        }),
      )
    ).ShardIterator!;
    const { Consumer } = await viaProxy.send(
      new RegisterStreamConsumerCommand({
        StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/reads',
        ConsumerName: 'c',
      }),
    );
    // Ten reads in the same instant for a consumer: none is refused (the stand-in for SubscribeToShard's push).
    const reader = new RecordsReader(proxyUrl());
    try {
      let iterator = start;
      for (let i = 0; i < 10; i++) {
        iterator = (await reader.getRecords(iterator, 100, Consumer!.ConsumerARN!)).nextShardIterator!;
      }
      // …and they took nothing from the shared budget: a polling reader still gets its 5 calls.
      let shared = start;
      for (let i = 0; i < 5; i++) {
        shared = (await viaProxy.send(new GetRecordsCommand({ ShardIterator: shared }))).NextShardIterator!;
      }
      const error = await viaProxy
        .send(new GetRecordsCommand({ ShardIterator: shared }))
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'ProvisionedThroughputExceededException' });
      expect(proxy.stats().throttledReads).toBe(1);
    } finally {
      reader.close();
    }
  });

  it('throttles reads after 2 MiB/s of records from one shard', async () => {
    await createStream(direct, 'bigreads', 1);
    const { ShardIterator } = await viaProxy.send(
      new GetShardIteratorCommand({
        StreamName: 'bigreads',
        ShardId: 'shardId-000000000000',
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    // 3 MiB written straight to kinesalite (the write limit is not under test here).
    for (let i = 0; i < 3; i++) {
      await direct.send(
        new PutRecordsCommand({ StreamName: 'bigreads', Records: entries(4, (j) => `k${i}${j}`, 256 * KIB) }),
      );
    }
    const first = await viaProxy.send(new GetRecordsCommand({ ShardIterator, Limit: 10_000 }));
    expect(first.Records).toHaveLength(12);
    const error = await viaProxy
      .send(new GetRecordsCommand({ ShardIterator: first.NextShardIterator }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ProvisionedThroughputExceededException' });
    clock.advance(600); // 3 MiB read: 1 MiB of debt takes half a second to repay
    await viaProxy.send(new GetRecordsCommand({ ShardIterator: first.NextShardIterator }));
  });

  it('refuses a PutRecords over 5 MiB and lets kinesalite refuse malformed entries', async () => {
    await createStream(direct, 'big', 1);
    const tooBig = await viaProxy
      .send(new PutRecordsCommand({ StreamName: 'big', Records: entries(6, (i) => `k${i}`, MIB) }))
      .catch((e: unknown) => e);
    expect(tooBig).toMatchObject({ name: 'InvalidArgumentException', $metadata: { httpStatusCode: 400 } });
    const oversizeRecord = await viaProxy
      .send(new PutRecordCommand({ StreamName: 'big', PartitionKey: 'k', Data: new Uint8Array(MIB + 1) }))
      .catch((e: unknown) => e as Error);
    expect(oversizeRecord).toMatchObject({ name: 'ValidationException' });
    expect((oversizeRecord as Error).message).toMatch(/less than or equal to 1048576/);
    const missing = await viaProxy
      .send(new PutRecordsCommand({ StreamName: 'nope', Records: entries(1, () => 'k') }))
      .catch((e: unknown) => e);
    expect(missing).toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('maps StreamARN to StreamName (kinesalite refuses ARNs)', async () => {
    await createStream(direct, 'arn', 1);
    const arn = (await direct.send(new DescribeStreamSummaryCommand({ StreamName: 'arn' })))
      .StreamDescriptionSummary!.StreamARN!;
    const put = await viaProxy.send(
      new PutRecordCommand({ StreamARN: arn, PartitionKey: 'k', Data: encoder.encode('hi') }),
    );
    expect(put.ShardId).toBe('shardId-000000000000');
    const summary = await viaProxy.send(new DescribeStreamSummaryCommand({ StreamARN: arn }));
    expect(summary.StreamDescriptionSummary?.StreamName).toBe('arn');
    expect(proxy.stats().arnMapped).toBe(2);
    // A malformed ARN is refused naming the field; one AWS's pattern allows but no stream here can have is
    // not found; a null ARN beside a name is no ARN.
    await expect(
      viaProxy.send(new DescribeStreamSummaryCommand({ StreamARN: 'not-an-arn' })),
    ).rejects.toMatchObject({
      name: 'ValidationException',
      message: expect.stringContaining("at 'streamARN'"),
    });
    await expect(
      viaProxy.send(new DescribeStreamSummaryCommand({ StreamARN: `${arn}/nested` })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    const named = { StreamName: 'arn', StreamARN: null } as unknown as { StreamName: string };
    const byName = await viaProxy.send(new DescribeStreamSummaryCommand(named));
    expect(byName.StreamDescriptionSummary?.StreamName).toBe('arn');
    expect(proxy.stats().arnMapped).toBe(2);
  });

  it("refuses a StreamARN of another region or account than the stack's; DescribeStream gives ≤ 100 shards", async () => {
    // kinesalite builds its ARNs with AWS_ACCOUNT_ID when set, as the stack sets it.
    const account = process.env['AWS_ACCOUNT_ID'] ?? '000000000000';
    const regional = await startLimitsHarness({ region: 'eu-west-1', accountId: account });
    try {
      await createStream(regional.direct, 'regional', 1);
      const arn = (await regional.direct.send(new DescribeStreamSummaryCommand({ StreamName: 'regional' })))
        .StreamDescriptionSummary!.StreamARN!;
      const here = arn.replace(/kinesis:[^:]*:/, 'kinesis:eu-west-1:');
      const elsewhere = arn.replace(/kinesis:[^:]*:/, 'kinesis:us-west-2:');
      const put = (StreamARN: string) =>
        regional.viaProxy.send(
          new PutRecordCommand({ StreamARN, PartitionKey: 'k', Data: encoder.encode('x') }),
        );
      expect((await put(here)).ShardId).toBe('shardId-000000000000');
      await expect(put(elsewhere)).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
      const other = account === '123456789012' ? '210987654321' : '123456789012';
      await expect(put(here.replace(`:${account}:`, `:${other}:`))).rejects.toMatchObject({
        name: 'ResourceNotFoundException',
        message: `Stream regional under account ${other} not found.`,
      });
      // At most 100 shards a call, whatever Limit says (a client that ignores HasMoreShards must fail here too).
      await createStream(regional.direct, 'wide', 101);
      const wide = await regional.viaProxy.send(
        new DescribeStreamCommand({ StreamName: 'wide', Limit: 10_000 }),
      );
      const { Shards, HasMoreShards } = wide.StreamDescription!;
      expect([Shards!.length, HasMoreShards]).toEqual([100, true]);
    } finally {
      await regional.close();
    }
  });

  it("works for the JavaScript SDK v3's Kinesis client as it comes: HTTP/2 (h2c), only an endpoint given", async () => {
    await createStream(direct, 'h2', 1);
    // No requestHandler: the client's default is HTTP/2 (NodeHttp2Handler), which once failed with "Protocol error".
    const sdk = sdkAsItComes(proxyUrl());
    try {
      const put = await sdk.send(
        new PutRecordsCommand({ StreamName: 'h2', Records: entries(500, (i) => `h${i}`) }),
      );
      expect(put.FailedRecordCount).toBe(0);
      const again = await sdk.send(
        new PutRecordsCommand({ StreamName: 'h2', Records: entries(501, (i) => `i${i}`).slice(0, 500) }),
      );
      expect(again.FailedRecordCount).toBe(0);
      // The shard's 1,000 records/s are used: the limits hold over HTTP/2 too, with AWS's error.
      await expect(
        sdk.send(new PutRecordCommand({ StreamName: 'h2', PartitionKey: 'x', Data: encoder.encode('x') })),
      ).rejects.toMatchObject({ name: 'ProvisionedThroughputExceededException' });
      const { ShardIterator } = await sdk.send(
        new GetShardIteratorCommand({
          StreamName: 'h2',
          ShardId: 'shardId-000000000000',
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      const got = await sdk.send(new GetRecordsCommand({ ShardIterator, Limit: 10_000 }));
      expect(got.Records).toHaveLength(1_000);
      await expect(sdk.send(new DescribeStreamSummaryCommand({ StreamName: 'nope' }))).rejects.toMatchObject({
        name: 'ResourceNotFoundException',
      });
    } finally {
      sdk.destroy();
    }
  });

  it('pages ListShards, summarises ListStreams, answers DescribeLimits, and says UpdateShardCount is not here', async () => {
    await createStream(direct, 'paged', 5);
    const first = await viaProxy.send(new ListShardsCommand({ StreamName: 'paged', MaxResults: 2 }));
    expect(first.Shards!.map((s) => s.ShardId)).toEqual(['shardId-000000000000', 'shardId-000000000001']);
    expect(first.NextToken).toEqual(expect.any(String));
    await expect(
      viaProxy.send(new ListShardsCommand({ StreamName: 'paged', NextToken: first.NextToken })),
    ).rejects.toMatchObject({ name: 'InvalidArgumentException' });
    // Follow the tokens as a client's paging loop does.
    const ids: string[] = [];
    let page = await viaProxy.send(new ListShardsCommand({ StreamName: 'paged', MaxResults: 2 }));
    for (;;) {
      ids.push(...page.Shards!.map((s) => s.ShardId!));
      if (page.NextToken === undefined) break;
      page = await viaProxy.send(new ListShardsCommand({ NextToken: page.NextToken, MaxResults: 2 }));
    }
    expect(ids).toEqual([0, 1, 2, 3, 4].map((i) => `shardId-00000000000${i}`));
    clock.advance(301_000);
    await expect(viaProxy.send(new ListShardsCommand({ NextToken: first.NextToken }))).rejects.toMatchObject({
      name: 'ExpiredNextTokenException',
    });

    await expect(
      viaProxy.send(
        new ListShardsCommand({ NextToken: first.NextToken, ExclusiveStartShardId: 'shardId-000000000001' }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidArgumentException' });
    await createStream(direct, 'paged-2', 1);
    const names: string[] = [];
    let listed = await viaProxy.send(new ListStreamsCommand({ Limit: 1 }));
    for (;;) {
      names.push(...(listed.StreamNames ?? []));
      if (listed.NextToken === undefined) break;
      expect(listed.HasMoreStreams).toBe(true);
      listed = await viaProxy.send(new ListStreamsCommand({ Limit: 1, NextToken: listed.NextToken }));
    }
    expect(names).toEqual(expect.arrayContaining(['paged', 'paged-2']));
    expect(new Set(names).size).toBe(names.length);
    const streams = await viaProxy.send(new ListStreamsCommand({}));
    expect(streams.StreamSummaries?.find((s) => s.StreamName === 'paged')).toMatchObject({
      StreamARN: expect.stringMatching(/:stream\/paged$/),
      StreamStatus: 'ACTIVE',
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      StreamCreationTimestamp: expect.any(Date),
    });
    const summary = await viaProxy.send(new DescribeStreamSummaryCommand({ StreamName: 'paged' }));
    expect(summary.StreamDescriptionSummary?.StreamModeDetails).toEqual({ StreamMode: 'PROVISIONED' });
    // DescribeStream pages too (kinesalite checks Limit and ExclusiveStartShardId, then returns every shard).
    const described = async (input: { Limit?: number; ExclusiveStartShardId?: string }) => {
      const { StreamDescription: d } = await viaProxy.send(
        new DescribeStreamCommand({ StreamName: 'paged', ...input }),
      );
      return [d!.Shards!.map((shard) => Number(shard.ShardId!.slice(-1))), d!.HasMoreShards];
    };
    expect(await described({ Limit: 2 })).toEqual([[0, 1], true]);
    expect(await described({ ExclusiveStartShardId: 'shardId-000000000001' })).toEqual([[2, 3, 4], false]);
    expect(await described({ Limit: 3, ExclusiveStartShardId: 'shardId-000000000000' })).toEqual([
      [1, 2, 3],
      true,
    ]);
    expect(await described({})).toEqual([[0, 1, 2, 3, 4], false]);
    await expect(
      viaProxy.send(new DescribeStreamCommand({ StreamName: 'paged', Limit: 0 })),
    ).rejects.toMatchObject({
      name: 'ValidationException',
    });
    const limits = await viaProxy.send(new DescribeLimitsCommand({}));
    expect(limits).toMatchObject({ ShardLimit: 500, OpenShardCount: 6, OnDemandStreamCount: 0 });
    await expect(
      viaProxy.send(
        new UpdateShardCountCommand({
          StreamName: 'paged',
          TargetShardCount: 10,
          ScalingType: 'UNIFORM_SCALING',
        }),
      ),
    ).rejects.toMatchObject({
      name: 'UnknownOperationException',
      message: expect.stringMatching(/SplitShard/),
    });
  });

  it('serves SubscribeToShard over HTTP/2 to the SDK as it comes: initial response, then the records as they arrive', async () => {
    await createStream(direct, 'efo', 1);
    const sdk = sdkAsItComes(proxyUrl());
    try {
      const { Consumer } = await sdk.send(
        new RegisterStreamConsumerCommand({
          StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/efo',
          ConsumerName: 'app',
        }),
      );
      // Shard 0 of the stream, from a starting position.
      const subscribeCommand = (ConsumerARN: string | undefined, Type: 'TRIM_HORIZON' | 'LATEST') =>
        new SubscribeToShardCommand({
          ConsumerARN,
          ShardId: 'shardId-000000000000',
          StartingPosition: { Type },
        });
      await sdk.send(new PutRecordsCommand({ StreamName: 'efo', Records: entries(3, (i) => `before${i}`) }));
      const subscription = await sdk.send(subscribeCommand(Consumer!.ConsumerARN, 'TRIM_HORIZON'));
      // One subscription per consumer and shard at a time.
      await expect(sdk.send(subscribeCommand(Consumer!.ConsumerARN, 'LATEST'))).rejects.toMatchObject({
        name: 'ResourceInUseException',
      });
      const keys: string[] = [];
      let continuation: string | undefined;
      let putAfter = false;
      for await (const event of subscription.EventStream!) {
        const records = event.SubscribeToShardEvent?.Records ?? [];
        keys.push(...records.map((r) => r.PartitionKey!));
        continuation = event.SubscribeToShardEvent?.ContinuationSequenceNumber ?? continuation;
        if (keys.length === 3 && !putAfter) {
          putAfter = true; // records written during the subscription are pushed too
          await sdk.send(
            new PutRecordsCommand({ StreamName: 'efo', Records: entries(2, (i) => `after${i}`) }),
          );
        }
        if (keys.length >= 5) break;
      }
      expect(keys).toEqual(['before0', 'before1', 'before2', 'after0', 'after1']);
      expect(continuation).toEqual(expect.any(String));
      // A reader on HTTP/1.1 is told why it cannot subscribe.
      await expect(viaProxy.send(subscribeCommand(Consumer!.ConsumerARN, 'LATEST'))).rejects.toMatchObject({
        message: expect.stringMatching(/HTTP\/2/),
      });
      await expect(
        sdk.send(
          subscribeCommand('arn:aws:kinesis:us-east-1:000000000000:stream/efo/consumer/nope:1', 'LATEST'),
        ),
      ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    } finally {
      sdk.destroy();
    }
  });

  it('closes at once with idle keep-alive (HTTP/1.1), HTTP/2 and silent connections open', async () => {
    const second = new KinesisLimitsProxy({ upstream: limits.kinesalite.url });
    const url = await second.listen(0);
    const port = Number(new URL(url).port);
    const h1 = localKinesisClient(url); // keep-alive agent: its socket stays open after the call
    const h2 = sdkAsItComes(url);
    const silent = net.connect(port, '127.0.0.1');
    const connected = new Promise<void>((resolve) => silent.once('connect', () => resolve()));
    try {
      await h1.send(new ListStreamsCommand({}));
      await h2.send(new ListStreamsCommand({}));
      await connected;
      const started = Date.now();
      await second.close();
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      h1.destroy();
      h2.destroy();
      silent.destroy();
    }
  });

  it('works for the AWS CLI (put-record, get-shard-iterator, get-records)', async () => {
    await createStream(direct, 'cli', 1);
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_DEFAULT_REGION: 'us-east-1',
    };
    const endpoint = proxyUrl();
    const aws = async (...args: string[]) =>
      JSON.parse(
        (await run('aws', ['kinesis', ...args, '--endpoint-url', endpoint, '--output', 'json'], { env }))
          .stdout,
      );
    const put = await aws('put-record', '--stream-name', 'cli', '--partition-key', 'p', '--data', 'aGVsbG8=');
    expect(put.ShardId).toBe('shardId-000000000000');
    const it = await aws(
      'get-shard-iterator',
      '--stream-name',
      'cli',
      '--shard-id',
      'shardId-000000000000',
      '--shard-iterator-type',
      'TRIM_HORIZON',
    );
    const got = await aws('get-records', '--shard-iterator', it.ShardIterator);
    expect(got.Records).toHaveLength(1);
    expect(got.Records[0].PartitionKey).toBe('p');
  }, 90_000); // three AWS CLI (Python) start-ups: slow on a busy 2-core machine
});

describe('Kinesis limits layer (switched off)', () => {
  beforeEach(() => setUp(false));

  it('passes everything through, still mapping StreamARN', async () => {
    await createStream(direct, 'free', 1);
    for (let call = 0; call < 4; call++) {
      const answer = await viaProxy.send(
        new PutRecordsCommand({ StreamName: 'free', Records: entries(500, (i) => `${call}-${i}`) }),
      );
      expect(answer.FailedRecordCount).toBe(0);
    }
    expect(await countStored(direct, 'free')).toBe(2000);
    expect(proxy.stats().throttledRecords).toBe(0);
  });
});
