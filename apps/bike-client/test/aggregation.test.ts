import { decodeRecord } from '@alleycat/kinesis-agg';
import { hashKeyOf, parseRaceMessage, type RaceMessage } from '@alleycat/schema';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKinesisClient } from '../src/kinesis-client.js';
import { ensureStream, listShardRanges } from '../src/kinesis-stream.js';
import { Simulation } from '../src/simulator.js';
import { KinesisSink } from '../src/sinks.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { type Server, startKinesalite } from './support/processes.js';
import { readStream } from './support/read-stream.js';

let kinesalite: Server & { endpoint: string };
let client: KinesisClient;

beforeAll(async () => {
  kinesalite = await startKinesalite();
  client = createKinesisClient({ endpoint: kinesalite.endpoint, maxAttempts: 3 });
});
afterAll(async () => {
  client?.destroy();
  await kinesalite?.stop();
});

function buildRace(riders: number, seconds: number) {
  const sim = new Simulation({
    riders,
    seconds,
    classes: 6,
    speedup: 1,
    seed: 3,
    startMs: 1_764_000_000_000,
  });
  const all: Array<{ messages: RaceMessage[]; payloads: string[] }> = [];
  for (let s = 0; s < seconds; s++) all.push(sim.buildSecond(s));
  return all;
}

describe('KPL-aggregated simulator output', () => {
  it('decodes with the shared codec back to the same messages, each on its own key’s shard', async () => {
    await ensureStream(client, 'agg', 4);
    const shards = await listShardRanges(client, 'agg');
    expect(shards).toHaveLength(4);
    const sink = new KinesisSink({
      client,
      streamName: 'agg',
      partitionKey: 'racer',
      aggregate: { shards, maxBytes: 25 * 1024 },
      producer: { lingerMs: 20 },
    });
    const race = buildRace(500, 10);
    for (const second of race) await sink.send(second.messages, second.payloads);
    expect(await sink.flush()).toEqual([]);
    const counters = sink.counters();
    expect(counters.delivered).toBe(5_000);
    expect(counters.records).toBeLessThan(5_000 / 50); // ~120 messages per 25 KiB record
    expect(counters.putPayloadUnits).toBe(counters.records); // each aggregate fits one unit

    const stored = await readStream(client, 'agg');
    expect(stored).toHaveLength(counters.records);
    const decoded: RaceMessage[] = [];
    for (const record of stored) {
      expect(record.data.byteLength + record.partitionKey.length).toBeLessThanOrEqual(25 * 1024);
      const shard = shards.find((s) => s.shardId === record.shardId)!;
      const { aggregated, records } = decodeRecord(record.data, record.partitionKey);
      expect(aggregated).toBe(true);
      for (const user of records) {
        const hash = hashKeyOf(user.partitionKey);
        expect(hash >= shard.start && hash <= shard.end).toBe(true);
        const parsed = parseRaceMessage(user.data);
        if (!parsed.ok) throw new Error(parsed.error.message);
        expect(user.partitionKey).toBe(String(parsed.message.racerId));
        decoded.push(parsed.message);
      }
    }
    const key = (m: RaceMessage) => `${m.raceId}/${m.racerId}/${m.second}`;
    const sent = race.flatMap((s) => s.messages);
    expect(decoded).toHaveLength(sent.length);
    const byKey = new Map(decoded.map((m) => [key(m), m]));
    expect(byKey.size).toBe(sent.length);
    for (const m of sent) expect(byKey.get(key(m))).toEqual(m);
    // Per racer, seconds arrive in order (one shard per racer, aggregates of a shard never in flight together).
    const lastSecond = new Map<number, number>();
    const ordered = [...stored].sort((a, b) =>
      BigInt(a.sequenceNumber) < BigInt(b.sequenceNumber) ? -1 : 1,
    );
    for (const record of ordered) {
      for (const user of decodeRecord(record.data, record.partitionKey).records) {
        const m = (parseRaceMessage(user.data) as { message: RaceMessage }).message;
        expect(m.second).toBe((lastSecond.get(m.racerId) ?? -1) + 1);
        lastSecond.set(m.racerId, m.second);
      }
    }
  });

  it('reports every message of an aggregate it could not send, with the error code', async () => {
    await ensureStream(client, 'agg-fail', 2);
    const shards = await listShardRanges(client, 'agg-fail');
    // The first shard throttles forever.
    const proxy = await startFaultProxy(kinesalite.port, {
      throttleEntry: (entry) => {
        const hash = hashKeyOf(entry.PartitionKey);
        return hash >= shards[0]!.start && hash <= shards[0]!.end;
      },
    });
    const proxied = createKinesisClient({ endpoint: proxy.endpoint });
    try {
      const sink = new KinesisSink({
        client: proxied,
        streamName: 'agg-fail',
        partitionKey: 'racer',
        aggregate: { shards },
        producer: { lingerMs: 10, maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
      });
      const race = buildRace(200, 3);
      for (const second of race) await sink.send(second.messages, second.payloads);
      const undelivered = await sink.flush();
      const counters = sink.counters();
      expect(counters.delivered + counters.failed).toBe(600);
      expect(undelivered).toHaveLength(counters.failed);
      expect(counters.failed).toBeGreaterThan(100);
      for (const u of undelivered) {
        expect(u.errorCode).toBe('ProvisionedThroughputExceededException');
        expect(u.attempts).toBe(3);
        const parsed = parseRaceMessage(u.payload);
        expect(parsed.ok).toBe(true);
        const hash = hashKeyOf(String((parsed as { message: RaceMessage }).message.racerId));
        expect(hash >= shards[0]!.start && hash <= shards[0]!.end).toBe(true);
      }
      const stored = await readStream(client, 'agg-fail');
      const storedMessages = stored.flatMap((r) => decodeRecord(r.data, r.partitionKey).records);
      expect(storedMessages).toHaveLength(counters.delivered);
    } finally {
      proxied.destroy();
      await proxy.close();
    }
  });
});

describe('a race second handed to the Kinesis sink', () => {
  it('is sent at once, aggregated or not: no record of it waits for the linger', async () => {
    for (const aggregated of [true, false]) {
      const stream = aggregated ? 'second-agg' : 'second-plain';
      await ensureStream(client, stream, 2);
      const shards = await listShardRanges(client, stream);
      const sink = new KinesisSink({
        client,
        streamName: stream,
        partitionKey: 'racer',
        ...(aggregated ? { aggregate: { shards } } : {}),
        producer: { lingerMs: 60_000 },
      });
      // 300 riders: neither a full PutRecords nor a full aggregate on either shard.
      const [second] = buildRace(300, 1);
      await sink.send(second!.messages, second!.payloads);
      const deadline = Date.now() + 5_000;
      while (sink.counters().delivered < 300 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(sink.counters().delivered).toBe(300);
      expect(await sink.flush()).toEqual([]);
    }
  });
});

describe('plain PutRecords from the simulator', () => {
  it('sends a second in hash-key order: each request holds one shard’s records (two at an edge), nothing lost, each racer in order', async () => {
    await ensureStream(client, 'plain', 2);
    const shards = await listShardRanges(client, 'plain');
    const shardOf = (partitionKey: string) => {
      const hash = hashKeyOf(partitionKey);
      return shards.findIndex((s) => hash >= s.start && hash <= s.end);
    };
    const requests: string[][] = [];
    const watched = createKinesisClient({ endpoint: kinesalite.endpoint, maxAttempts: 3 });
    watched.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PutRecordsCommand') {
          const input = args.input as { Records: Array<{ PartitionKey: string }> };
          requests.push(input.Records.map((r) => r.PartitionKey));
        }
        return next(args);
      },
      { step: 'initialize' },
    );
    try {
      const sink = new KinesisSink({ client: watched, streamName: 'plain', partitionKey: 'racer' });
      const race = buildRace(1_000, 3);
      for (const second of race) await sink.send(second.messages, second.payloads);
      expect(await sink.flush()).toEqual([]);
      expect(sink.counters().delivered).toBe(3_000);

      // 1,000 racers over 2 shards: 2 or 3 requests a second, each within one shard but at an edge.
      expect(requests.length).toBeLessThanOrEqual(3 * 3);
      for (const keys of requests) {
        const hashes = keys.map(hashKeyOf);
        for (let i = 1; i < hashes.length; i++) expect(hashes[i - 1]! <= hashes[i]!).toBe(true);
        expect(new Set(keys.map(shardOf)).size).toBeLessThanOrEqual(2);
      }
      const stored = await readStream(client, 'plain');
      expect(stored).toHaveLength(3_000);
      const lastSecond = new Map<number, number>();
      const ordered = [...stored].sort((a, b) =>
        BigInt(a.sequenceNumber) < BigInt(b.sequenceNumber) ? -1 : 1,
      );
      for (const record of ordered) {
        const parsed = parseRaceMessage(record.data);
        if (!parsed.ok) throw new Error(parsed.error.message);
        expect(shardOf(record.partitionKey)).toBe(shards.findIndex((s) => s.shardId === record.shardId));
        expect(parsed.message.second).toBe((lastSecond.get(parsed.message.racerId) ?? -1) + 1);
        lastSecond.set(parsed.message.racerId, parsed.message.second);
      }
      expect(lastSecond.size).toBe(1_000);
    } finally {
      watched.destroy();
    }
  });
});
