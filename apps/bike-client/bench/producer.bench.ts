/**
 * Producer benchmark: the same race messages into local kinesalite (its own process, 4 shards) by
 *   naive      — one PutRecord per message, 16 in flight (the baseline, measured in this run),
 *   batched    — KinesisProducer (PutRecords ≤ 500 entries / 5 MiB, 4 in flight),
 *   aggregated — KPL aggregation (25 KiB records) in front of the same producer.
 * Reports messages/s, this process's CPU per 10k messages (kinesalite excluded), requests per message, and
 * the ratios against the naive producer. Targets: batched ≥ 10×, aggregated ≥ 50× the naive msgs/s.
 *
 *   pnpm bench                      (BENCH_MESSAGES=40000 BENCH_NAIVE_MESSAGES=4000 to change sizes)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { partitionKeyFor } from '@alleycat/schema';
import { type KinesisClient, PutRecordCommand } from '@aws-sdk/client-kinesis';
import { createKinesisClient } from '../src/kinesis-client.js';
import { ensureStream, listShardRanges } from '../src/kinesis-stream.js';
import { Simulation } from '../src/simulator.js';
import { KinesisSink } from '../src/sinks.js';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 40_000);
const NAIVE_MESSAGES = Number(process.env.BENCH_NAIVE_MESSAGES ?? 4_000);
const SHARDS = 4;

async function startKinesalite(): Promise<{ child: ChildProcess; endpoint: string }> {
  const cwd = fileURLToPath(new URL('..', import.meta.url));
  const child = spawn(process.execPath, ['test/support/kinesalite-server.cjs', '0'], {
    cwd,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, endpoint: `http://127.0.0.1:${Number(chunk.toString().trim())}` };
}

/** 1,000 riders' seconds, validated, as the simulator builds them. */
function buildMessages(count: number) {
  const riders = 1_000;
  const sim = new Simulation({
    riders,
    seconds: Math.ceil(count / riders),
    classes: 6,
    speedup: 1,
    seed: 1,
    startMs: 1_764_000_000_000,
  });
  const messages = [];
  const payloads = [];
  for (let s = 0; messages.length < count; s++) {
    const second = sim.buildSecond(s);
    messages.push(...second.messages);
    payloads.push(...second.payloads);
  }
  return { messages: messages.slice(0, count), payloads: payloads.slice(0, count) };
}

interface Result {
  name: string;
  messages: number;
  seconds: number;
  cpuMs: number;
  requests: number;
  records: number;
  delivered: number;
}

async function measure(
  name: string,
  messages: number,
  run: () => Promise<{ requests: number; records: number; delivered: number }>,
): Promise<Result> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const { requests, records, delivered } = await run();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { name, messages, seconds, cpuMs: (used.user + used.system) / 1000, requests, records, delivered };
}

async function naive(client: KinesisClient, stream: string, data: ReturnType<typeof buildMessages>) {
  let next = 0;
  let requests = 0;
  let delivered = 0;
  const worker = async () => {
    while (next < data.messages.length) {
      const i = next++;
      requests++;
      await client.send(
        new PutRecordCommand({
          StreamName: stream,
          Data: Buffer.from(data.payloads[i]!, 'utf8'),
          PartitionKey: partitionKeyFor(data.messages[i]!),
        }),
      );
      delivered++;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return { requests, records: delivered, delivered };
}

async function viaSink(sink: KinesisSink, data: ReturnType<typeof buildMessages>) {
  // Hand messages over a second's worth at a time, as the simulator does.
  for (let i = 0; i < data.messages.length; i += 1_000) {
    await sink.send(data.messages.slice(i, i + 1_000), data.payloads.slice(i, i + 1_000));
  }
  const undelivered = await sink.flush();
  if (undelivered.length > 0) throw new Error(`${undelivered.length} messages not delivered`);
  const c = sink.counters();
  return { requests: c.requests, records: c.records, delivered: c.delivered };
}

async function main() {
  const kinesalite = await startKinesalite();
  const client = createKinesisClient({ endpoint: kinesalite.endpoint, maxAttempts: 3, maxSockets: 32 });
  try {
    const data = buildMessages(MESSAGES);
    const naiveData = {
      messages: data.messages.slice(0, NAIVE_MESSAGES),
      payloads: data.payloads.slice(0, NAIVE_MESSAGES),
    };
    const streams = ['bench-naive', 'bench-batched', 'bench-aggregated'];
    for (const s of streams) await ensureStream(client, s, SHARDS);
    const shards = await listShardRanges(client, 'bench-aggregated');

    // Warm up connections and JIT on a throwaway stream.
    await ensureStream(client, 'bench-warmup', 1);
    await viaSink(
      new KinesisSink({ client, streamName: 'bench-warmup', partitionKey: 'racer' }),
      buildMessages(2_000),
    );

    const results: Result[] = [];
    results.push(
      await measure('naive (PutRecord ×16)', NAIVE_MESSAGES, () => naive(client, 'bench-naive', naiveData)),
    );
    results.push(
      await measure('batched (PutRecords)', MESSAGES, () =>
        viaSink(new KinesisSink({ client, streamName: 'bench-batched', partitionKey: 'racer' }), data),
      ),
    );
    results.push(
      await measure('aggregated (KPL)', MESSAGES, () =>
        viaSink(
          new KinesisSink({
            client,
            streamName: 'bench-aggregated',
            partitionKey: 'racer',
            aggregate: { shards },
          }),
          data,
        ),
      ),
    );

    const base = results[0]!;
    const rate = (r: Result) => r.delivered / r.seconds;
    const cpuPer10k = (r: Result) => (r.cpuMs / r.delivered) * 10_000;
    const rows = results.map((r) => ({
      producer: r.name,
      messages: r.delivered,
      'msgs/s': Math.round(rate(r)),
      'CPU ms / 10k msgs': Math.round(cpuPer10k(r)),
      'requests / msg': Number((r.requests / r.delivered).toFixed(5)),
      'records / msg': Number((r.records / r.delivered).toFixed(4)),
      '× naive msgs/s': Number((rate(r) / rate(base)).toFixed(1)),
      'CPU ÷ naive': Number((cpuPer10k(r) / cpuPer10k(base)).toFixed(3)),
    }));
    console.log(
      `kinesalite (own process), ${SHARDS} shards; node ${process.version}; ${new Date().toISOString()}`,
    );
    console.table(rows);
    const batched = rows[1]!['× naive msgs/s'];
    const aggregated = rows[2]!['× naive msgs/s'];
    console.log(
      `batched ${batched}× (target ≥ 10×: ${batched >= 10 ? 'met' : 'NOT met'}), aggregated ${aggregated}× (target ≥ 50×: ${aggregated >= 50 ? 'met' : 'NOT met'})`,
    );
  } finally {
    client.destroy();
    kinesalite.child.kill('SIGTERM');
  }
}

await main();
