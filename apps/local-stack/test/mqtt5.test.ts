/**
 * MQTT 5 clients against the local broker (aedes behind the MQTT 5 ⇄ 3.1.1 adapter): the rule in the publish
 * path, delivery between 3.1.1 and 5 clients, topic aliases, reason codes, sessions, wills, WebSocket,
 * mosquitto_pub/mosquitto_sub -V mqttv5, and a malformed packet that closes only its own connection.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { INGEST_RULE_SQL, INGEST_TOPIC, PARTITION_KEY_TEMPLATES } from '@alleycat/schema';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker } from '../src/broker/broker.js';
import { localKinesisClient } from '../src/kinesis/client.js';
import { type RunningKinesalite, startKinesalite } from '../src/kinesis/kinesalite.js';
import { RuleEngine, type TopicRuleConfig } from '../src/rules/rule-engine.js';
import { createStream, run, storedRecords, waitFor } from './helpers.js';

const ingestRule: TopicRuleConfig = {
  name: 'dev_alleycatIngest',
  sql: INGEST_RULE_SQL,
  kinesis: [{ streamName: 'dev-alleycat', partitionKey: `$${PARTITION_KEY_TEMPLATES.racer}` }],
  errorActionKey: 'errors/$${newuuid()}.json',
};

let kinesalite: RunningKinesalite;
let kinesis: KinesisClient;
let broker: RunningBroker;
let rules: RuleEngine;
let dir: string;
const clients: mqtt.MqttClient[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'alleycat-mqtt5-'));
  kinesalite = await startKinesalite();
  kinesis = localKinesisClient(kinesalite.url, { maxAttempts: 1 });
  await createStream(kinesis, 'dev-alleycat', 1);
  rules = new RuleEngine({
    rules: [ingestRule],
    kinesis,
    errorsDir: path.join(dir, 'errors-bucket'),
    ruleLogsDir: path.join(dir, 'rule-logs'),
  });
  broker = await startBroker({ rules });
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  await broker.close();
  kinesis.destroy();
  await kinesalite.close();
  await rm(dir, { recursive: true, force: true });
});

async function stored(): Promise<Array<{ key: string; data: unknown }>> {
  return (await storedRecords(kinesis, 'dev-alleycat')).map((r) => ({
    key: r.PartitionKey!,
    data: JSON.parse(Buffer.from(r.Data!).toString()),
  }));
}

async function connect(
  url: string,
  clientId: string,
  options: mqtt.IClientOptions = {},
): Promise<mqtt.MqttClient> {
  const client = await mqtt.connectAsync(url, {
    clientId,
    protocolVersion: 5,
    reconnectPeriod: 0,
    ...options,
  });
  clients.push(client);
  return client;
}

/** A raw TCP connection speaking MQTT 5 packet by packet, to see exactly what the broker answers. */
async function rawClient(url: string) {
  const { port } = new URL(url);
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  const packets: mqttPacket.Packet[] = [];
  parser.on('packet', (p) => packets.push(p));
  socket.on('data', (chunk) => parser.parse(chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  return {
    socket,
    packets,
    closed,
    send: (packet: mqttPacket.Packet) => socket.write(mqttPacket.generate(packet, { protocolVersion: 5 })),
    next: (cmd: string) => waitFor(() => packets.find((p) => p.cmd === cmd)),
  };
}

describe('MQTT 5 clients and the rules engine', () => {
  it('puts a QoS 1 publish into Kinesis before the PUBACK (reason code 0), clientid() = the client id', async () => {
    const bike = await connect(broker.mqttUrl, 'racer-7');
    const ack = await bike.publishAsync(INGEST_TOPIC, JSON.stringify({ racerId: 7, cadence: 88 }), {
      qos: 1,
    });
    expect((ack as mqttPacket.IPubackPacket | undefined)?.reasonCode ?? 0).toBe(0);
    // The PUBACK has arrived: the record is already in the stream.
    const records = await stored();
    expect(records).toEqual([{ key: '7', data: { racerId: 7, clientId: 'racer-7', cadence: 88 } }]);
    expect(rules.stats()).toMatchObject({ delivered: 1, errorActions: 0 });
    expect(broker.mqtt5Stats().connections).toBe(1);

    // The same over MQTT-over-WebSocket.
    const browser = await connect(broker.wsUrl!, 'racer-8');
    await browser.publishAsync(INGEST_TOPIC, JSON.stringify({ racerId: 8 }), { qos: 1 });
    expect((await stored())[1]).toEqual({ key: '8', data: { racerId: 8, clientId: 'racer-8' } });
  });

  it('answers PUBACK 0x80 with a reason string when even the error action cannot take the message', async () => {
    const blocked = path.join(dir, 'not-a-folder');
    await writeFile(blocked, 'a file where the errors bucket folder should be');
    const failing = new RuleEngine({
      rules: [{ ...ingestRule, kinesis: [{ streamName: 'no-such-stream', partitionKey: '${racerId}' }] }],
      kinesis,
      errorsDir: blocked,
    });
    const strict = await startBroker({ rules: failing, wsPort: null });
    try {
      const listener = await connect(strict.mqttUrl, 'listener');
      await listener.subscribeAsync(INGEST_TOPIC, { qos: 1 });
      const seen: string[] = [];
      listener.on('message', (_t, payload) => seen.push(payload.toString()));
      const bike = await connect(strict.mqttUrl, 'racer-3');
      const error = await bike
        .publishAsync(INGEST_TOPIC, '{"racerId":3}', { qos: 1 })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 0x80 });
      expect(String((error as Error).message)).toMatch(/Publish error/);
      // Refused, not acknowledged: not delivered, and the connection stays up for the next publish.
      expect(bike.connected).toBe(true);
      await bike.publishAsync('other/topic', 'x', { qos: 1 });
      expect(seen).toEqual([]);
      expect(failing.stats()).toMatchObject({ errorActionFailures: 1, delivered: 0 });
      expect(strict.mqtt5Stats().publishesRefused).toBe(1);
    } finally {
      await strict.close();
    }
  });
});

describe('delivery between MQTT 3.1.1 and MQTT 5 clients', () => {
  it('v3 publish → v5 subscriber and v5 publish → v3 subscriber, over TCP and WebSocket', async () => {
    const v5 = await connect(broker.wsUrl!, 'board-5');
    const v3 = await mqtt.connectAsync(broker.mqttUrl, {
      clientId: 'board-3',
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    clients.push(v3);
    const suback = await v5.subscribeAsync('leaderboard/+', { qos: 1 });
    expect(suback).toMatchObject([{ topic: 'leaderboard/+', qos: 1 }]);
    await v3.subscribeAsync('race/+', { qos: 1 });
    const at5: string[] = [];
    const at3: string[] = [];
    v5.on('message', (topic, payload) => at5.push(`${topic} ${payload}`));
    v3.on('message', (topic, payload) => at3.push(`${topic} ${payload}`));
    await v3.publishAsync('leaderboard/A', 'from v3', { qos: 1 });
    const tcp5 = await connect(broker.mqttUrl, 'pub-5');
    await tcp5.publishAsync('race/1', 'from v5', { qos: 1 });
    await tcp5.publishAsync('race/1', 'qos0 from v5', { qos: 0 });
    await waitFor(() => (at5.length === 1 && at3.length === 2) || undefined);
    expect(at5).toEqual(['leaderboard/A from v3']);
    expect(at3).toEqual(['race/1 from v5', 'race/1 qos0 from v5']);
  });

  it('resolves client → server topic aliases (1..8) and refuses alias 9 with DISCONNECT 0x94', async () => {
    const listener = await connect(broker.mqttUrl, 'listener');
    await listener.subscribeAsync(INGEST_TOPIC, { qos: 1 });
    const seen: string[] = [];
    listener.on('message', (topic, payload) => seen.push(`${topic} ${payload}`));
    const bike = await connect(broker.mqttUrl, 'racer-11');
    await bike.publishAsync(INGEST_TOPIC, '{"racerId":11,"n":1}', { qos: 1, properties: { topicAlias: 3 } });
    // Empty topic name: the alias stands for it.
    await bike.publishAsync('', '{"racerId":11,"n":2}', { qos: 1, properties: { topicAlias: 3 } });
    await waitFor(() => seen.length === 2 || undefined);
    expect(seen).toEqual([`${INGEST_TOPIC} {"racerId":11,"n":1}`, `${INGEST_TOPIC} {"racerId":11,"n":2}`]);
    expect(broker.mqtt5Stats().aliasedPublishes).toBe(1);
    expect((await stored()).map((r) => r.data)).toEqual([
      { racerId: 11, n: 1, clientId: 'racer-11' },
      { racerId: 11, n: 2, clientId: 'racer-11' },
    ]);

    const raw = await rawClient(broker.mqttUrl);
    raw.send({ cmd: 'connect', protocolVersion: 5, clientId: 'aliaser', clean: true, keepalive: 30 });
    const connack = (await raw.next('connack')) as mqttPacket.IConnackPacket;
    expect(connack.properties?.topicAliasMaximum).toBe(8);
    raw.send({
      cmd: 'publish',
      topic: 't',
      payload: 'x',
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 9 },
    });
    const disconnect = (await raw.next('disconnect')) as mqttPacket.IDisconnectPacket;
    expect(disconnect.reasonCode).toBe(0x94);
    await raw.closed;
  });
});

describe('MQTT 5 properties IoT Core forwards', () => {
  it('passes user properties, content type, response topic and correlation data to v5 subscribers', async () => {
    const v5 = await connect(broker.mqttUrl, 'sub-5');
    await v5.subscribeAsync('req/#', { qos: 1 });
    const v3 = await mqtt.connectAsync(broker.mqttUrl, {
      clientId: 'sub-3',
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    clients.push(v3);
    await v3.subscribeAsync('req/#', { qos: 1 });
    const at5: mqtt.IPublishPacket[] = [];
    const at3: string[] = [];
    v5.on('message', (_t, _p, packet) => at5.push(packet));
    v3.on('message', (_t, payload) => at3.push(payload.toString()));
    const publisher = await connect(broker.mqttUrl, 'pub-props');
    await publisher.publishAsync('req/1', '{"q":1}', {
      qos: 1,
      properties: {
        userProperties: { trace: 'abc', tag: ['x', 'y'] },
        contentType: 'application/json',
        payloadFormatIndicator: true,
        responseTopic: 'resp/1',
        correlationData: Buffer.from('c-1'),
      },
    });
    await publisher.publishAsync('req/2', 'plain', { qos: 0 });
    await waitFor(() => (at5.length === 2 && at3.length === 2) || undefined);
    expect(at5[0]!.properties).toEqual({
      userProperties: { trace: 'abc', tag: ['x', 'y'] },
      contentType: 'application/json',
      payloadFormatIndicator: true,
      responseTopic: 'resp/1',
      correlationData: Buffer.from('c-1'),
    });
    expect(at5[1]!.properties ?? {}).toEqual({});
    expect(at3).toEqual(['{"q":1}', 'plain']);
  });

  it('sends the remaining Message Expiry Interval and drops expired messages (retained ones too)', async () => {
    const publisher = await connect(broker.mqttUrl, 'expirer');
    await publisher.publishAsync('exp/short', 'soon gone', {
      qos: 1,
      retain: true,
      properties: { messageExpiryInterval: 1 },
    });
    await publisher.publishAsync('exp/long', 'kept', {
      qos: 1,
      retain: true,
      properties: { messageExpiryInterval: 60 },
    });
    const early = await connect(broker.mqttUrl, 'early');
    const seenEarly: mqtt.IPublishPacket[] = [];
    early.on('message', (_t, _p, packet) => seenEarly.push(packet));
    await early.subscribeAsync('exp/long', { qos: 1 });
    await waitFor(() => seenEarly.length === 1 || undefined);
    const left = seenEarly[0]!.properties?.messageExpiryInterval;
    expect(left).toBeGreaterThanOrEqual(58);
    expect(left).toBeLessThanOrEqual(60);

    await new Promise((r) => setTimeout(r, 1_200));
    const late = await connect(broker.mqttUrl, 'late');
    const seenLate: string[] = [];
    late.on('message', (topic) => seenLate.push(topic));
    await late.subscribeAsync('exp/short', { qos: 1 });
    await late.subscribeAsync('exp/long', { qos: 1 });
    await waitFor(() => seenLate.length >= 1 || undefined);
    await new Promise((r) => setTimeout(r, 200));
    expect(seenLate).toEqual(['exp/long']);
  });
});

describe('message expiry for offline sessions', () => {
  it('does not deliver a queued QoS 1 message whose expiry passed while its subscriber was offline', async () => {
    const away = await connect(broker.mqttUrl, 'away', {
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    await away.subscribeAsync('queue/#', { qos: 1 });
    await away.endAsync();
    const publisher = await connect(broker.mqttUrl, 'queuer');
    await publisher.publishAsync('queue/stale', 'expires', {
      qos: 1,
      properties: { messageExpiryInterval: 1 },
    });
    await publisher.publishAsync('queue/fresh', 'stays', {
      qos: 1,
      properties: { messageExpiryInterval: 60 },
    });
    await new Promise((r) => setTimeout(r, 1_200));
    const seen: string[] = [];
    const back = mqtt.connect(broker.mqttUrl, {
      clientId: 'away',
      protocolVersion: 5,
      clean: false,
      reconnectPeriod: 0,
      properties: { sessionExpiryInterval: 60 },
    });
    clients.push(back);
    back.on('message', (topic) => seen.push(topic));
    const connack = await new Promise<mqtt.IConnackPacket>((resolve) => back.once('connect', resolve));
    expect(connack.sessionPresent).toBe(true);
    await waitFor(() => seen.length >= 1 || undefined);
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toEqual(['queue/fresh']);
  });
});

describe('what the broker says to MQTT 5 clients', () => {
  it('CONNACK carries IoT Core’s properties; an empty client id gets an Assigned Client Identifier', async () => {
    const raw = await rawClient(broker.mqttUrl);
    raw.send({
      cmd: 'connect',
      protocolVersion: 5,
      clientId: '',
      clean: true,
      keepalive: 30,
      properties: { sessionExpiryInterval: 7 * 24 * 3600 },
    });
    const connack = (await raw.next('connack')) as mqttPacket.IConnackPacket;
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties).toMatchObject({
      topicAliasMaximum: 8,
      receiveMaximum: 100,
      maximumQoS: 1,
      retainAvailable: true,
      maximumPacketSize: 128 * 1024,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: false,
      sharedSubscriptionAvailable: false,
      // Above the (default) account maximum of one hour: the adjusted value is returned.
      sessionExpiryInterval: 3600,
      assignedClientIdentifier: expect.stringMatching(/^alleycat-[0-9a-f-]{36}$/),
    });
    raw.socket.destroy();
  });

  it('SUBACK reason codes: granted QoS (2 → 1), 0x9E for $share, 0x8F for a bad filter; UNSUBACK 0x00', async () => {
    const raw = await rawClient(broker.mqttUrl);
    raw.send({ cmd: 'connect', protocolVersion: 5, clientId: 'subber', clean: true, keepalive: 30 });
    await raw.next('connack');
    raw.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: 'a/+', qos: 0 },
        { topic: '$share/g/a/b', qos: 1 },
        { topic: 'a/#/b', qos: 1 },
        { topic: 'b/#', qos: 2 },
      ],
    });
    const suback = (await raw.next('suback')) as mqttPacket.ISubackPacket;
    expect(suback.granted).toEqual([0, 0x9e, 0x8f, 1]);
    raw.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['a/+', 'b/#'] });
    const unsuback = (await raw.next('unsuback')) as mqttPacket.IUnsubackPacket;
    expect(unsuback.granted).toEqual([0, 0]);
    raw.send({ cmd: 'disconnect', reasonCode: 0 });
    await raw.closed;
  });

  it("applies IoT Core's topic and client id quotas: PUBACK 0x90, SUBACK 0x8F, CONNACK 0x85", async () => {
    const raw = await rawClient(broker.mqttUrl);
    raw.send({ cmd: 'connect', protocolVersion: 5, clientId: 'quotas', clean: true, keepalive: 30 });
    await raw.next('connack');
    const deep = 'a/b/c/d/e/f/g/h/i'; // 8 slashes
    raw.send({ cmd: 'publish', topic: deep, payload: 'x', qos: 1, messageId: 7, retain: false, dup: false });
    expect(((await raw.next('puback')) as mqttPacket.IPubackPacket).reasonCode).toBe(0x90);
    raw.send({
      cmd: 'subscribe',
      messageId: 8,
      subscriptions: [
        { topic: 'a/b/c/d/e/f/g/h', qos: 1 }, // 7 slashes: allowed
        { topic: `${'t'.repeat(257)}`, qos: 1 },
        { topic: 'a/+/c/d/e/f/g/h/#', qos: 1 },
      ],
    });
    expect(((await raw.next('suback')) as mqttPacket.ISubackPacket).granted).toEqual([1, 0x8f, 0x8f]);
    raw.send({ cmd: 'disconnect', reasonCode: 0 });
    await raw.closed;

    const long = await rawClient(broker.mqttUrl);
    long.send({ cmd: 'connect', protocolVersion: 5, clientId: 'c'.repeat(129), clean: true, keepalive: 30 });
    expect(((await long.next('connack')) as mqttPacket.IConnackPacket).reasonCode).toBe(0x85);
    await long.closed;
  });

  it('refuses QoS 2 with DISCONNECT 0x9B and counts it; a malformed packet closes only its connection', async () => {
    const bystander = await connect(broker.mqttUrl, 'bystander');
    await bystander.subscribeAsync('x/#', { qos: 1 });
    const raw = await rawClient(broker.mqttUrl);
    raw.send({ cmd: 'connect', protocolVersion: 5, clientId: 'qos2', clean: true, keepalive: 30 });
    await raw.next('connack');
    raw.send({ cmd: 'publish', topic: 'x/1', payload: 'x', qos: 2, messageId: 5, retain: false, dup: false });
    expect(((await raw.next('disconnect')) as mqttPacket.IDisconnectPacket).reasonCode).toBe(0x9b);
    await raw.closed;
    expect(broker.stats()).toMatchObject({ refusedTooLarge: 0, refusedQos2: 1 });

    const broken = await rawClient(broker.mqttUrl);
    broken.send({ cmd: 'connect', protocolVersion: 5, clientId: 'broken', clean: true, keepalive: 30 });
    await broken.next('connack');
    // A PUBLISH whose property length runs past the end of the packet.
    broken.socket.write(Buffer.from([0x30, 0x06, 0x00, 0x01, 0x78, 0x09, 0x26, 0x00]));
    expect(((await broken.next('disconnect')) as mqttPacket.IDisconnectPacket).reasonCode).toBe(0x81);
    await broken.closed;

    // A user property whose value runs past the end of the packet, published where someone listens: mqtt-packet
    // reads it as null, which must close this connection (0x81), not crash the broker on the way out.
    const truncated = await rawClient(broker.mqttUrl);
    truncated.send({ cmd: 'connect', protocolVersion: 5, clientId: 'trunc', clean: true, keepalive: 30 });
    await truncated.next('connack');
    const listener = await connect(broker.mqttUrl, 'listener');
    await listener.subscribeAsync('t', { qos: 0 });
    truncated.socket.write(
      // Properties (6 bytes): a User Property named "a" whose value length (255) is all that is left of them.
      Buffer.from([0x30, 0x0a, 0x00, 0x01, 0x74, 0x06, 0x26, 0x00, 0x01, 0x61, 0x00, 0xff]),
    );
    expect(((await truncated.next('disconnect')) as mqttPacket.IDisconnectPacket).reasonCode).toBe(0x81);
    await truncated.closed;

    const seen: string[] = [];
    bystander.on('message', (topic) => seen.push(topic));
    const pub = await connect(broker.mqttUrl, 'after');
    await pub.publishAsync('x/2', 'still fine', { qos: 1 });
    await waitFor(() => seen.length === 1 || undefined);
    expect(bystander.connected).toBe(true);
    expect(broker.mqtt5Stats().protocolErrors).toBe(3);
  });
});

describe('MQTT 5 sessions, retained messages and wills', () => {
  it('resumes a session with session expiry (session present, queued QoS 1 delivered); Clean Start ends it', async () => {
    const first = await connect(broker.mqttUrl, 'sleeper', {
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    await first.subscribeAsync('board/#', { qos: 1 });
    await first.endAsync();
    const publisher = await connect(broker.mqttUrl, 'pub');
    await publisher.publishAsync('board/1', 'while away', { qos: 1 });

    const seen: string[] = [];
    const second = mqtt.connect(broker.mqttUrl, {
      clientId: 'sleeper',
      protocolVersion: 5,
      clean: false,
      reconnectPeriod: 0,
      properties: { sessionExpiryInterval: 60 },
    });
    clients.push(second);
    second.on('message', (_t, payload) => seen.push(payload.toString()));
    const connack = await new Promise<mqtt.IConnackPacket>((resolve) => second.once('connect', resolve));
    expect(connack.sessionPresent).toBe(true);
    await waitFor(() => seen.length === 1 || undefined);
    expect(seen).toEqual(['while away']);
    await second.endAsync();

    const third = mqtt.connect(broker.mqttUrl, {
      clientId: 'sleeper',
      protocolVersion: 5,
      clean: true,
      reconnectPeriod: 0,
      properties: { sessionExpiryInterval: 60 },
    });
    clients.push(third);
    const fresh = await new Promise<mqtt.IConnackPacket>((resolve) => third.once('connect', resolve));
    expect(fresh.sessionPresent).toBe(false);
  });

  it('ends a session at once when Clean Start is off but the session expiry is 0', async () => {
    const first = await connect(broker.mqttUrl, 'brief', { clean: false });
    await first.subscribeAsync('board/#', { qos: 1 });
    await first.endAsync();
    await new Promise((r) => setTimeout(r, 100));
    const again = mqtt.connect(broker.mqttUrl, {
      clientId: 'brief',
      protocolVersion: 5,
      clean: false,
      reconnectPeriod: 0,
    });
    clients.push(again);
    const connack = await new Promise<mqtt.IConnackPacket>((resolve) => again.once('connect', resolve));
    expect(connack.sessionPresent).toBe(false);
  });

  it('ends a session when its expiry passes', async () => {
    const first = await connect(broker.mqttUrl, 'short', {
      clean: false,
      properties: { sessionExpiryInterval: 1 },
    });
    await first.subscribeAsync('board/#', { qos: 1 });
    await first.endAsync();
    await new Promise((r) => setTimeout(r, 1_600));
    const again = mqtt.connect(broker.mqttUrl, {
      clientId: 'short',
      protocolVersion: 5,
      clean: false,
      reconnectPeriod: 0,
      properties: { sessionExpiryInterval: 1 },
    });
    clients.push(again);
    const connack = await new Promise<mqtt.IConnackPacket>((resolve) => again.once('connect', resolve));
    expect(connack.sessionPresent).toBe(false);
  });

  it('replays a retained message to an exact subscription only, never a wildcard one, on 3.1.1 and 5 (IoT Core)', async () => {
    const retainer = await connect(broker.mqttUrl, 'retainer2');
    await retainer.publishAsync('ret4/a', 'kept', { qos: 1, retain: true });
    for (const protocolVersion of [4, 5] as const) {
      const watcher = await connect(broker.mqttUrl, `ret-watcher-${protocolVersion}`, { protocolVersion });
      const seen: string[] = [];
      watcher.on('message', (topic, _payload, packet) => seen.push(`${topic} ${packet.retain}`));
      await watcher.subscribeAsync(['ret4/+', 'ret4/#'], { qos: 1 });
      await new Promise((r) => setTimeout(r, 300));
      expect(seen, `MQTT ${protocolVersion}`).toEqual([]);
      await watcher.subscribeAsync('ret4/a', { qos: 1 });
      await waitFor(() => seen.length === 1 || undefined);
      expect(seen).toEqual(['ret4/a true']);
      // A wildcard subscribed after the exact one gets no second replay.
      await watcher.subscribeAsync('ret4/+', { qos: 1 });
      await new Promise((r) => setTimeout(r, 300));
      expect(seen).toEqual(['ret4/a true']);
      // Live messages still reach wildcard subscriptions.
      await retainer.publishAsync('ret4/b', 'live', { qos: 1 });
      await waitFor(() => seen.length === 2 || undefined);
    }
  });

  it('publishes IoT Core’s presence lifecycle events: connected, and disconnected with its reason', async () => {
    const watcher = await connect(broker.mqttUrl, 'presence-watcher', { protocolVersion: 4 });
    const events: Array<Record<string, unknown> & { topic: string }> = [];
    watcher.on('message', (topic, payload) => events.push({ topic, ...JSON.parse(payload.toString()) }));
    await watcher.subscribeAsync('$aws/events/presence/+/+', { qos: 1 });
    const of = (clientId: string) => events.filter((e) => e['clientId'] === clientId);

    const polite = await connect(broker.mqttUrl, 'racer-1');
    await polite.endAsync();
    // IoT Core sends no lifecycle events for a client id with a wildcard (it cannot be in a topic name).
    for (const clientId of ['rev+plus', 'rev#hash'])
      await (await connect(broker.mqttUrl, clientId)).endAsync();
    const again = await connect(broker.mqttUrl, 'racer-1', { protocolVersion: 4 });
    (again.stream as net.Socket).destroy();
    const first = await connect(broker.mqttUrl, 'racer-2', { protocolVersion: 4 });
    // A CONNECT under that id refused for its will does not take the id over: racer-2 is lost later, not taken.
    const refused = await rawClient(broker.mqttUrl);
    refused.send({
      cmd: 'connect',
      protocolVersion: 5,
      clientId: 'racer-2',
      clean: true,
      keepalive: 30,
      will: { topic: 'bad/+', payload: Buffer.from('x'), qos: 0, retain: false },
    });
    await refused.closed;
    (first.stream as net.Socket).destroy();
    await connect(broker.mqttUrl, 'racer-4');
    await connect(broker.mqttUrl, 'racer-4'); // takes the id over
    // An MQTT 5 client closed for breaking a rule (QoS 2) goes as CLIENT_ERROR, as a 3.1.1 one does.
    const rude = await rawClient(broker.mqttUrl);
    rude.send({ cmd: 'connect', protocolVersion: 5, clientId: 'racer-3', clean: true, keepalive: 30 });
    await rude.next('connack');
    rude.send({
      cmd: 'publish',
      topic: 'x/1',
      payload: 'x',
      qos: 2,
      messageId: 1,
      retain: false,
      dup: false,
    });
    await rude.closed;
    await connect(broker.mqttUrl, `iot-data-plane-test`); // the local data plane's own: no events
    await waitFor(
      () =>
        (of('racer-1').length === 4 &&
          of('racer-2').length === 2 &&
          of('racer-3').length === 2 &&
          of('racer-4').length === 3) ||
        undefined,
    );
    expect(of('racer-3')[1]).toMatchObject({
      disconnectReason: 'CLIENT_ERROR',
      clientInitiatedDisconnect: false,
    });

    const [c1, d1, c2, d2] = of('racer-1');
    expect(c1).toMatchObject({
      topic: '$aws/events/presence/connected/racer-1',
      eventType: 'connected',
      principalIdentifier: 'local-stack',
      ipAddress: '127.0.0.1',
      versionNumber: 0,
    });
    expect(c1!['sessionIdentifier']).toMatch(/^[0-9a-f]{32}$/);
    expect(d1).toMatchObject({
      topic: '$aws/events/presence/disconnected/racer-1',
      eventType: 'disconnected',
      sessionIdentifier: c1!['sessionIdentifier'],
      clientInitiatedDisconnect: true,
      disconnectReason: 'CLIENT_INITIATED_DISCONNECT',
      versionNumber: 0,
    });
    expect(c2).toMatchObject({ eventType: 'connected', versionNumber: 1 });
    expect(d2).toMatchObject({ clientInitiatedDisconnect: false, disconnectReason: 'CONNECTION_LOST' });
    expect(of('racer-2').map((e) => e['disconnectReason'] ?? e['eventType'])).toEqual([
      'connected',
      'CONNECTION_LOST',
    ]);
    expect(of('racer-4').map((e) => e['disconnectReason'] ?? e['eventType'])).toEqual([
      'connected',
      'DUPLICATE_CLIENTID',
      'connected',
    ]);
    expect(of('iot-data-plane-test')).toEqual([]);
    expect([...of('rev+plus'), ...of('rev#hash')]).toEqual([]);
    expect(typeof c1!['timestamp']).toBe('number');
  });

  it('ends a 3.1.1 persistent session once it has been offline for its lifetime (IoT Core: an hour)', async () => {
    const own = await startBroker({ wsPort: null, persistentSessionSeconds: 1 });
    const opened: mqtt.MqttClient[] = [];
    const open = async (clientId: string) => {
      const c = await mqtt.connectAsync(own.mqttUrl, { clientId, clean: false, reconnectPeriod: 0 });
      opened.push(c);
      return c;
    };
    try {
      const keeper = await open('keeper');
      await keeper.subscribeAsync('kept/#', { qos: 1 });
      await keeper.endAsync();
      // Back within its lifetime: the session (and its subscription) is there.
      const back = await open('keeper');
      expect(
        (back as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent,
      ).toBe(true);
      await back.endAsync();
      await new Promise((r) => setTimeout(r, 1_500));
      const late = await open('keeper');
      expect(
        (late as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent,
      ).toBe(false);
    } finally {
      await Promise.all(opened.map((c) => c.endAsync(true)));
      await own.close();
    }
  });

  it('publishes none of aedes’s $SYS events (IoT Core has no $SYS topics)', async () => {
    const spy = await connect(broker.mqttUrl, 'sys-spy', { protocolVersion: 4 });
    const seen: string[] = [];
    spy.on('message', (topic) => seen.push(topic));
    await spy.subscribeAsync('$SYS/#', { qos: 0 });
    const other = await connect(broker.mqttUrl, 'sys-other');
    await other.subscribeAsync('x/y', { qos: 1 });
    await other.endAsync();
    await new Promise((r) => setTimeout(r, 300));
    expect(seen).toEqual([]);
  });

  it('delivers retained messages and publishes the will of a v5 client that drops (not of one that disconnects)', async () => {
    const retainer = await connect(broker.mqttUrl, 'retainer');
    await retainer.publishAsync('status/board', 'retained', { qos: 1, retain: true });
    const watcher = await connect(broker.mqttUrl, 'watcher');
    const seen: Array<{ topic: string; payload: string; retain: boolean }> = [];
    watcher.on('message', (topic, payload, packet) =>
      seen.push({ topic, payload: payload.toString(), retain: packet.retain }),
    );
    await watcher.subscribeAsync('status/#', { qos: 1 });
    await watcher.subscribeAsync('status/board', { qos: 1 });
    await waitFor(() => seen.length >= 1 || undefined);
    expect(seen[0]).toEqual({ topic: 'status/board', payload: 'retained', retain: true });

    const polite = await connect(broker.mqttUrl, 'polite', {
      will: { topic: 'status/polite', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    await polite.endAsync();
    const dropper = await connect(broker.mqttUrl, 'dropper', {
      will: { topic: 'status/dropper', payload: Buffer.from('lost'), qos: 1, retain: false },
    });
    (dropper.stream as net.Socket).destroy();
    await waitFor(() => seen.some((m) => m.topic === 'status/dropper') || undefined);
    expect(seen.filter((m) => m.topic !== 'status/board').map((m) => `${m.topic} ${m.payload}`)).toEqual([
      'status/dropper lost',
    ]);
  });

  it('publishes the will when the client disconnects with reason 0x04 (Disconnect with Will Message)', async () => {
    const watcher = await connect(broker.mqttUrl, 'watcher');
    await watcher.subscribeAsync('status/#', { qos: 1 });
    const seen: string[] = [];
    watcher.on('message', (topic, payload) => seen.push(`${topic} ${payload}`));
    const raw = await rawClient(broker.mqttUrl);
    raw.send({
      cmd: 'connect',
      protocolVersion: 5,
      clientId: 'leaver',
      clean: true,
      keepalive: 30,
      will: { topic: 'status/leaver', payload: Buffer.from('bye'), qos: 1, retain: false },
    });
    await raw.next('connack');
    raw.send({ cmd: 'disconnect', reasonCode: 0x04 });
    await waitFor(() => seen.length === 1 || undefined);
    expect(seen).toEqual(['status/leaver bye']);
  });

  it('closes a silent client with DISCONNECT 0x8D after 1.5 × its keep-alive', async () => {
    // IoT Core's 30 s floor, lowered for this test so that it takes 1.5 s rather than 45.
    const quick = await startBroker({ wsPort: null, minKeepaliveSeconds: 1 });
    try {
      const raw = await rawClient(quick.mqttUrl);
      raw.send({ cmd: 'connect', protocolVersion: 5, clientId: 'sleepy', clean: true, keepalive: 1 });
      await raw.next('connack');
      const disconnect = (await raw.next('disconnect')) as mqttPacket.IDisconnectPacket;
      expect(disconnect.reasonCode).toBe(0x8d);
      await raw.closed;
    } finally {
      await quick.close();
    }
  });

  it('applies IoT Core’s keep-alive bounds (under 30 s → 30, none or over 1,200 → 1,200) and says so', async () => {
    const asked = async (clientId: string, keepalive: number) => {
      const raw = await rawClient(broker.mqttUrl);
      raw.send({ cmd: 'connect', protocolVersion: 5, clientId, clean: true, keepalive });
      const connack = (await raw.next('connack')) as mqttPacket.IConnackPacket;
      raw.socket.destroy();
      return connack.properties?.serverKeepAlive;
    };
    expect(await asked('k5', 5)).toBe(30);
    expect(await asked('k0', 0)).toBe(1200);
    expect(await asked('k5000', 5000)).toBe(1200);
    expect(await asked('k60', 60)).toBeUndefined();
    // A 3.1.1 client is held to the same bounds (aedes's timer: 1.5 × the keep-alive).
    const v4 = await mqtt.connectAsync(broker.mqttUrl, { clientId: 'k4', keepalive: 5, reconnectPeriod: 0 });
    clients.push(v4);
    const held = (broker.aedes as unknown as { clients: Record<string, { _keepaliveInterval: number }> })
      .clients['k4']!;
    expect(held._keepaliveInterval).toBe(30 * 1500 + 1);
  });

  it('refuses a shared subscription from a 3.1.1 client (SUBACK 0x80) rather than granting one that never delivers', async () => {
    const v4 = await mqtt.connectAsync(broker.mqttUrl, { clientId: 'sharer', reconnectPeriod: 0 });
    clients.push(v4);
    // mqtt.js turns a SUBACK failure code into an error carrying the SUBACK.
    const error = await v4.subscribeAsync(['$share/grp/sh/t', 'sh/t'], { qos: 1 }).then(
      () => undefined,
      (e: { packet?: mqttPacket.ISubackPacket }) => e,
    );
    expect(error?.packet?.granted).toEqual([128, 1]);
  });

  it('refuses a will whose topic could never be published: MQTT 5 CONNACK 0x90, 3.1.1 connection closed', async () => {
    for (const topic of ['bad/+', 'bad/#', `${'a/'.repeat(8)}x`]) {
      const raw = await rawClient(broker.mqttUrl);
      raw.send({
        cmd: 'connect',
        protocolVersion: 5,
        clientId: 'willful',
        clean: true,
        keepalive: 30,
        will: { topic, payload: Buffer.from('bye'), qos: 0, retain: false },
      });
      expect(((await raw.next('connack')) as mqttPacket.IConnackPacket).reasonCode, topic).toBe(0x90);
      await raw.closed;
    }
    const v4 = mqtt.connect(broker.mqttUrl, {
      clientId: 'willful4',
      reconnectPeriod: 0,
      will: { topic: 'bad/+', payload: Buffer.from('bye'), qos: 0, retain: false },
    });
    clients.push(v4);
    let connected = false;
    v4.on('connect', () => {
      connected = true;
    });
    await new Promise<void>((resolve) => v4.once('close', () => resolve()));
    expect(connected).toBe(false);
    expect(broker.stats().refusedTopic).toBeGreaterThanOrEqual(1);
  });

  it('does not send a client more than its Maximum Packet Size (the delivery is dropped and counted)', async () => {
    const raw = await rawClient(broker.mqttUrl);
    raw.send({
      cmd: 'connect',
      protocolVersion: 5,
      clientId: 'small',
      clean: true,
      keepalive: 30,
      properties: { maximumPacketSize: 100 },
    });
    await raw.next('connack');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'big/#', qos: 1 }] });
    await raw.next('suback');
    const publisher = await connect(broker.mqttUrl, 'big-pub');
    await publisher.publishAsync('big/1', Buffer.alloc(500, 0x61), { qos: 1 });
    await publisher.publishAsync('big/2', 'small', { qos: 1 });
    const delivered = (await raw.next('publish')) as mqttPacket.IPublishPacket;
    expect(delivered.topic).toBe('big/2');
    expect(broker.mqtt5Stats().oversizedDeliveriesDropped).toBe(1);
    raw.socket.destroy();
  });

  it('CONNACK 0x8C for enhanced auth, PUBACK 0x90 for a wildcard topic, DISCONNECT 0xA1 for a subscription id', async () => {
    const auth = await rawClient(broker.mqttUrl);
    auth.send({
      cmd: 'connect',
      protocolVersion: 5,
      clientId: 'scram',
      clean: true,
      keepalive: 30,
      properties: { authenticationMethod: 'SCRAM-SHA-1' },
    });
    expect(((await auth.next('connack')) as mqttPacket.IConnackPacket).reasonCode).toBe(0x8c);
    await auth.closed;

    const raw = await rawClient(broker.mqttUrl);
    raw.send({ cmd: 'connect', protocolVersion: 5, clientId: 'wild', clean: true, keepalive: 30 });
    await raw.next('connack');
    raw.send({
      cmd: 'publish',
      topic: 'a/+/b',
      payload: 'x',
      qos: 1,
      messageId: 7,
      retain: false,
      dup: false,
    });
    const puback = (await raw.next('puback')) as mqttPacket.IPubackPacket;
    expect(puback).toMatchObject({ messageId: 7, reasonCode: 0x90 });
    raw.send({
      cmd: 'subscribe',
      messageId: 8,
      subscriptions: [{ topic: 'a/b', qos: 1 }],
      properties: { subscriptionIdentifier: 3 },
    });
    expect(((await raw.next('disconnect')) as mqttPacket.IDisconnectPacket).reasonCode).toBe(0xa1);
    await raw.closed;
  });

  it('says DISCONNECT 0x8B (server shutting down) when the broker closes', async () => {
    const own = await startBroker({ wsPort: null });
    const raw = await rawClient(own.mqttUrl);
    raw.send({ cmd: 'connect', protocolVersion: 5, clientId: 'stayer', clean: true, keepalive: 30 });
    await raw.next('connack');
    const closing = own.close();
    expect(((await raw.next('disconnect')) as mqttPacket.IDisconnectPacket).reasonCode).toBe(0x8b);
    await raw.closed;
    await closing;
  });

  it('tells the old connection DISCONNECT 0x8E when a new one takes its client id over', async () => {
    const raw = await rawClient(broker.mqttUrl);
    raw.send({ cmd: 'connect', protocolVersion: 5, clientId: 'twin', clean: true, keepalive: 30 });
    await raw.next('connack');
    await connect(broker.mqttUrl, 'twin');
    expect(((await raw.next('disconnect')) as mqttPacket.IDisconnectPacket).reasonCode).toBe(0x8e);
    await raw.closed;
  });
});

describe('independent MQTT 5 clients', () => {
  it('mosquitto_pub -V mqttv5 publishes through the rule; mosquitto_sub -V mqttv5 receives', async () => {
    const { port } = new URL(broker.mqttUrl);
    const sub = run('mosquitto_sub', [
      ...['-V', 'mqttv5', '-h', '127.0.0.1', '-p', port, '-i', 'sub-v5', '-q', '1'],
      ...['-t', INGEST_TOPIC, '-C', '1', '-W', '10', '-v'],
    ]);
    // mosquitto_sub has subscribed once the broker knows its client id.
    await waitFor(() => (broker.aedes as unknown as { clients: Record<string, unknown> }).clients['sub-v5']);
    await new Promise((r) => setTimeout(r, 200));
    await run('mosquitto_pub', [
      ...['-V', 'mqttv5', '-h', '127.0.0.1', '-p', port, '-i', 'racer-21', '-q', '1'],
      ...['-t', INGEST_TOPIC, '-m', '{"racerId":21}', '-D', 'publish', 'user-property', 'k', 'v'],
    ]);
    const { stdout } = await sub;
    expect(stdout.trim()).toBe(`${INGEST_TOPIC} {"racerId":21}`);
    expect((await stored()).map((r) => r.data)).toEqual([{ racerId: 21, clientId: 'racer-21' }]);
    expect(await readdir(dir)).not.toContain('errors-bucket');
  });
});
