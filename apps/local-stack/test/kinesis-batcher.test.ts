import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localKinesisClient } from '../src/kinesis/client.js';
import { type RunningKinesalite, startKinesalite } from '../src/kinesis/kinesalite.js';
import { KinesisLimitsProxy } from '../src/kinesis/limits-proxy.js';
import { KinesisBatcher } from '../src/rules/kinesis-batcher.js';
import { createStream, manualClock } from './helpers.js';

let kinesalite: RunningKinesalite;
let proxy: KinesisLimitsProxy;
let client: ReturnType<typeof localKinesisClient>;

beforeAll(async () => {
  kinesalite = await startKinesalite();
  proxy = new KinesisLimitsProxy({
    upstream: kinesalite.url,
    limits: { writeRecordsPerSecond: 3 },
    now: manualClock().now,
  });
  client = localKinesisClient(await proxy.listen(0), { maxAttempts: 1 });
  await createStream(client, 'b', 1);
});

afterAll(async () => {
  client.destroy();
  await proxy.close();
  await kinesalite.close();
});

describe('rule engine Kinesis writer', () => {
  it('batches messages of one turn into PutRecords, each with its own outcome; a bad one does not fail the rest', async () => {
    const writer = new KinesisBatcher({ kinesis: client });
    const requestsBefore = proxy.stats().requests;
    const data = new TextEncoder().encode('{}');
    const outcomes = await Promise.all([
      writer.put('b', 'k1', data),
      writer.put('b', '', data), // Kinesis refuses an empty partition key: the whole PutRecords would fail
      writer.put('b', 'k2', data),
      writer.put('b', 'k3', data),
      writer.put('b', 'k4', data), // the shard allows 3 records/s here: the 4th good one is throttled
    ]);
    expect(outcomes.map((o) => (o.ok ? 'ok' : o.error!.split(':')[0]))).toEqual([
      'ok',
      'ValidationException',
      'ok',
      'ok',
      'ProvisionedThroughputExceededException',
    ]);
    expect(outcomes[4]!.throttled).toBe(true);
    expect(outcomes[0]!.shardId).toBe('shardId-000000000000');
    // One PutRecords (refused whole as malformed), then five PutRecord replays in order.
    expect(proxy.stats().requests - requestsBefore).toBe(6);
  });
});
