import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { decodeRecord } from '@alleycat/kinesis-agg';
import { LAMBDA_BUNDLE, parseRaceRecord, type RaceMessage } from '@alleycat/schema';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  type _Record as KinesisRecord,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import type { EventSourceMappingConfig } from '../src/esm/poller.js';
import { localKinesisClient } from '../src/kinesis/client.js';
import type { RunningStack } from '../src/supervisor.js';

export const run = promisify(execFile);

/** Debian's `mosquitto_pub` publishing one QoS 1 message, as client `clientId`, to the broker on 127.0.0.1. */
export function mosquittoPub(port: string | number, clientId: string, topic: string, message: string) {
  return run('mosquitto_pub', [
    ...['-h', '127.0.0.1', '-p', String(port), '-i', clientId, '-q', '1'],
    ...['-t', topic, '-m', message],
  ]);
}

/** Paths and settings the stack-level tests share. */
export const REPO = path.join(import.meta.dirname, '..', '..', '..');
/** The bike-client CLI, run as a child process (apps do not import each other). */
export const ALLEYCAT = path.join(REPO, 'apps', 'bike-client', 'bin', 'alleycat.mjs');
/** The Lambda bundle that apps/infra deploys. */
export const BUNDLE = path.join(REPO, 'apps', 'ingest-lambda', LAMBDA_BUNDLE.directory, LAMBDA_BUNDLE.file);
/** A copy of the synthesized stack (apps/infra), so these tests do not depend on a synth having run. */
export const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'cdk.tf.json');
/** Port 0 for every part: each gets a free port. */
export const FREE = { mqtt: 0, mqttWs: 0, kinesis: 0, kinesalite: 0, dynamodb: 0, iotData: 0 };
/** The stream the fixture's stack defines. */
export const STREAM = 'dev-alleycat';

/** An event source mapping on `STREAM` with the tests' defaults (bisect, partial responses, 2 retries). */
export function mappingConfig(overrides: Partial<EventSourceMappingConfig> = {}): EventSourceMappingConfig {
  return {
    streamName: STREAM,
    batchSize: 1000,
    maximumBatchingWindowInSeconds: 0,
    startingPosition: 'TRIM_HORIZON',
    parallelizationFactor: 1,
    bisectBatchOnFunctionError: true,
    maximumRetryAttempts: 2,
    maximumRecordAgeInSeconds: 3600,
    reportBatchItemFailures: true,
    ...overrides,
  };
}

/** Whether a process is still running (signal 0 checks without touching it). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function createStream(client: KinesisClient, name: string, shards: number): Promise<void> {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  for (let i = 0; i < 200; i++) {
    const summary = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (summary.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`stream ${name} never became ACTIVE`);
}

/** Every record in `stream`, shard by shard in the order ListShards gives, oldest first in each shard. */
export async function storedRecords(client: KinesisClient, stream: string): Promise<KinesisRecord[]> {
  const shards = (await client.send(new ListShardsCommand({ StreamName: stream }))).Shards ?? [];
  const out: KinesisRecord[] = [];
  for (const shard of shards) {
    let { ShardIterator: iterator } = await client.send(
      new GetShardIteratorCommand({
        StreamName: stream,
        ShardId: shard.ShardId,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    for (;;) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      const records = page.Records ?? [];
      if (records.length === 0) break;
      out.push(...records);
      iterator = page.NextShardIterator;
    }
  }
  return out;
}

/** A clock the test moves by hand. */
export function manualClock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Every race message in `stream`, read straight from kinesalite (behind the limits layer, so the event source
 * mapping's read budget is untouched), KPL aggregates and batches expanded.
 */
export async function readAllMessages(stack: RunningStack, stream: string): Promise<RaceMessage[]> {
  const kinesalite = stack.supervisor.running().find((p) => p.name === 'kinesalite')!.urls['kinesalite']!;
  const client = localKinesisClient(kinesalite);
  const messages: RaceMessage[] = [];
  try {
    const { Shards } = await client.send(new ListShardsCommand({ StreamName: stream }));
    for (const shard of Shards ?? []) {
      let { ShardIterator: iterator } = await client.send(
        new GetShardIteratorCommand({
          StreamName: stream,
          ShardId: shard.ShardId!,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      while (iterator) {
        const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
        for (const record of page.Records ?? []) {
          for (const user of decodeRecord(record.Data!, record.PartitionKey!).records) {
            const parsed = parseRaceRecord(user.data);
            if (parsed.ok) messages.push(...parsed.messages);
          }
        }
        if ((page.Records ?? []).length === 0) break;
        iterator = page.NextShardIterator;
      }
    }
  } finally {
    client.destroy();
  }
  return messages;
}
