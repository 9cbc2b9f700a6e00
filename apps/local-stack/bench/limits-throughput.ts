/**
 * Records/s into kinesalite straight, and through the limits layer (enforcing, on a stream with enough shards
 * that nothing is throttled), same run, same kinesalite. As in the stack, kinesalite and the limits layer each
 * run in their own child process; the producer (PutRecords of 500, 4 in flight, ~190-byte race messages)
 * runs here. Rounds alternate direct/layer so machine noise hits both; medians are reported.
 * Run: pnpm bench   (BENCH_SECONDS per round, default 4; BENCH_ROUNDS, default 3)
 */
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { localKinesisClient } from '../src/kinesis/client.js';
import { Supervisor } from '../src/supervisor.js';
import { createStream } from '../test/helpers.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 4);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const SHARDS = 32;

const supervisor = new Supervisor();
try {
  const kinesalite = await supervisor.start('kinesalite', { port: 0 });
  const layer = await supervisor.start('kinesis', {
    port: 0,
    upstream: kinesalite.urls['kinesalite']!,
    limitsEnabled: true,
  });
  const directUrl = kinesalite.urls['kinesalite']!;
  const layerUrl = layer.urls['kinesis']!;
  await createStream(localKinesisClient(directUrl), 'bench', SHARDS);
  const payload = new TextEncoder().encode(
    JSON.stringify({
      uuid: crypto.randomUUID(),
      event: 'update',
      deviceTimestamp: Date.now(),
      second: 1,
      raceId: 1,
      name: 'Rider',
      racerId: 1,
      classId: 1,
      cadence: 90,
      resistance: 40,
      clientId: 'racer-1',
    }),
  );
  let n = 0;
  async function measure(endpoint: string, seconds: number): Promise<{ perSecond: number; failed: number }> {
    const client = localKinesisClient(endpoint, { maxAttempts: 1 });
    let written = 0;
    let failed = 0;
    const started = Date.now();
    const deadline = started + seconds * 1000;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (Date.now() < deadline) {
          const Records = Array.from({ length: 500 }, () => ({
            PartitionKey: String(n++ % 10_000),
            Data: payload,
          }));
          const answer = await client.send(new PutRecordsCommand({ StreamName: 'bench', Records }));
          failed += answer.FailedRecordCount ?? 0;
          written += 500 - (answer.FailedRecordCount ?? 0);
        }
      }),
    );
    client.destroy();
    return { perSecond: written / ((Date.now() - started) / 1000), failed };
  }
  await measure(directUrl, 1); // warm-up: JIT and sockets on both paths
  await measure(layerUrl, 1);
  const direct: number[] = [];
  const layered: number[] = [];
  let throttled = 0;
  for (let round = 0; round < ROUNDS; round++) {
    direct.push((await measure(directUrl, SECONDS)).perSecond);
    const through = await measure(layerUrl, SECONDS);
    layered.push(through.perSecond);
    throttled += through.failed;
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
  console.log(
    `kinesalite direct:        ${median(direct).toFixed(0)} records/s median (rounds: ${fmt(direct)})`,
  );
  console.log(
    `through the limits layer: ${median(layered).toFixed(0)} records/s median (rounds: ${fmt(layered)}; throttled entries: ${throttled})`,
  );
  console.log(
    `ratio layer/direct:       ${(median(layered) / median(direct)).toFixed(2)}  (${SHARDS} shards, PutRecords of 500, 4 in flight, ${ROUNDS}×${SECONDS}s each; 2-core shared machine, absolute figures are this machine's)`,
  );
} finally {
  await supervisor.stopAll();
}
