/** Deterministic benchmark data: race messages as Kinesis records, one batch per second of the race. */
import {
  encodeRaceMessage,
  hashKeyOf,
  partitionKeyFor,
  type RaceMessage,
  shardIndexFor,
} from '@alleycat/schema';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

export function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const T0 = 1_764_250_000_000;
const STREAM_ARN = 'arn:aws:kinesis:eu-west-1:123456789012:stream/dev-alleycat';

export interface Scenario {
  racers: number;
  races: number;
  seconds: number;
  shards: number;
  /** Mark each racer's last second `final`. */
  finals?: boolean;
  seed?: number;
  /** Races each racer rides back to back (default 1): new race ids, same classes, so bests carry over. */
  rounds?: number;
}

let sequence = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898n;

export function record(
  data: Uint8Array,
  partitionKey: string,
  shard: number,
  arrivalMs: number,
): KinesisStreamRecord {
  sequence += 17n;
  const sequenceNumber = sequence.toString();
  const shardId = `shardId-${String(shard).padStart(12, '0')}`;
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey,
      sequenceNumber,
      data: Buffer.from(data).toString('base64'),
      approximateArrivalTimestamp: arrivalMs / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/alleycat-ingest',
    awsRegion: 'eu-west-1',
    eventSourceARN: STREAM_ARN,
  };
}

export function message(
  racerId: number,
  races: number,
  second: number,
  random: () => number,
  round = 0,
  roundSeconds = 0,
): RaceMessage {
  return {
    event: 'update',
    deviceTimestamp: T0 + (round * roundSeconds + second) * 1000 + Math.floor(random() * 50),
    second,
    raceId: 5_402_746 + (racerId % races) + round * races,
    name: `Rider ${racerId}`,
    racerId,
    classId: racerId % races,
    cadence: Math.round((50 + random() * 60) * 10) / 10,
    resistance: Math.round((40 + random() * 50) * 10) / 10,
    uuid: crypto.randomUUID(),
  };
}

/**
 * Batches as Lambda delivers them with a one-second batching window: per second, one batch per shard,
 * holding that second of every racer whose partition key (racerId) hashes to the shard.
 */
const shardCache = new Map<string, number>();
/** The shard of a racer's records in a stream of `shards` shards (as Kinesis hashes its partition key). */
export function shardOf(racerId: number, shards: number): number {
  const key = `${racerId}/${shards}`;
  let shard = shardCache.get(key);
  if (shard === undefined) {
    shard = shardIndexFor(hashKeyOf(String(racerId)), shards);
    shardCache.set(key, shard);
  }
  return shard;
}

export function batches(s: Scenario): Array<{ shard: number; second: number; event: KinesisStreamEvent }> {
  const random = mulberry32(s.seed ?? 7);
  const out: Array<{ shard: number; second: number; event: KinesisStreamEvent }> = [];
  const rounds = s.rounds ?? 1;
  for (let tick = 0; tick < s.seconds * rounds; tick++) {
    const round = Math.floor(tick / s.seconds);
    const second = tick % s.seconds;
    const perShard: KinesisStreamRecord[][] = Array.from({ length: s.shards }, () => []);
    for (let racerId = 0; racerId < s.racers; racerId++) {
      const m = message(racerId, s.races, second, random, round, s.seconds);
      if (s.finals && second === s.seconds - 1) m.event = 'final';
      // The shard Kinesis picks: MD5 of the partition key (racerId). Not `racerId % shards`: with races
      // assigned by `racerId % races`, that put each race on one or two shards and hid most cross-shard writes.
      const shard = shardOf(racerId, s.shards);
      perShard[shard]!.push(
        record(Buffer.from(encodeRaceMessage(m)), partitionKeyFor(m), shard, m.deviceTimestamp + 120),
      );
    }
    perShard.forEach((records, shard) => {
      if (records.length > 0) out.push({ shard, second: tick, event: { Records: records } });
    });
  }
  return out;
}
