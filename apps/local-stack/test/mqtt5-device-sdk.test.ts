/**
 * The client AWS recommends for IoT Core, aws-iot-device-sdk-v2's Mqtt5Client (aws-crt), against the local
 * broker: it connects over plain TCP, reads IoT Core's limits from the CONNACK, publishes QoS 1 through the rule
 * into Kinesis (with its own LRU topic aliasing on), and receives what a 3.1.1 client publishes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { INGEST_RULE_SQL, INGEST_TOPIC, PARTITION_KEY_TEMPLATES } from '@alleycat/schema';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { mqtt5 } from 'aws-iot-device-sdk-v2';
import mqtt from 'mqtt';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../src/broker/broker.js';
import { localKinesisClient } from '../src/kinesis/client.js';
import { type RunningKinesalite, startKinesalite } from '../src/kinesis/kinesalite.js';
import { RuleEngine } from '../src/rules/rule-engine.js';
import { createStream, storedRecords, waitFor } from './helpers.js';

let kinesalite: RunningKinesalite;
let kinesis: KinesisClient;
let broker: RunningBroker;
let rules: RuleEngine;
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'alleycat-sdk5-'));
  kinesalite = await startKinesalite();
  kinesis = localKinesisClient(kinesalite.url, { maxAttempts: 1 });
  await createStream(kinesis, 'dev-alleycat', 1);
  rules = new RuleEngine({
    rules: [
      {
        name: 'dev_alleycatIngest',
        sql: INGEST_RULE_SQL,
        kinesis: [{ streamName: 'dev-alleycat', partitionKey: `$${PARTITION_KEY_TEMPLATES.racer}` }],
      },
    ],
    kinesis,
    errorsDir: path.join(dir, 'errors-bucket'),
  });
  broker = await startBroker({ rules, wsPort: null });
});

afterEach(async () => {
  await broker.close();
  kinesis.destroy();
  await kinesalite.close();
  await rm(dir, { recursive: true, force: true });
});

async function stored(): Promise<unknown[]> {
  return (await storedRecords(kinesis, 'dev-alleycat')).map((r) =>
    JSON.parse(Buffer.from(r.Data!).toString()),
  );
}

it('Mqtt5Client connects, publishes QoS 1 through the rule (PUBACK after Kinesis) and receives leaderboards', async () => {
  const client = new mqtt5.Mqtt5Client({
    hostName: '127.0.0.1',
    port: Number(new URL(broker.mqttUrl).port),
    connectProperties: { clientId: 'racer-41', keepAliveIntervalSeconds: 30 },
    topicAliasingOptions: {
      outboundBehavior: mqtt5.OutboundTopicAliasBehaviorType.LRU,
      outboundCacheMaxSize: 8,
    },
  });
  const received: string[] = [];
  client.on('messageReceived', ({ message }) =>
    received.push(`${message.topicName} ${Buffer.from(message.payload as ArrayBuffer).toString()}`),
  );
  const connected = new Promise<mqtt5.ConnectionSuccessEvent>((resolve, reject) => {
    client.once('connectionSuccess', resolve);
    client.once('connectionFailure', (event) => reject(event.error));
  });
  client.start();
  try {
    const { connack, settings } = await connected;
    expect(connack.reasonCode).toBe(mqtt5.ConnectReasonCode.Success);
    expect(settings).toMatchObject({
      clientId: 'racer-41',
      maximumQos: mqtt5.QoS.AtLeastOnce,
      receiveMaximumFromServer: 100,
      topicAliasMaximumToServer: 8,
      subscriptionIdentifiersAvailable: false,
      sharedSubscriptionsAvailable: false,
    });

    const suback = await client.subscribe({
      subscriptions: [{ topicFilter: 'leaderboard/#', qos: mqtt5.QoS.AtLeastOnce }],
    });
    expect(suback.reasonCodes).toEqual([mqtt5.SubackReasonCode.GrantedQoS1]);

    for (const second of [1, 2, 3]) {
      const result = await client.publish({
        topicName: INGEST_TOPIC,
        qos: mqtt5.QoS.AtLeastOnce,
        payload: JSON.stringify({ racerId: 41, second }),
      });
      expect(result?.reasonCode).toBe(mqtt5.PubackReasonCode.Success);
      // The PUBACK is back: the record is already in the stream.
      expect(await stored()).toHaveLength(second);
    }
    expect(await stored()).toEqual(
      [1, 2, 3].map((second) => ({ racerId: 41, second, clientId: 'racer-41' })),
    );
    // The SDK's LRU aliasing sent the topic name once, then the alias alone.
    expect(broker.mqtt5Stats().aliasedPublishes).toBe(2);

    const board = await mqtt.connectAsync(broker.mqttUrl, { clientId: 'lambda', protocolVersion: 4 });
    await board.publishAsync('leaderboard/race-1', '{"top":[41]}', { qos: 1 });
    await board.endAsync();
    await waitFor(() => received.length === 1 || undefined);
    expect(received).toEqual(['leaderboard/race-1 {"top":[41]}']);
  } finally {
    const stopped = new Promise<void>((resolve) => client.once('stopped', () => resolve()));
    client.stop();
    await stopped;
    client.close();
  }
});
