/**
 * Fault: the Kinesis emulator (kinesalite, LevelDB persistence on) is killed with SIGKILL mid-race and started
 * again on its port. The producer retries through the outage, the event source mapping picks up where it was,
 * and afterwards every message the simulator built is either in the stream or in its unsent report, and the
 * final boards equal totals computed here from the stream's records.
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { discardedBatches, pollerStats, readUnsent, unsentKey } from './checks.js';
import { useFaultRun } from './harness.js';
import {
  distinctSeconds,
  fieldArgs,
  partCounterAtLeast,
  settledBoards,
  simulate,
  streamMessages,
  totalsOf,
} from './race.js';

const RIDERS = 100;
const SECONDS = 20;

const run = useFaultRun();

it('kinesalite killed and restarted mid-race (persistence on): nothing acknowledged is lost, boards equal the totals sent', async () => {
  const started = Date.now();
  const { fault, watcher } = await run.startStack();
  const unsentFile = path.join(fault.dir, 'unsent.ndjson');
  const sim = simulate(
    fault,
    [
      ...fieldArgs({ riders: RIDERS, seconds: SECONDS, classes: 3, firstRacer: 1 }, 71),
      // Restarting kinesalite takes seconds on a loaded machine (9 s seen): the default 8 attempts (~6 s of
      // jittered backoff) then run out and those messages are reported unsent, not lost. 16 attempts (~30 s)
      // cover the outage, so the check below is "nothing unsent", not only "nothing unaccounted for".
      '--max-attempts=16',
    ],
    unsentFile,
  );
  run.sims.push(sim);

  // Mid-race (the race lasts 10 s of wall time): once a third of it is in the stream, kill, stay down 2 s,
  // come back with what was on disk.
  await partCounterAtLeast(fault, 'kinesis', 'writtenRecords', (RIDERS * SECONDS) / 3);
  const victim = await fault.kill('kinesalite');
  const killedAt = Date.now();
  run.note('kinesalite killed');
  await new Promise((r) => setTimeout(r, 2_000));
  await fault.revive(victim);
  const downMs = Date.now() - killedAt;
  run.note(`kinesalite back after ${downMs} ms`);

  const { summary, code } = await sim.done;
  run.note(`simulator exited ${code}: ${JSON.stringify(summary)}`);
  const unsent = await readUnsent(unsentFile);
  const seconds = distinctSeconds(await streamMessages(fault), summary.raceIds);
  const unsentKeys = new Set(unsent.map(unsentKey));
  const expected = totalsOf(seconds);
  const wrong = await settledBoards(watcher.boards, summary.raceIds, expected, 40_000);
  run.note('boards settled (or the wait ran out)');
  const stats = await pollerStats(fault);
  const discarded = await discardedBatches(fault);
  console.info(
    `[fault kinesalite] down ${downMs} ms; simulator exit ${code}, ${summary.delivered}/${summary.messages} delivered, ${summary.retried} retried, ${unsent.length} unsent${unsent.length ? ` (${[...new Set(unsent.map((u) => u.errorCode))].join(', ')})` : ''}; stream holds ${seconds.size} distinct seconds; racers off the stream's totals ${wrong.length}; poller ${JSON.stringify(stats)}; on-failure files ${discarded.length}; ${Math.round((Date.now() - started) / 1000)} s`,
  );

  expect(summary.messages).toBe(RIDERS * SECONDS);
  expect(summary.failed).toBe(unsent.length);
  // Every message built is accounted for: in the stream, or in the producer's report (never both, never neither).
  expect([...unsentKeys].filter((k) => seconds.has(k))).toEqual([]);
  expect(seconds.size + unsentKeys.size).toBe(summary.messages);
  expect(wrong.slice(0, 10)).toEqual([]);
  expect(discarded).toEqual([]);
  // The fault did hit: the producer had to retry, or the poller saw Kinesis go away.
  expect(summary.retried + (stats['pollErrors'] ?? 0)).toBeGreaterThan(0);
  // The outage fits in the producer's retry budget (16 attempts, backoff up to 5 s): nothing should be unsent.
  expect(unsent.map((u) => `${u.errorCode}: ${u.errorMessage}`).slice(0, 5)).toEqual([]);
});
