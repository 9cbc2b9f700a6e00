/**
 * Messages/s through the broker's publish path with the ingest rule (QoS 1: PUBACK after PutRecord through
 * the limits layer into kinesalite), against the same broker without rules (the baseline), same run.
 * kinesalite, the limits layer and the broker each run in their own child process, as in the stack;
 * BENCH_CLIENTS MQTT clients (default 200) each publish QoS 1 race messages back to back here.
 * Run: pnpm bench:mqtt   (BENCH_SECONDS per round, default 4)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { INGEST_RULE_SQL, INGEST_TOPIC } from '@alleycat/schema';
import mqtt from 'mqtt';
import { localKinesisClient } from '../src/kinesis/client.js';
import { Supervisor } from '../src/supervisor.js';
import { createStream } from '../test/helpers.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 4);
const CLIENTS = Number(process.env['BENCH_CLIENTS'] ?? 200);
const SHARDS = 16; // 16,000 records/s of write capacity: the limits are not what is measured here

const supervisor = new Supervisor();
const dir = await mkdtemp(path.join(tmpdir(), 'alleycat-bench-'));
try {
  const kinesalite = await supervisor.start('kinesalite', { port: 0 });
  const layer = await supervisor.start('kinesis', {
    port: 0,
    upstream: kinesalite.urls['kinesalite']!,
    limitsEnabled: true,
  });
  await createStream(localKinesisClient(layer.urls['kinesis']!), 'bench', SHARDS);
  const brokerConfig = (withRules: boolean) => ({
    port: 0,
    wsPort: null,
    rules: withRules
      ? [
          {
            name: 'ingest',
            sql: INGEST_RULE_SQL,
            kinesis: [{ streamName: 'bench', partitionKey: '${racerId}' }],
          },
        ]
      : [],
    kinesisEndpoint: layer.urls['kinesis']!,
    errorsDir: path.join(dir, 'errors'),
    ruleLogsDir: path.join(dir, 'rule-logs'),
  });

  async function measure(withRules: boolean): Promise<{ perSecond: number; errorActions: number }> {
    const broker = await supervisor.start('broker', brokerConfig(withRules));
    const clients = await Promise.all(
      Array.from({ length: CLIENTS }, (_, i) =>
        mqtt.connectAsync(broker.urls['mqtt']!, {
          clientId: `racer-${i}`,
          protocolVersion: 4,
          reconnectPeriod: 0,
        }),
      ),
    );
    let acked = 0;
    const started = Date.now();
    const deadline = started + SECONDS * 1000;
    await Promise.all(
      clients.map(async (client, i) => {
        for (let second = 0; Date.now() < deadline; second++) {
          const message = {
            uuid: crypto.randomUUID(),
            event: 'update',
            deviceTimestamp: Date.now(),
            second,
            raceId: 1,
            name: 'Rider',
            racerId: i,
            classId: 1,
            cadence: 90,
            resistance: 40,
          };
          await client.publishAsync(INGEST_TOPIC, JSON.stringify(message), { qos: 1 });
          acked += 1;
        }
      }),
    );
    const perSecond = acked / ((Date.now() - started) / 1000);
    const stats = withRules ? await supervisor.stats(broker) : { errorActions: 0 };
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await supervisor.stop(broker);
    return { perSecond, errorActions: stats['errorActions'] ?? 0 };
  }
  const baseline = await measure(false);
  const ruled = await measure(true);
  console.log(`broker alone (no rules), QoS 1:          ${baseline.perSecond.toFixed(0)} msg/s acknowledged`);
  console.log(
    `broker + ingest rule → layer → kinesalite: ${ruled.perSecond.toFixed(0)} msg/s acknowledged (error actions: ${ruled.errorActions})`,
  );
  console.log(
    `ratio rule path / broker alone:           ${(ruled.perSecond / baseline.perSecond).toFixed(2)}  (${CLIENTS} clients, ${SECONDS}s each, ${SHARDS} shards; 2-core shared machine)`,
  );
} finally {
  await supervisor.stopAll();
  await rm(dir, { recursive: true, force: true });
}
