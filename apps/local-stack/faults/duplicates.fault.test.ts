/**
 * Fault: duplicates and reordering at every hop, all in one race.
 *
 * - MQTT, QoS 1 redelivery: half the riders are bikes (`alleycat simulate --via mqtt --qos 1`) behind a proxy
 *   that holds the broker's PUBACKs back 300 ms and cuts a share of the connections twice mid-race; publishes
 *   the broker had already put into Kinesis are sent again after the bikes reconnect.
 * - Kinesis, PutRecords retries: the other half go straight to Kinesis (`--via kinesis`) through a proxy that
 *   drops the answer of a share of PutRecords calls after Kinesis took the records (the producer sends them
 *   again) and holds requests back up to 150 ms, so batches overtake one another.
 * - Lambda retries: the function is the flaky wrapper doing only `crash-after` — it does the work, then fails,
 *   so Lambda invokes the whole batch again.
 *
 * Checked: each hop did duplicate (the stream holds the same second more than once on both paths; the
 * wrapper crashed after work); nothing unsent and every message built is in the stream; the Lambda counted
 * exactly the distinct seconds (SecondsCounted) and saw the rest as duplicates; the boards equal the totals of
 * the distinct seconds: every second counted exactly once.
 */
import path from 'node:path';
import type { RaceMessage } from '@alleycat/schema';
import { expect, it } from 'vitest';
import { waitFor } from '../test/helpers.js';
import { startHttpChaosProxy, startTcpChaosProxy } from './chaos-proxy.js';
import { pollerStats, readRecords, readUnsent } from './checks.js';
import { flakyLambda, useFaultRun } from './harness.js';
import {
  builtKeys,
  distinctSeconds,
  fieldArgs,
  partCounterAtLeast,
  settledBoards,
  simulate,
  totalsOf,
} from './race.js';

const KINESIS_FIELD = { riders: 60, seconds: 20, classes: 3, firstRacer: 1 };
const MQTT_FIELD = { riders: 60, seconds: 20, classes: 3, firstRacer: 1001 };

const run = useFaultRun();

it('duplicates and reordering at every hop (QoS 1 redelivery, PutRecords retries, Lambda retries): every second counted exactly once', async () => {
  const started = Date.now();
  const flaky = await flakyLambda(run, { seed: '75', crashAfter: '0.15', first: 'crash-after,crash-after' });
  const { fault, watcher } = await run.startStack(flaky.stack);
  const kinesisProxy = await startHttpChaosProxy({
    upstream: fault.stack.endpoints.kinesis,
    seed: '75',
    dropPutRecordsAnswers: 0.25,
    maxDelayMs: 150,
  });
  run.cleanups.push(() => kinesisProxy.close());
  const mqttProxy = await startTcpChaosProxy({
    upstreamPort: Number(new URL(fault.stack.endpoints.mqtt).port),
    seed: '75',
    downstreamDelayMs: 300,
  });
  run.cleanups.push(() => mqttProxy.close());

  const kinesisUnsent = path.join(fault.dir, 'unsent-kinesis.ndjson');
  const mqttUnsent = path.join(fault.dir, 'unsent-mqtt.ndjson');
  const viaKinesis = simulate(fault, fieldArgs(KINESIS_FIELD, 751), kinesisUnsent, {
    kind: 'kinesis',
    endpoint: kinesisProxy.url,
  });
  run.sims.push(viaKinesis);
  const viaMqtt = simulate(fault, fieldArgs(MQTT_FIELD, 752), mqttUnsent, {
    kind: 'mqtt',
    qos: 1,
    url: mqttProxy.url,
  });
  run.sims.push(viaMqtt);

  // Cut half the bikes' connections twice while the race runs (once a fifth and once half of it went in).
  const total = (KINESIS_FIELD.riders + MQTT_FIELD.riders) * KINESIS_FIELD.seconds;
  await partCounterAtLeast(fault, 'kinesis', 'writtenRecords', total / 5);
  run.note(`cut ${mqttProxy.cut(0.5)} MQTT connections`);
  await partCounterAtLeast(fault, 'kinesis', 'writtenRecords', total / 2);
  run.note(`cut ${mqttProxy.cut(0.5)} MQTT connections`);

  const [k, m] = await Promise.all([viaKinesis.done, viaMqtt.done]);
  run.note(`simulators exited ${k.code}, ${m.code}`);
  const unsent = [...(await readUnsent(kinesisUnsent)), ...(await readUnsent(mqttUnsent))];
  const raceIds = [...new Set([...k.summary.raceIds, ...m.summary.raceIds])];
  const records = await readRecords(fault);
  const messages = records.flatMap((r) => r.messages).filter((x) => raceIds.includes(x.raceId));
  const all = distinctSeconds(messages, raceIds);
  const expected = totalsOf(all);
  const wrong = await settledBoards(watcher.boards, raceIds, expected, 60_000);
  run.note('boards settled (or the wait ran out)');
  const injected = await flaky.injected();
  const stats = await pollerStats(fault);
  const viaMqttRacer = (x: RaceMessage) => x.racerId >= MQTT_FIELD.firstRacer;
  const duplicates = (pick: (x: RaceMessage) => boolean) =>
    messages.filter(pick).length - [...all.values()].filter(pick).length;
  const built = new Set([...builtKeys(k.summary, KINESIS_FIELD), ...builtKeys(m.summary, MQTT_FIELD)]);
  // The last invocations' metric lines may still be on their way through the part's stdout.
  await waitFor(() => fault.metrics.get('SecondsCounted') >= all.size || undefined, 5_000).catch(
    () => undefined,
  );
  const counted = fault.metrics.get('SecondsCounted');
  const duplicateSeconds = fault.metrics.get('DuplicateSeconds');
  console.info(
    `[fault duplicates] Kinesis path: ${JSON.stringify(kinesisProxy.stats())}, producer retried ${k.summary.retried}, ${duplicates((x) => !viaMqttRacer(x))} duplicate seconds in the stream; MQTT path: ${JSON.stringify(mqttProxy.stats())}, bikes resent ${m.summary.retried}, ${duplicates(viaMqttRacer)} duplicate seconds in the stream; Lambda: ${injected.length} crash-after injected, poller ${JSON.stringify(stats)}, SecondsCounted ${counted}, DuplicateSeconds ${duplicateSeconds}; ${all.size} distinct seconds of ${built.size} built, ${unsent.length} unsent; racers off the totals ${wrong.length}; ${Math.round((Date.now() - started) / 1000)} s`,
  );

  // Every hop duplicated.
  expect(kinesisProxy.stats().droppedAnswers).toBeGreaterThan(0);
  expect(duplicates((x) => !viaMqttRacer(x))).toBeGreaterThan(0);
  expect(m.summary.retried).toBeGreaterThan(0);
  expect(duplicates(viaMqttRacer)).toBeGreaterThan(0);
  expect(injected.filter((f) => f.action === 'crash-after').length).toBeGreaterThan(0);
  expect(duplicateSeconds).toBeGreaterThan(0);
  // Nothing lost.
  expect(unsent.map((u) => `${u.errorCode}: ${u.errorMessage}`).slice(0, 5)).toEqual([]);
  expect([...built].filter((key) => !all.has(key)).slice(0, 10)).toEqual([]);
  // Counted exactly once: by the Lambda's own count and on the boards.
  expect(counted).toBe(all.size);
  expect(wrong.slice(0, 10)).toEqual([]);
});
