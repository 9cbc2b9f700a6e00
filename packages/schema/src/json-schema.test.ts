/**
 * The shipped JSON Schema and `parseRaceMessage` must give the same verdict for every rule JSON Schema can
 * express. The rules it cannot (byte budgets, UTF-8 validity, the clientId/racerId identity) are listed in
 * the README; for those the test checks the schema accepts what only the parser refuses.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mutatedMessageArb, raceMessageArb, SEED_MESSAGES, validMessage } from '../test/fixtures.js';
import { FORMATS } from './formats.js';
import {
  buildLeaderboardMessages,
  jsonSchemas,
  parseLeaderboardMessage,
  parseRaceBatch,
  parseRaceMessage,
  type RaceMessage,
  schemaFileText,
  toBatch,
} from './index.js';

const shipped = (file: string) =>
  JSON.parse(readFileSync(new URL(`../json-schema/${file}`, import.meta.url), 'utf8')) as Record<
    string,
    unknown
  >;

const ajv = new Ajv2020({ strict: true, allErrors: false });
const validate = {
  message: ajv.compile(shipped('race-message.schema.json')),
  batch: ajv.compile(shipped('race-batch.schema.json')),
  leaderboard: ajv.compile(shipped('leaderboard.schema.json')),
};

/** Codes for rules JSON Schema cannot express. */
const BEYOND_JSON_SCHEMA = new Set(['too_large', 'not_utf8', 'not_json', 'identity_mismatch']);

function sameVerdict(
  value: unknown,
  parse: (text: string) => { ok: boolean; error?: { code: string } },
  schema: (v: unknown) => boolean,
) {
  const text = JSON.stringify(value);
  const viaJson = JSON.parse(text) as unknown; // both judges see exactly the same JSON value
  const parsed = parse(text);
  const code = parsed.ok ? undefined : parsed.error?.code;
  if (code === 'too_large') return; // the byte budget precedes every other rule
  if (code !== undefined && BEYOND_JSON_SCHEMA.has(code)) {
    expect(schema(viaJson), `${code} is beyond JSON Schema, so the schema accepts: ${text}`).toBe(true);
    return;
  }
  expect(schema(viaJson), `verdicts differ for ${text} (parser: ${code ?? 'ok'})`).toBe(parsed.ok);
}

describe('shipped JSON Schema', () => {
  it('is what the definitions generate (run `pnpm generate:json-schema` after changing them)', () => {
    for (const [file, schema] of Object.entries(jsonSchemas())) {
      expect(shipped(file)).toEqual(schema);
      expect(readFileSync(new URL(`../json-schema/${file}`, import.meta.url), 'utf8')).toBe(
        `${schemaFileText(schema)}\n`,
      );
    }
  });

  it('uses no regex feature other engines read differently', () => {
    for (const file of Object.keys(jsonSchemas())) {
      const text = readFileSync(new URL(`../json-schema/${file}`, import.meta.url), 'utf8');
      // A regex-level \u escape (a backslash before the u in the pattern itself): Go's RE2 has none.
      expect(text).not.toMatch(/\\\\u/);
      // Every file is printable: control characters appear only as JSON escapes.
      const controls = [...text].filter((c) => c !== '\n' && !FORMATS.printable.test(c));
      expect(controls).toEqual([]);
    }
  });

  it('accepts the seed examples', () => {
    for (const seed of SEED_MESSAGES) expect(validate.message(JSON.parse(seed))).toBe(true);
  });

  it('agrees with parseRaceMessage on valid messages', () => {
    fc.assert(
      fc.property(raceMessageArb, (m) => sameVerdict(m, parseRaceMessage, validate.message)),
      { numRuns: 1_000 },
    );
  });

  it('agrees with parseRaceMessage on mutated messages', () => {
    fc.assert(
      fc.property(mutatedMessageArb, (m) => sameVerdict(m, parseRaceMessage, validate.message)),
      { numRuns: 5_000 },
    );
  });

  it('agrees with parseRaceMessage on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => sameVerdict(v, parseRaceMessage, validate.message)),
      { numRuns: 1_000 },
    );
  });

  it('agrees with parseRaceBatch on mutated batches', () => {
    const batchMutant = fc
      .tuple(fc.array(mutatedMessageArb, { minLength: 0, maxLength: 4 }), fc.integer({ min: 1, max: 6 }))
      .map(([samples, n]) => {
        const base = toBatch(Array.from({ length: n }, (_, i) => validMessage({ second: i })));
        return { ...base, samples: [...base.samples, ...samples] };
      });
    fc.assert(
      fc.property(batchMutant, (b) => sameVerdict(b, parseRaceBatch, validate.batch)),
      { numRuns: 1_000 },
    );
  });

  it('agrees on the identity rule being beyond it', () => {
    const spoof: RaceMessage = { ...validMessage({ racerId: 1 }), clientId: 'racer-2' };
    expect(parseRaceMessage(JSON.stringify(spoof)).ok).toBe(false);
    expect(validate.message(spoof)).toBe(true);
  });

  it('accepts the leaderboards the package builds, and agrees on broken ones', () => {
    const [board] = buildLeaderboardMessages({
      raceId: 1,
      classId: 2,
      second: 30,
      publishedAt: 1_700_000_000_000,
      closed: false,
      withNames: true,
      scores: [
        { racerId: 1, current: 100, total: 3000, max: 200, name: 'Ana' },
        { racerId: 2, current: 90, total: 2900.123, max: 210, name: 'Bo' },
      ],
    });
    expect(validate.leaderboard(board)).toBe(true);
    const broken = [
      { ...board, standings: [[1, 2, 3, 4]] },
      { ...board, standings: [[1, 2, 3, 4, 0]] },
      { ...board, type: 'scores' },
      { ...board, names: [[1]] },
      { ...board, part: 0 },
    ];
    for (const b of broken) sameVerdict(b, parseLeaderboardMessage, validate.leaderboard);
    for (const b of broken) expect(parseLeaderboardMessage(JSON.stringify(b)).ok).toBe(false);
  });
});
