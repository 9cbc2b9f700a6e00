/**
 * `pnpm bench`: the codec against, in the same run, aws-kinesis-agg 4.2.8 (the awslabs implementation) and
 * the Lambda's floor (base64 + JSON.parse of un-aggregated records). Rounds are interleaved so machine noise
 * hits every candidate alike; the median round is reported, in user records per second on one core.
 */
import { createRequire } from 'node:module';
import { encodeRaceMessage, Prng, partitionKeyFor, type RaceMessage } from '@alleycat/schema';
import { aggregate, deaggregate, type UserRecordInput } from '../src/index.js';

const MESSAGES = 20_000;
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 11);

interface KplModule {
  deaggregateSync(
    record: { data: string; partitionKey: string; sequenceNumber: string },
    computeChecksums: boolean,
    callback: (err: Error | null | undefined, records?: { data: string }[]) => void,
  ): void;
  RecordAggregator: new () => {
    aggregateRecords(
      records: { partitionKey: string; data: Buffer }[],
      forceFlush: boolean,
      onReady: (err: Error | null, encoded: { data: Buffer }) => void,
    ): void;
  };
}
const kpl = createRequire(import.meta.url)('aws-kinesis-agg') as KplModule;

/** 1,000 racers in 6 classes, second by second, keyed by racer (the schema's default strategy). */
function corpus(): UserRecordInput[] {
  const prng = new Prng(7);
  const random = () => prng.next();
  return Array.from({ length: MESSAGES }, (_, i) => {
    const racerId = i % 1_000;
    const message: RaceMessage = {
      event: 'update',
      deviceTimestamp: 1_620_824_038_331 + i,
      second: Math.floor(i / 1_000) + 1,
      raceId: 5_402_746 + (racerId % 6),
      name: `Rider ${racerId}`,
      racerId,
      classId: racerId % 6,
      cadence: Math.round((50 + random() * 60) * 10) / 10,
      resistance: Math.round((40 + random() * 50) * 10) / 10,
      uuid: crypto.randomUUID(),
    };
    return { partitionKey: partitionKeyFor(message), data: Buffer.from(encodeRaceMessage(message)) };
  });
}

const records = corpus();
const singles = records.map((r) => Buffer.from(r.data).toString('base64'));
const aggregates = aggregate(records).map((e) => ({
  data: Buffer.from(e.data).toString('base64'),
  partitionKey: e.partitionKey,
  sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
}));
let sink = 0;

const candidates: Record<string, () => void> = {
  'floor: base64 + JSON.parse, one record each': () => {
    for (const b64 of singles) sink += JSON.parse(Buffer.from(b64, 'base64').toString()).second;
  },
  'ours: base64 + deaggregate': () => {
    for (const a of aggregates) sink += deaggregate(Buffer.from(a.data, 'base64')).length;
  },
  'ours: base64 + deaggregate + JSON.parse': () => {
    for (const a of aggregates) {
      for (const r of deaggregate(Buffer.from(a.data, 'base64'))) {
        sink += JSON.parse((r.data as Buffer).toString()).second;
      }
    }
  },
  'aws-kinesis-agg: deaggregateSync (checksums on)': () => {
    for (const a of aggregates) {
      kpl.deaggregateSync(a, true, (err, out) => {
        if (err) throw err;
        sink += out!.length;
      });
    }
  },
  'aws-kinesis-agg: deaggregateSync + base64 + JSON.parse': () => {
    for (const a of aggregates) {
      kpl.deaggregateSync(a, true, (err, out) => {
        if (err) throw err;
        for (const r of out!) sink += JSON.parse(Buffer.from(r.data, 'base64').toString()).second;
      });
    }
  },
  'ours: aggregate (encode, 25 KiB)': () => {
    sink += aggregate(records).length;
  },
  'aws-kinesis-agg: RecordAggregator (encode, 1 MiB)': () => {
    new kpl.RecordAggregator().aggregateRecords(
      records as { partitionKey: string; data: Buffer }[],
      true,
      (_e, enc) => {
        sink += enc.data.length;
      },
    );
  },
  'ours: aggregate (encode, 1 MiB)': () => {
    sink += aggregate(records, { maxBytes: 1024 * 1024 }).length;
  },
};

const times: Record<string, number[]> = Object.fromEntries(Object.keys(candidates).map((k) => [k, []]));
for (const run of Object.values(candidates)) run(); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(candidates)) {
    const start = process.hrtime.bigint();
    run();
    times[name]!.push(Number(process.hrtime.bigint() - start) / 1e9);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rate: Record<string, number> = {};
for (const [name, xs] of Object.entries(times)) rate[name] = MESSAGES / median(xs);

const bytes = records.reduce((n, r) => n + r.data.length, 0);
console.log(
  `${MESSAGES} race messages (${(bytes / MESSAGES).toFixed(0)} B avg) → ${aggregates.length} aggregates of ≤ 25 KiB; ` +
    `median of ${ROUNDS} interleaved rounds, Node ${process.version}`,
);
for (const [name, r] of Object.entries(rate)) {
  console.log(`${name.padEnd(58)} ${(r / 1e6).toFixed(2).padStart(6)} M records/s`);
}
const ratio = (a: string, b: string) => (rate[a]! / rate[b]!).toFixed(2);
console.log('\nratios');
console.log(
  `decode, ours / aws-kinesis-agg:               ${ratio('ours: base64 + deaggregate', 'aws-kinesis-agg: deaggregateSync (checksums on)')}×`,
);
console.log(
  `decode + JSON.parse, ours / aws-kinesis-agg:  ${ratio('ours: base64 + deaggregate + JSON.parse', 'aws-kinesis-agg: deaggregateSync + base64 + JSON.parse')}×`,
);
console.log(
  `decode + JSON.parse, ours / floor:            ${ratio('ours: base64 + deaggregate + JSON.parse', 'floor: base64 + JSON.parse, one record each')}×`,
);
console.log(
  `encode at 1 MiB, ours / aws-kinesis-agg:      ${ratio('ours: aggregate (encode, 1 MiB)', 'aws-kinesis-agg: RecordAggregator (encode, 1 MiB)')}×`,
);
if (sink === 0) console.log('(sink)');
