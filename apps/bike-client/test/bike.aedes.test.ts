import { encodeLeaderboard, parseRaceMessage, type RaceMessage, resultsTopicFor } from '@alleycat/schema';
import { afterEach, describe, expect, it } from 'vitest';
import { Bike } from '../src/bike.js';
import { smallPartsLeaderboard } from './support/leaderboards.js';
import { type AedesServer, startAedes } from './support/processes.js';

const servers: AedesServer[] = [];
const bikes: Bike[] = [];
afterEach(async () => {
  for (const bike of bikes.splice(0)) await bike.close();
  for (const server of servers.splice(0)) await server.stop();
});

function message(racerId: number, second: number): RaceMessage {
  return {
    event: 'update',
    deviceTimestamp: 1_764_000_000_000 + second * 1000,
    second,
    raceId: 42,
    name: 'Test Rider',
    racerId,
    classId: 2,
    cadence: 80 + (second % 10),
    resistance: 40,
  };
}

function newBike(port: number, qos: 0 | 1, extra: Partial<ConstructorParameters<typeof Bike>[0]> = {}): Bike {
  const bike = new Bike({
    racerId: 7,
    classId: 2,
    endpoint: { mode: 'local', host: '127.0.0.1', port },
    qos,
    reconnectMinSeconds: 1,
    reconnectMaxSeconds: 2,
    operationTimeoutMs: 3_000,
    ...extra,
  });
  bikes.push(bike);
  return bike;
}

const seconds = (payloads: string[]) =>
  payloads.map((p) => {
    const parsed = parseRaceMessage(p);
    if (!parsed.ok) throw new Error(`broker got an invalid message: ${p}`);
    return parsed.message.second;
  });

describe('Bike against aedes (MQTT 3.1.1, plain TCP)', () => {
  it.each([0, 1] as const)(
    'publishes valid race messages at QoS %i with client id racer-{racerId}',
    async (qos) => {
      const broker = await startAedes();
      servers.push(broker);
      const bike = newBike(broker.port, qos);
      expect(bike.clientId).toBe('racer-7');
      await bike.connect();
      for (let s = 0; s < 50; s++) bike.publish(message(7, s));
      expect(await bike.drain(10_000)).toBe(true);
      await new Promise((r) => setTimeout(r, 200));
      expect(seconds(broker.received)).toEqual(Array.from({ length: 50 }, (_, s) => s));
      expect(bike.stats).toMatchObject({ published: 50, delivered: 50, dropped: 0, queued: 0 });
    },
  );

  it('loses no QoS 1 message when the broker restarts mid-race', async () => {
    const received: string[] = [];
    let broker = await startAedes(0, received);
    servers.push(broker);
    const port = broker.port;
    const bike = newBike(port, 1);
    await bike.connect();
    const interrupted = new Promise((resolve) => bike.once('interrupt', resolve));
    const resumed = new Promise((resolve) => bike.once('resume', resolve));
    // A bike publishing every 10 ms while the broker dies, stays down 600 ms and comes back.
    const publishing = (async () => {
      for (let s = 0; s < 150; s++) {
        bike.publish(message(7, s));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await new Promise((r) => setTimeout(r, 400));
    await broker.stop();
    servers.splice(servers.indexOf(broker), 1);
    await interrupted;
    expect(bike.isOnline).toBe(false);
    await new Promise((r) => setTimeout(r, 600));
    broker = await startAedes(port, received);
    servers.push(broker);
    await resumed;
    await publishing;
    expect(await bike.drain(20_000)).toBe(true);
    // aedes records a message in its publish hook, which may run after the PUBACK went out (the first test
    // sleeps 200 ms for it): give the last ones a bounded moment on a loaded machine.
    for (let waited = 0; waited < 5_000 && new Set(seconds(received)).size < 150; waited += 50) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const got = new Set(seconds(received));
    const missing = Array.from({ length: 150 }, (_, s) => s).filter((s) => !got.has(s));
    expect(missing).toEqual([]);
    expect(bike.stats).toMatchObject({ published: 150, dropped: 0, interruptions: 1, reconnects: 1 });
    expect(broker.publishers).toEqual(new Set(['racer-7']));
  });

  it('re-sends QoS 1 messages whose PUBACK never came when the broker hangs, losing none', async () => {
    const broker = await startAedes();
    servers.push(broker);
    const bike = newBike(broker.port, 1, { operationTimeoutMs: 1_000, keepAliveSeconds: 30 });
    await bike.connect();
    for (let s = 0; s < 10; s++) bike.publish(message(7, s));
    expect(await bike.drain(5_000)).toBe(true);
    // A hung broker: TCP stays up, nothing is acknowledged.
    broker.child.kill('SIGSTOP');
    for (let s = 10; s < 40; s++) bike.publish(message(7, s));
    await new Promise((r) => setTimeout(r, 2_500));
    expect(bike.stats.resent).toBeGreaterThan(0);
    broker.child.kill('SIGCONT');
    expect(await bike.drain(20_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    const got = new Set(seconds(broker.received));
    expect(Array.from({ length: 40 }, (_, s) => s).filter((s) => !got.has(s))).toEqual([]);
    expect(bike.stats).toMatchObject({ published: 40, delivered: 40, dropped: 0 });
    // After the first timeout one message at a time probes the hung connection: the rest are not sent again
    // at every operation timeout (which multiplied them), and what is sent again keeps its order.
    const copies = seconds(broker.received).length;
    console.info(
      `hung broker: ${copies} PUBLISH packets received for 40 messages, ${bike.stats.resent} resent`,
    );
    expect(copies).toBeLessThanOrEqual(40 + 20 + 5);
    const firsts = [...new Set(seconds(broker.received))];
    expect(firsts).toEqual([...firsts].sort((a, b) => a - b));
  });

  it('reports, at close, every message not yet acknowledged', async () => {
    const broker = await startAedes();
    servers.push(broker);
    const dropped: RaceMessage[] = [];
    const bike = newBike(broker.port, 1, {
      maxInFlight: 5,
      onDropped: (m, reason) => reason === 'closed' && dropped.push(...m),
    });
    await bike.connect();
    broker.child.kill('SIGSTOP');
    try {
      for (let s = 0; s < 12; s++) bike.publish(message(7, s));
      expect(await bike.drain(300)).toBe(false);
      expect(bike.stats).toMatchObject({ inFlight: 5, queued: 7, delivered: 0 });
      const left = await bike.close();
      expect(left.map((m) => m.second).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 12 }, (_, s) => s),
      );
      expect(dropped).toEqual(left);
      expect(bike.stats).toMatchObject({ dropped: 12, delivered: 0, inFlight: 0, queued: 0 });
    } finally {
      broker.child.kill('SIGCONT');
    }
  });

  it('drops the oldest queued messages at the bound and reports them', async () => {
    const broker = await startAedes();
    servers.push(broker);
    const dropped: RaceMessage[] = [];
    const bike = newBike(broker.port, 1, { maxQueuedMessages: 10, onDropped: (m) => dropped.push(...m) });
    // Not connected yet: everything queues.
    for (let s = 0; s < 25; s++) bike.publish(message(7, s));
    expect(dropped.map((m) => m.second)).toEqual(Array.from({ length: 15 }, (_, s) => s));
    await bike.connect();
    expect(await bike.drain(10_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(seconds(broker.received)).toEqual(Array.from({ length: 10 }, (_, s) => s + 15));
    expect(bike.stats.dropped).toBe(15);
  });

  it('shows its own standing from the class results topic, across leaderboard parts', async () => {
    const broker = await startAedes();
    servers.push(broker);
    const bike = newBike(broker.port, 0);
    await bike.connect();
    const standing = new Promise((resolve) => bike.once('standing', resolve));
    const parts = smallPartsLeaderboard(12, Date.now()); // racer 7 is not in the first part
    expect(parts.length).toBeGreaterThan(2);
    broker.send(resultsTopicFor(3), encodeLeaderboard({ ...parts[0]!, classId: 3 })); // another class: not ours
    for (const part of parts) broker.send(resultsTopicFor(2), encodeLeaderboard(part));
    await standing;
    expect(bike.standing).toMatchObject({
      raceId: 42,
      second: 12,
      racerId: 7,
      rank: 7,
      total: 940,
      racers: 30,
    });
  });
});
