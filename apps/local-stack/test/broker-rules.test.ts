import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { INGEST_RULE_SQL, INGEST_TOPIC, PARTITION_KEY_TEMPLATES } from '@alleycat/schema';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import mqtt from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../src/broker/broker.js';
import { localKinesisClient } from '../src/kinesis/client.js';
import { type RunningKinesalite, startKinesalite } from '../src/kinesis/kinesalite.js';
import { KinesisLimitsProxy } from '../src/kinesis/limits-proxy.js';
import { type ErrorActionMessage, RuleEngine, type TopicRuleConfig } from '../src/rules/rule-engine.js';
import { createStream, manualClock, mosquittoPub, storedRecords, waitFor } from './helpers.js';

const ERROR_KEY = 'errors/$${parse_time("yyyy/MM/dd", timestamp(), "UTC")}/$${newuuid()}.json';
const ingestRule: TopicRuleConfig = {
  name: 'dev_alleycatIngest',
  sql: INGEST_RULE_SQL,
  kinesis: [{ streamName: 'dev-alleycat', partitionKey: `$${PARTITION_KEY_TEMPLATES.racer}` }],
  errorActionKey: ERROR_KEY,
};
const binaryRule: TopicRuleConfig = {
  name: 'raw',
  sql: "SELECT * FROM 'raw/#'",
  kinesis: [{ streamName: 'dev-alleycat', partitionKey: '${topic(2)}' }],
  errorActionKey: ERROR_KEY,
};

let kinesalite: RunningKinesalite;
let proxy: KinesisLimitsProxy;
let direct: KinesisClient;
let viaProxy: KinesisClient;
let broker: RunningBroker;
let rules: RuleEngine;
let dir: string;
const clients: mqtt.MqttClient[] = [];

async function setUp(writeRecordsPerSecond?: number): Promise<void> {
  dir = await mkdtemp(path.join(tmpdir(), 'alleycat-rules-'));
  kinesalite = await startKinesalite();
  const clock = manualClock();
  proxy = new KinesisLimitsProxy({
    upstream: kinesalite.url,
    ...(writeRecordsPerSecond === undefined ? {} : { limits: { writeRecordsPerSecond }, now: clock.now }),
  });
  const proxyUrl = await proxy.listen(0);
  direct = localKinesisClient(kinesalite.url);
  viaProxy = localKinesisClient(proxyUrl, { maxAttempts: 1 });
  await createStream(direct, 'dev-alleycat', 1);
  rules = new RuleEngine({
    rules: [ingestRule, binaryRule],
    kinesis: viaProxy,
    errorsDir: path.join(dir, 'errors-bucket'),
    ruleLogsDir: path.join(dir, 'rule-logs'),
  });
  broker = await startBroker({ rules });
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  await broker.close();
  viaProxy.destroy();
  direct.destroy();
  await proxy.close();
  await kinesalite.close();
  await rm(dir, { recursive: true, force: true });
});

async function stored(): Promise<Array<{ key: string; data: string; raw: Buffer }>> {
  return (await storedRecords(direct, 'dev-alleycat')).map((r) => ({
    key: r.PartitionKey!,
    data: Buffer.from(r.Data!).toString(),
    raw: Buffer.from(r.Data!),
  }));
}

async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

async function connect(url: string, clientId: string): Promise<mqtt.MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId, protocolVersion: 4, reconnectPeriod: 0 });
  clients.push(client);
  return client;
}

describe('broker with the rules engine in its publish path', () => {
  beforeEach(() => setUp());

  it('puts a QoS 1 message into Kinesis before the PUBACK, with clientid() added and the racer as key', async () => {
    const bike = await connect(broker.mqttUrl, 'racer-7');
    await bike.publishAsync(INGEST_TOPIC, JSON.stringify({ racerId: 7, clientId: 'racer-99', cadence: 88 }), {
      qos: 1,
    });
    // The PUBACK has arrived: the record must already be in the stream.
    const records = await stored();
    expect(records).toHaveLength(1);
    expect(records[0]!.key).toBe('7');
    expect(JSON.parse(records[0]!.data)).toEqual({ racerId: 7, clientId: 'racer-7', cadence: 88 });
    expect(rules.stats()).toMatchObject({ delivered: 1, errorActions: 0 });
  });

  it('delivers to subscribers as well, over TCP and over WebSocket, and from mosquitto_pub', async () => {
    expect(broker.wsUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/);
    const listener = await connect(broker.mqttUrl, 'listener');
    await listener.subscribeAsync(INGEST_TOPIC, { qos: 1 });
    const seen: string[] = [];
    listener.on('message', (_t, payload) => seen.push(payload.toString()));
    const browser = await connect(broker.wsUrl!, 'racer-8');
    await browser.publishAsync(INGEST_TOPIC, JSON.stringify({ racerId: 8 }), { qos: 1 });
    const port = new URL(broker.mqttUrl).port;
    await mosquittoPub(port, 'racer-9', INGEST_TOPIC, '{"racerId":9}');
    await waitFor(() => seen.length === 2 || undefined);
    const records = await stored();
    expect(records.map((r) => JSON.parse(r.data))).toEqual([
      { racerId: 8, clientId: 'racer-8' },
      { racerId: 9, clientId: 'racer-9' },
    ]);
  });

  it('passes binary payloads through SELECT * and logs (without losing track of) ones the ingest SQL cannot read', async () => {
    const bike = await connect(broker.mqttUrl, 'racer-1');
    const binary = Buffer.from([0, 1, 2, 250, 251]);
    await bike.publishAsync('raw/sensor-4/x', binary, { qos: 1 });
    await bike.publishAsync(INGEST_TOPIC, 'cadence=90', { qos: 1 });
    const records = await stored();
    expect(records).toHaveLength(1);
    expect(records[0]!.key).toBe('sensor-4');
    expect(records[0]!.raw.equals(binary)).toBe(true);
    expect(rules.stats().sqlErrors).toBe(1);
    const logs = await filesUnder(path.join(dir, 'rule-logs'));
    expect(logs).toHaveLength(1);
    const log = JSON.parse(await readFile(logs[0]!, 'utf8'));
    expect(log).toMatchObject({ ruleName: 'dev_alleycatIngest', clientId: 'racer-1', topic: INGEST_TOPIC });
    expect(Buffer.from(log.base64OriginalPayload, 'base64').toString()).toBe('cadence=90');
    expect(log.reason).toMatch(/not JSON/);
  });

  it('sends a message whose Kinesis action fails to the error action, shaped like IoT', async () => {
    const bike = await connect(broker.mqttUrl, 'racer-5');
    // An empty partition key (no racerId) is refused by Kinesis: the action fails.
    await bike.publishAsync(INGEST_TOPIC, JSON.stringify({ cadence: 1 }), { qos: 1 });
    const files = await filesUnder(path.join(dir, 'errors-bucket'));
    expect(files).toHaveLength(1);
    expect(path.relative(path.join(dir, 'errors-bucket'), files[0]!)).toMatch(
      /^errors\/\d{4}\/\d{2}\/\d{2}\/[0-9a-f-]{36}\.json$/,
    );
    const report = JSON.parse(await readFile(files[0]!, 'utf8')) as ErrorActionMessage;
    expect(report).toMatchObject({
      ruleName: 'dev_alleycatIngest',
      topic: INGEST_TOPIC,
      clientId: 'racer-5',
    });
    expect(Buffer.from(report.base64OriginalPayload, 'base64').toString()).toBe('{"cadence":1}');
    expect(report.failures).toEqual([
      expect.objectContaining({
        failedAction: 'KinesisAction',
        failedResource: 'dev-alleycat',
        errorMessage: expect.stringMatching(/ValidationException/),
      }),
    ]);
  });
  it('without an error action, drops a message its action fails, as IoT does: counted, logged, acknowledged', async () => {
    const logs = path.join(dir, 'rule-logs-no-error-action');
    const bare = new RuleEngine({
      rules: [
        {
          name: 'bare',
          sql: INGEST_RULE_SQL,
          kinesis: [{ streamName: 'no-such-stream', partitionKey: 'k' }],
        },
      ],
      kinesis: viaProxy,
      errorsDir: path.join(dir, 'bare-errors'),
      ruleLogsDir: logs,
    });
    const lenient = await startBroker({ rules: bare, wsPort: null });
    try {
      const bike = await connect(lenient.mqttUrl, 'racer-4');
      await bike.publishAsync(INGEST_TOPIC, '{"racerId":4}', { qos: 1 }); // acknowledged
      expect(bare.stats()).toMatchObject({ droppedWithoutErrorAction: 1, errorActions: 0, delivered: 0 });
      await expect(readdir(path.join(dir, 'bare-errors'))).rejects.toThrow(/ENOENT/);
      const [file] = await readdir(path.join(logs, 'bare'));
      const entry = JSON.parse(await readFile(path.join(logs, 'bare', file!), 'utf8'));
      expect(entry).toMatchObject({
        ruleName: 'bare',
        clientId: 'racer-4',
        base64OriginalPayload: Buffer.from('{"racerId":4}').toString('base64'),
        reason: expect.stringMatching(/no-such-stream|ResourceNotFound/),
      });
    } finally {
      await lenient.close();
    }
  });

  it('refuses (does not acknowledge) a publish when even the error action cannot store it', async () => {
    const blocked = path.join(dir, 'not-a-folder');
    await writeFile(blocked, 'a file where the errors bucket folder should be');
    const failing = new RuleEngine({
      rules: [{ ...ingestRule, kinesis: [{ streamName: 'no-such-stream', partitionKey: '${racerId}' }] }],
      kinesis: viaProxy,
      errorsDir: blocked,
    });
    const strict = await startBroker({ rules: failing, wsPort: null });
    try {
      const bike = await mqtt.connectAsync(strict.mqttUrl, {
        clientId: 'racer-3',
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      const closed = new Promise<void>((resolve) => bike.once('close', () => resolve()));
      let acked = false;
      bike.publish(INGEST_TOPIC, '{"racerId":3}', { qos: 1 }, (error) => {
        if (!error) acked = true;
      });
      await closed; // the broker drops the connection instead of sending a PUBACK
      expect(acked).toBe(false);
      expect(failing.stats()).toMatchObject({ errorActionFailures: 1, errorActions: 0, delivered: 0 });
      bike.end(true);
    } finally {
      await strict.close();
    }
  });
});

describe('broker refusing what IoT Core refuses', () => {
  beforeEach(() => setUp());

  it('closes the connection of a client publishing QoS 2 or more than 128 KiB, delivering neither', async () => {
    const listener = await connect(broker.mqttUrl, 'listener-2');
    await listener.subscribeAsync('#', { qos: 1 });
    const seen: string[] = [];
    listener.on('message', (topic) => seen.push(topic));
    for (const [clientId, payload, qos] of [
      ['racer-31', '{"racerId":31}', 2],
      ['racer-32', Buffer.alloc(128 * 1024 + 1, 0x20), 1],
    ] as const) {
      const bike = await connect(broker.mqttUrl, clientId);
      const closed = new Promise<void>((resolve) => bike.once('close', () => resolve()));
      bike.publish(INGEST_TOPIC, payload, { qos });
      await closed;
      bike.end(true);
    }
    const ok = await connect(broker.mqttUrl, 'racer-33');
    await ok.publishAsync(INGEST_TOPIC, '{"racerId":33}', { qos: 1 });
    await waitFor(() => seen.length === 1 || undefined);
    expect(broker.stats()).toMatchObject({ refusedTooLarge: 1, refusedQos2: 1 });
    expect((await stored()).map((r) => r.key)).toEqual(['33']);
  });
});

describe("broker applying IoT Core's topic and client id quotas (MQTT 3.1.1)", () => {
  beforeEach(() => setUp());

  it('closes a connection publishing to a topic over 256 bytes or 7 slashes; Basic Ingest prefixes do not count', async () => {
    for (const topic of [`${'t'.repeat(257)}`, 'a/b/c/d/e/f/g/h/i']) {
      const bike = await connect(broker.mqttUrl, 'racer-41');
      const closed = new Promise<void>((resolve) => bike.once('close', () => resolve()));
      bike.publish(topic, '{}', { qos: 1 });
      await closed;
      bike.end(true);
    }
    // `$aws/rules/raw/` plus 7 slashes and 240 bytes after it: within the quotas.
    const ok = await connect(broker.mqttUrl, 'racer-42');
    await ok.publishAsync(`$aws/rules/raw/x/b/c/d/e/f/g/${'h'.repeat(226)}`, '{}', { qos: 1 });
    expect(broker.stats().refusedTopic).toBe(2);
  });

  it('refuses such subscriptions in the SUBACK and a client id over 128 bytes in the CONNACK', async () => {
    const client = await connect(broker.mqttUrl, 'listener-4');
    // mqtt.js rejects a SUBACK holding a failure; the packet says what was granted.
    const refusal = await client
      .subscribeAsync({ 'a/b/c/d/e/f/g/#': { qos: 1 }, 'a/b/c/d/e/f/g/h/#': { qos: 1 } })
      .then(
        () => undefined,
        (error: { packet?: { granted?: number[] } }) => error,
      );
    expect(refusal?.packet?.granted).toEqual([1, 128]);
    const refused = await mqtt
      .connectAsync(broker.mqttUrl, { clientId: 'c'.repeat(129), protocolVersion: 4, reconnectPeriod: 0 })
      .catch((error: unknown) => error as Error & { code?: number });
    expect(refused).toMatchObject({ code: 2 });
    expect(broker.stats()).toMatchObject({ refusedTopic: 1, refusedClientId: 1 });
  });
});

describe('broker under Kinesis throttling', () => {
  beforeEach(() => setUp(50));

  it('sends every throttled message to the error action; every message is in Kinesis or in a file', async () => {
    const bikes = await Promise.all([1, 2, 3, 4].map((i) => connect(broker.mqttUrl, `racer-${i}`)));
    const sent: string[] = [];
    await Promise.all(
      bikes.map(async (bike, b) => {
        for (let s = 0; s < 20; s++) {
          const payload = JSON.stringify({ racerId: b + 1, second: s });
          sent.push(payload);
          await bike.publishAsync(INGEST_TOPIC, payload, { qos: 1 });
        }
      }),
    );
    const records = await stored();
    const files = await filesUnder(path.join(dir, 'errors-bucket'));
    expect(records).toHaveLength(50);
    expect(files).toHaveLength(30);
    expect(rules.stats()).toMatchObject({ delivered: 50, errorActions: 30, throttled: 30 });
    const inKinesis = records.map((r) => {
      const { clientId: _c, ...rest } = JSON.parse(r.data);
      return JSON.stringify(rest);
    });
    const inFiles = await Promise.all(
      files.map(async (f) => {
        const report = JSON.parse(await readFile(f, 'utf8')) as ErrorActionMessage;
        expect(report.failures[0]!.errorMessage).toMatch(
          /ProvisionedThroughputExceededException: Rate exceeded for shard/,
        );
        return Buffer.from(report.base64OriginalPayload, 'base64').toString();
      }),
    );
    expect([...inKinesis, ...inFiles].sort()).toEqual([...sent].sort());
  });
});

describe('Basic Ingest ($aws/rules/{rule}/…)', () => {
  beforeEach(() => setUp());

  it('invokes the named rule only — topic() without the prefix, no subscriber — and refuses subscriptions to it', async () => {
    const listener = await connect(broker.mqttUrl, 'listener');
    const seen: string[] = [];
    listener.on('message', (topic) => seen.push(topic));
    await listener.subscribeAsync('#', { qos: 1 });
    // Devices cannot subscribe to the reserved topics: the SUBACK refuses them.
    const refused = await listener
      .subscribeAsync(['$aws/rules/#', '$aws/+/dev_alleycatIngest/#'], { qos: 1 })
      .then(
        () => undefined,
        (error: { packet?: { granted?: number[] } }) => error.packet?.granted,
      );
    expect(refused).toEqual([128, 128]);

    const bike = await connect(broker.mqttUrl, 'racer-21');
    // The ingest rule by name; its FROM ('alleycat-publish') does not decide, the name does.
    await bike.publishAsync(
      `$aws/rules/${ingestRule.name}/${INGEST_TOPIC}`,
      JSON.stringify({ racerId: 21 }),
      {
        qos: 1,
        retain: true,
      },
    );
    // The raw rule's key is topic(2): the second level of the topic *after* the prefix.
    await bike.publishAsync(`$aws/rules/${binaryRule.name}/raw/bike-21`, Buffer.from([0, 1, 2]), { qos: 1 });
    // No such rule: dropped and counted.
    await bike.publishAsync('$aws/rules/noSuchRule/alleycat-publish', JSON.stringify({ racerId: 22 }), {
      qos: 1,
    });
    const port = new URL(broker.mqttUrl).port;
    await mosquittoPub(port, 'racer-23', `$aws/rules/${ingestRule.name}/${INGEST_TOPIC}`, '{"racerId":23}');

    const records = await stored();
    expect(records.map((r) => [r.key, r.key === 'bike-21' ? [...r.raw] : JSON.parse(r.data)])).toEqual([
      ['21', { racerId: 21, clientId: 'racer-21' }],
      ['bike-21', [0, 1, 2]],
      ['23', { racerId: 23, clientId: 'racer-23' }],
    ]);
    expect(rules.stats()).toMatchObject({ delivered: 3, basicIngestUnknownRule: 1 });
    // Nothing went through the broker: the '#' subscriber saw none of it.
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toEqual([]);
  });
});
