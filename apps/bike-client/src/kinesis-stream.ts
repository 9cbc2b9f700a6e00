/** Stream administration the CLI needs: check that a stream is writable, and create one for local use. */
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  ListShardsCommand,
  ListStreamsCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import { classifyRequestError } from './classify.js';
import type { StreamInfo } from './types.js';

/** The stream's status and shard count; throws a classified `KinesisRequestError` when it cannot. */
export async function describeStream(client: KinesisClient, streamName: string): Promise<StreamInfo> {
  try {
    const { StreamDescriptionSummary: s } = await client.send(
      new DescribeStreamSummaryCommand({ StreamName: streamName }),
    );
    return {
      streamName,
      status: s?.StreamStatus ?? 'UNKNOWN',
      openShards: s?.OpenShardCount ?? 0,
    };
  } catch (error) {
    throw classifyRequestError(error);
  }
}

/** Up to `limit` stream names at the endpoint, for an error that says which exist; [] when it cannot list. */
export async function streamNames(client: KinesisClient, limit = 10): Promise<string[]> {
  try {
    const { StreamNames } = await client.send(new ListStreamsCommand({ Limit: limit }));
    return StreamNames ?? [];
  } catch {
    return [];
  }
}

/** Creates the stream if it does not exist and waits until it is ACTIVE (for local emulators). */
export async function ensureStream(
  client: KinesisClient,
  streamName: string,
  shards: number,
  timeoutMs = 30_000,
): Promise<StreamInfo> {
  try {
    await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw classifyRequestError(error);
    try {
      await client.send(new CreateStreamCommand({ StreamName: streamName, ShardCount: shards }));
    } catch (createError) {
      if ((createError as Error).name !== 'ResourceInUseException') throw classifyRequestError(createError);
    }
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await describeStream(client, streamName);
    if (info.status === 'ACTIVE') return info;
    if (Date.now() > deadline)
      throw new Error(`stream ${streamName} is still ${info.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Open shards with their hash-key ranges (what an aggregating producer groups records by). */
export async function listShardRanges(
  client: KinesisClient,
  streamName: string,
): Promise<Array<{ shardId: string; start: bigint; end: bigint }>> {
  const shards: Array<{ shardId: string; start: bigint; end: bigint }> = [];
  let nextToken: string | undefined;
  try {
    do {
      const page = await client.send(
        new ListShardsCommand(nextToken ? { NextToken: nextToken } : { StreamName: streamName }),
      );
      for (const shard of page.Shards ?? []) {
        if (shard.SequenceNumberRange?.EndingSequenceNumber !== undefined) continue; // closed
        shards.push({
          shardId: shard.ShardId!,
          start: BigInt(shard.HashKeyRange!.StartingHashKey!),
          end: BigInt(shard.HashKeyRange!.EndingHashKey!),
        });
      }
      nextToken = page.NextToken;
    } while (nextToken);
  } catch (error) {
    throw classifyRequestError(error);
  }
  return shards.sort((a, b) => (a.start < b.start ? -1 : 1));
}
