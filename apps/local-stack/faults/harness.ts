/**
 * What every fault test shares: the stack and board watcher it starts, the processes it started (stopped by
 * pid after the test, pass or fail), a timeline of what it did, and — when the test fails or times out — a dump
 * of everything that helps tell why: the timeline, the simulators' stderr, the poller's counters and the parts'
 * latest output lines. Also the flaky Lambda's set-up, for the tests that run it.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { BUNDLE, type FaultStack, type FaultStackOptions, startFaultStack } from './fault-stack.js';
import { FAULT_ENV, type InjectedFault } from './flaky-lambda/types.js';
import { type BoardWatcher, type RunningSimulation, watchBoards } from './race.js';

export interface FaultRun {
  fault?: FaultStack;
  watcher?: BoardWatcher;
  sims: RunningSimulation[];
  /** Extra things to stop (proxies, clients), last added first. */
  cleanups: Array<() => unknown>;
  /** Notes a step with the seconds since the test started. */
  note(line: string): void;
  readonly timeline: string[];
  /**
   * Starts the stack from the synthesized fixture (`startFaultStack`'s options) and a board watcher on it,
   * both stopped after the test.
   */
  startStack(
    options?: Parameters<typeof startFaultStack>[0],
  ): Promise<{ fault: FaultStack; watcher: BoardWatcher }>;
}

/** Registers the after-test cleanup and failure dump; call once at the top of a test file. */
export function useFaultRun(): FaultRun {
  let started = Date.now();
  const run: FaultRun = {
    sims: [],
    cleanups: [],
    timeline: [],
    note(line) {
      run.timeline.push(`+${((Date.now() - started) / 1000).toFixed(1)} s ${line}`);
    },
    async startStack(options) {
      const fault = await startFaultStack(options);
      run.fault = fault;
      run.note('stack up');
      const watcher = await watchBoards(fault);
      run.watcher = watcher;
      return { fault, watcher };
    },
  };
  beforeEach(() => {
    started = Date.now();
  });
  afterEach(async (context) => {
    if (context.task.result?.state === 'fail') await printDiagnostics(run, context.task.name);
    for (const sim of run.sims) sim.kill();
    for (const cleanup of run.cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    await run.watcher?.close().catch(() => undefined);
    await run.fault?.close();
    run.fault = undefined;
    run.watcher = undefined;
    run.sims = [];
    run.cleanups = [];
    run.timeline.length = 0;
  });
  return run;
}

/** The flaky wrapper's settings (see `flaky-lambda/`), each the value of its `FAULT_ENV` variable. */
export type FlakySettings = Partial<Record<Exclude<keyof typeof FAULT_ENV, 'realBundle' | 'log'>, string>>;

export interface FlakyLambda {
  /** For `run.startStack`: every function runs `flaky-lambda/` around the real bundle. */
  stack: FaultStackOptions;
  /** The faults injected so far, from the wrapper's log. */
  injected(): Promise<InjectedFault[]>;
}

const FLAKY = path.join(import.meta.dirname, 'flaky-lambda', 'index.ts');

/**
 * Points the stack's functions at `flaky-lambda/` (the real bundle wrapped) with `settings` and, given
 * `timeoutSeconds`, that function timeout. Its log goes to a folder removed after the test.
 */
export async function flakyLambda(
  run: FaultRun,
  settings: FlakySettings,
  options: { timeoutSeconds?: number } = {},
): Promise<FlakyLambda> {
  const dir = await mkdtemp(path.join(tmpdir(), 'alleycat-flaky-'));
  run.cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'injected.ndjson');
  const environment: Record<string, string> = { [FAULT_ENV.realBundle]: BUNDLE, [FAULT_ENV.log]: log };
  for (const [name, value] of Object.entries(settings)) {
    environment[FAULT_ENV[name as keyof FlakySettings]] = value;
  }
  return {
    stack: {
      bundle: FLAKY,
      adjust: (config) => {
        for (const fn of config.functions) {
          if (options.timeoutSeconds !== undefined) fn.timeoutSeconds = options.timeoutSeconds;
          Object.assign(fn.environment, environment);
        }
      },
    },
    async injected() {
      return (await readFile(log, 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as InjectedFault);
    },
  };
}

async function printDiagnostics(run: FaultRun, name: string): Promise<void> {
  const out: string[] = [`===== diagnostics for failed fault test: ${name}`, '-- timeline', ...run.timeline];
  for (const [i, sim] of run.sims.entries()) {
    out.push(`-- simulator ${i} (pid ${sim.pid}) stderr, last 3,000 chars`, sim.stderr().slice(-3_000));
  }
  const fault = run.fault;
  if (fault) {
    for (const part of fault.stack.supervisor.running()) {
      const stats = await fault.stack.supervisor.stats(part, 1_000).catch((e: Error) => e.message);
      out.push(`-- ${part.restartWith.label} (pid ${part.pid}) stats: ${JSON.stringify(stats)}`);
    }
    out.push(`-- Lambda metrics: ${JSON.stringify(fault.metrics.totals)}`);
    out.push(
      '-- parts output, last 120 lines (each cut at 600 chars)',
      ...fault.log.slice(-120).map((line) => (line.length > 600 ? `${line.slice(0, 600)}…` : line)),
    );
  }
  if (run.watcher) {
    out.push(
      `-- boards: ${JSON.stringify(run.watcher.boards.all().map((r) => ({ raceId: r.raceId, second: r.second, closed: r.closed, racers: r.standings.size, boards: r.boards })))}`,
    );
  }
  console.error(out.join('\n'));
}
