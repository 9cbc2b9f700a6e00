/**
 * The largest number of riders this machine sustains at 1 Hz with nothing lost, per path: a bounded search
 * (riders rising through CAPACITY_STEPS, stopping at the first failure). Each step starts a fresh stack
 * (stream sized by the schema's `planCapacity` for that many riders, limits enforced, the real Lambda) and
 * runs `alleycat simulate` at live speed. A step passes when the simulator delivered everything with no
 * failure, its race clock kept up (no second more than 1 s late), and the Lambda counted every (racer,
 * second) within CAPACITY_DRAIN_S after the race (its `SecondsCounted` EMF metric).
 *
 *   pnpm bench:capacity   (CAPACITY_VIA=mqtt|kinesis|both, CAPACITY_STEPS=1000,2000,3000,5000,
 *                          CAPACITY_SECONDS=20, CAPACITY_DRAIN_S=20, CAPACITY_AGGREGATE=1 for the Kinesis path)
 * Not part of `pnpm test`: each step takes about a minute.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { LAMBDA_BUNDLE, planCapacity } from '@alleycat/schema';
import { MetricTotals, parseEmfLine } from '../src/race/emf.js';
import { loadStackConfig } from '../src/stack-config.js';
import { startStack } from '../src/supervisor.js';

const run = promisify(execFile);
const here = path.dirname(new URL(import.meta.url).pathname);
const REPO = path.join(here, '..', '..', '..');
const ALLEYCAT = path.join(REPO, 'apps', 'bike-client', 'bin', 'alleycat.mjs');
const BUNDLE = path.join(REPO, 'apps', 'ingest-lambda', LAMBDA_BUNDLE.directory, LAMBDA_BUNDLE.file);
const STEPS = (process.env['CAPACITY_STEPS'] ?? '1000,2000,3000,5000').split(',').map(Number);
const SECONDS = Number(process.env['CAPACITY_SECONDS'] ?? 20);
const DRAIN_MS = Number(process.env['CAPACITY_DRAIN_S'] ?? 20) * 1000;
const AGGREGATE = process.env['CAPACITY_AGGREGATE'] !== '0';
const VIAS =
  (process.env['CAPACITY_VIA'] ?? 'both') === 'both' ? ['kinesis', 'mqtt'] : [process.env['CAPACITY_VIA']!];

async function step(via: string, riders: number): Promise<{ ok: boolean; detail: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'alleycat-capacity-'));
  const config = await loadStackConfig(
    path.join(here, '..', 'test', 'fixtures', 'cdk.tf.json'),
    'dev-alleycat',
  );
  const shards = planCapacity({ riders }).shards;
  for (const stream of config.streams) stream.shardCount = Math.max(stream.shardCount, shards);
  const metrics = new MetricTotals();
  const stack = await startStack({
    config,
    ports: { mqtt: 0, mqttWs: 0, kinesis: 0, kinesalite: 0, dynamodb: 0, iotData: 0 },
    dataDir: dir,
    bundle: BUNDLE,
    onOutput: (line) => {
      const emf = parseEmfLine(line);
      if (emf) metrics.add(emf);
    },
  });
  try {
    const args = [
      ALLEYCAT,
      'simulate',
      '--json',
      `--riders=${riders}`,
      `--seconds=${SECONDS}`,
      `--via=${via}`,
      ...(via === 'mqtt'
        ? [`--mqtt-url=${stack.endpoints.mqtt}`, '--qos=1']
        : [
            `--kinesis-endpoint=${stack.endpoints.kinesis}`,
            `--stream=${config.streams[0]!.name}`,
            `--region=${config.region}`,
            ...(AGGREGATE ? ['--aggregate'] : []),
          ]),
    ];
    const { stdout } = await run(process.execPath, args, {
      env: { ...process.env, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' },
      maxBuffer: 64 * 1024 * 1024,
    }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '{}' }));
    const summary = JSON.parse(stdout) as Record<string, number>;
    const deadline = Date.now() + DRAIN_MS;
    while (metrics.get('SecondsCounted') < summary['messages']! && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
    }
    const counted = metrics.get('SecondsCounted');
    const ok =
      summary['delivered'] === summary['messages'] &&
      summary['failed'] === 0 &&
      summary['maxLagMs']! < 1000 &&
      counted === summary['messages'];
    return {
      ok,
      detail: `${shards} shards: ${summary['delivered']}/${summary['messages']} delivered, ${summary['failed']} failed, ${summary['throttled']} throttled (retried), sim clock max lag ${summary['maxLagMs']} ms, Lambda counted ${counted}`,
    };
  } finally {
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
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
