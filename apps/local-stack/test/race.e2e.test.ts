/**
 * Races from the real simulator (`alleycat simulate`, apps/bike-client, run as a child process) through the
 * whole local stack with the real Lambda bundle: through MQTT, and straight into Kinesis (plain and
 * KPL-aggregated). The expected totals are computed here from what was sent — the bikes' messages as the
 * broker received them (MQTT), or every record read back from the stream (Kinesis) — never from the Lambda.
 * After each race, a sample of what was sent is sent again in reverse order (duplicates, reordered), and the
 * boards must not move.
 */
import { execFile } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { decodeRecord } from '@alleycat/kinesis-agg';
import {
  INGEST_TOPIC,
  LAMBDA_BUNDLE,
  output,
  parseLeaderboardMessage,
  parseRaceRecord,
  type RaceMessage,
  RESULTS_TOPIC_FILTER,
  roundScore,
} from '@alleycat/schema';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localKinesisClient } from '../src/kinesis/client.js';
import { MetricTotals, parseEmfLine } from '../src/race/emf.js';
import { RaceBoards } from '../src/race/race-boards.js';
import { loadStackConfig } from '../src/stack-config.js';
import { type RunningStack, startStack } from '../src/supervisor.js';
import { waitFor } from './helpers.js';

const run = promisify(execFile);
const REPO = path.join(import.meta.dirname, '..', '..', '..');
const ALLEYCAT = path.join(REPO, 'apps', 'bike-client', 'bin', 'alleycat.mjs');
const BUNDLE = path.join(REPO, 'apps', 'ingest-lambda', LAMBDA_BUNDLE.directory, LAMBDA_BUNDLE.file);
const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'cdk.tf.json');
const FREE = { mqtt: 0, mqttWs: 0, kinesis: 0, kinesalite: 0, dynamodb: 0, iotData: 0 };
const STREAM = 'dev-alleycat';

let stack: RunningStack;
let dir: string;
let listener: mqtt.MqttClient;
const boards = new RaceBoards();
const metrics = new MetricTotals();
/** Every race message the broker received from a bike (the listener is subscribed to the ingest topic). */
const seenOnBroker: RaceMessage[] = [];

beforeAll(async () => {
  await access(BUNDLE).catch(() => {
    throw new Error(`${BUNDLE} is missing: run \`pnpm --filter @alleycat/ingest-lambda build\` first`);
  });
  dir = await mkdtemp(path.join(tmpdir(), 'alleycat-race-'));
  const config = await loadStackConfig(FIXTURE, 'dev-alleycat');
  stack = await startStack({
    config,
    ports: FREE,
    dataDir: dir,
    bundle: BUNDLE,
    onOutput: (line) => {
      const emf = parseEmfLine(line);
      if (emf) metrics.add(emf);
    },
  });
  listener = await mqtt.connectAsync(stack.endpoints.mqtt, { clientId: 'race-watcher', protocolVersion: 4 });
  listener.on('message', (topic, payload) => {
    if (topic === INGEST_TOPIC) {
      const parsed = parseRaceRecord(payload);
      if (parsed.ok) seenOnBroker.push(...parsed.messages);
      return;
    }
    const board = parseLeaderboardMessage(payload);
    if (board.ok) boards.receive(board.leaderboard, Date.now());
  });
  await listener.subscribeAsync([RESULTS_TOPIC_FILTER, INGEST_TOPIC], { qos: 1 });
}, 60_000);

afterAll(async () => {
  await listener?.endAsync(true);
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Summary {
  messages: number;
  delivered: number;
  failed: number;
  raceIds: number[];
}

async function simulate(args: string[]): Promise<Summary> {
  const { stdout } = await run(
    process.execPath,
    [ALLEYCAT, 'simulate', '--json', '--classes=3', '--seconds=12', '--speedup=4', ...args],
    {
      env: {
        ...process.env,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_REGION: 'eu-west-1',
      },
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  return JSON.parse(stdout) as Summary;
}

/** Totals per (race, racer) from messages, each (race, racer, second) counted once. */
function expectedTotals(messages: readonly RaceMessage[], raceIds: readonly number[]): Map<number, number> {
  const seconds = new Map<string, RaceMessage>();
  for (const m of messages) {
    if (raceIds.includes(m.raceId)) seconds.set(`${m.raceId}:${m.racerId}:${m.second}`, m);
  }
  const sums = new Map<number, number>();
  for (const m of seconds.values())
    sums.set(m.racerId, (sums.get(m.racerId) ?? 0) + output(m.cadence, m.resistance));
  return new Map([...sums].map(([racerId, sum]) => [racerId, roundScore(sum)]));
}

function boardTotals(raceIds: readonly number[]): Map<number, number> {
  const totals = new Map<number, number>();
  for (const id of raceIds) {
    for (const [racerId, standing] of boards.get(id)?.standings ?? []) totals.set(racerId, standing[2]);
  }
  return totals;
}

async function expectBoardsToMatch(expected: Map<number, number>, raceIds: readonly number[]): Promise<void> {
  await waitFor(() => {
    const seen = boardTotals(raceIds);
    return (
      (raceIds.every((id) => boards.get(id)?.closed) &&
        [...expected].every(([racerId, total]) => seen.get(racerId) === total)) ||
      undefined
    );
  }, 45_000).catch(() => {
    const seen = boardTotals(raceIds);
    const wrong = [...expected].filter(([r, t]) => seen.get(r) !== t).slice(0, 5);
    throw new Error(
      `boards never matched (${wrong.length} shown): ${JSON.stringify(wrong.map(([r, t]) => [r, t, seen.get(r)]))}; closed: ${raceIds.map((id) => boards.get(id)?.closed)}`,
    );
  });
  expect(boardTotals(raceIds)).toEqual(expected);
}

/** Every message in the stream, read straight from kinesalite (behind the limits layer, so the poller's read budget is untouched). */
async function readStream(): Promise<RaceMessage[]> {
  const kinesalite = stack.supervisor.running().find((p) => p.name === 'kinesalite')!.urls['kinesalite']!;
  const client = localKinesisClient(kinesalite);
  const messages: RaceMessage[] = [];
  try {
    const { Shards } = await client.send(new ListShardsCommand({ StreamName: STREAM }));
    for (const shard of Shards ?? []) {
      let { ShardIterator: iterator } = await client.send(
        new GetShardIteratorCommand({
          StreamName: STREAM,
          ShardId: shard.ShardId!,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      while (iterator) {
        const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
        for (const record of page.Records ?? []) {
          for (const user of decodeRecord(record.Data!, record.PartitionKey!).records) {
            const parsed = parseRaceRecord(user.data);
            if (parsed.ok) messages.push(...parsed.messages);
          }
        }
        if ((page.Records ?? []).length === 0) break;
        iterator = page.NextShardIterator;
      }
    }
  } finally {
    client.destroy();
  }
  return messages;
}

/** Sends `messages` again, newest first, as PutRecords through the limits layer (the producer's shape). */
async function resendToKinesis(messages: readonly RaceMessage[]): Promise<void> {
  const client = localKinesisClient(stack.endpoints.kinesis);
  try {
    const result = await client.send(
      new PutRecordsCommand({
        StreamName: STREAM,
        Records: [...messages].reverse().map((m) => ({
          Data: Buffer.from(JSON.stringify(m)),
          PartitionKey: String(m.racerId),
        })),
      }),
    );
    expect(result.FailedRecordCount).toBe(0);
  } finally {
    client.destroy();
  }
}

function sample(messages: readonly RaceMessage[], raceIds: readonly number[], every: number): RaceMessage[] {
  return messages.filter((m, i) => raceIds.includes(m.raceId) && i % every === 0);
}

describe('races from the simulator through the local stack, checked against what was sent', () => {
  it('through MQTT (QoS 1): boards equal the totals of the bikes’ messages; duplicates and reordering change nothing', async () => {
    const summary = await simulate([
      '--via=mqtt',
      `--mqtt-url=${stack.endpoints.mqtt}`,
      '--qos=1',
      '--riders=90',
      '--first-racer=1',
      '--seed=11',
    ]);
    expect(summary).toMatchObject({ messages: 90 * 12, delivered: 90 * 12, failed: 0 });
    await waitFor(() => seenOnBroker.length >= summary.messages || undefined);
    const expected = expectedTotals(seenOnBroker, summary.raceIds);
    expect(expected.size).toBe(90);
    await expectBoardsToMatch(expected, summary.raceIds);

    // Duplicates, reordered: a tenth of the race again, newest first, from a bike reconnecting as one of the racers.
    const duplicatesBefore = metrics.get('DuplicateSeconds');
    const again = sample(seenOnBroker, summary.raceIds, 10);
    const bikes = new Map<number, mqtt.MqttClient>();
    for (const m of [...again].reverse()) {
      let bike = bikes.get(m.racerId);
      if (!bike) {
        bike = await mqtt.connectAsync(stack.endpoints.mqtt, {
          clientId: `racer-${m.racerId}`,
          protocolVersion: 4,
        });
        bikes.set(m.racerId, bike);
      }
      await bike.publishAsync(INGEST_TOPIC, JSON.stringify(m), { qos: 1 });
    }
    await Promise.all([...bikes.values()].map((b) => b.endAsync()));
    await waitFor(
      () => metrics.get('DuplicateSeconds') - duplicatesBefore >= again.length || undefined,
      20_000,
    );
    expect(boardTotals(summary.raceIds)).toEqual(expected);
  }, 120_000);

  for (const aggregate of [false, true]) {
    it(`straight into Kinesis${aggregate ? ' (KPL-aggregated)' : ''}: boards equal the totals of the stream’s records; duplicates change nothing`, async () => {
      const summary = await simulate([
        '--via=kinesis',
        `--kinesis-endpoint=${stack.endpoints.kinesis}`,
        `--stream=${STREAM}`,
        '--region=eu-west-1',
        '--riders=120',
        `--first-racer=${aggregate ? 2001 : 1001}`,
        `--seed=${aggregate ? 13 : 12}`,
        ...(aggregate ? ['--aggregate'] : []),
      ]);
      expect(summary).toMatchObject({ messages: 120 * 12, delivered: 120 * 12, failed: 0 });
      const inStream = (await readStream()).filter((m) => summary.raceIds.includes(m.raceId));
      expect(inStream.length).toBeGreaterThanOrEqual(summary.messages);
      const expected = expectedTotals(inStream, summary.raceIds);
      expect(expected.size).toBe(120);
      await expectBoardsToMatch(expected, summary.raceIds);

      const duplicatesBefore = metrics.get('DuplicateSeconds');
      const again = sample(inStream, summary.raceIds, 7);
      await resendToKinesis(again);
      await waitFor(
        () => metrics.get('DuplicateSeconds') - duplicatesBefore >= again.length || undefined,
        20_000,
      );
      expect(boardTotals(summary.raceIds)).toEqual(expected);
    }, 120_000);
  }
});
