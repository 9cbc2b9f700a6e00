import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validMessage } from '../test/fixtures.js';
import {
  HASH_KEY_SPACE,
  hashKeyOf,
  InvalidArgumentError,
  PARTITION_KEY_TEMPLATES,
  Prng,
  partitionKeyFor,
  planCapacity,
  shardHashRanges,
  shardIndexFor,
  shardSkew,
} from './index.js';

describe('partition keys', () => {
  it('derives keys per strategy', () => {
    const m = validMessage({
      racerId: 12,
      classId: 3,
      deviceTimestamp: 1620824038331,
      uuid: '123e4567-e89b-12d3-a456-426614174000',
    });
    expect(partitionKeyFor(m)).toBe('12');
    expect(partitionKeyFor(m, 'racer')).toBe('12');
    expect(partitionKeyFor(m, 'class')).toBe('3');
    expect(partitionKeyFor(m, 'timestamp')).toBe('1620824038331');
    expect(partitionKeyFor(m, 'random')).toBe(m.uuid);
    const { uuid: _, ...noUuid } = m;
    expect(partitionKeyFor(noUuid, 'random')).toMatch(/^[0-9a-f-]{36}$/);
    expect(() => partitionKeyFor(m, 'nope' as 'racer')).toThrow(InvalidArgumentError);
  });

  it('matches the ingest rule templates field for field', () => {
    expect(PARTITION_KEY_TEMPLATES.racer).toBe('${racerId}');
    expect(PARTITION_KEY_TEMPLATES.class).toBe('${classId}');
  });

  it('hashes like Kinesis: MD5 as a big-endian 128-bit integer', () => {
    // md5("0") = cfcd208495d565ef66e7dff9f98764da
    expect(hashKeyOf('0')).toBe(0xcfcd208495d565ef66e7dff9f98764dan);
    // Keys are hashed as UTF-8 bytes: 'é' is c3 a9.
    const md5OfBytes = createHash('md5').update(Uint8Array.of(0xc3, 0xa9)).digest('hex');
    expect(hashKeyOf('é')).toBe(BigInt(`0x${md5OfBytes}`));
  });

  it('splits the hash space as CreateStream does (last shard takes the remainder)', () => {
    const ranges = shardHashRanges(3);
    expect(ranges[0]!.start).toBe(0n);
    expect(ranges[2]!.end).toBe(HASH_KEY_SPACE - 1n);
    expect(ranges[1]!.start).toBe(ranges[0]!.end + 1n);
    expect(shardIndexFor(ranges[1]!.start, 3)).toBe(1);
    expect(shardIndexFor(ranges[1]!.start - 1n, 3)).toBe(0);
    expect(shardIndexFor(HASH_KEY_SPACE - 1n, 3)).toBe(2);
    expect(() => shardIndexFor(HASH_KEY_SPACE, 3)).toThrow(InvalidArgumentError);
    expect(() => shardIndexFor(0n, 0)).toThrow(InvalidArgumentError);
    // A number where the hash key (a bigint) belongs: named, not a TypeError from mixing the two.
    expect(() => shardIndexFor(5 as unknown as bigint, 2)).toThrow(/hashKey: must be a bigint/);
    for (const shards of [0, -1, 2.5, Number.NaN])
      expect(() => shardSkew(['a'], shards)).toThrow(InvalidArgumentError);
    expect(() => shardSkew([], 0)).toThrow(InvalidArgumentError);
  });

  it('puts every hash key in the range that holds it', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 1, max: 64 }), (key, shards) => {
        const hash = hashKeyOf(key);
        const index = shardIndexFor(hash, shards);
        const range = shardHashRanges(shards)[index]!;
        expect(hash >= range.start && hash <= range.end).toBe(true);
      }),
    );
  });

  it('shows why timestamp keys make hot shards and racer keys spread load (40,000 riders)', () => {
    const riders = 40_000;
    const shards = planCapacity({ riders }).shards; // 50
    const prng = new Prng(7);
    const random = () => prng.next();
    // Bikes publish on the second; IoT stamps arrival within ~50 ms. One second of traffic:
    const arrivals = Array.from({ length: riders }, (_, racerId) => ({
      racerId,
      classId: racerId % 6,
      ms: Math.floor(random() * 50),
    }));
    const second = 1_700_000_000_000;
    const byRacer = shardSkew(
      arrivals.map((a) => String(a.racerId)),
      shards,
    );
    const byTimestamp = shardSkew(
      arrivals.map((a) => String(second + a.ms)),
      shards,
    );
    const byClass = shardSkew(
      arrivals.map((a) => String(a.classId)),
      shards,
    );
    expect(byRacer.hottestToMean).toBeLessThan(1.2);
    expect(byTimestamp.distinctKeys).toBeLessThanOrEqual(50);
    expect(byTimestamp.hottestToMean).toBeGreaterThan(2.5);
    expect(byClass.hottestToMean).toBeGreaterThan(5);
    // The hottest timestamp shard would have to take more than a shard's 1,000 records/s.
    expect(Math.max(...byTimestamp.perShard)).toBeGreaterThan(1_000);
    expect(Math.max(...byRacer.perShard)).toBeLessThan(1_000);
  });

  it('reports zero skew for no records', () => {
    expect(shardSkew([], 4)).toEqual({ perShard: [0, 0, 0, 0], hottestToMean: 0, distinctKeys: 0 });
  });
});
