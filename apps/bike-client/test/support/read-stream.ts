/** Reads everything in a (kinesalite) stream, shard by shard, in sequence order. */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';

export interface StoredRecord {
  shardId: string;
  sequenceNumber: string;
  partitionKey: string;
  data: Uint8Array;
}

export async function readStream(client: KinesisClient, streamName: string): Promise<StoredRecord[]> {
  const { Shards = [] } = await client.send(new ListShardsCommand({ StreamName: streamName }));
  const all: StoredRecord[] = [];
  for (const shard of Shards) {
    let { ShardIterator: iterator } = await client.send(
      new GetShardIteratorCommand({
        StreamName: streamName,
        ShardId: shard.ShardId!,
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    while (iterator) {
      const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const r of page.Records ?? []) {
        all.push({
          shardId: shard.ShardId!,
          sequenceNumber: r.SequenceNumber!,
          partitionKey: r.PartitionKey!,
          data: r.Data!,
        });
      }
      if ((page.Records ?? []).length === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return all;
}
