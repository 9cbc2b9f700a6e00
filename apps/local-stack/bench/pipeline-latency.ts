/**
 * End-to-end latency of the whole local pipeline with the real ingest Lambda bundle: R riders (MQTT
 * clients, QoS 1) publish one race message per second for S seconds; a subscriber reads the leaderboards and
 * records, for every (rider, second), when a leaderboard first shows that rider's total including that
 * second. Latency = that moment − when the second was published. Nothing lost = every pair observed.
 * The limits are enforced (stream as synthesized: test/fixtures/cdk.tf.json, 2 shards).
 * BENCH_VIA=kinesis: the same messages go straight into Kinesis (PutRecords of ≤ 500 through the limits layer,
 * partition key = racerId, as the simulator's producer) instead of MQTT.
 * Per stage: publish → PUBACK / PutRecords response; Kinesis arrival → invocation (the mapping's wait);
 * handler time; the Lambda's publish (`publishedAt`) → leaderboard received. Peak RSS (VmHWM) of every part.
 * Run: pnpm bench:pipeline   (BENCH_RIDERS default 1000, BENCH_SECONDS default 20, BENCH_CLASSES default 6)
 */
import { INGEST_TOPIC, output, parseLeaderboardMessage, RESULTS_TOPIC_FILTER } from '@alleycat/schema';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import mqtt from 'mqtt';
import { localKinesisClient } from '../src/kinesis/client.js';
import { percentile } from '../src/race/percentiles.js';
import { sampleProcess } from './lib/procfs.js';
import { startBenchStack } from './lib/stack.js';

const RIDERS = Number(process.env['BENCH_RIDERS'] ?? 1000);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 20);
const CLASSES = Number(process.env['BENCH_CLASSES'] ?? 6);
const VIA = process.env['BENCH_VIA'] === 'kinesis' ? 'kinesis' : 'mqtt';
/** Peak resident memory of a process (Linux `VmHWM`), in MB. */
const peakRssMb = (pid: number) => Math.round(sampleProcess(pid)?.peakRssMb ?? Number.NaN);

// The stream as synthesized (2 shards): shards 0 keeps the synthesized count.
const bench = await startBenchStack({
  shards: 0,
  onLog: (line, part) => {
    if (!line.includes('"level"') && !line.includes('NodeVersionSupportWarning'))
      console.error(`[${part}] ${line}`);
  },
});
const { stack, config, metrics } = bench;
try {
  const riders = Array.from({ length: RIDERS }, (_, i) => ({
    racerId: 1 + i,
    classId: 1 + (i % CLASSES),
    next: 1,
    expected: [0] as number[],
  }));
  for (const rider of riders) {
    for (let s = 1; s <= SECONDS; s++) {
      const cadence = 60 + ((rider.racerId * 7 + s * 13) % 60);
      const resistance = 20 + ((rider.racerId + s * 3) % 50);
      rider.expected.push(rider.expected[s - 1]! + output(cadence, resistance));
    }
  }
  const byId = new Map(riders.map((r) => [r.racerId, r]));
  const publishedAt: number[] = [];
  const latencies: number[] = [];
  // PUBACK comes after the rule's Kinesis write: publish → PUBACK is the rule path's share of the latency.
  const ackLatencies: number[] = [];
  const listener = await mqtt.connectAsync(stack.endpoints.mqtt, {
    clientId: 'bench-listener',
    protocolVersion: 4,
  });
  const deliveryLatencies: number[] = [];
  listener.on('message', (_topic, payload) => {
    const parsed = parseLeaderboardMessage(payload);
    if (!parsed.ok) return;
    const now = Date.now();
    deliveryLatencies.push(now - parsed.leaderboard.publishedAt);
    for (const [racerId, , total] of parsed.leaderboard.standings) {
      const rider = byId.get(racerId);
      if (rider === undefined) continue;
      // Totals are published rounded to hundredths.
      while (rider.next <= SECONDS && total >= Math.round(rider.expected[rider.next]! * 100) / 100 - 0.011) {
        if (publishedAt[rider.next] !== undefined) latencies.push(now - publishedAt[rider.next]!);
        rider.next += 1;
      }
    }
  });
  await listener.subscribeAsync(RESULTS_TOPIC_FILTER, { qos: 0 });

  const clients: mqtt.MqttClient[] = [];
  const connectStarted = Date.now();
  for (let i = 0; i < (VIA === 'mqtt' ? RIDERS : 0); i += 250) {
    const group = riders.slice(i, i + 250);
    clients.push(
      ...(await Promise.all(
        group.map((r) =>
          mqtt.connectAsync(stack.endpoints.mqtt, {
            clientId: `racer-${r.racerId}`,
            protocolVersion: 4,
            reconnectPeriod: 1000,
          }),
        ),
      )),
    );
  }
  if (VIA === 'mqtt') console.log(`${RIDERS} riders connected in ${Date.now() - connectStarted} ms`);
  const kinesis = localKinesisClient(stack.endpoints.kinesis);
  let putThrottled = 0;
  const put = async (entries: Array<{ data: string; key: string }>, sentAt: number): Promise<void> => {
    for (let i = 0; i < entries.length; i += 500) {
      let batch = entries.slice(i, i + 500);
      for (let attempt = 0; batch.length > 0; attempt++) {
        const out = await kinesis.send(
          new PutRecordsCommand({
            StreamName: config.streams[0]!.name,
            Records: batch.map((e) => ({ Data: Buffer.from(e.data), PartitionKey: e.key })),
          }),
        );
        const failed = batch.filter((_, j) => out.Records?.[j]?.ErrorCode);
        putThrottled += failed.length;
        const done = batch.length - failed.length;
        for (let k = 0; k < done; k++) ackLatencies.push(Date.now() - sentAt);
        batch = failed;
        if (batch.length > 0) await new Promise((r) => setTimeout(r, 100 * 2 ** Math.min(attempt, 5)));
      }
    }
  };
  const start = Date.now() + 500;
  for (let s = 1; s <= SECONDS; s++) {
    const at = start + (s - 1) * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
    publishedAt[s] = Date.now();
    const entries: Array<{ data: string; key: string }> = [];
    for (const [i, rider] of riders.entries()) {
      const client = clients[i];
      const cadence = 60 + ((rider.racerId * 7 + s * 13) % 60);
      const resistance = 20 + ((rider.racerId + s * 3) % 50);
      const message = {
        uuid: crypto.randomUUID(),
        event: s === SECONDS ? 'final' : 'update',
        deviceTimestamp: publishedAt[s],
        second: s,
        raceId: 9000 + rider.classId,
        name: `Rider ${rider.racerId}`,
        racerId: rider.racerId,
        classId: rider.classId,
        cadence,
        resistance,
      };
      const sentAt = publishedAt[s]!;
      if (client === undefined) {
        entries.push({ data: JSON.stringify(message), key: String(rider.racerId) });
        continue;
      }
      client.publish(INGEST_TOPIC, JSON.stringify(message), { qos: 1 }, (error) => {
        if (!error) ackLatencies.push(Date.now() - sentAt);
      });
    }
    if (entries.length > 0) void put(entries, publishedAt[s]!);
  }
  // Grace period, then wait (up to 15 s more) for every (rider, second) to show up on a leaderboard.
  await new Promise((r) => setTimeout(r, 3_000));
  const pendingBefore = riders.filter((r) => r.next <= SECONDS).length;
  const deadline = Date.now() + 15_000;
  while (riders.some((r) => r.next <= SECONDS) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 250));
  const missing = riders.reduce((n, r) => n + (SECONDS + 1 - r.next), 0);
  const sorted = [...latencies].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
  const broker = stack.supervisor.running().find((p) => p.name === 'broker')!;
  const mapping = stack.supervisor.running().find((p) => p.name === 'event-source-mapping')!;
  const layer = stack.supervisor.running().find((p) => p.name === 'kinesis')!;
  console.log(
    `riders ${RIDERS}, seconds ${SECONDS}, classes ${CLASSES}: ${latencies.length} (rider, second) pairs seen, ${missing} never seen (${pendingBefore} riders behind after 3 s)`,
  );
  console.log(
    `publish → leaderboard latency: p50 ${q(0.5)} ms, p90 ${q(0.9)} ms, p99 ${q(0.99)} ms, max ${sorted.at(-1)} ms (2-core shared machine)`,
  );
  const acks = [...ackLatencies].sort((a, b) => a - b);
  const qa = (p: number) => acks[Math.min(acks.length - 1, Math.floor(p * acks.length))] ?? Number.NaN;
  console.log(
    `publish → ${VIA === 'mqtt' ? 'PUBACK (rule wrote to Kinesis)' : 'PutRecords accepted'}: p50 ${qa(0.5)} ms, p99 ${qa(0.99)} ms${VIA === 'kinesis' ? `, ${putThrottled} entries throttled and retried` : ''}`,
  );
  const mappingStats = await stack.supervisor.stats(mapping);
  console.log(
    `Kinesis arrival → invocation: mean ${Math.round(mappingStats['arrivalToInvokeMsTotal']! / Math.max(1, mappingStats['recordsDelivered']!))} ms, max ${mappingStats['arrivalToInvokeMsMax']} ms; handler: ${mappingStats['invocations']} invocations, mean ${Math.round(mappingStats['handlerMsTotal']! / Math.max(1, mappingStats['invocations']!))} ms, max ${mappingStats['handlerMsMax']} ms`,
  );
  console.log(
    `Lambda publish → leaderboard received: p50 ${percentile(deliveryLatencies, 50)} ms, p99 ${percentile(deliveryLatencies, 99)} ms over ${deliveryLatencies.length} messages`,
  );
  console.log(
    `Lambda metrics: ${JSON.stringify(Object.fromEntries(['Messages', 'SecondsCounted', 'DuplicateSeconds', 'InvalidRecords', 'LeaderboardsPublished', 'StateConflicts', 'BatchItemFailures', 'StateWrites'].map((k) => [k, metrics.get(k)])))}`,
  );
  console.log(
    `peak RSS (MB, VmHWM): ${stack.supervisor
      .running()
      .map((p) => `${p.name} ${peakRssMb(p.pid)}`)
      .join(
        ', ',
      )}, bench process (${VIA === 'mqtt' ? `${RIDERS} MQTT bikes + ` : ''}listener) ${peakRssMb(process.pid)}`,
  );
  kinesis.destroy();
  console.log(`rules engine: ${JSON.stringify(await stack.supervisor.stats(broker))}`);
  console.log(`limits layer: ${JSON.stringify(await stack.supervisor.stats(layer))}`);
  console.log(`event source mapping: ${JSON.stringify(await stack.supervisor.stats(mapping))}`);
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await listener.endAsync(true);
} finally {
  await bench.stop();
}
