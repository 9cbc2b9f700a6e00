/**
 * What the stack-level benchmarks share: where the repo's parts are, and a fresh local stack for one run
 * (free ports, the stream resized for the load, the real Lambda bundle, its EMF metric lines collected the way
 * CloudWatch would). Used by capacity.ts and load.ts.
 */
import { appendFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAMBDA_BUNDLE } from '@alleycat/schema';
import { MetricTotals, parseEmfLine } from '../../src/race/emf.js';
import { loadStackConfig, type StackConfig } from '../../src/stack-config.js';
import { type RunningPart, type RunningStack, startStack } from '../../src/supervisor.js';

export const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));
export const REPO_DIR = path.join(PACKAGE_DIR, '..', '..');
export const BIKE_CLIENT_DIR = path.join(REPO_DIR, 'apps', 'bike-client');
export const LAMBDA_BUNDLE_FILE = path.join(
  REPO_DIR,
  'apps',
  'ingest-lambda',
  LAMBDA_BUNDLE.directory,
  LAMBDA_BUNDLE.file,
);
/** The synthesized stack the tests use (committed, so runs are comparable). */
export const FIXTURE_STACK = path.join(PACKAGE_DIR, 'test', 'fixtures', 'cdk.tf.json');
export const FIXTURE_STACK_NAME = 'dev-alleycat';
const FREE_PORTS = { mqtt: 0, mqttWs: 0, kinesis: 0, kinesalite: 0, dynamodb: 0, iotData: 0 };

export interface BenchStackOptions {
  /** Shards for every stream (at least the synthesized count). */
  shards: number;
  stackFile?: string;
  limitsEnabled?: boolean;
  /** Variables added to every function's environment, as a stack synthesized with them would set them. */
  lambdaEnvironment?: Record<string, string>;
  /** Lines of the parts that are not EMF metrics (default: dropped). */
  onLog?: (line: string, part: string) => void;
}

export interface BenchStack {
  stack: RunningStack;
  config: StackConfig;
  /** The stream the event source mapping reads (the one producers write to). */
  streamName: string;
  shards: number;
  /** The Lambda's EMF metrics, summed (SecondsCounted, Messages, InvalidRecords, …). */
  metrics: MetricTotals;
  dataDir: string;
  part(name: RunningPart['name']): RunningPart | undefined;
  /** Stops every part and removes the data folder. */
  stop(): Promise<void>;
}

export async function startBenchStack(options: BenchStackOptions): Promise<BenchStack> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'alleycat-bench-'));
  const config = await loadStackConfig(
    options.stackFile ?? FIXTURE_STACK,
    options.stackFile ? undefined : FIXTURE_STACK_NAME,
  );
  for (const stream of config.streams) stream.shardCount = Math.max(stream.shardCount, options.shards);
  for (const fn of config.functions) Object.assign(fn.environment, options.lambdaEnvironment);
  const streamName = config.eventSourceMappings[0]?.streamName ?? config.streams[0]!.name;
  const metrics = new MetricTotals();
  const logFile = process.env['BENCH_LOG_FILE'] || undefined;
  let stack: RunningStack;
  try {
    stack = await startStack({
      config,
      ports: FREE_PORTS,
      dataDir,
      bundle: LAMBDA_BUNDLE_FILE,
      limitsEnabled: options.limitsEnabled ?? true,
      onOutput: (line, part) => {
        const emf = parseEmfLine(line);
        if (emf) metrics.add(emf);
        else {
          options.onLog?.(line, part.label);
          // BENCH_LOG_FILE=path: every part's output lines (the Lambda's logs included) for a post-mortem.
          if (logFile !== undefined) appendFileSync(logFile, `${part.label}\t${line}\n`);
        }
      },
    });
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    stack,
    config,
    streamName,
    shards: config.streams.find((s) => s.name === streamName)!.shardCount,
    metrics,
    dataDir,
    part: (name) => stack.supervisor.running().find((p) => p.name === name),
    stop: async () => {
      await stack.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Files under `dir` (recursively): how many records the stack set aside for a person to inspect. */
export async function countFiles(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).length;
}
