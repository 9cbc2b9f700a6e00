/**
 * Regression tests for the MQTT-path bugs the fuzzer found (F1, F2 in the README), each the smallest input that
 * showed it, through the real broker, rule and Lambda: what the contract asks (issue 7: every invalid input in
 * the inspection files with a reason, acknowledged, nothing scored). Fixed in src/rules (cda16ca).
 */
import { clientIdFor, encodeRaceMessage, INGEST_TOPIC, type RaceMessage } from '@alleycat/schema';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/helpers.js';
import { type BoardWatch, watchBoards } from './boards.js';
import { MqttFleet } from './senders.js';
import { type HostileStack, startHostileStack } from './stack.js';

let hostile: HostileStack | undefined;
let fleet: MqttFleet | undefined;
let watch: BoardWatch | undefined;

beforeAll(async () => {
  hostile = await startHostileStack();
  fleet = new MqttFleet(hostile.stack.endpoints.mqtt);
  watch = await watchBoards(hostile.stack.endpoints.mqtt, `rule-regressions-watcher-${process.pid}`);
});

afterAll(async () => {
  await watch?.close();
  await fleet?.close();
  await hostile?.close();
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
