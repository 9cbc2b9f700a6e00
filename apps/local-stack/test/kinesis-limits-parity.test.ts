/**
 * JSON vs CBOR parity: one script of Kinesis calls — writes past the shard limits, oversized and malformed
 * requests, StreamARN addressing, reads past 5 calls/s — run once by SDK v3 (JSON 1.1) and once by a
 * Java-SDK-style CBOR client, each against its own kinesalite + limits layer on the same manual clock.
 * Every answer must be the same (status, error code and message, per-entry results, records), apart from
 * what differs between any two streams (sequence numbers, iterators, arrival times).
 */
import { hashKeyOf, KIB, MIB, shardIndexFor } from '@alleycat/schema';
import {
  DescribeStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { afterEach, describe, expect, it } from 'vitest';
import type { KinesisLimitsStats } from '../src/kinesis/limits-proxy.js';
import { createStream, manualClock } from './helpers.js';
import {
  decodeJavaStyle,
  encodeJavaStyle,
  JavaStyleCborKinesis,
  KinesisCborError,
} from './java-cbor-client.js';
import { startLimitsHarness } from './limits-harness.js';

type Params = Record<string, unknown>;
type Outcome = { status: number; answer: unknown } | { status: number; error: string; message: string };

interface Side {
  /** The outcome to compare, and the answer itself (undefined for an error) for the script's next steps. */
  call(operation: string, params: Params): Promise<{ outcome: Outcome; answer?: unknown }>;
  advance(ms: number): void;
  stats(): KinesisLimitsStats;
}

const running: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of running.splice(0)) await stop();
});

async function startSide(format: 'json' | 'cbor'): Promise<Side> {
  const clock = manualClock();
  const limits = await startLimitsHarness({ now: clock.now });
  const { proxy, viaProxy: sdk } = limits;
  const java = new JavaStyleCborKinesis(limits.url);
  running.push(async () => {
    java.destroy();
    await limits.close();
  });
  await createStream(limits.direct, 'parity', 2);
  const viaSdk = async (operation: string, params: Params): Promise<unknown> => {
    // biome-ignore lint/suspicious/noExplicitAny: the script's params are each command's input
    const input = params as any;
    switch (operation) {
      case 'PutRecords':
        return sdk.send(new PutRecordsCommand(input));
      case 'PutRecord':
        return sdk.send(new PutRecordCommand(input));
      case 'GetShardIterator':
        return sdk.send(new GetShardIteratorCommand(input));
      case 'GetRecords':
        return sdk.send(new GetRecordsCommand(input));
      case 'DescribeStreamSummary':
        return sdk.send(new DescribeStreamSummaryCommand(input));
      case 'DescribeStream':
        return sdk.send(new DescribeStreamCommand(input));
      case 'ListShards':
        return sdk.send(new ListShardsCommand(input));
      default:
        throw new Error(`no SDK command for ${operation}`);
    }
  };
  return {
    async call(operation, params) {
      try {
        const answer =
          format === 'json' ? await viaSdk(operation, params) : await java.send(operation, params);
        return { outcome: { status: 200, answer: canonical(answer) }, answer };
      } catch (error) {
        if (error instanceof KinesisCborError) {
          return { outcome: { status: error.status, error: error.errorCode ?? '?', message: error.message } };
        }
        const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
        if (e.$metadata?.httpStatusCode === undefined) throw error;
        return { outcome: { status: e.$metadata.httpStatusCode, error: e.name, message: e.message } };
      }
    },
    advance: clock.advance,
    stats: () => proxy.stats(),
  };
}

/** An answer with what differs between any two streams replaced by its type. */
function canonical(value: unknown, member?: string): unknown {
  if (value instanceof Uint8Array) return `bytes:${Buffer.from(value).toString('hex')}`;
  if (value instanceof Date) return 'Date';
  if (
    member === 'SequenceNumber' ||
    member === 'ShardIterator' ||
    member === 'NextShardIterator' ||
    member === 'MillisBehindLatest'
  ) {
    return typeof value;
  }
  if (Array.isArray(value)) return value.map((item) => canonical(item));
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      if (key !== '$metadata' && item !== undefined) out[key] = canonical(item, key);
    }
    return out;
  }
  return value;
}

const shardOf = (key: string) => shardIndexFor(hashKeyOf(key), 2);
function keysOn(shard: number, count: number, prefix: string): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++)
    if (shardOf(`${prefix}${i}`) === shard) keys.push(`${prefix}${i}`);
  return keys;
}
const record = (key: string, bytes = 64) => ({ PartitionKey: key, Data: Buffer.alloc(bytes, key.length) });

/** The script both clients run; it returns every outcome in order. */
async function script(side: Side): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  const step = async (operation: string, params: Params) => {
    const { outcome, answer } = await side.call(operation, params);
    outcomes.push(outcome);
    // biome-ignore lint/suspicious/noExplicitAny: the script reads the few members it needs
    return answer as any;
  };
  const summary = await step('DescribeStreamSummary', { StreamName: 'parity' });
  const arn: string = summary.StreamDescriptionSummary.StreamARN;
  const hot = keysOn(0, 1200, 'hot-');
  const cold = keysOn(1, 200, 'cold-');

  await step('PutRecords', { StreamName: 'parity', Records: hot.slice(0, 500).map((k) => record(k)) });
  // 400 hot + 100 cold by ARN: the hot shard reaches exactly 900.
  await step('PutRecords', {
    StreamARN: arn,
    Records: [...hot.slice(500, 900), ...cold.slice(0, 100)].map((k) => record(k)),
  });
  // 200 hot + 50 cold, interleaved: the first 100 hot pass, the rest are throttled; every cold one passes.
  const mixed = hot.slice(900, 1100).flatMap((k, i) => (i % 4 === 0 ? [cold[100 + i / 4]!, k] : [k]));
  await step('PutRecords', { StreamName: 'parity', Records: mixed.map((k) => record(k)) });
  await step('PutRecord', { StreamName: 'parity', ...record(hot[1100]!) });
  await step('PutRecord', { StreamARN: arn, ...record(cold[199]!) });
  side.advance(300);
  // 300 records' worth of tokens are back, and the byte bucket is full again: the bytes limit the batch now.
  await step('PutRecords', {
    StreamName: 'parity',
    Records: hot.slice(1101, 1112).map((k) => record(k, 100 * KIB)),
  });
  await step('PutRecords', {
    StreamName: 'parity',
    Records: [record(hot[0]!), { ...record('x'), PartitionKey: '' }],
  });
  await step('PutRecords', { StreamName: 'parity', Records: hot.slice(0, 6).map((k) => record(k, MIB)) });
  await step('PutRecords', { StreamName: 'absent', Records: [record('k')] });
  await step('PutRecord', { StreamName: 'parity', PartitionKey: 'k', Data: Buffer.alloc(MIB + 1) });

  side.advance(1000);
  const iterator = await step('GetShardIterator', {
    StreamARN: arn,
    ShardId: 'shardId-000000000000',
    ShardIteratorType: 'TRIM_HORIZON',
  });
  let next: string = iterator.ShardIterator;
  for (let i = 0; i < 6; i++) {
    const page = await step('GetRecords', { ShardIterator: next, Limit: i === 0 ? 10_000 : 10 });
    if (page !== undefined) next = page.NextShardIterator;
  }
  side.advance(1000);
  await step('GetRecords', { ShardIterator: next });
  await step('GetRecords', { ShardIterator: 'AAAAAAAAAAE=' });
  // What a polling KCL worker also calls; and a timestamp in a request (an hour ago: before the stream).
  await step('ListShards', { StreamARN: arn });
  await step('DescribeStream', { StreamName: 'parity' });
  const atTime = await step('GetShardIterator', {
    StreamName: 'parity',
    ShardId: 'shardId-000000000001',
    ShardIteratorType: 'AT_TIMESTAMP',
    Timestamp: new Date(Date.now() - 3_600_000),
  });
  await step('GetRecords', { ShardIterator: atTime?.ShardIterator, Limit: 5 });
  return outcomes;
}

describe('Kinesis limits layer: JSON and CBOR clients get the same answers', () => {
  it('runs one script through SDK v3 (JSON) and a Java-style CBOR client with identical results', async () => {
    const [json, cbor] = await Promise.all([startSide('json'), startSide('cbor')]);
    const jsonOutcomes = await script(json);
    const cborOutcomes = await script(cbor);

    // The script did what it is meant to: throttled writes, a throttled read, errors of each kind.
    const summary = jsonOutcomes.map((o) =>
      'error' in o
        ? `${o.status} ${o.error}`
        : `${o.status} ${(o.answer as { FailedRecordCount?: number }).FailedRecordCount ?? ''}`.trim(),
    );
    expect(summary).toEqual([
      '200',
      '200 0',
      '200 0',
      '200 100',
      '400 ProvisionedThroughputExceededException',
      '200',
      '200 1',
      '400 ValidationException',
      '400 InvalidArgumentException',
      '400 ResourceNotFoundException',
      '400 ValidationException',
      '200',
      '200',
      '200',
      '200',
      '200',
      '200',
      '400 ProvisionedThroughputExceededException',
      '200',
      '400 InvalidArgumentException',
      '200',
      '200',
      '200',
      '200',
    ]);
    const firstPage = jsonOutcomes[12] as { answer: { Records: unknown[] } };
    expect(firstPage.answer.Records).toHaveLength(500 + 400 + 100 + 10);
    const description = jsonOutcomes[21] as { answer: { StreamDescription: Record<string, unknown> } };
    expect(description.answer.StreamDescription['StreamCreationTimestamp']).toBe('Date');
    const fromAnHourAgo = jsonOutcomes[23] as { answer: { Records: Array<{ PartitionKey: string }> } };
    expect(fromAnHourAgo.answer.Records.map((r) => r.PartitionKey)).toEqual(
      keysOn(1, 200, 'cold-').slice(0, 5),
    );

    expect(cborOutcomes).toEqual(jsonOutcomes);
    const { cborRequests: jsonCbor, ...jsonStats } = json.stats();
    const { cborRequests, ...cborStats } = cbor.stats();
    expect(cborStats).toEqual(jsonStats);
    expect([jsonCbor, cborRequests]).toEqual([0, jsonStats.requests]);
  }, 60_000);

  it('names the error in x-amzn-ErrorType in both formats, also for errors kinesalite answers', async () => {
    const limits = await startLimitsHarness();
    running.push(limits.close);
    const url = new URL(limits.url);
    const request = { StreamName: 'absent', PartitionKey: 'k', Data: Buffer.from('x') };
    const json = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'Kinesis_20131202.PutRecord',
      },
      body: JSON.stringify({ ...request, Data: request.Data.toString('base64') }),
    });
    const cbor = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-cbor-1.1',
        'x-amz-target': 'Kinesis_20131202.PutRecord',
      },
      body: encodeJavaStyle(request),
    });
    const expected = {
      __type: 'ResourceNotFoundException',
      message: 'Stream absent under account 000000000000 not found.',
    };
    expect([json.status, cbor.status]).toEqual([400, 400]);
    expect([json.headers.get('x-amzn-errortype'), cbor.headers.get('x-amzn-errortype')]).toEqual([
      'ResourceNotFoundException:',
      'ResourceNotFoundException:',
    ]);
    expect(await json.json()).toEqual(expected);
    expect(decodeJavaStyle(Buffer.from(await cbor.arrayBuffer()))).toEqual(expected);
  });
});
