/**
 * Which open shard of a stream owns a hash key, from the stream's real hash-key ranges (DescribeStream), so a
 * resharded stream routes as Kinesis routes it. Pure.
 */
import { hashKeyOf } from '@alleycat/schema';

export interface ShardRange {
  shardId: string;
  start: bigint;
  end: bigint;
}

export interface DescribedShard {
  ShardId: string;
  HashKeyRange: { StartingHashKey: string; EndingHashKey: string };
  SequenceNumberRange?: { EndingSequenceNumber?: string };
}

/** Open shards (no ending sequence number), sorted by their first hash key. */
export function openShardRanges(shards: readonly DescribedShard[]): ShardRange[] {
  return shards
    .filter((s) => s.SequenceNumberRange?.EndingSequenceNumber === undefined)
    .map((s) => ({
      shardId: s.ShardId,
      start: BigInt(s.HashKeyRange.StartingHashKey),
      end: BigInt(s.HashKeyRange.EndingHashKey),
    }))
    .sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
}

/** The hash key Kinesis uses for an entry: its ExplicitHashKey if given, else MD5 of its partition key. */
export function entryHashKey(partitionKey: string, explicitHashKey?: string): bigint {
  return explicitHashKey === undefined ? hashKeyOf(partitionKey) : BigInt(explicitHashKey);
}

/** The open shard whose range holds `hashKey` (binary search), or undefined if none does. */
export function shardFor(ranges: readonly ShardRange[], hashKey: bigint): ShardRange | undefined {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const range = ranges[mid]!;
    if (hashKey < range.start) hi = mid - 1;
    else if (hashKey > range.end) lo = mid + 1;
    else return range;
  }
  return undefined;
}
