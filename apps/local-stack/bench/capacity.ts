/**
 * The largest number of riders this machine sustains at 1 Hz with nothing lost, per path: a bounded search
 * (riders rising through CAPACITY_STEPS, stopping at the first failure). Each step starts a fresh stack
 * (stream sized by the schema's `planCapacity` for that many riders, limits enforced, the real Lambda) and
 * runs `alleycat simulate` at live speed. A step passes when the simulator delivered everything with no
 * failure, its race clock kept up (no second more than 1 s late), and the Lambda counted every (racer,
 * second) within CAPACITY_DRAIN_S after the race (its `SecondsCounted` EMF metric). Throughput only: for
 * latency, loss against the boards and CPU/memory per part, see `pnpm bench:load` (load.ts).
 *
 *   pnpm bench:capacity   (CAPACITY_VIA=mqtt|kinesis|both, CAPACITY_STEPS=1000,2000,3000,5000,
 *                          CAPACITY_SECONDS=20, CAPACITY_DRAIN_S=20, CAPACITY_AGGREGATE=1 for the Kinesis path)
 * Not part of `pnpm test`: each step takes about a minute.
 */

import { type LoadPath, type SimulatorSummary, startSimulators } from './lib/simulator.js';
import { startBenchStack } from './lib/stack.js';
import { shardsFor } from './load-point.js';

const STEPS = (process.env['CAPACITY_STEPS'] ?? '1000,2000,3000,5000').split(',').map(Number);
const SECONDS = Number(process.env['CAPACITY_SECONDS'] ?? 20);
const DRAIN_MS = Number(process.env['CAPACITY_DRAIN_S'] ?? 20) * 1000;
const AGGREGATE = process.env['CAPACITY_AGGREGATE'] !== '0';
const VIAS =
  (process.env['CAPACITY_VIA'] ?? 'both') === 'both' ? ['kinesis', 'mqtt'] : [process.env['CAPACITY_VIA']!];

async function step(via: string, riders: number): Promise<{ ok: boolean; detail: string }> {
  const path: LoadPath = via === 'mqtt' ? 'mqtt' : AGGREGATE ? 'kinesis-aggregated' : 'kinesis';
  // Sized for the plain record count even when aggregating, as this bench always has (comparable steps).
  const bench = await startBenchStack({ shards: shardsFor(via === 'mqtt' ? 'mqtt' : 'kinesis', riders) });
  try {
    const fleet = startSimulators({
      path,
      riders,
      seconds: SECONDS,
      classes: 6,
      seed: 1,
      ridersPerProcess: 5_000,
      mqttUrl: bench.stack.endpoints.mqtt,
      kinesisEndpoint: bench.stack.endpoints.kinesis,
      streamName: bench.streamName,
      region: bench.config.region,
      dataDir: bench.dataDir,
    });
    const summaries: SimulatorSummary[] = [];
    let missing = 0;
    for (const settled of await fleet.done) {
      if (settled.status === 'fulfilled') summaries.push(settled.value);
      else {
        missing += 1;
        console.error((settled.reason as Error).message);
      }
    }
    const total = (key: keyof SimulatorSummary) => summaries.reduce((n, s) => n + Number(s[key] ?? 0), 0);
    const summary = {
      messages: total('messages'),
      delivered: total('delivered'),
      failed: total('failed'),
      throttled: total('throttled'),
      maxLagMs: Math.max(0, ...summaries.map((s) => s.maxLagMs)),
    };
    const deadline = Date.now() + DRAIN_MS;
    while (bench.metrics.get('SecondsCounted') < summary.messages && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
    }
    const counted = bench.metrics.get('SecondsCounted');
    const ok =
      missing === 0 &&
      summary.delivered === summary.messages &&
      summary.failed === 0 &&
      summary.maxLagMs < 1000 &&
      counted === summary.messages;
    return {
      ok,
      detail: `${bench.shards} shards: ${summary.delivered}/${summary.messages} delivered, ${summary.failed} failed, ${summary.throttled} throttled (retried), sim clock max lag ${summary.maxLagMs} ms, Lambda counted ${counted}`,
    };
  } finally {
    await bench.stop();
  }
}

for (const via of VIAS) {
  let best = 0;
  for (const riders of STEPS) {
    const result = await step(via, riders);
    console.log(
      `${via}${via === 'kinesis' && AGGREGATE ? ' (aggregated)' : ''} ${riders} riders: ${result.ok ? 'OK' : 'FAILED'} — ${result.detail}`,
    );
    if (!result.ok) break;
    best = riders;
  }
  console.log(
    `${via}: largest sustained ${best || `< ${STEPS[0]}`} riders at 1 Hz (of steps ${STEPS.join(', ')}; 2-core shared machine)`,
  );
}
