import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { raceMessageArb, validMessage } from '../test/fixtures.js';
import { LEADERBOARD_MESSAGE, RACE_BATCH, RACE_MESSAGE } from './definitions.js';
import { generateFastPath, MISS } from './fast-path.js';
import { FORMATS } from './formats.js';
import { compile, Invalid } from './validator.js';

describe('formats', () => {
  it.each(Object.entries(FORMATS))('%s: the character loop and the shipped keywords agree', (_, format) => {
    const schema = new Ajv2020({ strict: true }).compile({ type: 'string', ...format.jsonSchema });
    const strings = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.uuid(),
      fc.uuid().map((u) => u.toUpperCase()),
      fc.uuid().map((u) => u.replace('-', 'g')),
      fc.stringMatching(/^[0-9a-fA-F-]{36}$/),
      fc.string({ maxLength: 20 }).map((s) => `${s}\n`),
    );
    fc.assert(
      fc.property(strings, (s) => {
        expect(format.test(s)).toBe(schema(s));
      }),
      { numRuns: 5_000 },
    );
  });

  it('gives every uuid field the fixed length its anchored pattern relies on', () => {
    const uuidFields: Array<{ minLength?: number; maxLength?: number }> = [];
    const visit = (spec: unknown): void => {
      if (typeof spec !== 'object' || spec === null) return;
      const s = spec as { kind?: string; format?: string };
      if (s.kind === 'string' && s.format === 'uuid') uuidFields.push(spec as never);
      for (const value of Object.values(spec)) visit(value);
    };
    for (const spec of [RACE_MESSAGE, RACE_BATCH, LEADERBOARD_MESSAGE]) visit(spec);
    expect(uuidFields.length).toBeGreaterThan(0);
    for (const field of uuidFields) expect(field).toMatchObject({ minLength: 36, maxLength: 36 });
  });
});

describe('generated fast path', () => {
  const cases = [
    ['race message', RACE_MESSAGE],
    ['batch', RACE_BATCH],
    ['leaderboard', LEADERBOARD_MESSAGE],
  ] as const;

  it.each(cases)(
    '%s: accepts only what the precise validator accepts, with the same clean copy',
    (_, spec) => {
      const fast = generateFastPath(spec);
      const precise = compile(spec);
      const values = fc.oneof(
        raceMessageArb,
        fc
          .tuple(
            raceMessageArb,
            fc.constantFrom(...Object.keys(validMessage()), 'uuid', 'clientId', 'samples'),
            fc.jsonValue(),
          )
          .map(([m, k, v]) => ({ ...m, [k]: v })),
        fc.jsonValue(),
      );
      fc.assert(
        fc.property(values, (value) => {
          const quick = fast(value);
          const exact = precise(value, '');
          if (quick !== MISS) expect(quick).toEqual(exact);
          // A miss is allowed only for what the precise validator refuses, or for rare valid strings near a bound.
          if (quick === MISS && !(exact instanceof Invalid))
            expect(JSON.stringify(value)).toMatch(/[\ud800-\udfff]/u);
        }),
        { numRuns: 3_000 },
      );
    },
  );

  it('takes the fast path for ordinary valid messages', () => {
    const fast = generateFastPath(RACE_MESSAGE);
    fc.assert(
      // Names of up to 64 UTF-16 units: longer ones (astral characters) may take the precise path.
      fc.property(
        raceMessageArb.filter((m) => m.name.length <= 64),
        (m) => {
          expect(fast(JSON.parse(JSON.stringify(m)))).not.toBe(MISS);
        },
      ),
    );
  });
});
