/**
 * Fault: DynamoDB (dynalite, LevelDB persistence on) stopped for ~5 s mid-race, then started again on its port.
 * The Lambda's writes fail, it reports batch item failures and the event source mapping retries them.
 *
 * Checked, from the stream's records and the on-failure destination (never from the Lambda):
 * - accounting: every second the boards miss is in a batch the mapping sent to the on-failure destination
 *   (DLQ), and no racer has more than the stream holds (nothing double counted after recovery);
 * - the guarantee (DESIGN § Delivery guarantees, "nothing valid is lost"): nothing valid is in the DLQ and
 *   the boards equal the totals of everything sent.
 * Runs with the mapping exactly as synthesized (`maximum_retry_attempts = 10000`, record age 3,600 s) and with
 * `maximum_retry_attempts = -1` (retry until the record age bound); see `variants`.
 */
import path from 'node:path';
import { expect, it } from 'vitest';
import type { StackConfig } from '../src/stack-config.js';
import { discardedRanges, inRanges, pollerStats, readRecords, readUnsent } from './checks.js';
import { useFaultRun } from './harness.js';
import {
  boardTotals,
  distinctSeconds,
  fieldArgs,
  mismatches,
  partCounterAtLeast,
  settledBoards,
  simulate,
  totalsOf,
} from './race.js';

const RIDERS = 100;
const SECONDS = 20;

const run = useFaultRun();

/**
 * The mapping as synthesized: since the infra bounds retries by record age (10,000 attempts, 3,600 s), an
 * outage of seconds cannot exhaust them. (With the earlier synthesized value, 3, the shard-head records used
 * up 4 attempts in about a second and went to the DLQ while DynamoDB was still down.) `-1` is kept as the
 * setting AWS documents for "retry until the record expires".
 */
const variants: Array<{ name: string; adjust?: (config: StackConfig) => void }> = [
  { name: 'mapping as synthesized' },
  {
    name: 'maximum_retry_attempts = -1',
    adjust: (config) => {
      for (const mapping of config.eventSourceMappings) mapping.maximumRetryAttempts = -1;
    },
  },
];

for (const variant of variants) {
  it(`DynamoDB unavailable for ~5 s mid-race (${variant.name}): batches retried, nothing double counted, nothing lost`, async () => {
    const started = Date.now();
    const { fault, watcher } = await run.startStack(variant.adjust);
    const retryAttempts = fault.config.eventSourceMappings.map((m) => m.maximumRetryAttempts);
    const unsentFile = path.join(fault.dir, 'unsent.ndjson');
    const sim = simulate(
      fault,
      fieldArgs({ riders: RIDERS, seconds: SECONDS, classes: 3, firstRacer: 1 }, 72),
      unsentFile,
    );
    run.sims.push(sim);

    // Once a quarter of the race is counted (the Lambda is writing), stop DynamoDB for ~5 s.
    await partCounterAtLeast(fault, 'event-source-mapping', 'recordsSucceeded', (RIDERS * SECONDS) / 4);
    const failuresBefore = fault.metrics.get('BatchItemFailures');
    const dynamodb = fault.part('dynamodb');
    await fault.stack.supervisor.stop(dynamodb);
    const stoppedAt = Date.now();
    run.note('dynalite stopped');
    await new Promise((r) => setTimeout(r, 5_000));
    await fault.revive(dynamodb);
    const downMs = Date.now() - stoppedAt;
    run.note(`dynalite back after ${downMs} ms`);

    const { summary, code } = await sim.done;
    run.note(`simulator exited ${code}`);
    expect(summary).toMatchObject({ messages: RIDERS * SECONDS, delivered: RIDERS * SECONDS, failed: 0 });
    expect(await readUnsent(unsentFile)).toEqual([]);

    const records = await readRecords(fault);
    const all = distinctSeconds(
      records.flatMap((r) => r.messages),
      summary.raceIds,
    );
    expect(all.size).toBe(summary.messages);
    const expected = totalsOf(all);
    const wrong = await settledBoards(watcher.boards, summary.raceIds, expected, 30_000);

    // Accounting: the seconds only found in discarded batches are what the boards may miss; nothing else.
    const ranges = await discardedRanges(fault);
    const kept = distinctSeconds(
      records.filter((r) => !inRanges(r, ranges)).flatMap((r) => r.messages),
      summary.raceIds,
    );
    const inDlqOnly = [...all.keys()].filter((k) => !kept.has(k));
    const afterLoss = totalsOf(kept);
    const seen = boardTotals(watcher.boards, summary.raceIds);
    // A board total may lack only seconds that are in the DLQ (a discarded record may still have been counted:
    // its state write can succeed before a later step of the invocation fails), and never exceed the stream's.
    const unexplained = [...expected.keys()]
      .filter((racerId) => (seen.get(racerId) ?? 0) < (afterLoss.get(racerId) ?? 0) - 0.0101)
      .map((racerId) => [racerId, expected.get(racerId), afterLoss.get(racerId), seen.get(racerId)]);
    const over = [...seen].filter(([racerId, total]) => total > (expected.get(racerId) ?? 0) + 0.0101);

    const stats = await pollerStats(fault);
    const itemFailures = fault.metrics.get('BatchItemFailures') - failuresBefore;
    console.info(
      `[fault dynamodb, ${variant.name} (maximumRetryAttempts ${retryAttempts})] down ${downMs} ms; BatchItemFailures ${itemFailures}; poller ${JSON.stringify(stats)}; DLQ: ${ranges.length} batches, ${ranges.reduce((n, r) => n + r.batchSize, 0)} records (${[...new Set(ranges.map((r) => r.condition))].join(', ')}), ${inDlqOnly.length} seconds only there; racers off the full totals ${wrong.length}, below the totals less the DLQ ${unexplained.length}, over ${over.length}; ${Math.round((Date.now() - started) / 1000)} s`,
    );
    // The fault did hit: the Lambda failed items (or whole invocations) and the mapping retried them.
    expect(
      itemFailures + (stats['partialFailures'] ?? 0) + (stats['failedInvocations'] ?? 0),
    ).toBeGreaterThan(0);
    // Nothing double counted; every missing second is accounted for in the DLQ.
    expect(over).toEqual([]);
    expect(unexplained.slice(0, 10)).toEqual([]);
    // Nothing valid lost: nothing in the DLQ, boards equal the totals of everything sent.
    expect(inDlqOnly.slice(0, 10)).toEqual([]);
    expect(mismatches(watcher.boards, summary.raceIds, expected).slice(0, 10)).toEqual([]);
  });
}
