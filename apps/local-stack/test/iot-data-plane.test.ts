import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { INGEST_RULE_SQL, INGEST_TOPIC, resultsTopicFor } from '@alleycat/schema';
import {
  GetRetainedMessageCommand,
  IoTDataPlaneClient,
  PublishCommand,
} from '@aws-sdk/client-iot-data-plane';
import { GetRecordsCommand, GetShardIteratorCommand } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../src/broker/broker.js';
import { InFlight, type RunningIotDataPlane, startIotDataPlane } from '../src/iot/data-plane.js';
import { LOCAL_CREDENTIALS, LOCAL_REGION, localKinesisClient } from '../src/kinesis/client.js';
import { type RunningKinesalite, startKinesalite } from '../src/kinesis/kinesalite.js';
import { RuleEngine } from '../src/rules/rule-engine.js';
import { createStream, waitFor } from './helpers.js';

let kinesalite: RunningKinesalite;
let broker: RunningBroker;
let dataPlane: RunningIotDataPlane;
let iot: IoTDataPlaneClient;
let subscriber: mqtt.MqttClient;
let dir: string;
const kinesis = () => localKinesisClient(kinesalite.url);

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'alleycat-iotdata-'));
  kinesalite = await startKinesalite();
  await createStream(kinesis(), 's', 1);
  const rules = new RuleEngine({
    rules: [
      { name: 'ingest', sql: INGEST_RULE_SQL, kinesis: [{ streamName: 's', partitionKey: '${racerId}' }] },
    ],
    kinesis: kinesis(),
    errorsDir: dir,
  });
  broker = await startBroker({ rules, wsPort: null });
  dataPlane = await startIotDataPlane({ brokerUrl: broker.mqttUrl, clientId: 'iot-data-plane' });
  // The SDK exactly as the Lambda builds it, with only the endpoint (and keep-alive HTTP/1.1) set.
  iot = new IoTDataPlaneClient({
    endpoint: dataPlane.url,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ httpAgent: new http.Agent({ keepAlive: true }) }),
  });
  subscriber = await mqtt.connectAsync(broker.mqttUrl, { clientId: 'bike-listener', protocolVersion: 4 });
});

afterAll(async () => {
  iot.destroy();
  await subscriber.endAsync(true);
  await dataPlane.close();
  await broker.close();
  await kinesalite.close();
  await rm(dir, { recursive: true, force: true });
});

function nextMessage(filter: string): Promise<{ topic: string; payload: Buffer }> {
  return new Promise((resolve) => {
    const onMessage = (topic: string, payload: Buffer) => {
      subscriber.off('message', onMessage);
      resolve({ topic, payload });
    };
    subscriber.on('message', onMessage);
    void subscriber.subscribeAsync(filter, { qos: 1 });
  });
}

describe('IoT data plane Publish', () => {
  it('publishes a leaderboard with @aws-sdk/client-iot-data-plane into the broker', async () => {
    const topic = resultsTopicFor(3);
    const received = nextMessage(topic);
    await new Promise((r) => setTimeout(r, 50)); // let the subscription land
    const payload = JSON.stringify({ raceId: 1, standings: [{ racerId: 7, rank: 1 }] });
    const answer = await iot.send(
      new PublishCommand({ topic, qos: 1, payload: new TextEncoder().encode(payload) }),
    );
    expect(answer.$metadata.httpStatusCode).toBe(200);
    const message = await received;
    expect(message.topic).toBe(topic);
    expect(message.payload.toString()).toBe(payload);
    expect(dataPlane.stats().published).toBe(1);
  });

  it('decodes percent-encoded topics', async () => {
    const topic = 'odd topic/with spaces/é';
    const received = nextMessage(topic);
    await new Promise((r) => setTimeout(r, 50));
    await iot.send(new PublishCommand({ topic, qos: 0, payload: new TextEncoder().encode('x') }));
    expect((await received).topic).toBe(topic);
  });

  it('runs rules on HTTP publishes, as IoT does (clientid() is the endpoint’s client)', async () => {
    await iot.send(
      new PublishCommand({ topic: INGEST_TOPIC, qos: 1, payload: new TextEncoder().encode('{"racerId":4}') }),
    );
    const client = kinesis();
    const { ShardIterator } = await client.send(
      new GetShardIteratorCommand({
        StreamName: 's',
        ShardId: 'shardId-000000000000',
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    );
    const records = (await client.send(new GetRecordsCommand({ ShardIterator }))).Records ?? [];
    expect(records.map((r) => JSON.parse(Buffer.from(r.Data!).toString()))).toEqual([
      { racerId: 4, clientId: 'iot-data-plane' },
    ]);
  });

  it("passes the call's MQTT 5 properties to an MQTT 5 subscriber, as IoT does", async () => {
    const v5 = await mqtt.connectAsync(broker.mqttUrl, { clientId: 'bike-v5', protocolVersion: 5 });
    try {
      const received = new Promise<mqtt.IPublishPacket>((resolve) =>
        v5.once('message', (_topic, _payload, packet) => resolve(packet)),
      );
      await v5.subscribeAsync('props/1', { qos: 1 });
      await iot.send(
        new PublishCommand({
          topic: 'props/1',
          qos: 1,
          payload: new TextEncoder().encode('{"a":1}'),
          contentType: 'application/json',
          responseTopic: 'replies/1',
          messageExpiry: 60,
          correlationData: Buffer.from('abc').toString('base64'),
          payloadFormatIndicator: 'UTF8_DATA',
          userProperties: JSON.stringify([
            { deviceName: 'alpha' },
            { deviceCnt: '45' },
            { deviceName: 'beta' },
          ]),
        }),
      );
      const { properties } = await received;
      expect(properties).toMatchObject({
        contentType: 'application/json',
        responseTopic: 'replies/1',
        payloadFormatIndicator: true,
        userProperties: { deviceName: ['alpha', 'beta'], deviceCnt: '45' },
      });
      expect(Buffer.from(properties!.correlationData!).toString()).toBe('abc');
      // The broker counts down what is left of the expiry as the message waits; it arrived at once.
      expect(properties!.messageExpiryInterval).toBeGreaterThan(55);
      const bad = await iot
        .send(
          new PublishCommand({ topic: 'props/1', payload: new Uint8Array(1), userProperties: '{"a":"b"}' }),
        )
        .catch((e: unknown) => e);
      expect(bad).toMatchObject({
        name: 'InvalidRequestException',
        message: expect.stringMatching(/JSON array/),
      });
    } finally {
      await v5.endAsync(true);
    }
  });

  it('publishes a payload of the full 128 KiB, and 150 QoS 1 calls with properties at once', async () => {
    const v5 = await mqtt.connectAsync(broker.mqttUrl, { clientId: 'bike-v5-b', protocolVersion: 5 });
    try {
      let seen = 0;
      let largest = 0;
      v5.on('message', (_topic, payload) => {
        seen += 1;
        largest = Math.max(largest, payload.length);
      });
      await v5.subscribeAsync('big/#', { qos: 1 });
      // A leaderboard part may be exactly 128 KiB: as a device's MQTT 5 packet it would be over the limit.
      await iot.send(
        new PublishCommand({ topic: 'big/one', qos: 1, payload: new Uint8Array(128 * 1024).fill(0x20) }),
      );
      // mqtt.js does not keep to the broker's Receive Maximum (100): the data plane does.
      await Promise.all(
        Array.from({ length: 150 }, (_, i) =>
          iot.send(
            new PublishCommand({ topic: `big/${i}`, qos: 1, payload: new Uint8Array(8), contentType: 'x/y' }),
          ),
        ),
      );
      await waitFor(() => (seen === 151 ? true : undefined), 10_000);
      expect(largest).toBe(128 * 1024);
    } finally {
      await v5.endAsync(true);
    }
  });

  it('keeps at most the Receive Maximum of MQTT 5 publishes in flight (InFlight)', async () => {
    const limit = new InFlight(3);
    let running = 0;
    let most = 0;
    const task = async (i: number) => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5 + (i % 3)));
      running -= 1;
      return i;
    };
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => limit.run(() => task(i))));
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(most).toBe(3);
  });

  it('answers bad requests with AWS error shapes the SDK understands', async () => {
    const badQos = await iot
      .send(new PublishCommand({ topic: 'a', qos: 2, payload: new Uint8Array(1) }))
      .catch((e: unknown) => e as Error & { $metadata: { httpStatusCode: number } });
    expect(badQos).toMatchObject({ name: 'InvalidRequestException', $metadata: { httpStatusCode: 400 } });
    expect((badQos as Error).message).toMatch(/qos must be 0 or 1/);
    const wildcard = await iot
      .send(new PublishCommand({ topic: 'a/+', payload: new Uint8Array(1) }))
      .catch((e: unknown) => e);
    expect(wildcard).toMatchObject({ name: 'InvalidRequestException' });
    const tooLarge = await iot
      .send(new PublishCommand({ topic: 'a', payload: new Uint8Array(128 * 1024 + 1) }))
      .catch((e: unknown) => e);
    expect(tooLarge).toMatchObject({
      name: 'RequestEntityTooLargeException',
      $metadata: { httpStatusCode: 413 },
    });
    const deep = await iot
      .send(new PublishCommand({ topic: 'a/b/c/d/e/f/g/h/i', payload: new Uint8Array(1) }))
      .catch((e: unknown) => e);
    expect(deep).toMatchObject({
      name: 'InvalidRequestException',
      message: expect.stringMatching(/slashes/),
    });
    expect(dataPlane.stats().rejected).toBe(5);
  });

  it('says retained-message calls are not emulated (501), never "nothing retained" (404)', async () => {
    const retained = await iot
      .send(new GetRetainedMessageCommand({ topic: 'a' }))
      .catch((e: unknown) => e as Error & { $metadata: { httpStatusCode: number } });
    expect(retained).toMatchObject({ name: 'NotImplementedException', $metadata: { httpStatusCode: 501 } });
    expect((retained as Error).message).toMatch(/not emulated/);
  });

  it('answers 503 at once while its broker is down, and publishes again once it is back', async () => {
    const own = await startBroker({ wsPort: null });
    const port = Number(new URL(own.mqttUrl).port);
    const plane = await startIotDataPlane({ brokerUrl: own.mqttUrl, clientId: 'iot-data-plane-2' });
    const client = new IoTDataPlaneClient({
      endpoint: plane.url,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });
    let back: RunningBroker | undefined;
    try {
      await own.close();
      const started = Date.now();
      const down = await client
        .send(new PublishCommand({ topic: 'a', qos: 1, payload: new Uint8Array(1) }))
        .catch((e: unknown) => e as Error & { $metadata: { httpStatusCode: number } });
      expect(down).toMatchObject({ name: 'ServiceUnavailableException', $metadata: { httpStatusCode: 503 } });
      expect(Date.now() - started).toBeLessThan(5_000);
      back = await startBroker({ port, wsPort: null });
      await waitFor(
        () =>
          client.send(new PublishCommand({ topic: 'a', qos: 1, payload: new Uint8Array(1) })).then(
            () => true as const,
            () => undefined,
          ),
        10_000,
      );
    } finally {
      client.destroy();
      await plane.close();
      await back?.close();
    }
  });
});
