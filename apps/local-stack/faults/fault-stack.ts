/**
 * A whole local stack from the synthesized fixture whose kinesalite and dynalite keep their data on disk
 * (`persistDir`), so a fault test can kill one and bring it back with what it had; its folder (errors bucket,
 * DLQ, persisted data) is removed on `close()`.
 */
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LAMBDA_BUNDLE } from '@alleycat/schema';
import { MetricTotals, parseEmfLine } from '../src/race/emf.js';
import { loadStackConfig, type StackConfig } from '../src/stack-config.js';
import { type RunningPart, type RunningStack, startStack } from '../src/supervisor.js';

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

export interface FaultStackOptions {
  /** Changes the synthesized config before the stack starts (e.g. an event source mapping setting). */
  adjust?: (config: StackConfig) => void;
  /** The function's bundle (default: the real one, `BUNDLE`); its folder must hold the handler's file. */
  bundle?: string;
}

/** Starts the stack from the synthesized fixture; a bare function is `adjust` (the first tests' form). */
export async function startFaultStack(
  options: FaultStackOptions | FaultStackOptions['adjust'] = {},
): Promise<FaultStack> {
  const { adjust, bundle = BUNDLE } = typeof options === 'function' ? { adjust: options } : (options ?? {});
  await bundleBuilt();
  const dir = await mkdtemp(path.join(tmpdir(), 'alleycat-fault-'));
  const config = await loadStackConfig(FIXTURE, 'dev-alleycat');
  adjust?.(config);
  const metrics = new MetricTotals();
  const log: string[] = [];
  const stack = await startStack({
    config,
    ports: FREE,
    dataDir: dir,
    persistDir: path.join(dir, 'persist'),
    bundle,
    onOutput: (line, part) => {
      const emf = parseEmfLine(line);
      if (emf) metrics.add(emf);
      else if (line.trim() !== '') {
        // Keep the first lines (start-up) and the latest ones (the failure): what a failed check prints.
        log.push(`${new Date().toISOString().slice(11, 23)} [${part.label}] ${line}`);
        if (log.length > 6_000) log.splice(1_000, log.length - 5_000);
      }
    },
    // The parts a test kills on purpose: noted in the log, not shouted on stderr.
    onPartExit: (part, code, signal) =>
      log.push(`${new Date().toISOString().slice(11, 23)} [${part.label}] exited (${signal ?? code})`),
  }).catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  const { supervisor } = stack;
  const part = (name: RunningPart['name']) => {
    const found = supervisor.running().find((p) => p.name === name);
    if (!found) throw new Error(`no running part ${name}`);
    return found;
  };
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

/**
 * Waits (up to a minute) for the real Lambda bundle: a `pnpm build` of ingest-lambda running alongside
 * (another package's tests, a developer) removes it for a few seconds, and a stack started then fails.
 */
async function bundleBuilt(timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await access(BUNDLE);
      return;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(
          `the Lambda bundle ${BUNDLE} is missing: run \`pnpm --filter "@alleycat/ingest-lambda..." build\` first`,
          { cause: error },
        );
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
