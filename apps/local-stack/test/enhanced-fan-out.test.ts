/**
 * The event source mapping on an enhanced fan-out consumer: reads every 50 ms marked with the consumer's ARN,
 * paced to the consumer's own 2 MiB/s per shard, and back to the shared interval when an endpoint throttles it.
 * A recorder between the poller and kinesalite sees every call (and can play an endpoint that throttles).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KINESIS_SHARD_READ_BYTES_PER_SECOND } from '@alleycat/schema';
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_POLL_INTERVAL_MS } from '../src/constants.js';
import {
  ConsumerReadPacer,
  EFO_POLL_INTERVAL_MS,
  ENHANCED_FAN_OUT_CONSUMER_HEADER,
  readBytesOf,
} from '../src/esm/enhanced-fan-out.js';
import type { KinesisEvent } from '../src/esm/event.js';
import { type EventSourceMappingConfig, EventSourceMappingPoller } from '../src/esm/poller.js';
import { localKinesisClient } from '../src/kinesis/client.js';
import { type RunningKinesalite, startKinesalite } from '../src/kinesis/kinesalite.js';
import { createStream, mappingConfig, STREAM, waitFor } from './helpers.js';

const STREAM_ARN = `arn:aws:kinesis:us-east-1:000000000000:stream/${STREAM}`;
const CONSUMER_ARN = `${STREAM_ARN}/consumer/dev-alleycat-ingest:0`;
const MIB = 1024 * 1024;

const HANDLER = `export async function handler(event) {
  globalThis.__efo.push({ event, atMs: Date.now() });
  return { batchItemFailures: [] };
}`;

declare global {
  var __efo: Array<{ event: KinesisEvent; atMs: number }>;
}

interface Call {
  target: string;
  consumer: string | undefined;
  atMs: number;
}

/** Forwards to kinesalite and records each call; `throttleReads` answers every other GetRecords with PTE. */
async function startRecorder(
  upstream: string,
  throttleReads = false,
): Promise<{ url: string; calls: Call[]; close(): Promise<void> }> {
  const calls: Call[] = [];
  const agent = new http.Agent({ keepAlive: true });
  let reads = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const consumer = req.headers[ENHANCED_FAN_OUT_CONSUMER_HEADER];
      calls.push({ target, consumer: typeof consumer === 'string' ? consumer : undefined, atMs: Date.now() });
      if (throttleReads && target.endsWith('.GetRecords') && reads++ % 2 === 0) {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(
          JSON.stringify({ __type: 'ProvisionedThroughputExceededException', message: 'Rate exceeded' }),
        );
        return;
      }
      const forward = http.request(
        `${upstream}${req.url ?? '/'}`,
        { method: req.method, headers: req.headers, agent },
        (answer) => {
          res.writeHead(answer.statusCode ?? 500, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', () => res.destroy());
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: async () => {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let kinesalite: RunningKinesalite;
let direct: KinesisClient;
let dir: string;
let poller: EventSourceMappingPoller | undefined;
let recorder: Awaited<ReturnType<typeof startRecorder>> | undefined;
const logs: string[] = [];

beforeEach(async () => {
  globalThis.__efo = [];
  logs.length = 0;
  dir = await mkdtemp(path.join(tmpdir(), 'alleycat-efo-'));
  await writeFile(path.join(dir, 'ok.mjs'), HANDLER);
  kinesalite = await startKinesalite();
  direct = localKinesisClient(kinesalite.url, { maxAttempts: 1 });
  await createStream(direct, STREAM, 1);
});

afterEach(async () => {
  await poller?.stop();
  poller = undefined;
  await recorder?.close();
  recorder = undefined;
  direct.destroy();
  await kinesalite.close();
  await rm(dir, { recursive: true, force: true });
});

/** A poller reading through the recorder, at its mapping's own interval (none is forced). */
async function startPoller(config: EventSourceMappingConfig, endpoint: string): Promise<KinesisClient> {
  const client = localKinesisClient(endpoint, { maxAttempts: 1 });
  poller = new EventSourceMappingPoller({
    mapping: config,
    kinesis: client,
    kinesisEndpoint: endpoint,
    handler: { bundle: path.join(dir, 'ok.mjs') },
    function: {
      functionName: 'dev-alleycat-ingest',
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:dev-alleycat-ingest',
      memoryMb: 512,
      timeoutSeconds: 30,
    },
    source: { streamArn: STREAM_ARN, region: 'us-east-1', roleArn: 'arn:aws:iam::000000000000:role/x' },
    log: (line) => logs.push(line),
  });
  await poller.start();
  return client;
}

async function put(datas: Array<string | Uint8Array>): Promise<void> {
  const answer = await direct.send(
    new PutRecordsCommand({
      StreamName: STREAM,
      Records: datas.map((d) => ({
        PartitionKey: 'racer-1',
        Data: typeof d === 'string' ? new TextEncoder().encode(d) : d,
      })),
    }),
  );
  expect(answer.FailedRecordCount).toBe(0);
}

const delivered = () =>
  globalThis.__efo.flatMap((c) => c.event.Records.map((r) => Buffer.from(r.kinesis.data, 'base64')));
const reads = (calls: Call[]) => calls.filter((c) => c.target.endsWith('.GetRecords'));

describe('consumer read pacer', () => {
  it('allows a second of 2 MiB at once, then makes the reader wait out its debt', () => {
    const pacer = new ConsumerReadPacer(0);
    expect(pacer.waitMs(0)).toBe(0);
    pacer.charge(3 * MIB, 0); // 1 MiB over: half a second at 2 MiB/s
    expect(pacer.waitMs(0)).toBeGreaterThanOrEqual(500);
    expect(pacer.waitMs(0)).toBeLessThanOrEqual(501);
    expect(pacer.waitMs(250)).toBeGreaterThanOrEqual(250);
    expect(pacer.waitMs(501)).toBe(0);
    expect(KINESIS_SHARD_READ_BYTES_PER_SECOND).toBe(2 * MIB);
  });

  it('counts decoded data and partition key bytes, as Kinesis does', () => {
    const record = {
      SequenceNumber: '1',
      PartitionKey: 'racer-1',
      Data: Buffer.alloc(1000).toString('base64'),
      ApproximateArrivalTimestamp: new Date(),
    };
    expect(readBytesOf([record, record])).toBe(2 * (1000 + 7));
  });
});

describe('event source mapping on an enhanced fan-out consumer', () => {
  it('reads every 50 ms, beyond the shared 5 reads/s, each read marked with the consumer ARN', async () => {
    recorder = await startRecorder(kinesalite.url);
    const client = await startPoller(mappingConfig({ consumerArn: CONSUMER_ARN }), recorder.url);
    try {
      await put(['{"n":1}', '{"n":2}']);
      await waitFor(() => delivered().length === 2 || undefined);
      const from = Date.now();
      await new Promise((r) => setTimeout(r, 2_000));
      const window = reads(recorder.calls).filter((c) => c.atMs >= from && c.atMs < from + 2_000);
      // A shared-throughput reader may make at most 10 calls in 2 s (and this poller makes 8 at 250 ms).
      expect(window.length).toBeGreaterThan(10);
      expect(window.length).toBeLessThanOrEqual(2_000 / EFO_POLL_INTERVAL_MS + 1);
      expect(reads(recorder.calls).every((c) => c.consumer === CONSUMER_ARN)).toBe(true);
      expect(delivered().map((d) => d.toString())).toEqual(['{"n":1}', '{"n":2}']);
      expect(poller!.stats()).toMatchObject({ throttledPolls: 0, pacedPolls: 0, recordsSucceeded: 2 });
    } finally {
      client.destroy();
    }
  });

  it('a polling mapping (no consumer) keeps the shared interval and sends no consumer ARN', async () => {
    recorder = await startRecorder(kinesalite.url);
    const client = await startPoller(mappingConfig(), recorder.url);
    try {
      await put(['{"n":1}']);
      await waitFor(() => delivered().length === 1 || undefined);
      const from = Date.now();
      await new Promise((r) => setTimeout(r, 2_000));
      const window = reads(recorder.calls).filter((c) => c.atMs >= from && c.atMs < from + 2_000);
      expect(window.length).toBeLessThanOrEqual(2_000 / DEFAULT_POLL_INTERVAL_MS + 1);
      expect(reads(recorder.calls).every((c) => c.consumer === undefined)).toBe(true);
    } finally {
      client.destroy();
    }
  });

  it("holds reads back to the consumer's 2 MiB/s per shard instead of being throttled", async () => {
    recorder = await startRecorder(kinesalite.url);
    // 3.6 MB in one read: 1.6 MB over the second's 2 MiB, so ~0.75 s before the next read may start.
    const big = Array.from({ length: 4 }, (_, i) => new Uint8Array(900_000).fill(65 + i));
    await put(big);
    const client = await startPoller(mappingConfig({ consumerArn: CONSUMER_ARN }), recorder.url);
    try {
      await waitFor(() => delivered().length === 4 || undefined);
      const bigAt = globalThis.__efo[0]!.atMs;
      await put(['late']);
      await waitFor(() => delivered().length === 5 || undefined);
      const lateAt = globalThis.__efo.at(-1)!.atMs;
      const debtMs = ((4 * 900_000 + 4 * 7 - 2 * MIB) / (2 * MIB)) * 1000;
      // Unpaced, the late record would be read within one 50 ms interval; paced, after most of the debt (the
      // first invocation starts a little after the big read that ran the debt up, hence the margin).
      expect(lateAt - bigAt).toBeGreaterThanOrEqual(debtMs - 250);
      expect(poller!.stats().pacedPolls).toBeGreaterThan(0);
      expect(poller!.stats().throttledPolls).toBe(0);
    } finally {
      client.destroy();
    }
  });

  it('falls back to the shared interval when the endpoint throttles its reads, and loses nothing', async () => {
    recorder = await startRecorder(kinesalite.url, true);
    const client = await startPoller(mappingConfig({ consumerArn: CONSUMER_ARN }), recorder.url);
    try {
      const data = Array.from({ length: 20 }, (_, i) => `{"n":${i}}`);
      await put(data);
      await waitFor(() => delivered().length === 20 || undefined);
      expect(delivered().map((d) => d.toString())).toEqual(data);
      await new Promise((r) => setTimeout(r, 1_500));
      expect(poller!.stats().throttledPolls).toBeGreaterThan(0);
      expect(logs.some((l) => l.includes('throttled an enhanced fan-out read'))).toBe(true);
      const after = reads(recorder.calls).slice(2);
      const gaps = after.slice(1).map((c, i) => c.atMs - after[i]!.atMs);
      expect(Math.min(...gaps)).toBeGreaterThanOrEqual(DEFAULT_POLL_INTERVAL_MS - 20);
    } finally {
      client.destroy();
    }
  });
});
