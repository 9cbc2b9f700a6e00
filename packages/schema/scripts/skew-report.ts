/**
 * Prints how partition-key strategies spread one second of traffic over a planned stream
 * (`pnpm tsx scripts/skew-report.ts`); the README's skew table comes from here.
 * Bikes publish on the second; the IoT rule's `timestamp()` stamps arrival within ~50 ms.
 */
import { planCapacity, shardSkew } from '../src/index.js';

function mulberry32(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

console.log('| riders | shards | strategy | distinct keys | hottest shard (records/s) | hottest ÷ mean |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const riders of [1_000, 40_000]) {
  const shards = planCapacity({ riders }).shards;
  const random = mulberry32(7);
  const arrivals = Array.from({ length: riders }, (_, racerId) => ({
    racerId,
    classId: racerId % 6,
    ms: Math.floor(random() * 50),
  }));
  const keys = {
    racer: arrivals.map((a) => String(a.racerId)),
    timestamp: arrivals.map((a) => String(1_700_000_000_000 + a.ms)),
    class: arrivals.map((a) => String(a.classId)),
    random: arrivals.map(() => crypto.randomUUID()),
  };
  for (const [strategy, list] of Object.entries(keys)) {
    const skew = shardSkew(list, shards);
    console.log(
      `| ${riders.toLocaleString('en')} | ${shards} | ${strategy} | ${skew.distinctKeys.toLocaleString('en')} | ${Math.max(...skew.perShard).toLocaleString('en')} | ${skew.hottestToMean.toFixed(2)} |`,
    );
  }
}
