/**
 * Fault: the Lambda crashes or times out on some invocations. The stack's function is pointed at
 * `flaky-lambda/` (the real bundle wrapped; see there): seeded crashes before and after the real work, hangs
 * past the function timeout before and after it. The event source mapping (as synthesized: bisect on, retry
 * bound, record-age bound, on-failure destination) must retry, bisect and carry on.
 *
 * Checked, from the stream's records, the wrapper's log and the on-failure destination (never from the Lambda):
 * faults of every kind were injected; the mapping failed invocations, bisected and retried; no shard waited
 * anywhere near the record-age bound; nothing is in the DLQ; the boards equal the stream's totals, so the
 * batches retried whole after `crash-after`/`timeout-after` (already counted) counted nothing twice; and the
 * Lambda's own SecondsCounted adds up to exactly the distinct seconds sent.
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import { waitFor } from '../test/helpers.js';
import { discardedRanges, inRanges, pollerStats, readRecords, readUnsent } from './checks.js';
import { flakyLambda, useFaultRun } from './harness.js';
import { distinctSeconds, fieldArgs, settledBoards, simulate, totalsOf } from './race.js';

const RIDERS = 100;
const SECONDS = 20;
/** Short, so a hang costs seconds, not the synthesized 30 s; long enough for a real invocation on a busy machine. */
const TIMEOUT_SECONDS = 5;

const run = useFaultRun();

it('Lambda crashing and timing out on some invocations: retried and bisected, no shard stalls, boards exact, nothing counted twice', async () => {
  const started = Date.now();
  const flaky = await flakyLambda(
    run,
    {
      seed: '73',
      crashBefore: '0.1',
      crashAfter: '0.1',
      timeoutBefore: '0.02',
      timeoutAfter: '0.02',
      first: 'crash-after,timeout-before,crash-before,timeout-after',
    },
    { timeoutSeconds: TIMEOUT_SECONDS },
  );
  const { fault, watcher } = await run.startStack(flaky.stack);
  const mapping = fault.config.eventSourceMappings[0]!;
  const unsentFile = path.join(fault.dir, 'unsent.ndjson');
  const sim = simulate(
    fault,
    fieldArgs({ riders: RIDERS, seconds: SECONDS, classes: 3, firstRacer: 1 }, 73),
    unsentFile,
  );
  run.sims.push(sim);
  const { summary, code } = await sim.done;
  run.note(`simulator exited ${code}`);
  expect(await readUnsent(unsentFile)).toEqual([]);

  const records = await readRecords(fault);
  const all = distinctSeconds(
    records.flatMap((r) => r.messages),
    summary.raceIds,
  );
  const expected = totalsOf(all);
  const wrong = await settledBoards(watcher.boards, summary.raceIds, expected, 60_000);
  run.note('boards settled (or the wait ran out)');
  // A fault logged by an invocation still hanging (a timeout fault) is counted as a failure only at its
  // deadline: let in-flight invocations end (bounded) before comparing the log with the stats.
  await waitFor(async () => ((await pollerStats(fault))['inFlight'] === 0 ? true : undefined), 15_000).catch(
    () => undefined,
  );
  // The log first: a fault injected after it is read is then at most one more failure in the stats.
  const injected = await flaky.injected();
  const stats = await pollerStats(fault);
  const byAction = Object.fromEntries(
    ['crash-before', 'crash-after', 'timeout-before', 'timeout-after'].map((a) => [
      a,
      injected.filter((f) => f.action === a).length,
    ]),
  );
  const ranges = await discardedRanges(fault);
  const inDlqOnly = [...all.keys()].filter(
    (k) =>
      !distinctSeconds(
        records.filter((r) => !inRanges(r, ranges)).flatMap((r) => r.messages),
        summary.raceIds,
      ).has(k),
  );
  // The last invocations' metric lines may still be on their way through the part's stdout.
  await waitFor(() => fault.metrics.get('SecondsCounted') >= all.size || undefined, 5_000).catch(
    () => undefined,
  );
  const counted = fault.metrics.get('SecondsCounted');
  const duplicates = fault.metrics.get('DuplicateSeconds');
  console.info(
    `[fault lambda] injected ${injected.length} faults ${JSON.stringify(byAction)} (function timeout ${TIMEOUT_SECONDS} s); mapping: retries ${mapping.maximumRetryAttempts}, record age ${mapping.maximumRecordAgeInSeconds} s, bisect ${mapping.bisectBatchOnFunctionError}; poller ${JSON.stringify(stats)}; Lambda SecondsCounted ${counted}, DuplicateSeconds ${duplicates}; stream ${all.size} distinct seconds of ${summary.messages} sent; DLQ ${ranges.length} batches (${inDlqOnly.length} seconds only there); racers off the stream's totals ${wrong.length}; ${Math.round((Date.now() - started) / 1000)} s`,
  );

  expect(all.size).toBe(summary.messages);
  // Every kind of fault happened, and the mapping saw them: failed invocations, bisections, retries.
  for (const count of Object.values(byAction)) expect(count).toBeGreaterThan(0);
  expect(stats['failedInvocations']).toBeGreaterThanOrEqual(injected.length);
  expect(stats['bisections']).toBeGreaterThan(0);
  // No shard waited anywhere near the record-age bound (the slowest record went from arrival to an
  // invocation within a minute), so nothing expired.
  expect(stats['arrivalToInvokeMsMax']).toBeLessThan(60_000);
  expect(ranges.filter((r) => r.condition === 'RecordAgeExceeded')).toEqual([]);
  // Nothing valid in the DLQ; boards exact: work redone by retries counted nothing twice.
  expect(inDlqOnly.slice(0, 10)).toEqual([]);
  expect(wrong.slice(0, 10)).toEqual([]);
  // The Lambda's own count: each distinct second counted exactly once, every re-delivery a duplicate.
  expect(counted).toBe(all.size);
  expect(duplicates).toBeGreaterThan(0);
});
