/**
 * Prints how partition-key strategies spread one second of traffic over a planned stream
 * (`pnpm tsx scripts/skew-report.ts`); the README's skew table comes from here.
 * Bikes publish on the second; the IoT rule's `timestamp()` stamps arrival within ~50 ms.
 */
import { Prng, planCapacity, shardSkew } from '../src/index.js';

console.log('| riders | shards | strategy | distinct keys | hottest shard (records/s) | hottest ÷ mean |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const riders of [1_000, 40_000]) {
  const shards = planCapacity({ riders }).shards;
  const prng = new Prng(7);
  const random = () => prng.next();
  const arrivals = Array.from({ length: riders }, (_, racerId) => ({
    racerId,
    classId: racerId % 6,
    ms: Math.floor(random() * 50),
  }));
  const keys = {
    racer: arrivals.map((a) => String(a.racerId)),
    timestamp: arrivals.map((a) => String(1_700_000_000_000 + a.ms)),
    class: arrivals.map((a) => String(a.classId)),
    random: arrivals.map(() => prng.uuid()),
  };
  for (const [strategy, list] of Object.entries(keys)) {
    const skew = shardSkew(list, shards);
    console.log(
      `| ${riders.toLocaleString('en')} | ${shards} | ${strategy} | ${skew.distinctKeys.toLocaleString('en')} | ${Math.max(...skew.perShard).toLocaleString('en')} | ${skew.hottestToMean.toFixed(2)} |`,
    );
  }
}
