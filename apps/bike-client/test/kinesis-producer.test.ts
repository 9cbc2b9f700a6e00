import { createHash } from 'node:crypto';
import net from 'node:net';
import { DescribeStreamSummaryCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKinesisClient } from '../src/kinesis-client.js';
import { KinesisProducer, type KinesisProducerOptions } from '../src/kinesis-producer.js';
import { ensureStream } from '../src/kinesis-stream.js';
import type { ProducerRecord, UnsentRecord } from '../src/types.js';
import { type FaultPlan, type FaultProxy, startFaultProxy } from './support/fault-proxy.js';
import { type Server, startKinesalite } from './support/processes.js';
import { readStream } from './support/read-stream.js';

let kinesalite: Server & { endpoint: string };
let direct: KinesisClient;
let streamCounter = 0;

beforeAll(async () => {
  kinesalite = await startKinesalite();
  direct = createKinesisClient({ endpoint: kinesalite.endpoint, maxAttempts: 3 });
});
afterAll(async () => {
  direct?.destroy();
  await kinesalite?.stop();
});

async function freshStream(shards = 4): Promise<string> {
  const name = `test-${++streamCounter}`;
  await ensureStream(direct, name, shards);
  return name;
}

/** Records `key-k` carry `{ key, seq }` with seq rising per key. */
function records(count: number, keys: number, padding = 0): ProducerRecord[] {
  const seqs = new Array<number>(keys).fill(0);
  return Array.from({ length: count }, (_, i) => {
    const key = `racer-${i % keys}`;
    const seq = seqs[i % keys]!++;
    return { data: Buffer.from(JSON.stringify({ key, seq, pad: 'x'.repeat(padding) })), partitionKey: key };
  });
}

const decode = (data: Uint8Array) =>
  JSON.parse(Buffer.from(data).toString('utf8')) as { key: string; seq: number };

async function withProxy<T>(
  plan: FaultPlan,
  run: (proxy: FaultProxy, client: KinesisClient) => Promise<T>,
): Promise<T> {
  const proxy = await startFaultProxy(kinesalite.port, plan);
  const client = createKinesisClient({ endpoint: proxy.endpoint });
  try {
    return await run(proxy, client);
  } finally {
    client.destroy();
    await proxy.close();
  }
}

/** Puts `sent` through a new producer and flushes it, expecting none unsent; returns it for its stats. */
async function sendAll(
  client: KinesisClient,
  streamName: string,
  sent: ProducerRecord[],
  options: Omit<KinesisProducerOptions, 'client' | 'streamName'>,
): Promise<KinesisProducer> {
  const producer = new KinesisProducer({ client, streamName, ...options });
  await producer.putMany(sent);
  expect(await producer.flush()).toEqual([]);
  return producer;
}

function expectExactlyOnce(stored: Array<{ data: Uint8Array }>, sent: ProducerRecord[]) {
  const seen = stored.map((r) => Buffer.from(r.data).toString('utf8'));
  expect(seen).toHaveLength(sent.length);
  expect(new Set(seen)).toEqual(new Set(sent.map((r) => Buffer.from(r.data).toString('utf8'))));
}

/**
 * Each key's `seq` counts up by one through `stored`: within a shard records are in sequence-number order,
 * and a key lives on one shard.
 */
function expectPerKeyOrder(stored: Array<{ data: Uint8Array }>) {
  const lastSeq = new Map<string, number>();
  for (const r of stored) {
    const { key, seq } = decode(r.data);
    expect(seq).toBe((lastSeq.get(key) ?? -1) + 1);
    lastSeq.set(key, seq);
  }
}

describe('KinesisProducer against kinesalite', () => {
  it('delivers every record once, across shards, in per-partition-key order', async () => {
    const stream = await freshStream(4);
    const sent = records(3_000, 97);
    await withProxy({}, async (proxy, client) => {
      const producer = new KinesisProducer({ client, streamName: stream, lingerMs: 10, maxConcurrency: 4 });
      for (const r of sent) await producer.put(r);
      expect(await producer.flush()).toEqual([]);
      const stats = producer.stats;
      expect(stats.recordsSent).toBe(3_000);
      expect(stats.recordsFailed).toBe(0);
      expect(stats.recordsRetried).toBe(0);
      // 500 entries per call at most: 6 calls for 3,000 records.
      expect(proxy.calls).toBe(6);
      expect(stats.requests).toBe(6);
      expect(stats.putPayloadUnits).toBe(3_000);
      expect(stats.bytesSent).toBe(sent.reduce((n, r) => n + r.data.byteLength + r.partitionKey.length, 0));
    });

    const stored = await readStream(direct, stream);
    expectExactlyOnce(stored, sent);
    expect(new Set(stored.map((r) => r.shardId)).size).toBe(4);
    expectPerKeyOrder(stored);
  });

  it('keeps every call under 5 MiB including partition keys', async () => {
    const stream = await freshStream(2);
    // 12 records of ~900 KB: at most 5 fit one call.
    const sent = records(12, 7, 900_000);
    await withProxy({}, async (proxy, client) => {
      const producer = await sendAll(client, stream, sent, { lingerMs: 5 });
      expect(proxy.calls).toBeGreaterThanOrEqual(3);
      expect(producer.stats.putPayloadUnits).toBe(
        sent.reduce((n, r) => n + Math.ceil(r.data.byteLength / 25_600), 0),
      );
    });
    expectExactlyOnce(await readStream(direct, stream), sent);
  });

  it('retries only the throttled entries, with nothing lost or duplicated', async () => {
    const stream = await freshStream(4);
    const sent = records(2_000, 50);
    const attempts = new Map<string, number>();
    // Every third entry is throttled on its first two attempts.
    const plan: FaultPlan = {
      throttleEntry: (entry) => {
        const n = (attempts.get(entry.Data) ?? 0) + 1;
        attempts.set(entry.Data, n);
        const index = decode(Buffer.from(entry.Data, 'base64')).seq;
        return index % 3 === 0 && n <= 2;
      },
    };
    await withProxy(plan, async (proxy, client) => {
      const producer = await sendAll(client, stream, sent, { lingerMs: 10, baseDelayMs: 5, maxDelayMs: 50 });
      const stats = producer.stats;
      const throttledRecords = sent.filter((r) => decode(r.data).seq % 3 === 0).length;
      expect(proxy.throttled).toBe(throttledRecords * 2);
      expect(stats.throttledEntries).toBe(throttledRecords * 2);
      expect(stats.recordsRetried).toBe(throttledRecords * 2);
      expect(stats.recordsSent).toBe(2_000);
      expect(stats.recordsFailed).toBe(0);
    });
    expectExactlyOnce(await readStream(direct, stream), sent);
  });

  it('keeps per-key order across retries when a key appears once per batch', async () => {
    const stream = await freshStream(4);
    // 1,000 racers, one message each per "second": a batch of 500 never holds a racer twice.
    const sent = records(6_000, 1_000);
    // Throttle a pseudo-random fifth of the entries (by a hash of their data) on their first attempt.
    const seen = new Set<string>();
    const plan: FaultPlan = {
      throttleEntry: (entry) => {
        if (seen.has(entry.Data)) return false;
        seen.add(entry.Data);
        return createHash('md5').update(entry.Data).digest()[0]! < 51;
      },
    };
    await withProxy(plan, async (proxy, client) => {
      const producer = await sendAll(client, stream, sent, { lingerMs: 10, baseDelayMs: 5, maxDelayMs: 40 });
      expect(proxy.throttled).toBeGreaterThan(800);
      expect(producer.stats.recordsRetried).toBe(proxy.throttled);
    });
    const stored = await readStream(direct, stream);
    expectExactlyOnce(stored, sent);
    expectPerKeyOrder(stored);
  });

  it('returns records still throttled at the bound, with their error code, and sends the rest', async () => {
    const stream = await freshStream(2);
    const sent = records(600, 6);
    const reported: UnsentRecord[] = [];
    await withProxy(
      { throttleEntry: (entry) => Buffer.from(entry.Data, 'base64').includes('"racer-5"') },
      async (proxy, client) => {
        const producer = new KinesisProducer({
          client,
          streamName: stream,
          lingerMs: 5,
          maxAttempts: 4,
          baseDelayMs: 1,
          maxDelayMs: 10,
          onUnsent: (u) => reported.push(...u),
        });
        await producer.putMany(sent);
        const unsent = await producer.flush();
        expect(unsent).toHaveLength(100);
        expect(reported).toEqual(unsent);
        for (const u of unsent) {
          expect(u.errorCode).toBe('ProvisionedThroughputExceededException');
          expect(u.attempts).toBe(4);
          expect(u.record.partitionKey).toBe('racer-5');
        }
        expect(producer.stats).toMatchObject({ recordsSent: 500, recordsFailed: 100, recordsRetried: 300 });
        expect(proxy.throttled).toBe(400); // 100 records × 4 attempts: bounded
      },
    );
    const stored = await readStream(direct, stream);
    expect(stored).toHaveLength(500);
    expect(stored.some((r) => r.partitionKey === 'racer-5')).toBe(false);
  });

  it.each([
    ['500 InternalFailure', { kind: 'status', status: 500, type: 'InternalFailure' }],
    ['503 ServiceUnavailable', { kind: 'status', status: 503, type: 'ServiceUnavailable' }],
    [
      'whole-call throttling',
      { kind: 'status', status: 400, type: 'ProvisionedThroughputExceededException' },
    ],
    ['a dropped connection', { kind: 'drop' }],
  ] as const)('retries a whole call failing with %s and loses nothing', async (_, fault) => {
    const stream = await freshStream(2);
    const sent = records(1_200, 30);
    await withProxy({ request: (call) => (call % 2 === 0 ? fault : undefined) }, async (proxy, client) => {
      const producer = await sendAll(client, stream, sent, { lingerMs: 5, baseDelayMs: 1, maxDelayMs: 20 });
      expect(proxy.requestFaults).toBeGreaterThanOrEqual(3);
      expect(producer.stats.requestsFailed).toBe(proxy.requestFaults);
      expect(producer.stats.recordsSent).toBe(1_200);
    });
    expectExactlyOnce(await readStream(direct, stream), sent);
  });

  it.each([
    ['ResourceNotFoundException', 400],
    ['AccessDeniedException', 400],
    ['ValidationException', 400],
  ])('does not retry a whole call failing with %s, and returns its records', async (type, status) => {
    const stream = await freshStream(1);
    const sent = records(40, 4);
    await withProxy({ request: () => ({ kind: 'status', status, type }) }, async (proxy, client) => {
      const producer = new KinesisProducer({ client, streamName: stream, lingerMs: 5, baseDelayMs: 1 });
      await producer.putMany(sent);
      const unsent = await producer.flush();
      expect(unsent).toHaveLength(40);
      expect(new Set(unsent.map((u) => u.errorCode))).toEqual(new Set([type]));
      expect(unsent.every((u) => u.attempts === 1)).toBe(true);
      expect(proxy.calls).toBe(1);
      expect(producer.stats).toMatchObject({ recordsFailed: 40, recordsRetried: 0, requests: 1 });
    });
  });

  it('gives up on an endpoint that accepts but never answers (a timeout error, retried, never a hang)', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    const { port } = silent.address() as net.AddressInfo;
    const client = createKinesisClient({
      endpoint: `http://127.0.0.1:${port}`,
      maxAttempts: 2,
      requestTimeoutMs: 200,
    });
    try {
      const started = Date.now();
      const error = await client
        .send(new DescribeStreamSummaryCommand({ StreamName: 's' }))
        .catch((e: unknown) => e as Error & { $metadata?: { attempts?: number } });
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name).toBe('TimeoutError');
      expect(error.$metadata?.attempts).toBe(2);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      client.destroy();
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('refuses records Kinesis could never take, before sending anything', async () => {
    const producer = new KinesisProducer({ client: direct, streamName: 'unused' });
    await expect(producer.put({ data: new Uint8Array(1024 * 1024 + 1), partitionKey: 'k' })).rejects.toThrow(
      /at most 1048576/,
    );
    await expect(producer.put({ data: new Uint8Array(1), partitionKey: '' })).rejects.toMatchObject({
      name: 'InvalidRecordError',
      retryable: false,
    });
    await expect(producer.put({ data: new Uint8Array(1), partitionKey: 'k'.repeat(257) })).rejects.toThrow(
      /1–256/,
    );
    expect(producer.pending).toBe(0);
  });
});
