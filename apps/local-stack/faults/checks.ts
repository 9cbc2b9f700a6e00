/** What a fault test reads after the race: the producer's unsent report, the DLQ folder, the poller's counters. */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeRecord } from '@alleycat/kinesis-agg';
import { parseRaceRecord, type RaceMessage } from '@alleycat/schema';
import { GetRecordsCommand, GetShardIteratorCommand, ListShardsCommand } from '@aws-sdk/client-kinesis';
import { localKinesisClient } from '../src/kinesis/client.js';
import { type FaultStack, STREAM } from './fault-stack.js';

export interface StreamRecord {
  shardId: string;
  sequenceNumber: bigint;
  messages: RaceMessage[];
}

/** Every record of the stream with its shard and sequence number, read straight from kinesalite. */
export async function readRecords(fault: FaultStack): Promise<StreamRecord[]> {
  const client = localKinesisClient(fault.part('kinesalite').urls['kinesalite']!);
  const records: StreamRecord[] = [];
  try {
    const { Shards } = await client.send(new ListShardsCommand({ StreamName: STREAM }));
    for (const shard of Shards ?? []) {
      let { ShardIterator: iterator } = await client.send(
        new GetShardIteratorCommand({
          StreamName: STREAM,
          ShardId: shard.ShardId!,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      while (iterator) {
        const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
        for (const record of page.Records ?? []) {
          const messages: RaceMessage[] = [];
          for (const user of decodeRecord(record.Data!, record.PartitionKey!).records) {
            const parsed = parseRaceRecord(user.data);
            if (parsed.ok) messages.push(...parsed.messages);
          }
          records.push({ shardId: shard.ShardId!, sequenceNumber: BigInt(record.SequenceNumber!), messages });
        }
        if ((page.Records ?? []).length === 0) break;
        iterator = page.NextShardIterator;
      }
    }
  } finally {
    client.destroy();
  }
  return records;
}

export interface DiscardedRange {
  shardId: string;
  start: bigint;
  end: bigint;
  batchSize: number;
  condition: string;
}

/** The shard and sequence range of each batch in the on-failure destination (AWS's on-failure record shape). */
export async function discardedRanges(fault: FaultStack): Promise<DiscardedRange[]> {
  const ranges: DiscardedRange[] = [];
  for (const file of await discardedBatches(fault)) {
    const record = JSON.parse(await readFile(file, 'utf8')) as {
      requestContext: { condition: string };
      KinesisBatchInfo: {
        shardId: string;
        startSequenceNumber: string;
        endSequenceNumber: string;
        batchSize: number;
      };
    };
    const info = record.KinesisBatchInfo;
    ranges.push({
      shardId: info.shardId,
      start: BigInt(info.startSequenceNumber),
      end: BigInt(info.endSequenceNumber),
      batchSize: info.batchSize,
      condition: record.requestContext.condition,
    });
  }
  return ranges;
}

export function inRanges(record: StreamRecord, ranges: readonly DiscardedRange[]): boolean {
  return ranges.some(
    (r) => r.shardId === record.shardId && record.sequenceNumber >= r.start && record.sequenceNumber <= r.end,
  );
}

/** A line of the simulator's `--undelivered-file` (apps/bike-client `writeUndelivered`). */
export interface Unsent {
  errorCode: string;
  errorMessage: string;
  attempts?: number;
  /** The message as it would have been sent (parsed JSON, or the raw text when it was not JSON). */
  message: unknown;
}

/** The producer's undelivered report (NDJSON); absent when nothing was undelivered. */
export async function readUnsent(file: string): Promise<Unsent[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Unsent);
}

/** Files the event source mapping wrote to its on-failure destination (batches it gave up on). */
export async function discardedBatches(fault: FaultStack): Promise<string[]> {
  const root = fault.stack.dirs.onFailure;
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else found.push(full);
    }
  };
  await walk(root);
  return found;
}

export async function pollerStats(fault: FaultStack): Promise<Record<string, number>> {
  return fault.stack.supervisor.stats(fault.part('event-source-mapping'));
}
