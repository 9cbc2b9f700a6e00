/**
 * `pnpm bench`: parseRaceMessage against, in the same run, the floor (bare JSON.parse of the same input),
 * a zod 4 schema and an ajv-compiled validator of the same shape. Rounds are interleaved so machine noise
 * hits every candidate alike; each candidate's time is paired with the floor's of the same round and the
 * median ratio is reported (of CPU time, and of wall time for comparison).
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { z } from 'zod';
import { FORMATS } from '../src/formats.js';
import {
  encodeRaceMessage,
  Prng,
  parseRaceMessage,
  parseRaceRecord,
  type RaceMessage,
  readRaceRecord,
} from '../src/index.js';

/** A control character anywhere: what the shipped schema's `printable` forbids. */
const CONTROL = new RegExp(FORMATS.printable.jsonSchema.not.pattern, 'u');

const CORPUS_SIZE = 20_000;
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 15);

/** Realistic traffic: 1,000 racers in 6 classes, seconds of a race, a uuid on some, fractional values. */
function corpus(): string[] {
  const prng = new Prng(42);
  const random = () => prng.next();
  const names = ['Hayden', 'Hubert', 'Zoë', 'Ana-María', 'Bartholomew', 'Kai', 'Oluwaseun', 'Li'];
  return Array.from({ length: CORPUS_SIZE }, (_, i) => {
    const racerId = i % 1_000;
    const message: RaceMessage = {
      event: i % 300 === 299 ? 'final' : 'update',
      deviceTimestamp: 1_620_824_038_331 + i,
      second: Math.floor(i / 1_000) + 1,
      raceId: 5_402_746 + (racerId % 6),
      name: names[racerId % names.length]!,
      racerId,
      classId: racerId % 6,
      cadence: Math.round((50 + random() * 60) * 10) / 10,
      resistance: Math.round((40 + random() * 50) * 10) / 10,
    };
    if (i % 2 === 0) message.uuid = crypto.randomUUID();
    return encodeRaceMessage(message);
  });
}

const zodMessage = z.object({
  event: z.enum(['update', 'final']),
  deviceTimestamp: z.number().int().min(0).max(8_640_000_000_000_000),
  second: z.number().int().min(0).max(86_400),
  raceId: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  name: z
    .string()
    .min(1)
    .max(64)
    .refine((s) => !CONTROL.test(s)),
  racerId: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  classId: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  cadence: z.number().min(0).max(250),
  resistance: z.number().min(0).max(100),
  uuid: z.uuid().optional(),
  clientId: z.string().min(1).max(128).optional(),
});

const ajv = new Ajv2020({ strict: true });
const ajvValidate = ajv.compile(
  JSON.parse(readFileSync(new URL('../json-schema/race-message.schema.json', import.meta.url), 'utf8')),
);

type Candidate = { name: string; run: (input: string | Buffer) => unknown };
type Result = { cpuRatio: number; wallRatio: number; perCpuSecond: number };

/** CPU time of this process (all its threads, so concurrent GC and compilation are charged too), in s. */
function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Times every candidate over all inputs, round after round. Each round's time is compared with the floor's
 * in the same round (paired), and the candidates' order rotates every round so that no candidate always
 * runs right after another's garbage. The machine is shared: CPU time counts only this process's work,
 * which wall time does not when other processes take the cores; both are reported.
 */
function measure(candidates: Candidate[], inputs: Array<string | Buffer>): Map<string, Result> {
  const cpu = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
  const wall = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
  let sink = 0;
  for (let round = 0; round < ROUNDS + 2; round++) {
    const order = candidates.map((_, i) => candidates[(i + round) % candidates.length]!);
    for (const candidate of order) {
      const startCpu = cpuSeconds();
      const start = process.hrtime.bigint();
      for (const input of inputs) if (candidate.run(input)) sink++;
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const cpuTime = cpuSeconds() - startCpu;
      if (round >= 2) {
        // 2 warm-up rounds
        cpu.get(candidate.name)!.push(cpuTime);
        wall.get(candidate.name)!.push(seconds);
      }
    }
  }
  if (sink === 42) console.log('');
  const floor = candidates[0]!.name;
  const paired = (times: Map<string, number[]>, name: string) =>
    median(times.get(name)!.map((t, round) => times.get(floor)![round]! / t));
  return new Map(
    candidates.map(({ name }) => [
      name,
      {
        cpuRatio: paired(cpu, name),
        wallRatio: paired(wall, name),
        perCpuSecond: inputs.length / median(cpu.get(name)!),
      },
    ]),
  );
}

function report(title: string, results: Map<string, Result>) {
  const floor = [...results.values()][0]!;
  console.log(
    `\n${title}: floor ${Math.round(floor.perCpuSecond).toLocaleString('en')} records per CPU-second`,
  );
  console.log(`${'candidate'.padEnd(34)}  × floor (cpu)  × floor (wall)`);
  for (const [name, { cpuRatio, wallRatio }] of results) {
    console.log(
      name.padEnd(34) + `${cpuRatio.toFixed(2)}×`.padStart(15) + `${wallRatio.toFixed(2)}×`.padStart(15),
    );
  }
}

const texts = corpus();
const buffers = texts.map((t) => Buffer.from(t));
const bytes = texts.reduce((sum, t) => sum + Buffer.byteLength(t), 0) / texts.length;
console.log(
  `corpus: ${texts.length} race messages, ${bytes.toFixed(0)} bytes on average; ${ROUNDS} rounds, median`,
);
for (const text of texts)
  if (
    !parseRaceMessage(text).ok ||
    !zodMessage.safeParse(JSON.parse(text)).success ||
    !ajvValidate(JSON.parse(text))
  )
    throw new Error(`corpus message refused: ${text}`);

const fromText = measure(
  [
    { name: 'floor: JSON.parse', run: (t) => JSON.parse(t as string) },
    { name: 'parseRaceMessage', run: (t) => parseRaceMessage(t as string).ok },
    {
      name: 'JSON.parse + zod 4 safeParse',
      run: (t) => zodMessage.safeParse(JSON.parse(t as string)).success,
    },
    { name: 'JSON.parse + ajv (compiled)', run: (t) => ajvValidate(JSON.parse(t as string)) },
  ],
  texts,
);
report('From text (string input)', fromText);

const fromBytes = measure(
  [
    { name: 'floor: utf8 decode + JSON.parse', run: (b) => JSON.parse((b as Buffer).toString('utf8')) },
    { name: 'parseRaceMessage(bytes)', run: (b) => parseRaceMessage(b as Buffer).ok },
    // Either wire form, expanded to messages.
    { name: 'parseRaceRecord(bytes)', run: (b) => parseRaceRecord(b as Buffer).ok },
    // What the ingest Lambda calls: either wire form, each message visited as a reused row.
    {
      name: 'readRaceRecord(bytes)',
      run: (b) => {
        let second = -1;
        const error = readRaceRecord(b as Buffer, (row) => {
          second = row.second;
        });
        return error === undefined && second >= 0;
      },
    },
  ],
  buffers,
);
report('From bytes (Kinesis data, UTF-8)', fromBytes);

// The same messages in other shapes, each against its own floor: as the ingest rule writes them (with the
// sender's clientId), with fields this version does not know (a newer bike's; the scanner skips them), and
// the fallback: every name with a \u escape (as ASCII-only JSON writers send non-ASCII names), which the
// scanner leaves to JSON.parse + the generated checks after reading up to it.
const escapeFirst = (name: string) =>
  `\\u${name.charCodeAt(0).toString(16).padStart(4, '0')}${name.slice(1)}`;
const variants = {
  'with clientId (as the ingest rule writes)': texts.map((t) => {
    const racerId = (JSON.parse(t) as RaceMessage).racerId;
    return `${t.slice(0, -1)},"clientId":"racer-${racerId}"}`;
  }),
  'with unknown fields': texts.map(
    (t) => `${t.slice(0, -1)},"firmware":"2.1.0","device":{"model":"A1","hr":[140,141]}}`,
  ),
  'fallback: an escaped name': texts.map((t) => {
    const { name } = JSON.parse(t) as RaceMessage;
    return t.replace(`"name":${JSON.stringify(name)}`, `"name":"${escapeFirst(name)}"`);
  }),
};
const shapes = new Map<string, Map<string, Result>>();
for (const [shape, inputs] of Object.entries(variants)) {
  for (const text of inputs) if (!parseRaceMessage(text).ok) throw new Error(`variant refused: ${text}`);
  const results = measure(
    [
      { name: 'floor: JSON.parse', run: (t) => JSON.parse(t as string) },
      { name: 'parseRaceMessage', run: (t) => parseRaceMessage(t as string).ok },
      { name: 'JSON.parse + ajv (compiled)', run: (t) => ajvValidate(JSON.parse(t as string)) },
    ],
    inputs,
  );
  shapes.set(shape, results);
  report(`Text ${shape}`, results);
}

const ratio = (name: string, results = fromText) => results.get(name)!.cpuRatio;
const overZod = ratio('parseRaceMessage') / ratio('JSON.parse + zod 4 safeParse');
const overAjv = ratio('parseRaceMessage') / ratio('JSON.parse + ajv (compiled)');
console.log(`\nRatios of CPU time, median over ${ROUNDS} rounds, each round paired with the floor's:`);
console.log(`parseRaceMessage ÷ floor: ${ratio('parseRaceMessage').toFixed(2)}× (target ≥ 0.80×)`);
console.log(`parseRaceMessage ÷ zod:   ${overZod.toFixed(2)}× (target > 1×)`);
console.log(`parseRaceMessage ÷ ajv:   ${overAjv.toFixed(2)}× (stretch > 1×)`);
console.log(
  `parseRaceMessage(bytes) ÷ its floor: ${ratio('parseRaceMessage(bytes)', fromBytes).toFixed(2)}×`,
);
console.log(`parseRaceRecord(bytes) ÷ its floor:  ${ratio('parseRaceRecord(bytes)', fromBytes).toFixed(2)}×`);
console.log(`readRaceRecord(bytes) ÷ its floor:   ${ratio('readRaceRecord(bytes)', fromBytes).toFixed(2)}×`);
for (const [shape, results] of shapes) {
  console.log(`parseRaceMessage ÷ floor, ${shape}: ${ratio('parseRaceMessage', results).toFixed(2)}×`);
}
