/**
 * The MQTT path against hostile bikes, on one stack (real broker, ingest rule, Lambda bundle):
 *
 * Identity (issue 7, DESIGN § Identities): a bike connected as `racer-7` that publishes seconds claiming to be
 * racer 8 is refused with `identity_mismatch` — the rule records the sender (`clientid() AS clientId`), the
 * Lambda compares — and scores nothing for either racer: not the claimed racer's seconds (not even a second
 * racer 8 sends later for real: the forgery must not take its place), not a race of its own, not racer 7.
 * Every forgery is in `invalid/` with that code, the sender's client id recorded by the rule.
 *
 * Rule regressions: the two MQTT-path bugs the fuzzer found (README § Found, F1 and F2), each the smallest input
 * that showed it: acknowledged, in the rule's log with a reason, nothing scored. Fixed in src/rules (cda16ca).
 */
import {
  CLIENT_ID_FIELD,
  clientIdFor,
  encodeRaceMessage,
  INGEST_TOPIC,
  MAX_CADENCE_RPM,
  MAX_RESISTANCE_PERCENT,
  output,
  type RaceMessage,
  toBatch,
} from '@alleycat/schema';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/helpers.js';
import { type BoardWatch, watchBoards } from './boards.js';
import { ExpectedScores } from './oracle.js';
import { boardProblems } from './run.js';
import { MqttFleet } from './senders.js';
import { type HostileStack, startHostileStack } from './stack.js';

let hostile: HostileStack | undefined;
let fleet: MqttFleet | undefined;
let watch: BoardWatch | undefined;

beforeAll(async () => {
  hostile = await startHostileStack();
  fleet = new MqttFleet(hostile.stack.endpoints.mqtt);
  watch = await watchBoards(hostile.stack.endpoints.mqtt, `mqtt-path-watcher-${process.pid}`);
});

afterAll(async () => {
  await watch?.close();
  await fleet?.close();
  await hostile?.close();
});

const RACE = 8_001;
/** A race only forgeries name: it must never get a board. */
const FORGED_RACE = 8_002;
/** The forged seconds' output: the highest possible, which no genuine second below reaches. */
const FORGED = { cadence: MAX_CADENCE_RPM, resistance: MAX_RESISTANCE_PERCENT };
const FORGED_OUTPUT = output(FORGED.cadence, FORGED.resistance);
const IDENTITY_RACES = new Set([RACE, FORGED_RACE]);

/** `invalid/` reports of records claiming racer 7 or 8 (the other tests here use other racers). */
async function forgeryFiles() {
  return (await hostile!.inspection()).filter((f) => {
    if (f.place !== 'invalid') return false;
    try {
      return [7, 8].includes(
        (JSON.parse(f.payload.toString('utf8')) as { racerId?: unknown }).racerId as number,
      );
    } catch {
      return false;
    }
  });
}

function second(
  racerId: number,
  s: number,
  raceId = RACE,
  values?: { cadence: number; resistance: number },
): RaceMessage {
  return {
    event: s === 5 ? 'final' : 'update',
    deviceTimestamp: 1_700_000_000_000 + s * 1000,
    second: s,
    raceId,
    name: `Racer ${racerId}`,
    racerId,
    classId: 1,
    cadence: values?.cadence ?? 60 + racerId * 3 + s,
    resistance: values?.resistance ?? 20 + s * 7,
  };
}

describe('identity', () => {
  it('a bike connected as racer-7 cannot score as racer 8 (identity_mismatch, nothing on any board)', async () => {
    const publish = async (clientId: string, payload: string) => {
      const result = await fleet!.publish(clientId, Buffer.from(payload), 1, 10_000);
      expect(result, `publish from ${clientId}`).toEqual({ ok: true });
    };
    const forged = (raceId: number, s: number) => second(8, s, raceId, FORGED);
    // Each forgery with the client that sends it; all claim to be racer 8 except the last (racer 7 itself,
    // from a connection whose id is not exactly `racer-7`).
    const forgeries: Array<[clientId: string, payload: string, claimed: number]> = [
      [clientIdFor(7), encodeRaceMessage(forged(RACE, 3)), 8], // a second racer 8 sends for real later
      [clientIdFor(7), encodeRaceMessage(forged(RACE, 99)), 8], // a second racer 8 never sends
      [clientIdFor(7), encodeRaceMessage(forged(FORGED_RACE, 1)), 8], // a race only the forger names
      // A client id written into the payload is overwritten by the rule's `clientid()`, never trusted.
      [clientIdFor(7), JSON.stringify({ ...forged(RACE, 4), [CLIENT_ID_FIELD]: clientIdFor(8) }), 8],
      [clientIdFor(7), JSON.stringify(toBatch([forged(RACE, 6), forged(RACE, 7)])), 8], // the batch form
      ['racer-07', encodeRaceMessage(second(7, 98, RACE, FORGED)), 7], // not exactly `racer-{racerId}`
    ];
    for (const [clientId, payload] of forgeries) await publish(clientId, payload);

    // The genuine race, after the forgeries: racer 8's real second 3 must count despite the forged one.
    const expected = new ExpectedScores();
    for (const racerId of [7, 8]) {
      for (let s = 1; s <= 5; s++) {
        const m = second(racerId, s);
        expected.add(m);
        await publish(clientIdFor(racerId), encodeRaceMessage(m));
      }
    }
    const mismatched = await waitFor(async () => {
      const files = await forgeryFiles();
      return files.length >= forgeries.length && boardProblems(watch!, expected, IDENTITY_RACES).length === 0
        ? files
        : undefined;
    }, 30_000).catch(async () => {
      throw new Error(
        `not settled: ${JSON.stringify(boardProblems(watch!, expected, IDENTITY_RACES))}; files ${JSON.stringify((await hostile!.inspection()).map((f) => f.reason))}`,
      );
    });
    await new Promise((r) => setTimeout(r, 1_200)); // one more publish interval: a late forgery would show now

    // Boards: exactly the genuine totals, racers 7 and 8 only, no board for the forger's race.
    expect(boardProblems(watch!, expected, IDENTITY_RACES)).toEqual([]);
    expect(watch!.boards.get(FORGED_RACE)).toBeUndefined();
    expect([...watch!.boards.get(RACE)!.standings.keys()].sort()).toEqual([7, 8]);
    for (const race of watch!.boards.all()) {
      for (const [racerId, current, , max] of race.standings.values()) {
        expect(current, `racer ${racerId} current`).not.toBe(FORGED_OUTPUT);
        expect(max, `racer ${racerId} max`).toBeLessThan(FORGED_OUTPUT);
      }
    }

    // Inspection: one identity_mismatch report per forgery, holding the record as the rule wrote it.
    const files = await forgeryFiles();
    expect(files).toHaveLength(forgeries.length);
    expect(files.map((f) => f.code)).toEqual(forgeries.map(() => 'identity_mismatch'));
    const records = files.map((f) => JSON.parse(f.payload.toString('utf8')) as Record<string, unknown>);
    const seen = records.map((r) => `${r[CLIENT_ID_FIELD]} as ${r['racerId']}`).sort();
    expect(seen).toEqual(forgeries.map(([clientId, , claimed]) => `${clientId} as ${claimed}`).sort());
    for (const file of files) expect(file.reason).toMatch(/expected client id "racer-(7|8)"/);
    expect(mismatched.length).toBe(forgeries.length);
    expect(hostile!.dead()).toEqual([]);
  }, 120_000);
});

const message = (racerId: number, raceId: number, second: number): RaceMessage => ({
  event: 'update',
  deviceTimestamp: 1_700_000_000_000 + second * 1000,
  second,
  raceId,
  name: 'Repro',
  racerId,
  classId: 1,
  cadence: 80,
  resistance: 40,
});

describe('MQTT rule path, hostile payloads (regressions)', () => {
  it('F1: a deeply nested payload (20,000 levels, 40 KB) is acknowledged and logged by the rule, and blocks no other bike', async () => {
    const raceId = 7_100;
    const deep = `${encodeRaceMessage(message(71, raceId, 1)).slice(0, -1)},"x":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
    // A bystander publishing at the same time on its own connection.
    const bystander = Array.from({ length: 5 }, (_, s) => message(72, raceId, s));
    const [poisoned, ...others] = await Promise.all([
      fleet!.publish(clientIdFor(71), Buffer.from(deep), 1, 5_000),
      ...bystander.map((m) => fleet!.publish(clientIdFor(72), Buffer.from(encodeRaceMessage(m)), 1, 5_000)),
    ]);
    expect(
      others.every((r) => r.ok),
      `bystander publishes: ${JSON.stringify(others)}`,
    ).toBe(true);
    const logged = await waitFor(async () => {
      const files = (await hostile!.inspection()).filter(
        (f) => f.place === 'rule-log' && f.payload.toString() === deep,
      );
      return files.length > 0 ? files : undefined;
    }, 8_000).catch(() => []);
    expect(hostile!.dead()).toEqual([]);
    expect({ acknowledged: poisoned!.ok, logged: logged.length }).toEqual({ acknowledged: true, logged: 1 });
  }, 60_000);

  it('F2: a payload that is not UTF-8 is logged by the rule (as the Kinesis path rejects it: not_utf8), never scored', async () => {
    const raceId = 7_200;
    const json = encodeRaceMessage(message(73, raceId, 1));
    const at = json.indexOf('Repro') + 'Repro'.length;
    const payload = Buffer.concat([
      Buffer.from(json.slice(0, at)),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(json.slice(at)),
    ]);
    const sent = await fleet!.publish(clientIdFor(73), payload, 1, 5_000);
    expect(sent).toEqual({ ok: true });
    const outcome = await waitFor(async () => {
      const files = (await hostile!.inspection()).filter((f) => f.payload.equals(payload));
      const board = watch!.boards.get(raceId);
      if (files.length > 0) return { inspected: files.map((f) => f.place), scored: board !== undefined };
      if (board !== undefined) return { inspected: [], scored: true };
      return undefined;
    }, 15_000);
    expect(outcome).toEqual({ inspected: ['rule-log'], scored: false });
  }, 60_000);

  it('control: the same message as valid UTF-8 is scored (so F2 is about the bytes, not the message)', async () => {
    const raceId = 7_300;
    const m = message(74, raceId, 1);
    const client = await mqtt.connectAsync(hostile!.stack.endpoints.mqtt, {
      clientId: clientIdFor(74),
      protocolVersion: 4,
    });
    await client.publishAsync(INGEST_TOPIC, encodeRaceMessage(m), { qos: 1 });
    await client.endAsync(true);
    const board = await waitFor(() => watch!.boards.get(raceId), 15_000);
    expect(board.standings.get(74)?.[2]).toBe(((80 + 35) * (40 + 65)) / 100);
  }, 60_000);
});
