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
  /** When Kinesis accepted it (kinesalite's ApproximateArrivalTimestamp). */
  arrivedAt: number;
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
          records.push({
            shardId: shard.ShardId!,
            sequenceNumber: BigInt(record.SequenceNumber!),
            arrivedAt: record.ApproximateArrivalTimestamp?.getTime() ?? 0,
            messages,
          });
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
export function discardedBatches(fault: FaultStack): Promise<string[]> {
  return filesUnder(fault.stack.dirs.onFailure);
}

export async function pollerStats(fault: FaultStack): Promise<Record<string, number>> {
  return fault.stack.supervisor.stats(fault.part('event-source-mapping'));
}

/** The race messages in the error action's files (`errors/…` in the errors bucket): Kinesis refused them. */
export async function errorActionMessages(fault: FaultStack): Promise<RaceMessage[]> {
  const messages: RaceMessage[] = [];
  for (const file of await filesUnder(path.join(fault.stack.dirs.errorsBucket, 'errors'))) {
    const report = JSON.parse(await readFile(file, 'utf8')) as { base64OriginalPayload: string };
    const parsed = parseRaceRecord(Buffer.from(report.base64OriginalPayload, 'base64'));
    if (parsed.ok) messages.push(...parsed.messages);
  }
  return messages;
}

/** Reports the Lambda wrote for records it rejected (`invalid/…` in the errors bucket). */
export async function invalidReports(fault: FaultStack): Promise<string[]> {
  return filesUnder(path.join(fault.stack.dirs.errorsBucket, 'invalid'));
}

async function filesUnder(root: string): Promise<string[]> {
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

/** `raceId:racerId:second` of a message in the simulator's undelivered report. */
export function unsentKey(unsent: Unsent): string {
  const m = unsent.message as { raceId: number; racerId: number; second: number };
  return `${m.raceId}:${m.racerId}:${m.second}`;
}
