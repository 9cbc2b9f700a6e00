/**
 * `tsx bench/leaderboard.bench.ts`: building and encoding a race's leaderboard (what the ingest Lambda does for
 * every race every second, and its publisher for every part) against, in the same run, the implementation
 * this replaced (a frozen copy below: `[...scores].sort(comparator)`, per-row byte counting, JSON.stringify).
 * Both must give the same messages and the same bytes (checked first). Rounds are interleaved (the order
 * rotates) so machine noise hits both alike; each is timed in CPU seconds of this process (the machine is
 * shared), and the median of the per-round ratios is reported.
 */
import {
  addOutput,
  buildLeaderboardMessages,
  encodeLeaderboard,
  encodeLeaderboardBytes,
  type LeaderboardInput,
  type LeaderboardMessage,
  output,
  Prng,
  type RacerScore,
} from '../src/index.js';
import { legacyBuildLeaderboardMessages } from './leaderboard-legacy.js';

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 15);
/** Each timed sample runs the operation until about this much CPU time has passed. */
const SAMPLE_SECONDS = Number(process.env['BENCH_SAMPLE_SECONDS'] ?? 0.05);

// ---- Races as the Lambda holds them ----

const NAMES = ['Hayden', 'Hubert', 'Zoë', 'Ana-María', 'Bartholomew', 'Kai', 'Oluwaseun', 'Li'];

/** `racers` racers `seconds` into a race: outputs summed as the Lambda sums them, racers in join order. */
function raceScores(racers: number, seconds: number, seed: number): RacerScore[] {
  const prng = new Prng(seed);
  return Array.from({ length: racers }, (_, i) => {
    let total = 0;
    let max = 0;
    let current = 0;
    const fitness = prng.between(0.6, 1.2);
    for (let s = 0; s < seconds; s++) {
      const cadence = Math.round(Math.min(250, (50 + prng.next() * 60) * fitness) * 10) / 10;
      const resistance = Math.round((40 + prng.next() * 50) * 10) / 10;
      current = output(cadence, resistance);
      total = addOutput(total, current);
      if (current > max) max = current;
    }
    const racerId = 1_000 + ((i * 7_919) % 100_000);
    return { racerId, current, total, max, name: `${NAMES[i % NAMES.length]} ${racerId}` };
  });
}

interface Case {
  name: string;
  input: LeaderboardInput;
}

const header = { raceId: 5_402_746, classId: 3, second: 150, publishedAt: 1_764_250_150_000, closed: false };
const cases: Case[] = [
  { name: '167 racers', input: { ...header, scores: raceScores(167, 150, 1), withNames: false } },
  { name: '167 racers, with names', input: { ...header, scores: raceScores(167, 150, 2), withNames: true } },
  { name: '1,000 racers', input: { ...header, scores: raceScores(1_000, 150, 3), withNames: false } },
  {
    name: '1,000 racers, with names',
    input: { ...header, scores: raceScores(1_000, 150, 4), withNames: true },
  },
];

// ---- Timing ----

type Op = () => number;

function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Iterations that take about SAMPLE_SECONDS of CPU. */
function calibrate(op: Op): number {
  let iterations = 1;
  for (;;) {
    const start = cpuSeconds();
    for (let i = 0; i < iterations; i++) op();
    const seconds = cpuSeconds() - start;
    if (seconds >= SAMPLE_SECONDS / 4) return Math.max(1, Math.ceil((iterations * SAMPLE_SECONDS) / seconds));
    iterations *= 4;
  }
}

let sink = 0;

/** CPU µs per operation, per round, for each candidate; rounds interleaved, the first two discarded. */
function measure(candidates: Array<[string, Op]>): Map<string, number[]> {
  const iterations = new Map(candidates.map(([name, op]) => [name, calibrate(op)]));
  const times = new Map<string, number[]>(candidates.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS + 2; round++) {
    for (let c = 0; c < candidates.length; c++) {
      const [name, op] = candidates[(c + round) % candidates.length]!;
      const n = iterations.get(name)!;
      const start = cpuSeconds();
      for (let i = 0; i < n; i++) sink += op();
      const seconds = cpuSeconds() - start;
      if (round >= 2) times.get(name)!.push((seconds / n) * 1e6);
    }
  }
  return times;
}

const pairedRatio = (before: number[], after: number[]) => median(before.map((t, i) => t / after[i]!));

// ---- Same results first ----

for (const { name, input } of cases) {
  const before = legacyBuildLeaderboardMessages(input);
  const after = buildLeaderboardMessages(input);
  if (JSON.stringify(before) !== JSON.stringify(after)) throw new Error(`${name}: the messages differ`);
  for (const message of after) {
    const json = JSON.stringify(message);
    if (encodeLeaderboard(message) !== json) throw new Error(`${name}: the text differs`);
    if (!Buffer.from(encodeLeaderboardBytes(message)).equals(Buffer.from(json)))
      throw new Error(`${name}: the bytes differ`);
  }
}

/** Sums what `encode` gives for every part (so nothing is optimised away). */
const each =
  (messages: () => LeaderboardMessage[], encode: (m: LeaderboardMessage) => { length: number }): Op =>
  () => {
    let n = 0;
    for (const m of messages()) n += encode(m).length;
    return n;
  };
const oldBytes = (m: LeaderboardMessage) => Buffer.from(JSON.stringify(m), 'utf8');

console.log(
  `leaderboard build + encode, old (frozen copy) vs new; CPU µs per race-second, median of ${ROUNDS} rounds`,
);
console.log(
  `${'race'.padEnd(26)}${'step'.padEnd(22)}${'old µs'.padStart(9)}${'new µs'.padStart(9)}${'old ÷ new'.padStart(11)}`,
);
const summary: string[] = [];
for (const { name, input } of cases) {
  const builtBefore = legacyBuildLeaderboardMessages(input);
  const builtAfter = buildLeaderboardMessages(input);
  const bytes = builtAfter.reduce((sum, m) => sum + Buffer.byteLength(JSON.stringify(m)), 0);
  const buildOld = () => legacyBuildLeaderboardMessages(input);
  const buildNew = () => buildLeaderboardMessages(input);
  const steps: Array<[string, Op, Op]> = [
    // What the Lambda and its publisher do today: build, encodeLeaderboard, Buffer.from(text).
    [
      'build + encode + UTF-8',
      each(buildOld, oldBytes),
      each(buildNew, (m) => Buffer.from(encodeLeaderboard(m))),
    ],
    // The same with the new encodeLeaderboardBytes in the publisher.
    ['build + encode→bytes', each(buildOld, oldBytes), each(buildNew, encodeLeaderboardBytes)],
    ['build', () => buildOld().length, () => buildNew().length],
    ['encode (text)', each(() => builtBefore, JSON.stringify), each(() => builtAfter, encodeLeaderboard)],
    ['encode→bytes', each(() => builtBefore, oldBytes), each(() => builtAfter, encodeLeaderboardBytes)],
  ];
  for (const [step, before, after] of steps) {
    const times = measure([
      ['old', before],
      ['new', after],
    ]);
    const old = times.get('old')!;
    const neu = times.get('new')!;
    const ratio = pairedRatio(old, neu);
    console.log(
      name.padEnd(26) +
        step.padEnd(22) +
        median(old).toFixed(1).padStart(9) +
        median(neu).toFixed(1).padStart(9) +
        `${ratio.toFixed(2)}×`.padStart(11),
    );
    if (step.startsWith('build +'))
      summary.push(
        `${`${name}, ${step}`.padEnd(50)} ${ratio.toFixed(2)}×  (${builtAfter.length} part, ${bytes.toLocaleString('en')} bytes)`,
      );
  }
}
if (sink === 42) console.log('');
console.log('\nold ÷ new, CPU time per race-second (median of paired rounds):');
for (const line of summary) console.log(`  ${line}`);
