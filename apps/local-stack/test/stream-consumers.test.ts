/**
 * Enhanced fan-out consumers through the limits layer (kinesalite has none): the stack's consumer exists from
 * the start, and RegisterStreamConsumer / DescribeStreamConsumer / ListStreamConsumers /
 * DeregisterStreamConsumer answer as AWS does, for SDK v3 (JSON), a Java-style CBOR client and the AWS CLI.
 */
import {
  DeregisterStreamConsumerCommand,
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListStreamConsumersCommand,
  RegisterStreamConsumerCommand,
  SubscribeToShardCommand,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENHANCED_FAN_OUT_CONSUMER_HEADER } from '../src/esm/enhanced-fan-out.js';
import { MAX_CONSUMERS_PER_STREAM } from '../src/kinesis/consumers.js';
import { createStream, run } from './helpers.js';
import { JavaStyleCborKinesis, type KinesisCborError } from './java-cbor-client.js';
import { type LimitsHarness, startLimitsHarness } from './limits-harness.js';

const STREAM_ARN = 'arn:aws:kinesis:eu-west-1:000000000000:stream/efo';
const SEED = {
  name: 'dev-alleycat-ingest',
  arn: `${STREAM_ARN}/consumer/dev-alleycat-ingest:0`,
  streamArn: STREAM_ARN,
};

let limits: LimitsHarness | undefined;
let url: string;
let client: KinesisClient;

beforeAll(async () => {
  limits = await startLimitsHarness({ consumers: [SEED] });
  ({ url, viaProxy: client } = limits);
  await createStream(client, 'efo', 1);
});

afterAll(() => limits?.close());

const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.fail('expected an error answer'),
    (error: unknown) => error as Error & { name: string },
  );

describe('stream consumers (enhanced fan-out registry)', () => {
  it('lists the stack’s consumer from the start and counts it in DescribeStreamSummary', async () => {
    const listed = await client.send(new ListStreamConsumersCommand({ StreamARN: STREAM_ARN }));
    expect(listed.Consumers?.map((c) => [c.ConsumerName, c.ConsumerARN, c.ConsumerStatus])).toEqual([
      [SEED.name, SEED.arn, 'ACTIVE'],
    ]);
    // Created with the stack, not in 1970.
    const created = listed.Consumers![0]!.ConsumerCreationTimestamp!.getTime();
    expect(Math.abs(created - Date.now())).toBeLessThan(10 * 60_000);
    const summary = await client.send(new DescribeStreamSummaryCommand({ StreamName: 'efo' }));
    expect(summary.StreamDescriptionSummary?.ConsumerCount).toBe(1);
  });

  it('registers, describes (by ARN or by name), pages, refuses duplicates and deregisters', async () => {
    const before = Math.floor(Date.now() / 1000);
    const registered = await client.send(
      new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'analytics' }),
    );
    const consumer = registered.Consumer!;
    expect(consumer.ConsumerName).toBe('analytics');
    expect(consumer.ConsumerStatus).toBe('ACTIVE');
    expect(consumer.ConsumerARN).toMatch(new RegExp(`^${STREAM_ARN}/consumer/analytics:\\d+$`));
    expect(consumer.ConsumerCreationTimestamp).toBeInstanceOf(Date);
    expect(consumer.ConsumerCreationTimestamp!.getTime() / 1000).toBeGreaterThanOrEqual(before);

    const byArn = await client.send(new DescribeStreamConsumerCommand({ ConsumerARN: consumer.ConsumerARN }));
    expect(byArn.ConsumerDescription).toMatchObject({ ConsumerName: 'analytics', StreamARN: STREAM_ARN });
    const byName = await client.send(
      new DescribeStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'analytics' }),
    );
    expect(byName.ConsumerDescription?.ConsumerARN).toBe(consumer.ConsumerARN);

    const duplicate = await errorOf(
      client.send(new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'analytics' })),
    );
    expect(duplicate.name).toBe('ResourceInUseException');
    expect(duplicate.message).toContain('analytics');

    const first = await client.send(new ListStreamConsumersCommand({ StreamARN: STREAM_ARN, MaxResults: 1 }));
    expect(first.Consumers).toHaveLength(1);
    const second = await client.send(
      new ListStreamConsumersCommand({ StreamARN: STREAM_ARN, MaxResults: 1, NextToken: first.NextToken }),
    );
    expect(second.NextToken).toBeUndefined();
    expect([...first.Consumers!, ...second.Consumers!].map((c) => c.ConsumerName)).toEqual([
      SEED.name,
      'analytics',
    ]);
    expect(
      (await client.send(new DescribeStreamSummaryCommand({ StreamName: 'efo' }))).StreamDescriptionSummary
        ?.ConsumerCount,
    ).toBe(2);

    await client.send(new DeregisterStreamConsumerCommand({ ConsumerARN: consumer.ConsumerARN }));
    const gone = await errorOf(
      client.send(new DescribeStreamConsumerCommand({ ConsumerARN: consumer.ConsumerARN })),
    );
    expect(gone.name).toBe('ResourceNotFoundException');
  });

  it('answers bad requests as AWS does: unknown stream, bad name, missing keys, the 20-consumer limit', async () => {
    const missing = await errorOf(
      client.send(
        new RegisterStreamConsumerCommand({
          StreamARN: 'arn:aws:kinesis:eu-west-1:000000000000:stream/nope',
          ConsumerName: 'x',
        }),
      ),
    );
    expect(missing.name).toBe('ResourceNotFoundException');
    expect(missing.message).toContain('nope');
    const badName = await errorOf(
      client.send(new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'has space' })),
    );
    expect(badName.name).toBe('ValidationException');
    expect(badName.message).toContain("Value 'has space' at 'consumerName'");
    const neither = await errorOf(
      client.send(new DescribeStreamConsumerCommand({ ConsumerName: 'analytics' })),
    );
    expect(neither.name).toBe('InvalidArgumentException');

    const names = Array.from({ length: MAX_CONSUMERS_PER_STREAM - 1 }, (_, i) => `c${i}`);
    for (const ConsumerName of names) {
      await client.send(new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName }));
    }
    const over = await errorOf(
      client.send(new RegisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName: 'one-too-many' })),
    );
    expect(over.name).toBe('LimitExceededException');
    for (const ConsumerName of names) {
      await client.send(new DeregisterStreamConsumerCommand({ StreamARN: STREAM_ARN, ConsumerName }));
    }
  });

  it('reads for a registered consumer only; SubscribeToShard over HTTP/1.1 says it needs HTTP/2', async () => {
    const { ShardIterator } = await client.send(
      new GetShardIteratorCommand({
        StreamName: 'efo',
        ShardId: 'shardId-000000000000',
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const read = (consumer: string) =>
      fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': 'Kinesis_20131202.GetRecords',
          [ENHANCED_FAN_OUT_CONSUMER_HEADER]: consumer,
        },
        body: JSON.stringify({ ShardIterator }),
      });
    expect((await read(SEED.arn)).status).toBe(200);
    const unknown = await read(`${STREAM_ARN}/consumer/never-registered:1`);
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { __type: string }).__type).toBe('ResourceNotFoundException');
    // Plain reads (no consumer) are untouched.
    await client.send(new GetRecordsCommand({ ShardIterator }));

    const subscribe = await errorOf(
      client.send(
        new SubscribeToShardCommand({
          ConsumerARN: SEED.arn,
          ShardId: 'shardId-000000000000',
          StartingPosition: { Type: 'TRIM_HORIZON' },
        }),
      ),
    );
    // This client's handler is HTTP/1.1; the SDK's default (HTTP/2) subscribes (kinesis-limits.test.ts).
    expect(subscribe.name).toBe('InvalidArgumentException');
    expect(subscribe.message).toContain('SubscribeToShard is served over HTTP/2 only');
  });

  it('answers a Java-style CBOR client in CBOR, creation time as a timestamp', async () => {
    const java = new JavaStyleCborKinesis(url);
    try {
      const listed = await java.send<{
        Consumers: Array<{ ConsumerName: string; ConsumerCreationTimestamp: Date }>;
      }>('ListStreamConsumers', { StreamARN: STREAM_ARN });
      expect(listed.Consumers.map((c) => c.ConsumerName)).toEqual([SEED.name]);
      expect(listed.Consumers[0]!.ConsumerCreationTimestamp).toBeInstanceOf(Date);
      const error = await java
        .send('DescribeStreamConsumer', { StreamARN: STREAM_ARN, ConsumerName: 'absent' })
        .then(
          () => expect.fail('expected an error answer'),
          (e: unknown) => e as KinesisCborError,
        );
      expect(error.errorCode).toBe('ResourceNotFoundException');
    } finally {
      java.destroy();
    }
  });

  it('works for the AWS CLI (list-stream-consumers)', async () => {
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_DEFAULT_REGION: 'eu-west-1',
    };
    const { stdout } = await run(
      'aws',
      [
        'kinesis',
        'list-stream-consumers',
        '--stream-arn',
        STREAM_ARN,
        '--endpoint-url',
        url,
        '--output',
        'json',
      ],
      { env },
    );
    expect(
      (JSON.parse(stdout) as { Consumers: Array<{ ConsumerARN: string }> }).Consumers[0]?.ConsumerARN,
    ).toBe(SEED.arn);
  }, 60_000);
});
