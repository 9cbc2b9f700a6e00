/**
 * Races from the real simulator (`alleycat simulate`, apps/bike-client, run as a child process) through the
 * whole local stack with the real Lambda bundle: through MQTT, and straight into Kinesis (plain and
 * KPL-aggregated). The expected totals are computed here from what was sent — the bikes' messages as the
 * broker received them (MQTT), or every record read back from the stream (Kinesis) — never from the Lambda.
 * After each race, a sample of what was sent is sent again in reverse order (duplicates, reordered), and the
 * boards must not move.
 */
import { spawn } from 'node:child_process';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  INGEST_TOPIC,
  output,
  parseLeaderboardMessage,
  parseRaceRecord,
  type RaceMessage,
  RESULTS_TOPIC_FILTER,
  roundScore,
} from '@alleycat/schema';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localKinesisClient } from '../src/kinesis/client.js';
import { MetricTotals, parseEmfLine } from '../src/race/emf.js';
import { RaceBoards } from '../src/race/race-boards.js';
import { loadStackConfig, type StackConfig } from '../src/stack-config.js';
import { type RunningStack, startStack } from '../src/supervisor.js';
import {
  ALLEYCAT,
  BUNDLE,
  FIXTURE,
  FREE,
  mosquittoPub,
  readAllMessages,
  run,
  STREAM,
  waitFor,
} from './helpers.js';

let stack: RunningStack;
let dir: string;
let listener: mqtt.MqttClient;
let config: StackConfig;
const boards = new RaceBoards();
const metrics = new MetricTotals();
/** Every race message the broker received from a bike (the listener is subscribed to the ingest topic). */
const seenOnBroker: RaceMessage[] = [];

beforeAll(async () => {
  await access(BUNDLE).catch(() => {
    throw new Error(`${BUNDLE} is missing: run \`pnpm --filter "@alleycat/ingest-lambda..." build\` first`);
  });
  dir = await mkdtemp(path.join(tmpdir(), 'alleycat-race-'));
  config = await loadStackConfig(FIXTURE, 'dev-alleycat');
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
}, 180_000);

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

/**
 * Totals are sums of floating-point outputs rounded to hundredths. The Lambda adds a racer's seconds in the
 * order they arrive; a different order can land on the other side of a half-hundredth. So a total matches
 * when it is within 0.01 of the expected one. A lost or doubled second moves it by that second's output (tens
 * of units), far more than that.
 */
function sameTotal(a: number | undefined, b: number | undefined): boolean {
  return a !== undefined && b !== undefined && Math.abs(a - b) <= 0.0101;
}

function expectSameTotals(seen: Map<number, number>, expected: Map<number, number>): void {
  expect([...seen.keys()].sort()).toEqual([...expected.keys()].sort());
  const wrong = [...expected].filter(([racerId, total]) => !sameTotal(seen.get(racerId), total));
  expect(wrong.map(([racerId, total]) => [racerId, total, seen.get(racerId)])).toEqual([]);
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
        [...expected].every(([racerId, total]) => sameTotal(seen.get(racerId), total))) ||
      undefined
    );
  }, 45_000).catch(() => {
    const seen = boardTotals(raceIds);
    const wrong = [...expected].filter(([r, t]) => !sameTotal(seen.get(r), t)).slice(0, 5);
    throw new Error(
      `boards never matched (${wrong.length} shown): ${JSON.stringify(wrong.map(([r, t]) => [r, t, seen.get(r)]))}; closed: ${raceIds.map((id) => boards.get(id)?.closed)}`,
    );
  });
  expectSameTotals(boardTotals(raceIds), expected);
}

/** Every message in the stream, read straight from kinesalite (the poller's read budget stays untouched). */
function readStream(): Promise<RaceMessage[]> {
  return readAllMessages(stack, STREAM);
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

/** A small race of its own (unique raceId), as messages, with the totals they add up to. */
function miniRace(raceId: number, classId: number, racerIds: number[], seconds = 3) {
  const now = Date.now();
  const messages = racerIds.flatMap((racerId) =>
    Array.from({ length: seconds }, (_, s) => ({
      uuid: crypto.randomUUID(),
      event: s + 1 === seconds ? 'final' : 'update',
      deviceTimestamp: now + s * 1000,
      second: s + 1,
      raceId,
      name: `Client ${racerId}`,
      racerId,
      classId,
      cadence: 70 + ((racerId + s) % 40),
      resistance: 30 + ((racerId * 3 + s) % 40),
    })),
  );
  const totals = new Map<number, number>();
  for (const m of messages)
    totals.set(m.racerId, (totals.get(m.racerId) ?? 0) + output(m.cadence, m.resistance));
  return { messages, totals: new Map([...totals].map(([r, t]) => [r, roundScore(t)])) };
}

/** Standings of the latest closed board of `raceId` a client received (payloads as text). */
function closedBoardIn(payloads: readonly string[], raceId: number): Map<number, number> | undefined {
  let latest: Map<number, number> | undefined;
  for (const payload of payloads) {
    const parsed = parseLeaderboardMessage(payload);
    if (parsed.ok && parsed.leaderboard.raceId === raceId && parsed.leaderboard.closed) {
      latest = new Map(parsed.leaderboard.standings.map(([racerId, , total]) => [racerId, total]));
    }
  }
  return latest;
}

/**
 * Waits for a closed board with every racer of the race: "closed" means every racer the board knows has sent
 * its final, so a racer whose records reach the Lambda later (another shard) reopens it.
 */
async function finalBoard(
  payloads: readonly string[],
  raceId: number,
  racers: number,
): Promise<Map<number, number>> {
  return waitFor(() => {
    const board = closedBoardIn(payloads, raceId);
    return board && board.size === racers ? board : undefined;
  }, 30_000).catch(() => {
    throw new Error(
      `no closed board with ${racers} racers for race ${raceId}: last ${JSON.stringify([...(closedBoardIn(payloads, raceId) ?? [])])}`,
    );
  });
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
    expectSameTotals(boardTotals(summary.raceIds), expected);
  }, 180_000);

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
      expectSameTotals(boardTotals(summary.raceIds), expected);
    }, 180_000);
  }

  it('mosquitto_pub publishes a race and mosquitto_sub reads its leaderboard', async () => {
    const port = new URL(stack.endpoints.mqtt).port;
    const race = miniRace(880_001, 4, [8801, 8802]);
    const sub = spawn('mosquitto_sub', [
      '-h',
      '127.0.0.1',
      '-p',
      port,
      '-t',
      'alleycat-subscribe/4',
      '-q',
      '1',
    ]);
    const lines: string[] = [];
    let buffered = '';
    sub.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      lines.push(...parts);
    });
    try {
      await new Promise((r) => setTimeout(r, 500)); // let it subscribe
      for (const m of race.messages) {
        await mosquittoPub(port, `racer-${m.racerId}`, INGEST_TOPIC, JSON.stringify(m));
      }
      const board = await finalBoard(lines, 880_001, 2);
      expectSameTotals(board, race.totals);
    } finally {
      sub.kill('SIGTERM');
    }
  }, 180_000);

  it('an MQTT-over-WebSocket client publishes a race and reads its leaderboard', async () => {
    expect(stack.endpoints.ws).toMatch(/^ws:\/\/127\.0\.0\.1:\d+/);
    const race = miniRace(880_002, 5, [8811, 8812]);
    const reader = await mqtt.connectAsync(stack.endpoints.ws!, {
      clientId: 'ws-reader',
      protocolVersion: 4,
    });
    const payloads: string[] = [];
    reader.on('message', (_t, payload) => payloads.push(payload.toString()));
    await reader.subscribeAsync('alleycat-subscribe/5', { qos: 1 });
    const bikes = await Promise.all(
      [8811, 8812].map((racerId) =>
        mqtt.connectAsync(stack.endpoints.ws!, { clientId: `racer-${racerId}`, protocolVersion: 4 }),
      ),
    );
    try {
      for (const m of race.messages) {
        await bikes[m.racerId === 8811 ? 0 : 1]!.publishAsync(INGEST_TOPIC, JSON.stringify(m), { qos: 1 });
      }
      expectSameTotals(await finalBoard(payloads, 880_002, 2), race.totals);
    } finally {
      await Promise.all([reader, ...bikes].map((c) => c.endAsync(true)));
    }
  }, 180_000);

  it('aws kinesis put-record feeds a race that reaches the boards, and get-records reads it back', async () => {
    const race = miniRace(880_003, 6, [8821, 8822], 2);
    const env = {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_DEFAULT_REGION: 'eu-west-1',
      AWS_PAGER: '',
    };
    const aws = (args: string[]) =>
      run('aws', ['kinesis', ...args, '--endpoint-url', stack.endpoints.kinesis, '--output', 'json'], {
        env,
      }).then(({ stdout }) => JSON.parse(stdout));
    const sequenceOf: Record<string, string> = {};
    for (const m of race.messages) {
      // fileb:// sends the file's bytes as they are, with AWS CLI v1 and v2 alike (their text blobs differ).
      const file = path.join(dir, `${m.uuid}.json`);
      await writeFile(file, JSON.stringify(m));
      const put = await aws([
        'put-record',
        '--stream-name',
        STREAM,
        '--partition-key',
        String(m.racerId),
        '--data',
        `fileb://${file}`,
      ]);
      sequenceOf[m.uuid] = put.SequenceNumber;
    }
    await waitFor(
      () => (boards.get(880_003)?.closed && boardTotals([880_003]).size === 2 ? true : undefined),
      30_000,
    ).catch(() => {
      const race = boards.get(880_003);
      throw new Error(
        `race 880003 never closed with both racers: ${JSON.stringify(race && { ...race, standings: [...race.standings], names: [] })}, Lambda metrics ${JSON.stringify(metrics.totals)}`,
      );
    });
    expectSameTotals(boardTotals([880_003]), race.totals);

    const first = race.messages[0]!;
    const put = await aws(['describe-stream', '--stream-name', STREAM]);
    // The emulator's ARN is the stack's (region and account), the one in the Lambda's events.
    expect(put.StreamDescription.StreamARN).toBe(config.streams.find((s) => s.name === STREAM)?.arn);
    const shardIds = put.StreamDescription.Shards.map((s: { ShardId: string }) => s.ShardId);
    let found: RaceMessage | undefined;
    for (const shardId of shardIds) {
      const { ShardIterator } = await aws([
        'get-shard-iterator',
        '--stream-name',
        STREAM,
        '--shard-id',
        shardId,
        '--shard-iterator-type',
        'AT_SEQUENCE_NUMBER',
        '--starting-sequence-number',
        sequenceOf[first.uuid]!,
      ]).catch(() => ({ ShardIterator: undefined }));
      if (!ShardIterator) continue;
      const page = await aws(['get-records', '--shard-iterator', ShardIterator, '--limit', '1']);
      const data = page.Records?.[0]?.Data;
      if (data) {
        const parsed = parseRaceRecord(Buffer.from(data, 'base64'));
        if (parsed.ok && parsed.messages[0]?.uuid === first.uuid) found = parsed.messages[0];
      }
    }
    expect(found).toMatchObject({ raceId: 880_003, racerId: first.racerId, second: 1 });
  }, 180_000);
});
