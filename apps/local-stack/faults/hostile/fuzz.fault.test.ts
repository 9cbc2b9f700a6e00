/**
 * Issue 7, hostile input: a property-based fuzzer (fast-check) drives malformed, truncated, oversized, deeply
 * nested, wrong-typed, prototype-polluting and binary payloads through MQTT (real clients, client id =
 * `racer-{id}`) and through Kinesis PutRecords, mixed with valid races, into one running local stack. Each
 * fast-check run is one campaign (fresh race and racer ids, so runs share the stack): no part may crash, every
 * valid second must be on the boards exactly once, and every refused input must be where its verdict says,
 * with a reason. See README.md here for the verdicts and how to run longer campaigns.
 *
 * As many campaigns as start within FUZZ_TIME_LIMIT_S (default 60 s; a started campaign finishes), at most
 * FUZZ_RUNS (default 10), each of FUZZ_HOSTILE (default 800) hostile inputs plus its valid races. Campaign k
 * uses seed FUZZ_SEED + k; a failure prints the seed that replays it alone.
 */
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type BoardWatch, watchBoards } from './boards.js';
import { campaign, runIds } from './inputs.js';
import { ExpectedScores } from './oracle.js';
import { buildInputs, type RunReport, runCampaign } from './run.js';
import { KinesisProducer, MqttFleet } from './senders.js';
import { type HostileStack, STREAM, startHostileStack } from './stack.js';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 10);
const HOSTILE = Number(process.env['FUZZ_HOSTILE'] ?? 800);
const TIME_LIMIT_S = Number(process.env['FUZZ_TIME_LIMIT_S'] ?? 60);
const SEED =
  process.env['FUZZ_SEED'] === undefined
    ? Date.now() ^ (Math.random() * 2 ** 31)
    : Number(process.env['FUZZ_SEED']);

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
    // One fast-check run per campaign, seeds SEED, SEED+1, …: a failing campaign replays alone with its seed.
    // No shrinking: a campaign is seconds against a live stack whose state only grows; the problems list
    // names the failing inputs instead. A new campaign starts only while the time limit has not passed.
    let failure: string | undefined;
    for (let run = 0; run < RUNS && failure === undefined; run++) {
      if (run > 0 && Date.now() - started > TIME_LIMIT_S * 1000) break;
      const seed = SEED + run;
      const result = await fc.check(
        fc.asyncProperty(campaign(HOSTILE), async (c) => {
          const report = await runCampaign(ctx, buildInputs(c, runIds(run)));
          reports.push(report);
          if (report.problems.length === 0) return;
          // All of them, with what the stack's parts logged, in a file; the first 40 in the error.
          const file = path.join(tmpdir(), `alleycat-hostile-problems-${seed}.txt`);
          await writeFile(
            file,
            [...report.problems, '', "--- parts' output ---", ...hostile!.log].join('\n'),
          );
          const shown = report.problems.slice(0, 40).join('\n  ');
          throw new Error(`${report.problems.length} problems (all in ${file}):\n  ${shown}`);
        }),
        { numRuns: 1, seed, endOnFailure: true },
      );
      if (result.failed) {
        const error =
          result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
        failure = `campaign ${run} failed (replay: FUZZ_SEED=${seed} FUZZ_RUNS=1 FUZZ_HOSTILE=${HOSTILE}): ${error}`;
      }
    }

    const total = new Map<string, number>();
    const fates = new Map<string, number>();
    for (const r of reports) {
      for (const [k, n] of r.byKind) total.set(k, (total.get(k) ?? 0) + n);
      for (const [k, n] of r.byFate) fates.set(k, (fates.get(k) ?? 0) + n);
    }
    const inputs = reports.reduce((n, r) => n + r.inputs, 0);
    const lines = [
      `hostile fuzz: ${inputs} inputs in ${reports.length} campaigns (seeds ${SEED}…${SEED + Math.max(0, reports.length - 1)}), ${((Date.now() - started) / 1000).toFixed(1)} s`,
      `  per campaign: ${reports.map((r) => `${r.inputs} inputs, send ${(r.sendMs / 1000).toFixed(1)} s (${r.phasesMs.map((ms) => (ms / 1000).toFixed(1)).join('/')}), settle ${(r.settleMs / 1000).toFixed(1)} s (records/files/boards ${[r.settledMs.records, r.settledMs.files, r.settledMs.boards].map((ms) => (ms < 0 ? 'never' : (ms / 1000).toFixed(1))).join('/')}), live item ${r.liveItem === undefined ? '?' : `${(r.liveItem.bytes / 1024).toFixed(0)} KB (${r.liveItem.races} races, ${r.liveItem.markers} markers${r.liveItem.ownUntil > Date.now() ? ', new races in their own items' : ''})`}, paced ${(r.pacedBytes / 1024).toFixed(0)} KiB, PUBACK p50/max ${r.pubackMs.join('/')} ms`).join(' | ')}`,
      `  verdicts: ${[...fates]
        .sort()
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}`,
      `  seconds on the boards (distinct): ${ctx.expected.size}; inspection files matched: ${ctx.seenFiles.size}`,
      '  inputs by kind and path:',
      ...[...total].sort().map(([k, n]) => `    ${k.padEnd(32)} ${n}`),
    ];
    console.log(lines.join('\n'));
    if (failure !== undefined) throw new Error(failure);
    // Stopped by the time limit is a pass; at least one whole campaign must have run.
    expect(reports.length).toBeGreaterThanOrEqual(1);
    expect(inputs).toBeGreaterThanOrEqual(reports.length * HOSTILE);
  },
  (TIME_LIMIT_S + 240) * 1000,
);
