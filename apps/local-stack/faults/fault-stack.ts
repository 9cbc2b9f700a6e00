/**
 * A whole local stack whose kinesalite and dynalite keep their data on disk, so a fault test can kill one and
 * bring it back with what it had. `startStack` runs both in memory (it passes no `path`), so this starts the
 * stack, swaps those two parts for persisted ones on the same ports before any traffic, creates the stream
 * and tables again in them, and restarts the event source mapping on the new stream.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LAMBDA_BUNDLE } from '@alleycat/schema';
import { MetricTotals, parseEmfLine } from '../src/race/emf.js';
import { loadStackConfig, type StackConfig } from '../src/stack-config.js';
import { createResources, type RunningPart, type RunningStack, startStack } from '../src/supervisor.js';

const REPO = path.join(import.meta.dirname, '..', '..', '..');
export const BUNDLE = path.join(REPO, 'apps', 'ingest-lambda', LAMBDA_BUNDLE.directory, LAMBDA_BUNDLE.file);
const FIXTURE = path.join(import.meta.dirname, '..', 'test', 'fixtures', 'cdk.tf.json');
const FREE = { mqtt: 0, mqttWs: 0, kinesis: 0, kinesalite: 0, dynamodb: 0, iotData: 0 };
export const STREAM = 'dev-alleycat';

export interface FaultStack {
  stack: RunningStack;
  config: StackConfig;
  dir: string;
  metrics: MetricTotals;
  /** Every line the parts wrote, for the report when a check fails. */
  log: string[];
  part(name: RunningPart['name']): RunningPart;
  /** Kills a part with SIGKILL (no clean shutdown) and waits for it to be gone. */
  kill(name: RunningPart['name']): Promise<RunningPart>;
  /** Starts a killed or stopped part again, same ports, same config (and so the same data folder). */
  revive(part: RunningPart): Promise<RunningPart>;
  /** Stops every part by pid and removes the data folder. */
  close(): Promise<void>;
}

/** `adjust` changes the synthesized config before the stack starts (e.g. an event source mapping setting). */
export async function startFaultStack(adjust?: (config: StackConfig) => void): Promise<FaultStack> {
  const dir = await mkdtemp(path.join(tmpdir(), 'alleycat-fault-'));
  const config = await loadStackConfig(FIXTURE, 'dev-alleycat');
  adjust?.(config);
  const metrics = new MetricTotals();
  const log: string[] = [];
  const stack = await startStack({
    config,
    ports: FREE,
    dataDir: dir,
    bundle: BUNDLE,
    onOutput: (line, part) => {
      const emf = parseEmfLine(line);
      if (emf) metrics.add(emf);
      else if (log.length < 5_000) log.push(`[${part.label}] ${line}`);
    },
  });
  const { supervisor } = stack;
  const part = (name: RunningPart['name']) => {
    const found = supervisor.running().find((p) => p.name === name);
    if (!found) throw new Error(`no running part ${name}`);
    return found;
  };
  try {
    for (const name of ['kinesalite', 'dynamodb'] as const) {
      const old = part(name);
      await supervisor.stop(old);
      const { config: partConfig, env, label } = old.restartWith;
      const { port } = partConfig as { port: number };
      await supervisor.start(name, { port, path: path.join(dir, `${name}-data`) }, env, label);
    }
    await createResources(config, stack.endpoints.kinesis, stack.endpoints.dynamodb);
    // The poller's shard iterators belong to the stream that was just replaced; kinesalite answers them with
    // empty pages, not an error, so the poller would wait forever. Start it again on the new stream.
    for (const mapping of supervisor.running().filter((p) => p.name === 'event-source-mapping')) {
      await supervisor.restart(mapping);
    }
  } catch (error) {
    await stack.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    stack,
    config,
    dir,
    metrics,
    log,
    part,
    async kill(name) {
      const victim = part(name);
      if (victim.child.exitCode === null && victim.child.signalCode === null) {
        const gone = new Promise<void>((resolve) => victim.child.once('exit', () => resolve()));
        process.kill(victim.pid, 'SIGKILL');
        await gone;
      }
      return victim;
    },
    revive: (victim) => supervisor.restart(victim),
    async close() {
      await stack.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
