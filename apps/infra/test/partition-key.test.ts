/**
 * Why the ingest rule keys records by racer (README § Partition key): one second of traffic, bikes publishing on
 * the second and IoT stamping arrival within ~50 ms, spread over the shards `planCapacity` gives. The numbers
 * printed here are the ones the README quotes.
 */
import {
  DEFAULT_PARTITION_KEY_STRATEGY,
  KINESIS_SHARD_WRITE_RECORDS_PER_SECOND,
  Prng,
  partitionKeyFor,
  planCapacity,
  shardSkew,
} from '@alleycat/schema';
import { describe, expect, it } from 'vitest';

function oneSecond(riders: number) {
  const shards = planCapacity({ riders }).shards;
  const prng = new Prng(7);
  const random = () => prng.next();
  const second = 1_700_000_000_000;
  const messages = Array.from({ length: riders }, (_, racerId) => ({
    racerId,
    classId: racerId % 6,
    // `${timestamp()}` is IoT Core's arrival time in ms: within ~50 ms of the second the bikes publish on.
    deviceTimestamp: second + Math.floor(random() * 50),
    uuid: `${racerId}-${second}`,
  }));
  const skew = (strategy: 'racer' | 'timestamp' | 'class' | 'random') =>
    shardSkew(
      messages.map((m) => partitionKeyFor(m, strategy)),
      shards,
    );
  return {
    shards,
    racer: skew('racer'),
    timestamp: skew('timestamp'),
    class: skew('class'),
    random: skew('random'),
  };
}

describe('partition key strategy', () => {
  it('defaults to racer', () => {
    expect(DEFAULT_PARTITION_KEY_STRATEGY).toBe('racer');
  });

  it.each([1_000, 40_000])(
    'racer keys spread %i riders evenly; timestamp and class keys make hot shards',
    (riders) => {
      const r = oneSecond(riders);
      const row = (name: string, s: ReturnType<typeof shardSkew>) =>
        `${name}: hottest/mean ${s.hottestToMean.toFixed(2)}, hottest shard ${Math.max(...s.perShard)} rec/s`;
      console.info(
        `[infra] ${riders} riders on ${r.shards} shards — ${[
          row('racer', r.racer),
          row('timestamp', r.timestamp),
          row('class', r.class),
          row('random', r.random),
        ].join('; ')}`,
      );
      expect(r.racer.hottestToMean).toBeLessThan(1.1);
      // No shard above its 1,000 records/s with racer keys…
      expect(Math.max(...r.racer.perShard)).toBeLessThan(KINESIS_SHARD_WRITE_RECORDS_PER_SECOND);
      // …while class keys always overload one (6 classes), and timestamp keys do at 40,000 riders.
      expect(Math.max(...r.class.perShard)).toBeGreaterThanOrEqual(KINESIS_SHARD_WRITE_RECORDS_PER_SECOND);
      if (riders === 40_000) {
        expect(r.timestamp.hottestToMean).toBeGreaterThan(4);
        expect(Math.max(...r.timestamp.perShard)).toBeGreaterThan(KINESIS_SHARD_WRITE_RECORDS_PER_SECOND);
      }
    },
  );
});
