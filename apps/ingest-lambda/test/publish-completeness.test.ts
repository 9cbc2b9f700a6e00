/**
 * Publish completeness, over many random schedules: two shards' invocations and the scheduled sweep run
 * concurrently in virtual time against one store, with racers that join late, send out of order, repeat
 * seconds, send batches of scattered seconds, finish with `final` and go on sending, or fall silent. Once the
 * stream goes quiet, the sweep must publish a board that shows every racer the store counted, with the
 * stored totals — whatever the interleaving. (The hostile-input fuzzer in apps/local-stack checks the same
 * end to end; this reaches far more interleavings, deterministically: a failure names its seed.)
 */
import { type LeaderboardMessage, Prng, type RaceMessage, roundScore, toBatch } from '@alleycat/schema';
import type { KinesisStreamRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { VirtualTime } from '../bench/virtual-time.js';
import { MemoryInvalidRecordSink } from '../src/invalid-sink.js';
import { MemoryStateStore } from '../src/memory-store.js';
import { IngestProcessor } from '../src/processor.js';
import { event, json, kinesisRecord, raceMessage } from './helpers/events.js';
import { RecordingLogger, RecordingMetrics } from './helpers/fakes.js';

const T0 = 1_764_250_000_000;
const RACE = 42;
const SHARDS = 2;
const SWEEP_EVERY_MS = 2_000;
const SCHEDULES = Number(process.env['PUBLISH_SCHEDULES'] ?? 300);

interface Delivery {
  shard: number;
  atMs: number;
  records: KinesisStreamRecord[];
}

/** One random race: what each shard is delivered, and when. */
function schedule(seed: number): { deliveries: Delivery[]; lastAtMs: number } {
  const prng = new Prng(seed);
  const int = (n: number) => Math.floor(prng.next() * n);
  const racers = 2 + int(5);
  const seconds = 3 + int(8);
  const deliveries: Delivery[] = [];
  let lastAtMs = T0;
  const deliver = (racerId: number, second: number, data: Uint8Array) => {
    // Each shard gets its racers' records up to ~1.2 s late, sometimes several seconds late.
    const lateMs = int(10) === 0 ? 1_000 + int(4_000) : int(1_200);
    const atMs = T0 + second * 1_000 + lateMs;
    lastAtMs = Math.max(lastAtMs, atMs);
    const shard = racerId % SHARDS;
    deliveries.push({
      shard,
      atMs,
      records: [
        kinesisRecord(data, {
          shardId: `shardId-00000000000${shard}`,
          partitionKey: String(racerId),
          arrivalMs: atMs,
        }),
      ],
    });
  };
  for (let racerId = 1; racerId <= racers; racerId++) {
    const joins = int(3) === 0 ? int(seconds) : 0;
    const stops = int(4) === 0 ? joins + int(seconds - joins) : seconds - 1;
    const finalAt = int(3) === 0 ? stops : -1;
    const sent: RaceMessage[] = [];
    for (let s = joins; s <= stops; s++) {
      const m = raceMessage(RACE, racerId, s, s === finalAt ? { event: 'final' } : {});
      sent.push(m);
      if (int(8) === 0) sent.push(m); // a duplicate
    }
    if (finalAt >= 0 && int(2) === 0) sent.push(raceMessage(RACE, racerId, stops + 1 + int(3))); // after final
    // Some racers' seconds go as batches of scattered seconds (as a bike catching up after a dropout).
    if (int(3) === 0 && sent.length > 1) {
      for (let i = sent.length - 1; i > 0; i--) {
        const j = int(i + 1);
        [sent[i], sent[j]] = [sent[j]!, sent[i]!];
      }
      for (let i = 0; i < sent.length; ) {
        const n = 1 + int(4);
        const part = sent.slice(i, i + n);
        deliver(racerId, Math.max(...part.map((m) => m.second)), json(toBatch(part)));
        i += n;
      }
    } else {
      for (const m of sent) deliver(racerId, m.second + (int(6) === 0 ? int(3) : 0), json(m));
    }
  }
  return { deliveries, lastAtMs };
}

/** The race as the latest boards show it (parts of one publish assembled; an older board never overrides). */
function shownTotals(published: LeaderboardMessage[]): Map<number, number> {
  const totals = new Map<number, number>();
  let latest = -1;
  for (const board of published) {
    if (board.raceId !== RACE || board.second < latest) continue;
    latest = board.second;
    for (const [racerId, , total] of board.standings) totals.set(racerId, total);
  }
  return totals;
}

async function run(seed: number) {
  const { deliveries, lastAtMs } = schedule(seed);
  const time = new VirtualTime(T0);
  const store = new MemoryStateStore();
  const published: LeaderboardMessage[] = [];
  const processor = () =>
    new IngestProcessor({
      store,
      publisher: {
        async publish(_topic: string, message: LeaderboardMessage) {
          published.push(message);
        },
      },
      sink: new MemoryInvalidRecordSink(),
      logger: new RecordingLogger(),
      metrics: new RecordingMetrics(),
      resultsTopicPrefix: 'alleycat-subscribe',
      raceTimeoutSeconds: 120,
      clock: time.clock,
      wait: time.wait,
    });
  const shards = Array.from({ length: SHARDS }, processor);
  const sweeper = processor();
  const quietUntil = lastAtMs + 12_000;
  await time.run([
    // Each shard: one invocation at a time, with whatever has arrived by the time it is free.
    ...shards.map((shard, index) => async () => {
      const mine = deliveries.filter((d) => d.shard === index).sort((a, b) => a.atMs - b.atMs);
      let next = 0;
      while (next < mine.length) {
        await time.at(mine[next]!.atMs);
        const batch: KinesisStreamRecord[] = [];
        while (next < mine.length && mine[next]!.atMs <= time.now) batch.push(...mine[next++]!.records);
        const response = await shard.process(event(batch));
        expect(response.batchItemFailures, `seed ${seed}`).toEqual([]);
      }
    }),
    async () => {
      for (let at = T0 + SWEEP_EVERY_MS; at <= quietUntil; at += SWEEP_EVERY_MS) {
        await time.at(at);
        await sweeper.sweep();
      }
    },
  ]);
  const board = await store.loadBoard(RACE);
  const stored = new Map([...(board?.racers.values() ?? [])].map((r) => [r.racerId, roundScore(r.total)]));
  return { stored, shown: shownTotals(published), publishes: published.length };
}

describe('IngestProcessor: publish completeness over random schedules', () => {
  it(`once the stream is quiet, the boards show every racer with the stored total (${SCHEDULES} schedules)`, async () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= SCHEDULES && failures.length < 5; seed++) {
      const { stored, shown, publishes } = await run(seed);
      expect(stored.size, `seed ${seed}`).toBeGreaterThan(0);
      const wrong = [...stored].filter(([racerId, total]) => shown.get(racerId) !== total);
      if (wrong.length > 0) {
        failures.push(
          `seed ${seed}: ${publishes} publishes; ${wrong.map(([r, t]) => `racer ${r} stored ${t}, shown ${shown.get(r)}`).join('; ')}`,
        );
      }
    }
    expect(failures).toEqual([]);
  }, 120_000);
});
