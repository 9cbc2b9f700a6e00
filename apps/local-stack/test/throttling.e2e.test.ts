import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { INGEST_TOPIC, parseRaceRecord, type RaceMessage } from '@alleycat/schema';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadStackConfig } from '../src/stack-config.js';
import { type RunningStack, startStack } from '../src/supervisor.js';
import { ALLEYCAT, BUNDLE, FIXTURE, FREE, readAllMessages, run, STREAM, waitFor } from './helpers.js';

let stack: RunningStack;
let dir: string;
let watcher: mqtt.MqttClient;
const seenOnBroker: RaceMessage[] = [];

beforeAll(async () => {
  await access(BUNDLE);
  dir = await mkdtemp(path.join(tmpdir(), 'alleycat-throttle-'));
  const config = await loadStackConfig(FIXTURE, 'dev-alleycat');
  for (const stream of config.streams) stream.shardCount = 1;
  stack = await startStack({ config, ports: FREE, dataDir: dir, bundle: BUNDLE, onOutput: () => {} });
  watcher = await mqtt.connectAsync(stack.endpoints.mqtt, {
    clientId: 'throttle-watcher',
    protocolVersion: 4,
  });
  watcher.on('message', (_topic, payload) => {
    const parsed = parseRaceRecord(payload);
    if (parsed.ok) seenOnBroker.push(...parsed.messages);
  });
  await watcher.subscribeAsync(INGEST_TOPIC, { qos: 0 });
}, 180_000);

afterAll(async () => {
  await watcher?.endAsync(true);
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const key = (m: RaceMessage) => `${m.raceId}:${m.racerId}:${m.second}`;

async function simulate(args: string[]): Promise<Record<string, number> & { raceIds: number[] }> {
  const { stdout } = await run(process.execPath, [ALLEYCAT, 'simulate', '--json', '--classes=2', ...args], {
    env: {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: 'eu-west-1',
    },
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout);
}

/** Every message in the stream, read straight from kinesalite (the poller's read budget stays untouched). */
function readStream(): Promise<RaceMessage[]> {
  return readAllMessages(stack, STREAM);
}

const stats = (name: string) =>
  stack.supervisor.stats(stack.supervisor.running().find((p) => p.name === name)!);

describe('races over the shard limits (1 shard, limits enforced)', () => {
  it('Kinesis path: the producer is throttled, backs off, and loses nothing', async () => {
    const before = await stats('kinesis');
    // 2,000 riders × 2 s at 40× speed: each race second is 2,000 records at once (four PutRecords) to a shard
    // whose bucket holds 1,000 — over the limit however slow a busy machine makes the producer (a bucket
    // refills 1,000/s: it would take four requests a second apart to slip through).
    const summary = await simulate([
      '--via=kinesis',
      `--kinesis-endpoint=${stack.endpoints.kinesis}`,
      `--stream=${STREAM}`,
      '--region=eu-west-1',
      '--riders=2000',
      '--seconds=2',
      '--speedup=40',
      '--max-attempts=30',
      '--first-racer=1',
    ]);
    expect(summary).toMatchObject({ messages: 4000, delivered: 4000, failed: 0 });
    expect(summary['throttled']).toBeGreaterThan(0);
    expect(summary['retried']).toBeGreaterThan(0);
    const after = await stats('kinesis');
    expect(after['throttledRecords']! - before['throttledRecords']!).toBeGreaterThanOrEqual(
      summary['throttled']!,
    );
    const inStream = new Set((await readStream()).filter((m) => summary.raceIds.includes(m.raceId)).map(key));
    expect(inStream.size).toBe(4000);
  }, 180_000);

  it('MQTT path: throttled messages go to the rule’s error action, each counted and in its file', async () => {
    const before = await stats('broker');
    const summary = await simulate([
      '--via=mqtt',
      `--mqtt-url=${stack.endpoints.mqtt}`,
      '--qos=1',
      '--riders=400',
      '--seconds=8',
      '--speedup=8',
      '--first-racer=5001',
    ]);
    expect(summary).toMatchObject({ messages: 3200, delivered: 3200, failed: 0 });
    await waitFor(
      () => seenOnBroker.filter((m) => summary.raceIds.includes(m.raceId)).length >= 3200 || undefined,
    );
    const after = await stats('broker');
    const errorActions = after['errorActions']! - before['errorActions']!;
    expect(errorActions).toBeGreaterThan(0);
    expect(after['throttled']! - before['throttled']!).toBe(errorActions);
    expect(after['delivered']! - before['delivered']! + errorActions).toBe(3200);

    // Every error-action file: IoT's error payload, the original message inside.
    const errorsDir = path.join(stack.dirs.errorsBucket, 'errors');
    const files = (await readdir(errorsDir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => path.join(e.parentPath, e.name));
    expect(files).toHaveLength(errorActions);
    const inErrors: string[] = [];
    for (const file of files) {
      const report = JSON.parse(await readFile(file, 'utf8'));
      expect(report.failures?.[0]?.errorMessage ?? JSON.stringify(report)).toMatch(
        /ProvisionedThroughputExceeded|Rate exceeded/,
      );
      const parsed = parseRaceRecord(Buffer.from(report.base64OriginalPayload, 'base64'));
      expect(parsed.ok).toBe(true);
      if (parsed.ok) inErrors.push(...parsed.messages.map(key));
    }
    const inStream = new Set((await readStream()).filter((m) => summary.raceIds.includes(m.raceId)).map(key));
    const sent = new Set(seenOnBroker.filter((m) => summary.raceIds.includes(m.raceId)).map(key));
    // Nothing lost: every message the bikes sent is in the stream or in an error file, and none in both.
    expect(new Set([...inStream, ...inErrors])).toEqual(sent);
    expect(inStream.size + inErrors.length).toBe(sent.size);
  }, 180_000);
});
