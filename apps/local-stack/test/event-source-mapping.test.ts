import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hashKeyOf, shardIndexFor } from '@alleycat/schema';
import { DeleteStreamCommand, type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KinesisEvent, OnFailureRecord } from '../src/esm/event.js';
import { type EventSourceMappingConfig, EventSourceMappingPoller } from '../src/esm/poller.js';
import { localKinesisClient } from '../src/kinesis/client.js';
import { type RunningKinesalite, startKinesalite } from '../src/kinesis/kinesalite.js';
import { KinesisLimitsProxy } from '../src/kinesis/limits-proxy.js';
import { createStream, mappingConfig, waitFor } from './helpers.js';

/** Handler modules written by the test, loaded by path like the real bundle. They report to globalThis. */
const HANDLERS = {
  ok: `export async function handler(event, context) {
  globalThis.__esm.push({ event, remaining: context.getRemainingTimeInMillis(), name: context.functionName, id: context.awsRequestId });
  return { batchItemFailures: [] };
}`,
  partial: `export async function handler(event) {
  globalThis.__esm.push({ event });
  const failures = event.Records
    .filter((r) => Buffer.from(r.kinesis.data, 'base64').toString().startsWith('poison'))
    .map((r) => ({ itemIdentifier: r.kinesis.sequenceNumber }));
  return { batchItemFailures: failures };
}`,
  throws: `export const run = async (event) => {
  globalThis.__esm.push({ event });
  if (event.Records.some((r) => Buffer.from(r.kinesis.data, 'base64').toString().startsWith('poison'))) {
    throw new Error('cannot score a poison record');
  }
};`,
  hangs: `export async function handler(event) {
  globalThis.__esm.push({ event });
  if (event.Records.some((r) => Buffer.from(r.kinesis.data, 'base64').toString() === 'slow')) {
    await new Promise(() => {});
  }
}`,
  slowKey: `export async function handler(event) {
  const data = event.Records.map((r) => Buffer.from(r.kinesis.data, 'base64').toString());
  if (data.includes('slow')) await new Promise((r) => setTimeout(r, 2_000));
  globalThis.__esm.push({ event, at: Date.now() });
}`,
  concurrent: `let mine = 0;
export async function handler(event) {
  mine += 1;
  globalThis.__inFlight = (globalThis.__inFlight ?? 0) + 1;
  globalThis.__maxInFlight = Math.max(globalThis.__maxInFlight ?? 0, globalThis.__inFlight);
  globalThis.__maxPerEnvironment = Math.max(globalThis.__maxPerEnvironment ?? 0, mine);
  await new Promise((r) => setTimeout(r, 80));
  globalThis.__esm.push({ event });
  globalThis.__inFlight -= 1;
  mine -= 1;
}`,
} as const;

declare global {
  var __esm: Array<{ event: KinesisEvent; remaining?: number; name?: string; id?: string; at?: number }>;
  var __maxInFlight: number | undefined;
  var __inFlight: number | undefined;
  var __maxPerEnvironment: number | undefined;
}

let kinesalite: RunningKinesalite;
let proxy: KinesisLimitsProxy;
let client: KinesisClient;
let endpoint: string;
let dir: string;
let poller: EventSourceMappingPoller | undefined;
const STREAM_ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/dev-alleycat';

beforeEach(async () => {
  globalThis.__esm = [];
  dir = await mkdtemp(path.join(tmpdir(), 'alleycat-esm-'));
  for (const [name, source] of Object.entries(HANDLERS))
    await writeFile(path.join(dir, `${name}.mjs`), source);
  kinesalite = await startKinesalite();
  proxy = new KinesisLimitsProxy({ upstream: kinesalite.url });
  endpoint = await proxy.listen(0);
  client = localKinesisClient(endpoint, { maxAttempts: 1 });
  await createStream(client, 'dev-alleycat', 2);
});

afterEach(async () => {
  await poller?.stop();
  poller = undefined;
  client.destroy();
  await proxy.close();
  await kinesalite.close();
  await rm(dir, { recursive: true, force: true });
});

const mapping = (overrides: Partial<EventSourceMappingConfig> = {}): EventSourceMappingConfig =>
  mappingConfig({ batchSize: 10, onFailureDir: path.join(dir, 'dlq'), ...overrides });

function startPoller(
  handler: keyof typeof HANDLERS,
  config: EventSourceMappingConfig,
  extra: {
    exportName?: string;
    timeoutSeconds?: number;
    now?: () => number;
    checkpointDir?: string;
    shardDiscoveryMs?: number;
  } = {},
): Promise<void> {
  poller = new EventSourceMappingPoller({
    mapping: config,
    kinesis: client,
    kinesisEndpoint: endpoint,
    handler: {
      bundle: path.join(dir, `${handler}.mjs`),
      ...(extra.exportName ? { exportName: extra.exportName } : {}),
    },
    function: {
      functionName: 'dev-alleycat-ingest',
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:dev-alleycat-ingest',
      memoryMb: 512,
      timeoutSeconds: extra.timeoutSeconds ?? 30,
    },
    source: {
      streamArn: STREAM_ARN,
      region: 'us-east-1',
      roleArn: 'arn:aws:iam::000000000000:role/dev-alleycat-ingest',
    },
    pollIntervalMs: 100,
    retryBaseDelayMs: 10,
    log: process.env.ESM_LOG ? (l: string) => console.error(l) : () => {},
    ...(extra.now ? { now: extra.now } : {}),
    ...(extra.checkpointDir ? { checkpointDir: extra.checkpointDir } : {}),
    ...(extra.shardDiscoveryMs ? { shardDiscoveryMs: extra.shardDiscoveryMs } : {}),
  });
  return poller.start();
}

/** Puts records on one shard (a fixed key) so their order is defined. */
async function put(datas: string[], key = 'racer-1'): Promise<string[]> {
  const answer = await client.send(
    new PutRecordsCommand({
      StreamName: 'dev-alleycat',
      Records: datas.map((d) => ({ PartitionKey: key, Data: new TextEncoder().encode(d) })),
    }),
  );
  expect(answer.FailedRecordCount).toBe(0);
  return answer.Records!.map((r) => r.SequenceNumber!);
}

const decoded = (event: KinesisEvent) =>
  event.Records.map((r) => Buffer.from(r.kinesis.data, 'base64').toString());
const succeededData = () => globalThis.__esm.flatMap((call) => decoded(call.event));

async function onFailureFiles(): Promise<OnFailureRecord[]> {
  const names = await readdir(path.join(dir, 'dlq')).catch(() => [] as string[]);
  return Promise.all(
    names.sort().map(async (n) => JSON.parse(await readFile(path.join(dir, 'dlq', n), 'utf8'))),
  );
}

describe('event source mapping poller', () => {
  it('delivers every record in order, in batches, in the real Lambda event shape', async () => {
    const data = Array.from({ length: 25 }, (_, i) => `{"n":${i}}`);
    const sequences = await put(data);
    const otherKey = Array.from({ length: 50 }, (_, i) => `other-${i}`).find(
      (k) => shardIndexFor(hashKeyOf(k), 2) !== shardIndexFor(hashKeyOf('racer-1'), 2),
    )!;
    await put(['{"other":1}'], otherKey);
    await startPoller('ok', mapping());
    await waitFor(() => succeededData().length === 26 || undefined);
    const shardOf = (call: (typeof globalThis.__esm)[number]) => call.event.Records[0]!.eventID.split(':')[0];
    const mainShard = shardOf(globalThis.__esm.find((c) => decoded(c.event)[0] === '{"n":0}')!);
    const main = globalThis.__esm.filter((c) => shardOf(c) === mainShard);
    expect(main.map((c) => c.event.Records.length)).toEqual([10, 10, 5]);
    expect(main.flatMap((c) => decoded(c.event))).toEqual(data);
    const first = main[0]!;
    const record = first.event.Records[0]!;
    expect(record).toEqual({
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: 'racer-1',
        sequenceNumber: sequences[0],
        data: Buffer.from('{"n":0}').toString('base64'),
        approximateArrivalTimestamp: expect.any(Number),
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${mainShard}:${sequences[0]}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::000000000000:role/dev-alleycat-ingest',
      awsRegion: 'us-east-1',
      eventSourceARN: STREAM_ARN,
    });
    // Seconds since the epoch, with a fraction: Lambda's unit.
    expect(Math.abs(record.kinesis.approximateArrivalTimestamp - Date.now() / 1000)).toBeLessThan(60);
    expect(first.name).toBe('dev-alleycat-ingest');
    expect(first.remaining).toBeGreaterThan(29_000);
    expect(first.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(poller!.stats()).toMatchObject({ recordsSucceeded: 26, failedInvocations: 0, throttledPolls: 0 });
    expect(proxy.stats().throttledReads).toBe(0);
  });

  it('resumes from the reported sequence number and retries the rest whole; exhausted, it goes to the on-failure destination', async () => {
    // Lambda with bisect on: "the batch is bisected at the returned sequence number and Lambda retries only
    // the remaining records" — from the reported record on, all of it, as a retry (not halved).
    const data = ['a', 'b', 'poison-1', 'c', 'd', 'e'];
    const sequences = await put(data);
    await startPoller('partial', mapping({ maximumRetryAttempts: 1 }));
    await waitFor(async () => (await onFailureFiles()).length === 1 || undefined);
    const [failure] = await onFailureFiles();
    expect(failure).toMatchObject({
      requestContext: {
        functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:dev-alleycat-ingest',
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: 2,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      KinesisBatchInfo: {
        startSequenceNumber: sequences[2],
        endSequenceNumber: sequences[5],
        batchSize: 4,
        streamArn: STREAM_ARN,
        shardId: expect.stringMatching(/^shardId-\d{12}$/),
        approximateArrivalOfFirstRecord: expect.stringMatching(/Z$/),
      },
    });
    const batches = globalThis.__esm.map((c) => decoded(c.event).join(','));
    expect(batches).toEqual(['a,b,poison-1,c,d,e', 'poison-1,c,d,e']);
    // a and b were checkpointed by the first partial response: never delivered again.
    expect(succeededData().filter((d) => d === 'a')).toHaveLength(1);
    expect(succeededData().filter((d) => d === 'b')).toHaveLength(1);
    expect(poller!.stats().recordsDiscarded).toBe(4);
    expect(poller!.stats().bisections).toBe(0);
  });

  it('bisects a batch whose handler throws until the poison record is alone, retries it, then moves on', async () => {
    const data = ['1', '2', '3', '4', 'poison', '6', '7', '8'];
    const sequences = await put(data);
    await startPoller('throws', mapping({ maximumRetryAttempts: 2 }), { exportName: 'run' });
    await waitFor(
      async () => ((await onFailureFiles()).length === 1 && succeededData().includes('8')) || undefined,
    );
    const [failure] = await onFailureFiles();
    expect(failure!.KinesisBatchInfo).toMatchObject({ startSequenceNumber: sequences[4], batchSize: 1 });
    expect(failure!.requestContext.approximateInvokeCount).toBe(3);
    const stats = poller!.stats();
    expect(stats.bisections).toBeGreaterThanOrEqual(2);
    // Everything except the poison record was handled by a successful invocation.
    const okCalls = globalThis.__esm.filter((c) => !decoded(c.event).includes('poison'));
    expect(new Set(okCalls.flatMap((c) => decoded(c.event)))).toEqual(
      new Set(['1', '2', '3', '4', '6', '7', '8']),
    );
  });

  it('times a handler out, and without bisect discards the whole batch after the retries', async () => {
    const sequences = await put(['x', 'slow', 'y']);
    await startPoller('hangs', mapping({ bisectBatchOnFunctionError: false, maximumRetryAttempts: 1 }), {
      timeoutSeconds: 0.3,
    });
    await waitFor(async () => (await onFailureFiles()).length === 1 || undefined);
    const [failure] = await onFailureFiles();
    expect(failure!.KinesisBatchInfo).toMatchObject({
      startSequenceNumber: sequences[0],
      endSequenceNumber: sequences[2],
      batchSize: 3,
    });
    expect(globalThis.__esm).toHaveLength(2); // first try and one retry
    expect(poller!.stats()).toMatchObject({ failedInvocations: 2, recordsDiscarded: 3 });
  });

  it('sends records older than maximum_record_age to the on-failure destination without invoking', async () => {
    const sequences = await put(['old-1', 'old-2']);
    const twoHoursLater = () => Date.now() + 2 * 3600 * 1000;
    await startPoller('ok', mapping({ maximumRecordAgeInSeconds: 3600 }), { now: twoHoursLater });
    await waitFor(async () => (await onFailureFiles()).length === 1 || undefined);
    const [failure] = await onFailureFiles();
    expect(failure!.requestContext.condition).toBe('RecordAgeExceeded');
    expect(failure!.KinesisBatchInfo).toMatchObject({
      startSequenceNumber: sequences[0],
      endSequenceNumber: sequences[1],
      batchSize: 2,
    });
    expect(globalThis.__esm).toHaveLength(0);
    expect(failure!.requestContext.approximateInvokeCount).toBe(0);
    expect(failure!.responseContext).not.toHaveProperty('functionError');
  });

  it('records that age out while retried report the invocations they had and the function error', async () => {
    // The handler throws on the poison record; its failure halves the batch, which uses no retry. The clock
    // jumps past the record age as soon as that first invocation is made (the handler runs in this process).
    await put(['poison-stuck', 'ok-2']);
    await startPoller('throws', mapping({ maximumRecordAgeInSeconds: 60, maximumRetryAttempts: -1 }), {
      exportName: 'run',
      now: () => Date.now() + (globalThis.__esm.length > 0 ? 2 * 60 * 1000 : 0),
    });
    await waitFor(async () => (await onFailureFiles()).length === 1 || undefined);
    const [failure] = await onFailureFiles();
    expect(failure!.requestContext.condition).toBe('RecordAgeExceeded');
    expect(failure!.requestContext.approximateInvokeCount).toBe(1);
    expect(failure!.responseContext).toMatchObject({ functionError: 'Unhandled' });
    expect(globalThis.__esm).toHaveLength(1);
  });

  it('waits for the batching window, which begins when the previous invocation ended (as Lambda does for Kinesis)', async () => {
    const began = Date.now();
    await startPoller(
      'ok',
      mapping({ batchSize: 100, maximumBatchingWindowInSeconds: 2, startingPosition: 'LATEST' }),
    );
    await new Promise((r) => setTimeout(r, 300)); // LATEST iterator in place
    await put(['w1', 'w2']);
    await new Promise((r) => setTimeout(r, 300));
    await put(['w3']);
    await waitFor(() => succeededData().length === 3 || undefined);
    expect(globalThis.__esm).toHaveLength(1);
    expect(Date.now() - began).toBeGreaterThanOrEqual(1_900); // the first window began with the mapping
    // 1.2 s into the next window, a record waits only for the rest of it (~0.8 s), not a window of its own.
    await new Promise((r) => setTimeout(r, 1_200));
    await put(['w4']);
    const putAt = Date.now();
    await waitFor(() => succeededData().length === 4 || undefined);
    expect(Date.now() - putAt).toBeLessThan(1_600);
  });

  it('invokes before the window ends once the records fill an invocation (6 MB of event)', async () => {
    const direct = localKinesisClient(kinesalite.url); // around the limits layer: 6 MB at once
    try {
      await startPoller('ok', mapping({ batchSize: 100, maximumBatchingWindowInSeconds: 60 }));
      const big = 'x'.repeat(900 * 1024);
      for (let i = 0; i < 7; i++) {
        await direct.send(
          new PutRecordsCommand({
            StreamName: 'dev-alleycat',
            Records: [{ PartitionKey: 'racer-1', Data: new TextEncoder().encode(`${i}${big}`) }],
          }),
        );
      }
      const startedAt = Date.now();
      await waitFor(() => globalThis.__esm.length > 0 || undefined, 20_000);
      expect(Date.now() - startedAt).toBeLessThan(20_000); // long before the 60 s window
      const [first] = globalThis.__esm;
      expect(first!.event.Records.length).toBeGreaterThanOrEqual(4);
      expect(Buffer.byteLength(JSON.stringify(first!.event))).toBeLessThanOrEqual(6 * 1024 * 1024);
    } finally {
      direct.destroy();
    }
  });

  it('runs up to parallelization_factor batches of a shard at once, keeping each partition key in order', async () => {
    globalThis.__maxInFlight = 0;
    globalThis.__inFlight = 0;
    globalThis.__maxPerEnvironment = 0;
    // 8 keys on one shard, 5 records each, interleaved.
    const keys = Array.from({ length: 400 }, (_, i) => `k${i}`)
      .filter((k) => shardIndexFor(hashKeyOf(k), 2) === 0)
      .slice(0, 8);
    const sent: Array<{ key: string; data: string }> = [];
    for (let n = 0; n < 5; n++) for (const key of keys) sent.push({ key, data: `${key}#${n}` });
    const answer = await client.send(
      new PutRecordsCommand({
        StreamName: 'dev-alleycat',
        Records: sent.map((r) => ({ PartitionKey: r.key, Data: new TextEncoder().encode(r.data) })),
      }),
    );
    expect(answer.FailedRecordCount).toBe(0);
    await startPoller('concurrent', mapping({ parallelizationFactor: 4, batchSize: 3 }));
    await waitFor(() => succeededData().length === sent.length || undefined);
    expect(globalThis.__maxInFlight).toBeGreaterThan(1);
    expect(globalThis.__maxInFlight).toBeLessThanOrEqual(4);
    // Each in its own execution environment (its own copy of the module), one invocation at a time in each.
    expect(globalThis.__maxPerEnvironment).toBe(1);
    const delivered = succeededData();
    expect(new Set(delivered).size).toBe(sent.length);
    for (const key of keys) {
      expect(delivered.filter((d) => d.startsWith(`${key}#`))).toEqual(
        [0, 1, 2, 3, 4].map((n) => `${key}#${n}`),
      );
    }
  });

  it('runs its lanes independently: a slow partition key holds back only its own lane', async () => {
    // Two keys of one shard in different lanes (the lane is the key's hash modulo the factor).
    const onShard = Array.from({ length: 400 }, (_, i) => `k${i}`).filter(
      (k) => shardIndexFor(hashKeyOf(k), 2) === 0,
    );
    const slowKey = onShard.find((k) => hashKeyOf(k) % 2n === 0n)!;
    const fastKey = onShard.find((k) => hashKeyOf(k) % 2n === 1n)!;
    await startPoller('slowKey', mapping({ parallelizationFactor: 2, startingPosition: 'LATEST' }));
    await new Promise((r) => setTimeout(r, 300)); // LATEST iterator in place
    await put(['slow'], slowKey);
    await new Promise((r) => setTimeout(r, 400)); // its 2 s invocation under way
    const putAt = Date.now();
    await put(['fast-1', 'fast-2'], fastKey);
    await waitFor(() => globalThis.__esm.some((c) => decoded(c.event).includes('fast-2')) || undefined);
    const fast = globalThis.__esm.find((c) => decoded(c.event).includes('fast-2'))!;
    expect(fast.at! - putAt).toBeLessThan(1_200); // not behind the slow lane's 2 s
    expect(globalThis.__esm.some((c) => decoded(c.event).includes('slow'))).toBe(false);
    await waitFor(() => globalThis.__esm.some((c) => decoded(c.event).includes('slow')) || undefined);
  });

  it('resumes from its checkpoint after a restart: nothing delivered twice, nothing skipped', async () => {
    const checkpointDir = path.join(dir, 'checkpoints');
    await put(['before-1', 'before-2', 'before-3']);
    await startPoller('ok', mapping(), { checkpointDir });
    await waitFor(() => succeededData().length === 3 || undefined);
    await new Promise((r) => setTimeout(r, 150)); // the round that processed them writes the checkpoint
    await poller!.stop();
    await put(['while-stopped-1', 'while-stopped-2']);
    await startPoller('ok', mapping(), { checkpointDir });
    await waitFor(() => succeededData().length >= 5 || undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(succeededData()).toEqual([
      'before-1',
      'before-2',
      'before-3',
      'while-stopped-1',
      'while-stopped-2',
    ]);
  });

  it('a LATEST mapping restarted before its first batch still delivers what was written while it was down', async () => {
    const checkpointDir = path.join(dir, 'checkpoints');
    await put(['before-start']); // before the mapping existed: LATEST never delivers it
    await startPoller('ok', mapping({ startingPosition: 'LATEST' }), { checkpointDir });
    await new Promise((r) => setTimeout(r, 300)); // its LATEST iterator in place, no record since
    await poller!.stop();
    await put(['while-down']);
    await startPoller('ok', mapping({ startingPosition: 'LATEST' }), { checkpointDir });
    await put(['after-restart']);
    await waitFor(() => succeededData().length >= 2 || undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(succeededData()).toEqual(['while-down', 'after-restart']);
  });

  it('starts over on a stream deleted and recreated under the same name, ignoring the old checkpoints', async () => {
    const checkpointDir = path.join(dir, 'checkpoints');
    await put(['old-1', 'old-2']);
    await startPoller('ok', mapping(), { checkpointDir, shardDiscoveryMs: 100 });
    await waitFor(() => succeededData().length === 2 || undefined);
    await new Promise((r) => setTimeout(r, 150)); // let the checkpoint be written
    await client.send(new DeleteStreamCommand({ StreamName: 'dev-alleycat' }));
    await waitFor(() => poller!.stats().pollErrors > 0 || undefined); // it saw the stream gone
    await createStream(client, 'dev-alleycat', 2);
    await put(['new-1', 'new-2']);
    await waitFor(() => succeededData().length === 4 || undefined);
    // A poller restarted now resumes from the new stream's checkpoint: nothing again, nothing skipped.
    await poller!.stop();
    await put(['new-3']);
    await startPoller('ok', mapping(), { checkpointDir });
    await waitFor(() => succeededData().length >= 5 || undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(succeededData()).toEqual(['old-1', 'old-2', 'new-1', 'new-2', 'new-3']);
  });

  it('refuses settings Lambda refuses, naming them', () => {
    expect(
      () =>
        new EventSourceMappingPoller({
          mapping: mapping({ batchSize: 0 }),
          kinesis: client,
          kinesisEndpoint: endpoint,
          handler: async () => {},
          function: { functionName: 'f', functionArn: 'a', memoryMb: 128, timeoutSeconds: 3 },
          source: { streamArn: STREAM_ARN, region: 'us-east-1', roleArn: 'r' },
        }),
    ).toThrow(/batch_size must be 1\.\.10000, got 0/);
  });
});
