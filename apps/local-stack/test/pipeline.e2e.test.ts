/**
 * The deployed Lambda bundle (apps/ingest-lambda, built) behind the whole local stack, configured from the
 * synthesized stack: bikes over MQTT (QoS 1, duplicates, reordering, a poison and a non-JSON message) →
 * rule → Kinesis limits layer → kinesalite → event source mapping → Lambda → dynalite → IoT data plane →
 * broker → leaderboards. Expected totals are computed here, independently, from what was sent.
 */
import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  INGEST_TOPIC,
  LAMBDA_BUNDLE,
  type LeaderboardMessage,
  output,
  parseLeaderboardMessage,
  RESULTS_TOPIC_FILTER,
  roundScore,
} from '@alleycat/schema';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { loadStackConfig } from '../src/stack-config.js';
import { type RunningStack, startStack } from '../src/supervisor.js';
import { FIXTURE, FREE, waitFor } from './helpers.js';

const BUNDLE = path.join(
  import.meta.dirname,
  '..',
  '..',
  'ingest-lambda',
  LAMBDA_BUNDLE.directory,
  LAMBDA_BUNDLE.file,
);

let stack: RunningStack | undefined;
let dir: string | undefined;
const clients: mqtt.MqttClient[] = [];

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function files(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

describe('the pipeline with the real ingest Lambda bundle', () => {
  it('turns duplicated, reordered race messages into the right leaderboards; poison lands in inspection files', async () => {
    await access(BUNDLE).catch(() => {
      throw new Error(`${BUNDLE} is missing: run \`pnpm --filter "@alleycat/ingest-lambda..." build\` first`);
    });
    dir = await mkdtemp(path.join(tmpdir(), 'alleycat-e2e-'));
    const config = await loadStackConfig(FIXTURE, 'dev-alleycat');
    stack = await startStack({ config, ports: FREE, dataDir: dir, bundle: BUNDLE });

    const boards = new Map<number, LeaderboardMessage>();
    const listener = await mqtt.connectAsync(stack.endpoints.mqtt, {
      clientId: 'results-listener',
      protocolVersion: 4,
    });
    clients.push(listener);
    listener.on('message', (_topic, payload) => {
      const parsed = parseLeaderboardMessage(payload);
      if (parsed.ok) boards.set(parsed.leaderboard.classId, parsed.leaderboard);
    });
    await listener.subscribeAsync(RESULTS_TOPIC_FILTER, { qos: 1 });

    const SECONDS = 5;
    const racers = Array.from({ length: 12 }, (_, i) => ({ racerId: 100 + i, classId: 1 + (i % 2) }));
    const expected = new Map<number, number>();
    const resendFinals: Array<() => Promise<unknown>> = [];
    const now = Date.now();
    await Promise.all(
      racers.map(async ({ racerId, classId }, i) => {
        const bike = await mqtt.connectAsync(stack!.endpoints.mqtt, {
          clientId: `racer-${racerId}`,
          protocolVersion: 4,
        });
        clients.push(bike);
        const messages = Array.from({ length: SECONDS }, (_, s) => {
          const second = s + 1;
          const cadence = 60 + ((racerId * 7 + second * 13) % 60);
          const resistance = 20 + ((racerId + second * 3) % 50);
          return {
            uuid: crypto.randomUUID(),
            event: second === SECONDS ? 'final' : 'update',
            deviceTimestamp: now + second * 1000,
            second,
            raceId: 7000 + classId,
            name: `Rider ${racerId}`,
            racerId,
            classId,
            cadence,
            resistance,
          };
        });
        expected.set(
          racerId,
          roundScore(messages.reduce((sum, m) => sum + output(m.cadence, m.resistance), 0)),
        );
        // Reordered (reverse for odd racers) and duplicated (second 2 and the final sent twice).
        const order = i % 2 === 0 ? messages : [...messages].reverse();
        resendFinals.push(() =>
          bike.publishAsync(INGEST_TOPIC, JSON.stringify(messages[SECONDS - 1]), { qos: 1 }),
        );
        for (const m of [...order, messages[1]!, messages[SECONDS - 1]!]) {
          await bike.publishAsync(INGEST_TOPIC, JSON.stringify(m), { qos: 1 });
        }
      }),
    );
    const poisoner = await mqtt.connectAsync(stack.endpoints.mqtt, {
      clientId: 'racer-999',
      protocolVersion: 4,
    });
    clients.push(poisoner);
    await poisoner.publishAsync(INGEST_TOPIC, JSON.stringify({ racerId: 999, classId: 1, cadence: 999 }), {
      qos: 1,
    });
    await poisoner.publishAsync(INGEST_TOPIC, 'not json at all', { qos: 1 });
    // A bike claiming to be someone else: the rule adds its real client id, the Lambda refuses it.
    await poisoner.publishAsync(
      INGEST_TOPIC,
      JSON.stringify({
        uuid: crypto.randomUUID(),
        event: 'update',
        deviceTimestamp: now,
        second: 1,
        raceId: 7001,
        name: 'Impostor',
        racerId: 100,
        classId: 1,
        cadence: 250,
        resistance: 100,
      }),
      { qos: 1 },
    );

    // Resend every final once more after a pause (a QoS 1 resend, so a duplicate the Lambda must absorb).
    // It also gives each race one more invocation after the last real second: the Lambda publishes a race's
    // leaderboard at most once a second, and only when an invocation touches that race.
    await new Promise((r) => setTimeout(r, 1_500));
    await Promise.all(resendFinals.map((resend) => resend()));

    const totals = () => {
      const seen = new Map<number, number>();
      for (const board of boards.values())
        for (const [racerId, , total] of board.standings) seen.set(racerId, total);
      return seen;
    };
    await waitFor(() => {
      const seen = totals();
      return [...expected].every(([racerId, total]) => seen.get(racerId) === total) || undefined;
    }, 30_000).catch(() => {
      throw new Error(
        `leaderboards never matched: expected ${JSON.stringify([...expected])}, saw ${JSON.stringify([...totals()])}`,
      );
    });
    expect(totals()).toEqual(expected); // no impostor score, no poison racer

    const invalid = await waitFor(async () => {
      const found = await files(path.join(stack!.dirs.errorsBucket, 'invalid'));
      return found.length >= 2 ? found : undefined;
    });
    const reasons = await Promise.all(
      invalid.map(async (f) => JSON.parse(await readFile(f, 'utf8')).reason.code),
    );
    expect(reasons.sort()).toEqual(['identity_mismatch', 'missing_field'].sort());
    const sqlLogs = await files(stack.dirs.ruleLogs);
    expect(sqlLogs).toHaveLength(1);
    expect(await files(stack.dirs.onFailure)).toHaveLength(0); // nothing stalled, nothing discarded
  }, 120_000);
});
