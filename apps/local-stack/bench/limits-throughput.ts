/**
 * Records/s into kinesalite straight, and through the limits layer (enforcing, on a stream with enough shards
 * that nothing is throttled), same run, same kinesalite. kinesalite and the layer run in a child process (as
 * in the stack); the producer (PutRecords of 500, 4 in flight, ~150-byte records) runs here.
 * Run: pnpm bench   (BENCH_SECONDS=5 by default)
 */
import { fork } from 'node:child_process';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { localKinesisClient } from '../src/kinesis/client.js';
import { startKinesalite } from '../src/kinesis/kinesalite.js';
import { KinesisLimitsProxy } from '../src/kinesis/limits-proxy.js';
import { createStream } from '../test/helpers.js';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 5);
const SHARDS = 32;

if (process.argv[2] === 'serve') {
  const kinesalite = await startKinesalite();
  const proxy = new KinesisLimitsProxy({ upstream: kinesalite.url });
  const proxyUrl = await proxy.listen(0);
  process.send?.({ kinesalite: kinesalite.url, proxy: proxyUrl });
} else {
  const child = fork(new URL(import.meta.url).pathname, ['serve'], { execArgv: ['--import', 'tsx'] });
  const urls = await new Promise<{ kinesalite: string; proxy: string }>((resolve) =>
    child.once('message', resolve as never),
  );
  try {
    const setup = localKinesisClient(urls.kinesalite);
    await createStream(setup, 'bench', SHARDS);
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
      }),
    );
    async function measure(endpoint: string): Promise<{ perSecond: number; failed: number }> {
      const client = localKinesisClient(endpoint, { maxAttempts: 1 });
      let written = 0;
      let failed = 0;
      let n = 0;
      const deadline = Date.now() + SECONDS * 1000;
      const started = Date.now();
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
    await measure(urls.kinesalite); // warm-up of both paths' JIT and sockets
    const direct = await measure(urls.kinesalite);
    const layered = await measure(urls.proxy);
    const direct2 = await measure(urls.kinesalite);
    const baseline = (direct.perSecond + direct2.perSecond) / 2;
    console.log(
      `kinesalite direct:        ${baseline.toFixed(0)} records/s (runs: ${direct.perSecond.toFixed(0)}, ${direct2.perSecond.toFixed(0)})`,
    );
    console.log(
      `through the limits layer: ${layered.perSecond.toFixed(0)} records/s (throttled entries: ${layered.failed})`,
    );
    console.log(
      `ratio layer/direct:       ${(layered.perSecond / baseline).toFixed(2)}  (${SHARDS} shards, PutRecords of 500, 4 in flight, ${SECONDS}s each; 2-core shared machine)`,
    );
  } finally {
    child.kill('SIGTERM');
  }
}
