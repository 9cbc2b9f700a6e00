/**
 * `alleycat simulate` (apps/bike-client's CLI, unchanged) run as a child of a benchmark, telling its parent over
 * IPC the wall time at which each race second starts being sent and, on the MQTT path, at which each bike
 * called publish: the "publish" end of the end-to-end latency, exact to the millisecond, without listening to
 * every bike's message on the broker (which would add a full fan-out to the load being measured). It does so
 * by wrapping `RaceClock.prototype.ticks` — the simulator's only pacing point — and `Bike.prototype.publish`
 * before the CLI loads; the parent fails the run if no tick ever arrives (e.g. after a refactor of the
 * simulator), rather than measuring nothing.
 *
 * With `HOLD_BIKES_ENV` set, it also wraps `MqttSink.prototype.close`: once every message is acknowledged it
 * says `held` and keeps the bikes connected until the parent says `release`. A thousand bikes disconnecting at
 * once is a burst of work for the broker; without the hold it lands while the race's last second is still on
 * its way to the boards, and the benchmark would time the harness's teardown as that second's latency.
 *
 *   fork(simulator-child.ts, [...simulate args], { execArgv: ['--import', tsx] })
 */
import '../../src/cli/quiet-sdk-warning.js'; // the AWS SDK's Node 22 notice is not this benchmark's news
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { HOLD_BIKES_ENV, type SimulatorCommand, type SimulatorMessage } from './simulator.js';

/** A parent that never releases the bikes (it crashed without closing IPC) does not hold them forever. */
const HOLD_LIMIT_MS = 5 * 60_000;
const send = (message: SimulatorMessage) => process.send?.(message);

const BIKE_CLIENT_SRC = path.join(fileURLToPath(new URL('../../..', import.meta.url)), 'bike-client', 'src');
const moduleUrl = (file: string) => pathToFileURL(path.join(BIKE_CLIENT_SRC, file)).href;

interface RaceClockClass {
  prototype: { ticks(this: unknown, signal?: AbortSignal): AsyncGenerator<number> };
}
const { RaceClock } = (await import(moduleUrl('race-clock.ts'))) as { RaceClock: RaceClockClass };
const ticks = RaceClock.prototype.ticks;
RaceClock.prototype.ticks = async function* (this: unknown, signal?: AbortSignal) {
  for await (const second of ticks.call(this, signal)) {
    send({ type: 'tick', second, at: Date.now() });
    yield second;
  }
};

// Each bike's publish call, reported once the simulator's send loop has handed over the second (the loop is
// synchronous: the next turn of the event loop), well before the second's boards come back.
interface BikeClass {
  prototype: { publish(this: unknown, message: { racerId: number; second: number }): void };
}
const { Bike } = (await import(moduleUrl('bike.ts'))) as { Bike: BikeClass };
const publish = Bike.prototype.publish;
const published = new Map<number, { racerIds: number[]; at: number[] }>();
Bike.prototype.publish = function (this: unknown, message: { racerId: number; second: number }) {
  let calls = published.get(message.second);
  if (calls === undefined) {
    calls = { racerIds: [], at: [] };
    published.set(message.second, calls);
    setImmediate(reportPublished);
  }
  calls.racerIds.push(message.racerId);
  calls.at.push(Date.now());
  publish.call(this, message);
};
function reportPublished(): void {
  for (const [second, calls] of published) send({ type: 'published', second, ...calls });
  published.clear();
}

if (process.env[HOLD_BIKES_ENV]) {
  interface MqttSinkClass {
    prototype: { close(this: unknown): Promise<unknown> };
  }
  const { MqttSink } = (await import(moduleUrl('sinks.ts'))) as { MqttSink: MqttSinkClass };
  const close = MqttSink.prototype.close;
  let held = false;
  MqttSink.prototype.close = async function (this: unknown) {
    // The CLI closes the sink twice (the second finds no bikes); hold the first time only.
    if (held) return close.call(this);
    held = true;
    // Called after the race's last message was acknowledged (`Simulation.run` drains the sink first).
    const released = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, HOLD_LIMIT_MS);
      process.on('message', (command: SimulatorCommand) => {
        if (command.type !== 'release') return;
        clearTimeout(timer);
        resolve();
      });
    });
    send({ type: 'held' });
    await released;
    return close.call(this);
  };
}

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
send({
  type: 'usage',
  cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6,
  peakRssMb: usage.maxRSS / 1024,
});
// The IPC channel would keep this process alive.
process.disconnect?.();
