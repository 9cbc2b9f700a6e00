import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { INGEST_TOPIC, parseRaceMessage, type RaceMessage } from '@alleycat/schema';
import { afterEach, describe, expect, it } from 'vitest';
import { Bike } from '../src/bike.js';
import { MOSQUITTO, type MosquittoServer, startMosquitto, startMosquittoSub } from './support/processes.js';

// mosquitto is a system package (`apt-get install mosquitto mosquitto-clients`, done by .ci/run):
// fail loudly rather than skip when it is missing.
const stops: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

function message(second: number): RaceMessage {
  return {
    event: second === 99 ? 'final' : 'update',
    deviceTimestamp: 1_764_000_000_000 + second * 1000,
    second,
    raceId: 9,
    name: 'Mosquitto Rider',
    racerId: 11,
    classId: 4,
    cadence: 90,
    resistance: 50,
  };
}

const secondsOf = (lines: string[]) =>
  lines.map((line) => {
    const parsed = parseRaceMessage(line);
    if (!parsed.ok) throw new Error(`invalid message at the broker: ${line}`);
    return parsed.message.second;
  });

async function bikeOn(port: number, qos: 0 | 1): Promise<Bike> {
  const bike = new Bike({
    racerId: 11,
    classId: 4,
    endpoint: { mode: 'local', host: '127.0.0.1', port },
    qos,
    reconnectMinSeconds: 1,
    reconnectMaxSeconds: 2,
  });
  stops.push(() => bike.close());
  await bike.connect();
  return bike;
}

describe("Bike against Debian's mosquitto", () => {
  it('has mosquitto installed', () => {
    expect(
      existsSync(MOSQUITTO),
      `${MOSQUITTO} missing: apt-get install -y mosquitto mosquitto-clients`,
    ).toBe(true);
  });

  it.each([0, 1] as const)('publishes at QoS %i', async (qos) => {
    const broker = await startMosquitto();
    stops.push(() => broker.stop());
    const received: string[] = [];
    const sub = await startMosquittoSub(broker.port, INGEST_TOPIC, received);
    stops.push(() => sub.stop());
    const bike = await bikeOn(broker.port, qos);
    for (let s = 0; s < 100; s++) bike.publish(message(s));
    expect(await bike.drain(10_000)).toBe(true);
    const deadline = Date.now() + 5_000;
    while (received.length < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(secondsOf(received)).toEqual(Array.from({ length: 100 }, (_, s) => s));
  });

  // The subscriber is frozen from just before the broker stops until the bike has drained, so the order is
  // fixed: what the old broker acknowledged but had not delivered, and everything the restarted broker
  // acknowledges, must reach the subscriber through its persistent session (saved in mosquitto.db at
  // SIGTERM, restored at start). Left to reconnect by itself, the subscriber races the bike (both retry after
  // ~1 s) and the session is only sometimes needed: with a broker that could not save it (see
  // `startMosquitto`), seconds acknowledged before the subscriber re-subscribed were lost only under load.
  it('loses no QoS 1 message when mosquitto restarts mid-race', async () => {
    let broker: MosquittoServer = await startMosquitto();
    const { port, dir } = broker;
    stops.push(() => broker.stop());
    const received: string[] = [];
    const sub = await startMosquittoSub(port, INGEST_TOPIC, received);
    stops.push(() => sub.stop());
    const bike = await bikeOn(port, 1);
    const resumed = new Promise((resolve) => bike.once('resume', resolve));
    const publishing = (async () => {
      for (let s = 0; s < 100; s++) {
        bike.publish(message(s));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    sub.pause();
    await broker.stop();
    const firstLog = broker.log();
    expect(
      existsSync(join(dir, 'mosquitto.db')),
      `mosquitto did not save its database at SIGTERM, so no session survives the restart:\n${firstLog}`,
    ).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    broker = await startMosquitto(port, dir);
    await resumed;
    await publishing;
    // The bike's guarantee: every message acknowledged (PUBACK) once, none dropped, one outage.
    expect(await bike.drain(20_000)).toBe(true);
    expect(bike.stats).toMatchObject({
      published: 100,
      delivered: 100,
      dropped: 0,
      queued: 0,
      inFlight: 0,
      interruptions: 1,
      reconnects: 1,
    });
    sub.resume();
    const deadline = Date.now() + 10_000;
    const missing = () => {
      const got = new Set(secondsOf(received));
      return Array.from({ length: 100 }, (_, s) => s).filter((s) => !got.has(s));
    };
    while (missing().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    // Anything missing now was acknowledged to the bike and then lost by the broker.
    expect(
      missing(),
      `acknowledged by mosquitto but never delivered to the persistent subscriber\n` +
        `-- broker before the restart:\n${firstLog}-- after:\n${broker.log()}`,
    ).toEqual([]);
  });
});
