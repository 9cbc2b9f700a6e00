/**
 * Issue 7, hostile input: a property-based fuzzer (fast-check) drives malformed, truncated, oversized, deeply
 * nested, wrong-typed, prototype-polluting and binary payloads through MQTT (real clients, client id =
 * `racer-{id}`) and through Kinesis PutRecords, mixed with valid races, into one running local stack. Each
 * fast-check run is one campaign (fresh race and racer ids, so runs share the stack): no part may crash, every
 * valid second must be on the boards exactly once, and every refused input must be where its verdict says,
 * with a reason. See README.md here for the verdicts and how to run longer campaigns.
 *
 * As many campaigns as start within FUZZ_TIME_LIMIT_S (default 60 s; a started campaign finishes), at most
 * FUZZ_RUNS (default 10), each of FUZZ_HOSTILE (default 800) hostile inputs plus its valid races. A failure
 * prints FUZZ_SEED and FUZZ_PATH, which replay the failing campaign alone. FUZZ_KNOWN_BUGS=1 also generates the two input classes of hostile-findings.md F1/F2
 * over MQTT (their reproductions are in rule-known-bugs.fault.test.ts).
 */
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type BoardWatch, watchBoards } from './boards.js';
import { campaign, type KnownBugs, runIds } from './inputs.js';
import { ExpectedScores } from './oracle.js';
import { buildInputs, type RunReport, runCampaign } from './run.js';
import { KinesisProducer, MqttFleet } from './senders.js';
import { type HostileStack, STREAM, startHostileStack } from './stack.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 10);
const HOSTILE = Number(process.env['FUZZ_HOSTILE'] ?? 800);
const TIME_LIMIT_S = Number(process.env['FUZZ_TIME_LIMIT_S'] ?? 60);
const PATH = process.env['FUZZ_PATH'];
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

it(
  `fuzz: campaigns of ${HOSTILE} hostile inputs (for ${TIME_LIMIT_S} s, at most ${RUNS}) mixed with valid races, over MQTT and Kinesis`,
  async () => {
    const ctx = {
      hostile: hostile!,
      fleet: fleet!,
      producer: producer!,
      watch: watch!,
      expected: new ExpectedScores(),
      seenFiles: new Set<string>(),
      settleTimeoutMs: 30_000,
      publishTimeoutMs: 60_000,
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
          // All of them, with what the stack's parts logged, in a file; the first 40 in the error.
          const file = path.join(tmpdir(), `alleycat-hostile-problems-${SEED}-${run - 1}.txt`);
          await writeFile(
            file,
            [...report.problems, '', "--- parts' output ---", ...hostile!.log].join('\n'),
          );
          const shown = report.problems.slice(0, 40).join('\n  ');
          throw new Error(
            `${report.problems.length} problems in campaign ${run - 1} (all in ${file}):\n  ${shown}`,
          );
        }
      }),
      // No shrinking: each run is a whole campaign against a live stack (seconds, and state that only grows);
      // the problems list names the failing inputs instead.
      {
        numRuns: RUNS,
        seed: SEED,
        endOnFailure: true,
        interruptAfterTimeLimit: TIME_LIMIT_S * 1000,
        ...(PATH === undefined ? {} : { path: PATH }),
      },
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
      `  per campaign: ${reports.map((r) => `${r.inputs} inputs, send ${(r.sendMs / 1000).toFixed(1)} s (${r.phasesMs.map((ms) => (ms / 1000).toFixed(1)).join('/')}), settle ${(r.settleMs / 1000).toFixed(1)} s, paced ${(r.pacedBytes / 1024).toFixed(0)} KiB, PUBACK p50/max ${r.pubackMs.join('/')} ms`).join(' | ')}`,
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
        `fuzz failed (replay: FUZZ_SEED=${result.seed} FUZZ_PATH=${result.counterexamplePath} FUZZ_HOSTILE=${HOSTILE}): ${result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance)}`,
      );
    }
    // Interrupted by the time limit is a pass; at least one whole campaign must have run.
    expect(reports.length).toBeGreaterThanOrEqual(1);
    expect(inputs).toBeGreaterThanOrEqual(reports.length * HOSTILE);
  },
  (TIME_LIMIT_S + 240) * 1000,
);
