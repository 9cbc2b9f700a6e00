/**
 * Issue 7, hostile input: a property-based fuzzer (fast-check) drives malformed, truncated, oversized, deeply
 * nested, wrong-typed, prototype-polluting and binary payloads through MQTT (real clients, client id =
 * `racer-{id}`) and through Kinesis PutRecords, mixed with valid races, into one running local stack. Each
 * fast-check run is one campaign (fresh race and racer ids, so runs share the stack): no part may crash, every
 * valid second must be on the boards exactly once, and every refused input must be where its verdict says,
 * with a reason. See README.md here for the verdicts and how to run longer campaigns.
 *
 * FUZZ_RUNS (default 3) campaigns of FUZZ_HOSTILE (default 800) hostile inputs plus their valid races;
 * FUZZ_SEED replays one. FUZZ_KNOWN_BUGS=1 also generates the two input classes of hostile-findings.md F1/F2
 * over MQTT (their reproductions are in rule-known-bugs.fault.test.ts).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type BoardWatch, watchBoards } from './boards.js';
import { campaign, type KnownBugs, runIds } from './inputs.js';
import { ExpectedScores } from './oracle.js';
import { buildInputs, type RunReport, runCampaign } from './run.js';
import { KinesisProducer, MqttFleet } from './senders.js';
import { type HostileStack, STREAM, startHostileStack } from './stack.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 3);
const HOSTILE = Number(process.env['FUZZ_HOSTILE'] ?? 800);
const SEED =
  process.env['FUZZ_SEED'] === undefined
    ? Date.now() ^ (Math.random() * 2 ** 31)
    : Number(process.env['FUZZ_SEED']);
const KNOWN: KnownBugs =
  process.env['FUZZ_KNOWN_BUGS'] === '1'
    ? { deepOverMqtt: false, nonUtf8OverMqtt: false }
    : { deepOverMqtt: true, nonUtf8OverMqtt: true };

let hostile: HostileStack | undefined;
let fleet: MqttFleet | undefined;
let producer: KinesisProducer | undefined;
let watch: BoardWatch | undefined;

beforeAll(async () => {
  hostile = await startHostileStack();
  fleet = new MqttFleet(hostile.stack.endpoints.mqtt);
  producer = new KinesisProducer(hostile.stack.endpoints.kinesis, STREAM);
  watch = await watchBoards(hostile.stack.endpoints.mqtt, `hostile-watcher-${process.pid}`);
});

afterAll(async () => {
  await watch?.close();
  await fleet?.close();
  producer?.close();
  await hostile?.close();
});

it(`fuzz: ${RUNS} campaigns of ${HOSTILE} hostile inputs mixed with valid races, over MQTT and Kinesis`, async () => {
  const ctx = {
    hostile: hostile!,
    fleet: fleet!,
    producer: producer!,
    watch: watch!,
    expected: new ExpectedScores(),
    seenFiles: new Set<string>(),
    settleTimeoutMs: 30_000,
    publishTimeoutMs: 10_000,
  };
  const reports: RunReport[] = [];
  const started = Date.now();
  let run = 0;
  const result = await fc.check(
    fc.asyncProperty(campaign(HOSTILE, KNOWN), async (c) => {
      const judged = buildInputs(c, runIds(run++));
      const report = await runCampaign(ctx, judged);
      reports.push(report);
      if (report.problems.length > 0) {
        const shown = report.problems.slice(0, 40).join('\n  ');
        throw new Error(`${report.problems.length} problems in campaign ${run - 1}:\n  ${shown}`);
      }
    }),
    // No shrinking: each run is a whole campaign against a live stack (seconds, and state that only grows);
    // the problems list names the failing inputs instead.
    { numRuns: RUNS, seed: SEED, endOnFailure: true },
  );

  const total = new Map<string, number>();
  const fates = new Map<string, number>();
  for (const r of reports) {
    for (const [k, n] of r.byKind) total.set(k, (total.get(k) ?? 0) + n);
    for (const [k, n] of r.byFate) fates.set(k, (fates.get(k) ?? 0) + n);
  }
  const inputs = reports.reduce((n, r) => n + r.inputs, 0);
  const lines = [
    `hostile fuzz: ${inputs} inputs in ${reports.length} campaigns (seed ${SEED}), ${((Date.now() - started) / 1000).toFixed(1)} s`,
    `  per campaign: ${reports.map((r) => `${r.inputs} inputs, send ${(r.sendMs / 1000).toFixed(1)} s, settle ${(r.settleMs / 1000).toFixed(1)} s`).join(' | ')}`,
    `  verdicts: ${[...fates]
      .sort()
      .map(([k, n]) => `${k} ${n}`)
      .join(', ')}`,
    `  seconds on the boards (distinct): ${ctx.expected.size}; inspection files matched: ${ctx.seenFiles.size}`,
    '  inputs by kind and path:',
    ...[...total].sort().map(([k, n]) => `    ${k.padEnd(32)} ${n}`),
  ];
  console.log(lines.join('\n'));
  if (result.failed) {
    throw new Error(
      `fuzz failed (replay: FUZZ_SEED=${result.seed} FUZZ_RUNS=${RUNS} FUZZ_HOSTILE=${HOSTILE}): ${result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance)}`,
    );
  }
  expect(reports).toHaveLength(RUNS);
  expect(inputs).toBeGreaterThanOrEqual(RUNS * HOSTILE);
}, 600_000);
