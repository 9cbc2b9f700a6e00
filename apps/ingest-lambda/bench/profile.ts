/**
 * `node --cpu-prof --import tsx bench/profile.ts`: the handler's CPU path alone (the benchmark's corpus,
 * in-memory store and publisher), repeated, for a CPU profile of where a record's time goes.
 */
import { encodeLeaderboardBytes, type LeaderboardMessage } from '@alleycat/schema';
import { MemoryInvalidRecordSink } from '../src/invalid-sink.js';
import { MemoryStateStore } from '../src/memory-store.js';
import { IngestProcessor } from '../src/processor.js';
import { batches, type Scenario, T0 } from './corpus.js';
import { VirtualTime } from './virtual-time.js';

const REPEAT = Number(process.env['PROFILE_REPEAT'] ?? 10);
const scenario: Scenario = { racers: 1_000, races: 6, seconds: 30, shards: 1 };
const list = batches(scenario);
const noop = () => {};
let published = 0;
const start = process.cpuUsage();
for (let i = 0; i < REPEAT; i++) {
  const time = new VirtualTime(T0);
  const store = new MemoryStateStore();
  const processor = new IngestProcessor({
    store,
    publisher: {
      async publish(_topic: string, m: LeaderboardMessage) {
        published += encodeLeaderboardBytes(m).byteLength > 0 ? 1 : 0;
      },
    },
    sink: new MemoryInvalidRecordSink(),
    logger: { debug: noop, info: noop, warn: noop, error: noop, appendKeys: noop, removeKeys: noop },
    metrics: { addMetric: noop },
    resultsTopicPrefix: 'alleycat-subscribe',
    raceTimeoutSeconds: 120,
    clock: time.clock,
    wait: time.wait,
  });
  await time.run([
    async () => {
      for (const b of list) {
        await time.at(T0 + b.second * 1000 + 600);
        await processor.process(b.event);
      }
    },
  ]);
}
const used = process.cpuUsage(start);
const records = list.reduce((n, b) => n + b.event.Records.length, 0) * REPEAT;
console.log(
  `${records} records, ${published} leaderboard messages: ${((used.user + used.system) / records).toFixed(2)} µs CPU per record`,
);
