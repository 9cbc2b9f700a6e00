import { GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-kinesis';
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
  await Promise.all([createStream(client, 'c1', 1), createStream(client, 'c2', 1)]);
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

  it('splits a burst of two streams into requests of at most 500 entries, keeping each stream in order', async () => {
    const unlimited = new KinesisLimitsProxy({ upstream: kinesalite.url, enabled: false });
    const direct = localKinesisClient(await unlimited.listen(0), { maxAttempts: 1 });
    try {
      const writer = new KinesisBatcher({ kinesis: direct, maxInFlight: 1 });
      const puts = Array.from({ length: 1_300 }, (_, i) => {
        const stream = i % 3 === 0 ? 'c2' : 'c1';
        return writer.put(stream, `k${i}`, new TextEncoder().encode(String(i)));
      });
      const outcomes = await Promise.all(puts);
      expect(outcomes.every((o) => o.ok)).toBe(true);
      // 867 records of c1 and 433 of c2: c1 takes two requests (500 + 367), c2 one.
      expect(unlimited.stats().requests).toBe(3);
      for (const [stream, expected] of [
        ['c1', Array.from({ length: 1_300 }, (_, i) => i).filter((i) => i % 3 !== 0)],
        ['c2', Array.from({ length: 1_300 }, (_, i) => i).filter((i) => i % 3 === 0)],
      ] as const) {
        const sequence = outcomes.filter((_, i) => (i % 3 === 0 ? 'c2' : 'c1') === stream);
        const read = await readAll(direct, stream);
        expect(read).toEqual(expected.map(String));
        // Sequence numbers grow in put order within the stream.
        const numbers = sequence.map((o) => BigInt(o.sequenceNumber!));
        expect(numbers.every((n, i) => i === 0 || n > numbers[i - 1]!)).toBe(true);
      }
    } finally {
      direct.destroy();
      await unlimited.close();
    }
  });
});

async function readAll(kinesis: ReturnType<typeof localKinesisClient>, stream: string): Promise<string[]> {
  const { ShardIterator } = await kinesis.send(
    new GetShardIteratorCommand({
      StreamName: stream,
      ShardId: 'shardId-000000000000',
      ShardIteratorType: 'TRIM_HORIZON',
    }),
  );
  const out: string[] = [];
  let iterator = ShardIterator;
  for (;;) {
    const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
    for (const r of page.Records ?? []) out.push(new TextDecoder().decode(r.Data));
    if ((page.Records ?? []).length === 0) return out;
    iterator = page.NextShardIterator;
  }
}
