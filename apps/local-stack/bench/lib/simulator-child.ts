/**
 * `alleycat simulate` (apps/bike-client's CLI, unchanged) run as a child of a benchmark, telling its parent over
 * IPC the wall time at which each race second starts being sent: the "publish" end of the end-to-end latency,
 * exact to the millisecond, without listening to every bike's message on the broker (which would add a full
 * fan-out to the load being measured). It does so by wrapping `RaceClock.prototype.ticks` — the simulator's
 * only pacing point — before the CLI loads; the parent fails the run if no tick ever arrives (e.g. after a
 * refactor of the simulator), rather than measuring nothing.
 *
 *   fork(simulator-child.ts, [...simulate args], { execArgv: ['--import', tsx] })
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// The AWS SDK's Node 22 notice on every run (as bin/alleycat.mjs filters it).
const printWarning = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name === 'NodeVersionSupportWarning' || String(warning.message).includes('NodeVersionSupport'))
    return;
  for (const listener of printWarning) listener(warning);
});

const BIKE_CLIENT_SRC = path.join(fileURLToPath(new URL('../../..', import.meta.url)), 'bike-client', 'src');
const moduleUrl = (file: string) => pathToFileURL(path.join(BIKE_CLIENT_SRC, file)).href;

interface RaceClockClass {
  prototype: { ticks(this: unknown, signal?: AbortSignal): AsyncGenerator<number> };
}
const { RaceClock } = (await import(moduleUrl('race-clock.ts'))) as { RaceClock: RaceClockClass };
const ticks = RaceClock.prototype.ticks;
RaceClock.prototype.ticks = async function* (this: unknown, signal?: AbortSignal) {
  for await (const second of ticks.call(this, signal)) {
    process.send?.({ type: 'tick', second, at: Date.now() });
    yield second;
  }
};

// The benchmark is gone (Ctrl-C, crash): nobody will read the summary, and no bike should outlive it.
let finished = false;
process.on('disconnect', () => {
  if (!finished) process.exit(1);
});

const { main } = (await import(moduleUrl('cli.ts'))) as { main(argv: string[]): Promise<number> };
process.exitCode = await main(process.argv.slice(2));
finished = true;
// Own CPU time and peak memory, exact at the end (the parent's /proc polling would miss the last moments).
const usage = process.resourceUsage();
process.send?.({
  type: 'usage',
  cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
  peakRssMb: usage.maxRSS / 1024,
});
// The IPC channel would keep this process alive.
process.disconnect?.();
