/**
 * What every fault test shares: the processes it started (stopped by pid after the test, pass or fail), a
 * timeline of what it did, and — when the test fails or times out — a dump of everything that helps tell why:
 * the timeline, the simulators' stderr, the poller's counters and the parts' latest output lines.
 */
import { afterEach, beforeEach } from 'vitest';
import type { FaultStack } from './fault-stack.js';
import type { BoardWatcher, RunningSimulation } from './race.js';

export interface FaultRun {
  fault?: FaultStack;
  watcher?: BoardWatcher;
  sims: RunningSimulation[];
  /** Extra things to stop (proxies, clients), last added first. */
  cleanups: Array<() => unknown>;
  /** Notes a step with the seconds since the test started. */
  note(line: string): void;
  readonly timeline: string[];
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
