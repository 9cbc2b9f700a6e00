/**
 * Fault: the Kinesis emulator (kinesalite, LevelDB persistence on) is killed with SIGKILL mid-race and started
 * again on its port. The producer retries through the outage, the event source mapping picks up where it was,
 * and afterwards every message the simulator built is either in the stream or in its unsent report, and the
 * final boards equal totals computed here from the stream's records.
 */
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { discardedBatches, pollerStats, readUnsent } from './checks.js';
import { type FaultStack, startFaultStack } from './fault-stack.js';
import {
  distinctSeconds,
  type RunningSimulation,
  settledBoards,
  simulate,
  streamMessages,
  totalsOf,
  watchBoards,
} from './race.js';

const RIDERS = 100;
const SECONDS = 20;

let fault: FaultStack | undefined;
let sim: RunningSimulation | undefined;
let watcher: Awaited<ReturnType<typeof watchBoards>> | undefined;

afterEach(async () => {
  sim?.kill();
  await watcher?.close();
  await fault?.close();
});

it('kinesalite killed and restarted mid-race (persistence on): nothing acknowledged is lost, boards equal the totals sent', async () => {
  const started = Date.now();
  fault = await startFaultStack();
  watcher = await watchBoards(fault);
  const unsentFile = path.join(fault.dir, 'unsent.ndjson');
  sim = simulate(
    fault,
    [
      `--riders=${RIDERS}`,
      `--seconds=${SECONDS}`,
      '--speedup=2',
      '--classes=3',
      '--seed=71',
      '--first-racer=1',
    ],
    unsentFile,
  );

  // Mid-race (the race lasts 10 s of wall time): kill, stay down 2 s, come back with what was on disk.
  await new Promise((r) => setTimeout(r, 4_000));
  const victim = await fault.kill('kinesalite');
  const killedAt = Date.now();
  await new Promise((r) => setTimeout(r, 2_000));
  await fault.revive(victim);
  const downMs = Date.now() - killedAt;

  const { summary, code } = await sim.done;
  const unsent = await readUnsent(unsentFile);
  expect(summary.messages).toBe(RIDERS * SECONDS);
  expect(summary.failed).toBe(unsent.length);

  const seconds = distinctSeconds(await streamMessages(fault), summary.raceIds);
  const unsentKeys = new Set(
    unsent.map((u) => {
      const m = u.message as { raceId: number; racerId: number; second: number };
      return `${m.raceId}:${m.racerId}:${m.second}`;
    }),
  );
  // Every message built is accounted for: in the stream, or in the producer's report (never both, never neither).
  const inBoth = [...unsentKeys].filter((k) => seconds.has(k));
  expect(inBoth).toEqual([]);
  expect(seconds.size + unsentKeys.size).toBe(summary.messages);

  const expected = totalsOf(seconds);
  const wrong = await settledBoards(watcher.boards, summary.raceIds, expected, 40_000);
  const stats = await pollerStats(fault);
  const discarded = await discardedBatches(fault);
  console.info(
    `[fault kinesalite] down ${downMs} ms; simulator exit ${code}, ${summary.delivered}/${summary.messages} delivered, ${summary.retried} retried, ${unsent.length} unsent${unsent.length ? ` (${[...new Set(unsent.map((u) => u.errorCode))].join(', ')})` : ''}; stream holds ${seconds.size} distinct seconds; poller ${JSON.stringify(stats)}; on-failure files ${discarded.length}; ${Math.round((Date.now() - started) / 1000)} s`,
  );
  expect(wrong.slice(0, 10)).toEqual([]);
  expect(discarded).toEqual([]);
  // The fault did hit: the producer had to retry, or the poller saw Kinesis go away.
  expect(summary.retried + (stats['pollErrors'] ?? 0)).toBeGreaterThan(0);
  // The outage was short and the producer retries up to 8 times with backoff up to 5 s: nothing should be unsent.
  expect(unsent.map((u) => `${u.errorCode}: ${u.errorMessage}`).slice(0, 5)).toEqual([]);
}, 90_000);
