/**
 * Partition keys and where Kinesis puts them: MD5 of the key's UTF-8 bytes, read as a big-endian 128-bit
 * integer, lands in the shard whose hash-key range holds it. Streams created with N shards split
 * [0, 2^128) evenly (the last shard takes the remainder), which is what `shardIndexFor` assumes.
 */
import { createHash, randomUUID } from 'node:crypto';
import { InvalidArgumentError } from './errors.js';
import type { RaceMessage } from './types.js';

/**
 * - `racer`: one racer's seconds stay in order on one shard, and 1,000+ racers spread evenly (the default).
 * - `class`: a class's messages in order on one shard; few classes means few hot shards.
 * - `timestamp`: like the seed's `${timestamp()}` (IoT's clock when the rule ran); a producer writing to Kinesis
 *   itself has no such clock and uses the bike's `deviceTimestamp`, so the keys differ but bunch alike: bikes
 *   publish on the second, and shards run hot.
 * - `random`: the message uuid (or a fresh one): even spread, no order.
 */
export const PARTITION_KEY_STRATEGIES = ['racer', 'class', 'timestamp', 'random'] as const;
export type PartitionKeyStrategy = (typeof PARTITION_KEY_STRATEGIES)[number];
export const DEFAULT_PARTITION_KEY_STRATEGY: PartitionKeyStrategy = 'racer';

/**
 * The partition key a producer writing straight to Kinesis uses: for `racer` and `class` the very key the
 * ingest rule's template gives (`${racerId}`, `${classId}`); for `timestamp`, see above.
 */
export function partitionKeyFor(
  message: Pick<RaceMessage, 'racerId' | 'classId' | 'deviceTimestamp' | 'uuid'>,
  strategy: PartitionKeyStrategy = DEFAULT_PARTITION_KEY_STRATEGY,
): string {
  switch (strategy) {
    case 'racer':
      return String(message.racerId);
    case 'class':
      return String(message.classId);
    case 'timestamp':
      return String(message.deviceTimestamp);
    case 'random':
      return message.uuid ?? randomUUID();
    default:
      throw new InvalidArgumentError(
        'strategy',
        `unknown partition key strategy ${JSON.stringify(strategy)}`,
      );
  }
}

export const HASH_KEY_SPACE = 1n << 128n;

/** The 128-bit hash key Kinesis derives from a partition key. */
export function hashKeyOf(partitionKey: string): bigint {
  return BigInt(`0x${createHash('md5').update(partitionKey, 'utf8').digest('hex')}`);
}

/** The shard (0-based) owning `hashKey` in a stream of `shardCount` evenly split shards. */
export function shardIndexFor(hashKey: bigint, shardCount: number): number {
  checkShardCount(shardCount);
  if (typeof hashKey !== 'bigint' || hashKey < 0n || hashKey >= HASH_KEY_SPACE) {
    throw new InvalidArgumentError(
      'hashKey',
      `must be a bigint in [0, 2^128) (hashKeyOf gives one), got ${typeof hashKey} ${String(hashKey)}`,
    );
  }
  const width = HASH_KEY_SPACE / BigInt(shardCount);
  const index = Number(hashKey / width);
  return Math.min(index, shardCount - 1);
}

function checkShardCount(shardCount: number): void {
  if (!Number.isInteger(shardCount) || shardCount < 1) {
    throw new InvalidArgumentError('shardCount', `must be a positive integer, got ${shardCount}`);
  }
}

/** The hash-key range of each shard, as CreateStream splits it: `[start, end]` inclusive. */
export function shardHashRanges(shardCount: number): Array<{ start: bigint; end: bigint }> {
  checkShardCount(shardCount);
  const width = HASH_KEY_SPACE / BigInt(shardCount);
  return Array.from({ length: shardCount }, (_, i) => ({
    start: width * BigInt(i),
    end: (i < shardCount - 1 ? width * BigInt(i + 1) : HASH_KEY_SPACE) - 1n,
  }));
}

export interface ShardSkew {
  /** Records per shard. */
  perShard: number[];
  /** Records on the busiest shard ÷ the mean per shard: 1 is perfectly even; N means one shard takes all. */
  hottestToMean: number;
  /** Distinct partition keys seen. */
  distinctKeys: number;
}

/** How evenly `partitionKeys` (one per record) spread over `shardCount` shards. */
export function shardSkew(partitionKeys: Iterable<string>, shardCount: number): ShardSkew {
  checkShardCount(shardCount);
  const perShard = new Array<number>(shardCount).fill(0);
  const shardOfKey = new Map<string, number>();
  let total = 0;
  for (const key of partitionKeys) {
    let shard = shardOfKey.get(key);
    if (shard === undefined) {
      shard = shardIndexFor(hashKeyOf(key), shardCount);
      shardOfKey.set(key, shard);
    }
    perShard[shard]! += 1;
    total += 1;
  }
  const mean = total / shardCount;
  return {
    perShard,
    hottestToMean: total === 0 ? 0 : Math.max(...perShard) / mean,
    distinctKeys: shardOfKey.size,
  };
}
