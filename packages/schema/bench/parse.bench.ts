/**
 * `pnpm bench`: parseRaceMessage against, in the same run, the floor (bare JSON.parse of the same input),
 * a zod 4 schema and an ajv-compiled validator of the same shape. Rounds are interleaved so machine noise
 * hits every candidate alike; the median round is reported, as a ratio to the floor.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { z } from 'zod';
import { FORMATS } from '../src/formats.js';
import { encodeRaceMessage, Prng, parseRaceMessage, type RaceMessage } from '../src/index.js';

const PRINTABLE_PATTERN = FORMATS.printable.pattern;

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
  name: z.string().min(1).max(64).regex(new RegExp(PRINTABLE_PATTERN, 'u')),
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

function measure(candidates: Candidate[], inputs: Array<string | Buffer>): Map<string, number> {
  const samples = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
  let sink = 0;
  for (let round = 0; round < ROUNDS + 2; round++) {
    for (const candidate of candidates) {
      const start = process.hrtime.bigint();
      for (const input of inputs) if (candidate.run(input)) sink++;
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (round >= 2) samples.get(candidate.name)!.push(inputs.length / seconds); // 2 warm-up rounds
    }
  }
  if (sink === 42) console.log('');
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return new Map([...samples].map(([name, xs]) => [name, median(xs)]));
}

function report(title: string, results: Map<string, number>, floor: string) {
  const base = results.get(floor)!;
  console.log(`\n${title}`);
  console.log(`${'candidate'.padEnd(34) + 'records/s'.padStart(12)}  × floor`);
  for (const [name, perSecond] of results) {
    console.log(
      name.padEnd(34) +
        Math.round(perSecond).toLocaleString('en').padStart(12) +
        `  ${(perSecond / base).toFixed(2)}×`,
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
report('From text (string input)', fromText, 'floor: JSON.parse');

const fromBytes = measure(
  [
    { name: 'floor: utf8 decode + JSON.parse', run: (b) => JSON.parse((b as Buffer).toString('utf8')) },
    { name: 'parseRaceMessage(bytes)', run: (b) => parseRaceMessage(b as Buffer).ok },
  ],
  buffers,
);
report('From bytes (Kinesis data, UTF-8)', fromBytes, 'floor: utf8 decode + JSON.parse');

const ratio = (a: string, b: string, r = fromText) => r.get(a)! / r.get(b)!;
console.log(
  `\nparseRaceMessage ÷ floor: ${ratio('parseRaceMessage', 'floor: JSON.parse').toFixed(2)}× (target ≥ 0.80×)`,
);
console.log(
  `parseRaceMessage ÷ zod:   ${ratio('parseRaceMessage', 'JSON.parse + zod 4 safeParse').toFixed(2)}× (target > 1×)`,
);
console.log(
  `parseRaceMessage ÷ ajv:   ${ratio('parseRaceMessage', 'JSON.parse + ajv (compiled)').toFixed(2)}× (stretch > 1×)`,
);
console.log(
  `parseRaceMessage(bytes) ÷ its floor: ${ratio('parseRaceMessage(bytes)', 'floor: utf8 decode + JSON.parse', fromBytes).toFixed(2)}×`,
);
