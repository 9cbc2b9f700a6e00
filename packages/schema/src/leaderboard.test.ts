import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  legacyBuildLeaderboardMessages,
  legacyIntegerChars,
  legacyJsonStringBytes,
  legacyRankStandings,
  legacyStandingBytes,
} from '../bench/leaderboard-legacy.js';
import {
  addOutput,
  buildLeaderboardMessages,
  encodeLeaderboard,
  encodeLeaderboardBytes,
  IOT_MESSAGE_MAX_BYTES,
  jsonStringBytes,
  LEADERBOARD_MAX_STANDINGS_PER_PART,
  type LeaderboardMessage,
  MAX_OUTPUT,
  MAX_RACE_SECOND,
  output,
  Prng,
  parseLeaderboardMessage,
  type RacerScore,
  rankStandings,
  roundScore,
  type Standing,
  standingBytes,
} from './index.js';

/** The previous implementation (`bench/leaderboard-legacy.ts`, frozen) is the oracle throughout. */
const utf8 = new TextEncoder();

const base = { raceId: 5402746, classId: 1, second: 300, publishedAt: 1_700_000_000_000, closed: false };
const bytes = (s: string) => Buffer.byteLength(s);

/** Worst-case numbers: the longest ids and scores the ranges allow. */
function worstCaseScores(n: number): RacerScore[] {
  return Array.from({ length: n }, (_, i) => ({
    racerId: Number.MAX_SAFE_INTEGER - i,
    current: MAX_OUTPUT - 0.01 * (i % 7),
    total: MAX_OUTPUT * MAX_RACE_SECOND - i * 0.37,
    max: MAX_OUTPUT,
    name: `${'Ř'.repeat(60)}${i}`.slice(0, 64),
  }));
}

describe('output', () => {
  it('is the original formula', () => {
    expect(output(79.8, 79)).toBeCloseTo(165.312, 10);
    expect(output(0, 0)).toBe(22.75);
    expect(output(250, 100)).toBe(MAX_OUTPUT);
  });
  it('rounds scores to hundredths for the wire', () => {
    expect(roundScore(165.312)).toBe(165.31);
    expect(roundScore(2.675)).toBeCloseTo(2.68, 2);
  });
});

describe('rankStandings', () => {
  it('ranks by total, ties share a rank, then by racerId', () => {
    const standings = rankStandings([
      { racerId: 3, current: 1, total: 50, max: 2 },
      { racerId: 1, current: 1, total: 100, max: 2 },
      { racerId: 2, current: 1, total: 50, max: 2 },
      { racerId: 4, current: 1, total: 10, max: 2 },
    ]);
    expect(standings.map(([id, , , , rank]) => [id, rank])).toEqual([
      [1, 1],
      [2, 2],
      [3, 2],
      [4, 4],
    ]);
  });
});

describe('buildLeaderboardMessages', () => {
  it('fits 1,000 racers of the worst case, with names, in one message under 128 KB', () => {
    const parts = buildLeaderboardMessages({ ...base, scores: worstCaseScores(1_000), withNames: false });
    expect(parts).toHaveLength(1);
    expect(bytes(encodeLeaderboard(parts[0]!))).toBeLessThanOrEqual(IOT_MESSAGE_MAX_BYTES);
    expect(parts[0]).toMatchObject({ part: 1, parts: 1, racers: 1_000 });
  });

  it('splits larger races into parts, each under the limit, together the whole board in order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12_000 }), fc.boolean(), (racers, withNames) => {
        const scores = worstCaseScores(racers);
        const parts = buildLeaderboardMessages({ ...base, scores, withNames });
        for (const part of parts) {
          expect(bytes(encodeLeaderboard(part))).toBeLessThanOrEqual(IOT_MESSAGE_MAX_BYTES);
          expect(part.standings.length).toBeLessThanOrEqual(LEADERBOARD_MAX_STANDINGS_PER_PART);
          expect(part.parts).toBe(parts.length);
          expect(parseLeaderboardMessage(encodeLeaderboard(part)).ok).toBe(true);
        }
        const all = parts.flatMap((p) => p.standings);
        expect(all).toEqual(rankStandings(scores));
        if (withNames) expect(parts.flatMap((p) => p.names ?? []).length).toBe(racers);
        else expect(parts.every((p) => p.names === undefined)).toBe(true);
      }),
      { numRuns: 12 },
    );
  });

  it('honours a smaller byte budget', () => {
    const parts = buildLeaderboardMessages({ ...base, scores: worstCaseScores(100) }, 2_000);
    expect(parts.length).toBeGreaterThan(1);
    for (const part of parts) expect(bytes(encodeLeaderboard(part))).toBeLessThanOrEqual(2_000);
  });

  it('publishes an empty race as one empty part', () => {
    expect(buildLeaderboardMessages({ ...base, scores: [] })).toMatchObject([
      { part: 1, parts: 1, racers: 0, standings: [] },
    ]);
  });
});

describe('parseLeaderboardMessage', () => {
  it('round-trips and refuses malformed standings with their path', () => {
    const [board] = buildLeaderboardMessages({ ...base, scores: worstCaseScores(3) });
    expect(parseLeaderboardMessage(encodeLeaderboard(board!))).toEqual({ ok: true, leaderboard: board });
    const bad = { ...board!, standings: [board!.standings[0], [1, 2, 3, 'x', 1]] };
    expect(parseLeaderboardMessage(JSON.stringify(bad))).toMatchObject({
      ok: false,
      error: { code: 'wrong_type', path: '/standings/1/3' },
    });
  });
});

describe('standingBytes', () => {
  it('equals the length JSON.stringify gives, for every value the ranges allow', () => {
    const score = fc.oneof(
      fc.double({ min: 0, max: MAX_OUTPUT * MAX_RACE_SECOND, noNaN: true }).map(roundScore),
      fc.constantFrom(0, 0.1, 0.01, 9.99, 10, 99.9, 100, 999.99, 1000, 1e6, 10 ** 7 - 0.01),
    );
    const id = fc.oneof(
      fc.maxSafeNat(),
      fc.constantFrom(0, 9, 10, 99, 100, 10 ** 15, Number.MAX_SAFE_INTEGER),
    );
    fc.assert(
      fc.property(
        id,
        score,
        score,
        score,
        fc.integer({ min: 1, max: 100_000 }),
        (racerId, current, total, max, rank) => {
          const standing: Standing = [racerId, current, total, max, rank];
          expect(standingBytes(standing)).toBe(JSON.stringify(standing).length);
        },
      ),
      { numRuns: 20_000 },
    );
  });
});

describe('jsonStringBytes', () => {
  it('equals the UTF-8 length of JSON.stringify, escapes and lone surrogates included', () => {
    const utf8 = new TextEncoder();
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.constantFrom('', '"', '\\', '\u0000', '\u001f', '\u2028', '\ud800', '\udc00x', '🚴‍♀️', 'Zoë'),
    );
    fc.assert(
      fc.property(text, (s) => {
        expect(jsonStringBytes(s)).toBe(utf8.encode(JSON.stringify(s)).byteLength);
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('addOutput', () => {
  it('gives the same total in any arrival order', () => {
    const outputs = fc.array(
      fc
        .tuple(fc.double({ min: 0, max: 250, noNaN: true }), fc.double({ min: 0, max: 100, noNaN: true }))
        .map(([c, r]) => output(c, r)),
      { minLength: 1, maxLength: 300 },
    );
    fc.assert(
      fc.property(outputs, fc.integer(), (values, seed) => {
        const shuffled = [...values];
        const prng = new Prng(seed);
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = prng.int(0, i);
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        const inOrder = values.reduce(addOutput, 0);
        expect(shuffled.reduce(addOutput, 0)).toBe(inOrder);
        expect(Math.abs(inOrder - values.reduce((a, b) => a + b, 0))).toBeLessThan(1e-6 * values.length);
      }),
      { numRuns: 2_000 },
    );
  });
});

// ---- Arbitraries: what partners and the Lambda may hand in, edge cases weighted up ----

/** UTF-16 units at random: escapes, control characters, non-ASCII, surrogate pairs and lone halves. */
const anyUnits = fc
  .array(
    fc.oneof(
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0x20, max: 0x7e }),
      fc.constantFrom(0x22, 0x5c, 0x00, 0x08, 0x0a, 0x1f, 0x7f, 0x80, 0x7ff, 0x800, 0x2028, 0xd800, 0xdbff),
      fc.constantFrom(0xdc00, 0xdfff, 0xfeff, 0xffff),
    ),
    { maxLength: 24 },
  )
  .map((units) => String.fromCharCode(...units));

const nameArb = fc.oneof(
  fc.constantFrom(
    'Hayden',
    'Zoë',
    'Ana-María',
    '🚴‍♀️ Kai',
    'say "hi"',
    'back\\slash',
    'tab\there',
    '\ud800',
    'x\udc00',
  ),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  anyUnits,
);

/** Hundredths exactly (what a wire score is), around every boundary the writer has. */
const hundredthsArb = fc
  .oneof(
    fc.integer({ min: 0, max: 100_000 }),
    fc.integer({ min: 0, max: 2 ** 31 + 1_000 }),
    fc.integer({ min: 2_147_483_000, max: 2_147_484_000 }),
  )
  .map((h) => h / 100);

const scoreArb = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 30 }) }, // ties
  { weight: 3, arbitrary: hundredthsArb },
  { weight: 3, arbitrary: fc.double({ min: 0, max: MAX_OUTPUT * MAX_RACE_SECOND, noNaN: true }) },
  { weight: 2, arbitrary: fc.double({ noNaN: true }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      0,
      -0,
      0.005,
      0.015,
      2.675,
      1.005,
      -1.005,
      -0.004,
      9.995,
      99.995,
      21_474_835.99,
      21_474_836,
      21_474_836.004,
      21_474_836.5,
      2 ** 31 - 0.01,
      2 ** 31,
      1e12 - 0.001,
      1e12,
      1e15 + 0.5,
      Number.MAX_SAFE_INTEGER,
      1e21,
      1e300,
      5e-324,
      1e-7,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ),
  },
);

const racerIdArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 40 }) }, // duplicates now and then
  { weight: 3, arbitrary: fc.maxSafeNat() },
  {
    weight: 1,
    arbitrary: fc.constantFrom(-0, -1, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 1e15, Number.MAX_SAFE_INTEGER, 0.5),
  },
  { weight: 1, arbitrary: fc.double({ noNaN: true }) },
);

const racerArb = (nan: boolean) =>
  fc.record(
    {
      racerId: nan ? fc.oneof(racerIdArb, fc.constant(Number.NaN)) : racerIdArb,
      current: fc.oneof(scoreArb, fc.constant(Number.NaN)),
      total: nan ? fc.oneof(scoreArb, fc.constant(Number.NaN)) : scoreArb,
      max: scoreArb,
      name: nameArb,
    },
    { requiredKeys: ['racerId', 'current', 'total', 'max'] },
  );

/** Short lists (one insertion-sorted run) and long ones (merged runs; fast-check keeps arrays short unless told). */
const racersArb = (nan: boolean) =>
  fc.oneof(
    fc.array(racerArb(nan), { maxLength: 12 }),
    fc.array(racerArb(nan), { minLength: 13, maxLength: 300, size: 'max' }),
  );

const inputArb = (nan: boolean) =>
  fc.record({
    raceId: fc.oneof(fc.maxSafeNat(), fc.double()),
    classId: fc.nat(),
    second: fc.nat({ max: MAX_RACE_SECOND }),
    publishedAt: fc.oneof(fc.constant(1_764_250_150_000), fc.maxSafeNat()),
    closed: fc.boolean(),
    scores: racersArb(nan),
    withNames: fc.oneof(fc.boolean(), fc.constant(undefined)),
  });

const maxBytesArb = fc.oneof(
  fc.constant(undefined),
  fc.integer({ min: 200, max: 4_000 }), // many parts
  fc.integer({ min: 0, max: 400 }), // often too small for one standing
  fc.constant(Number.NaN),
);

/** Bytes as a string of one character per byte: compared exactly, and fast (deep-equal on buffers is not). */
const bytesText = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
const utf8Of = (text: string) => utf8.encode(text);

type Outcome = { value: unknown } | { error: unknown };
function outcome(run: () => unknown): Outcome {
  try {
    return { value: run() };
  } catch (error) {
    return { error };
  }
}

function expectSameOutcome(actual: Outcome, expected: Outcome): void {
  if ('error' in expected) {
    expect('error' in actual, 'threw as before').toBe(true);
    const [a, e] = [(actual as { error: Error }).error, expected.error as Error];
    expect(a.constructor).toBe(e.constructor);
    expect(a.message).toBe(e.message);
  } else {
    expect(actual).not.toHaveProperty('error');
    expect((actual as { value: unknown }).value).toStrictEqual(expected.value);
  }
}

describe('against the previous implementation (frozen copy above)', () => {
  it('rankStandings gives the same standings: order, ties, ranks, rounding, -0', () => {
    fc.assert(
      fc.property(racersArb(true), (scores) => {
        expectSameOutcome(
          outcome(() => rankStandings(scores)),
          outcome(() => legacyRankStandings(scores)),
        );
      }),
      { numRuns: 1_500 },
    );
  });

  it('buildLeaderboardMessages gives the same messages (keys in order, parts, names) or the same error', () => {
    fc.assert(
      fc.property(inputArb(false), maxBytesArb, (input, maxBytes) => {
        const expected = outcome(() => legacyBuildLeaderboardMessages(input, maxBytes));
        const actual = outcome(() => buildLeaderboardMessages(input, maxBytes));
        expectSameOutcome(actual, expected);
        if ('value' in expected) {
          const before = expected.value as LeaderboardMessage[];
          const after = (actual as { value: LeaderboardMessage[] }).value;
          expect(after.map((m) => Object.keys(m))).toEqual(before.map((m) => Object.keys(m)));
          expect(after.map((m) => encodeLeaderboard(m))).toEqual(before.map((m) => JSON.stringify(m)));
          expect(after.map((m) => bytesText(encodeLeaderboardBytes(m)))).toEqual(
            before.map((m) => bytesText(utf8Of(JSON.stringify(m)))),
          );
        }
      }),
      { numRuns: 1_500 },
    );
  });

  it('also with NaN totals and racerIds (left to the runtime sort, as before)', () => {
    fc.assert(
      fc.property(inputArb(true), (input) => {
        const before = legacyBuildLeaderboardMessages(input);
        const after = buildLeaderboardMessages(input);
        expect(after).toStrictEqual(before);
        expect(after.map((m) => encodeLeaderboard(m))).toEqual(before.map((m) => JSON.stringify(m)));
      }),
      { numRuns: 300 },
    );
  });

  it('puts a race in one part exactly when the old counting did: budgets a few bytes either side', () => {
    // Racers whose rows all have the same width, so the bound by the largest values is tight.
    const evenRacer = fc.record({
      racerId: fc.integer({ min: 1e12, max: 1e13 - 1 }),
      current: fc.integer({ min: 1_000_000, max: 9_999_999 }).map((h) => h / 100 + (h % 10 === 0 ? 0.01 : 0)),
      total: fc.integer({ min: 1_000_000, max: 9_999_999 }).map((h) => h / 100),
      max: fc.integer({ min: 1_000_000, max: 9_999_999 }).map((h) => h / 100),
      name: fc.oneof(nameArb, fc.constant('Rider')),
    });
    const races = fc.oneof(
      fc.array(evenRacer, { minLength: 1, maxLength: 400, size: 'max' }),
      fc.array(racerArb(false), { minLength: 1, maxLength: 300, size: 'max' }),
    );
    fc.assert(
      fc.property(races, fc.boolean(), fc.integer({ min: -40, max: 40 }), (scores, withNames, slack) => {
        const input = { ...base, scores, withNames };
        const [whole] = legacyBuildLeaderboardMessages(input, Number.MAX_SAFE_INTEGER);
        // The budget the old counting needs for one part: the header (at part 10,000) plus every row's cost.
        const header = {
          ...whole!,
          part: 10_000,
          parts: 10_000,
          standings: [],
          names: withNames ? [] : undefined,
        };
        let needed = utf8.encode(JSON.stringify(header)).byteLength;
        for (const standing of whole!.standings) needed += legacyStandingBytes(standing) + 1;
        for (const [racerId, name] of whole!.names ?? [])
          needed += 4 + legacyIntegerChars(racerId) + legacyJsonStringBytes(name);
        const maxBytes = needed + slack;
        const expected = outcome(() => legacyBuildLeaderboardMessages(input, maxBytes));
        expectSameOutcome(
          outcome(() => buildLeaderboardMessages(input, maxBytes)),
          expected,
        );
        if ('value' in expected) expect((expected.value as unknown[]).length === 1).toBe(slack >= 0);
      }),
      { numRuns: 400 },
    );
  });

  it('splits big races exactly as before: one part by the bounds, several by counting', () => {
    // Rows near the widest there are (~96 bytes), budgets between that and the first bound's 111 per row.
    const wide: RacerScore[] = Array.from({ length: 1_000 }, (_, i) => ({
      racerId: Number.MAX_SAFE_INTEGER - i,
      current: 1.2345678901234567e300 * (1 + i / 1e4),
      total: 1.2345678901234e21 * (1 + i / 1e4) + i * 1e5, // 17 significant digits (22 characters)
      max: 1.2345678901234567e299 * (1 + i / 1e4),
    }));
    for (const maxBytes of [undefined, 80_000, 90_000, 95_000, 100_000, 110_000]) {
      const before = legacyBuildLeaderboardMessages({ ...base, scores: wide }, maxBytes);
      expect(buildLeaderboardMessages({ ...base, scores: wide }, maxBytes)).toStrictEqual(before);
    }
    const prng = new Prng(11);
    for (const racers of [1_000, 1_150, 1_200, 2_500, 2_501, 4_000]) {
      for (const withNames of [false, true]) {
        const scores: RacerScore[] = Array.from({ length: racers }, (_, i) => ({
          racerId: prng.int(0, 2 ** 40),
          current: prng.between(0, MAX_OUTPUT),
          total: prng.int(0, 50) === 0 ? 1_000 : prng.between(0, 80_000), // a cluster of ties
          max: MAX_OUTPUT,
          name: i % 3 === 0 ? `Rider ${i}` : `Zoë ${'ø'.repeat(i % 40)}`,
        }));
        const input = { ...base, scores, withNames };
        for (const maxBytes of [undefined, 60_000, 20_000]) {
          const before = legacyBuildLeaderboardMessages(input, maxBytes);
          const after = buildLeaderboardMessages(input, maxBytes);
          expect(after).toStrictEqual(before);
          expect(after.map((m) => encodeLeaderboard(m))).toEqual(before.map((m) => JSON.stringify(m)));
        }
      }
    }
  });
});

/** A leaderboard message as a partner might build one by hand: any numbers, names, shapes. */
const handMessageArb = fc.record({
  type: fc.oneof({ weight: 9, arbitrary: fc.constant('leaderboard') }, fc.string()),
  raceId: fc.oneof(fc.maxSafeNat(), scoreArb, fc.double()),
  classId: fc.oneof(fc.nat(), scoreArb),
  second: fc.oneof(fc.nat(), scoreArb),
  publishedAt: fc.oneof(fc.maxSafeNat(), fc.double()),
  closed: fc.oneof({ weight: 9, arbitrary: fc.boolean() }, fc.integer()),
  racers: fc.oneof(fc.nat(), scoreArb),
  part: fc.nat(),
  parts: fc.nat(),
  standings: fc.array(
    fc.tuple(fc.oneof(racerIdArb, scoreArb), scoreArb, scoreArb, scoreArb, fc.oneof(fc.nat(), scoreArb)),
    { maxLength: 30 },
  ),
  names: fc.array(fc.tuple(racerIdArb, nameArb), { maxLength: 30 }),
});

/** What can turn a message into something only JSON.stringify may write. */
const twistArb = fc.constantFrom(
  'none',
  'none',
  'none',
  'no names',
  'names undefined',
  'names first',
  'extra key',
  'toJSON on the message',
  'toJSON on a row',
  'row of four',
  'row of six',
  'hole in a row',
  'null in a row',
  'string in a row',
  'names entry of three',
  'name not a string',
  'names not a list',
  'standings not a list',
  'symbol key',
  'non-enumerable names',
  'bigint',
  'boxed message',
  'boxed value',
  'array as message',
);

function twist(message: Record<string, unknown>, how: string): unknown {
  const m = { ...message };
  const standings = m['standings'] as unknown[][];
  const names = m['names'] as unknown[][];
  const row = standings[0];
  switch (how) {
    case 'no names':
      delete m['names'];
      return m;
    case 'names undefined':
      m['names'] = undefined;
      return m;
    case 'names first': {
      const { names: first, ...rest } = m;
      return { names: first, ...rest };
    }
    case 'extra key':
      m['firmware'] = '2.1.0';
      return m;
    case 'toJSON on the message':
      return { ...m, toJSON: () => 'mine' };
    case 'toJSON on a row':
      if (row) Object.assign(row, { toJSON: () => [0] });
      return m;
    case 'row of four':
      row?.pop();
      return m;
    case 'row of six':
      row?.push(1);
      return m;
    case 'hole in a row':
      if (row) delete row[2];
      return m;
    case 'null in a row':
      if (row) row[1] = null;
      return m;
    case 'string in a row':
      if (row) row[3] = '3';
      return m;
    case 'names entry of three':
      names[0]?.push('x');
      return m;
    case 'name not a string':
      if (names[0]) names[0][1] = 42;
      return m;
    case 'names not a list':
      m['names'] = { 0: [1, 'a'] };
      return m;
    case 'standings not a list':
      m['standings'] = new Float64Array([1, 2, 3]);
      return m;
    case 'symbol key':
      return { ...m, [Symbol('x')]: 1 };
    case 'non-enumerable names':
      delete m['names'];
      return Object.defineProperty(m, 'names', { value: names, enumerable: false });
    case 'boxed message':
      return Object.assign(new Number(7), m);
    case 'boxed value':
      m['closed'] = new Boolean(false);
      m['raceId'] = new Number(3);
      return m;
    case 'array as message':
      return Object.assign([], m);
    case 'bigint':
      if (row) row[0] = 5n;
      else m['part'] = 5n;
      return m;
    default:
      return m;
  }
}

describe('encodeLeaderboard', () => {
  it('is JSON.stringify, byte for byte, for any message (or throws as it does)', () => {
    fc.assert(
      fc.property(handMessageArb, twistArb, (message, how) => {
        const m = twist(message, how) as LeaderboardMessage;
        const expected = outcome(() => JSON.stringify(m));
        expectSameOutcome(
          outcome(() => encodeLeaderboard(m)),
          expected,
        );
        expectSameOutcome(
          outcome(() => bytesText(encodeLeaderboardBytes(m))),
          'value' in expected ? { value: bytesText(utf8Of(expected.value as string)) } : expected,
        );
      }),
      { numRuns: 5_000 },
    );
  });

  it('writes every hundredth up to 20,000.00, and numbers near each boundary, as JSON.stringify', () => {
    const values: number[] = [];
    for (let h = 0; h <= 2_000_000; h++) values.push(h / 100);
    const prng = new Prng(5);
    for (let i = 0; i < 200_000; i++) {
      values.push(prng.int(0, 2 ** 31 + 10_000) / 100); // hundredths across the whole fast range and past it
      values.push(prng.between(0, 1e5)); // unrounded
      values.push(prng.int(0, 2 ** 31) + prng.int(0, 99) / 100 + 1e-9); // almost hundredths
      values.push(prng.int(2 ** 31 - 1_000, 2 ** 31 + 1_000)); // integers around 2^31
      values.push(prng.int(0, 2 ** 21) * 2 ** 32 + prng.int(0, 2 ** 32 - 1)); // large safe integers
    }
    for (const v of [-0, -1, -0.01, 1e-7, 5e-324, 2 ** 53, 2 ** 53 + 2, 1e21, 1.7976931348623157e308])
      values.push(v, -v);
    const standings: Standing[] = [];
    for (let i = 0; i + 5 <= values.length; i += 5)
      standings.push(values.slice(i, i + 5) as [number, number, number, number, number]);
    const message: LeaderboardMessage = {
      ...base,
      type: 'leaderboard',
      racers: standings.length,
      part: 1,
      parts: 1,
      standings,
    };
    const [type, ...rest] = Object.entries(message);
    const ordered = Object.fromEntries([type!, ...rest]) as unknown as LeaderboardMessage;
    const expected = JSON.stringify(ordered);
    expect(encodeLeaderboard(ordered) === expected).toBe(true);
    expect(Buffer.from(encodeLeaderboardBytes(ordered)).equals(Buffer.from(expected))).toBe(true);
  });

  it('writes names as JSON.stringify escapes them: quotes, controls, non-ASCII, pairs, lone surrogates', () => {
    const names: Array<[number, string]> = [];
    for (let c = 0; c <= 0xffff; c++) names.push([c, `a${String.fromCharCode(c)}b`]);
    for (let c = 0x10000; c <= 0x10ffff; c += 97) names.push([c, String.fromCodePoint(c)]);
    names.push([1, '\udbff\udfff'], [2, '\udfff\udbff'], [3, 'end\ud800'], [4, '\udc00start'], [5, '']);
    const [board] = buildLeaderboardMessages({ ...base, scores: [] });
    const message = { ...board!, names };
    expect(encodeLeaderboard(message) === JSON.stringify(message)).toBe(true);
    expect(Buffer.from(encodeLeaderboardBytes(message)).equals(Buffer.from(JSON.stringify(message)))).toBe(
      true,
    );
  });

  it('gives bytes the caller owns: the next encoding does not change them', () => {
    const [first] = buildLeaderboardMessages({ ...base, scores: worstCaseScores(3) });
    const bytes = encodeLeaderboardBytes(first!);
    const copy = Buffer.from(bytes);
    encodeLeaderboardBytes(buildLeaderboardMessages({ ...base, scores: worstCaseScores(40) })[0]!);
    expect(Buffer.from(bytes).equals(copy)).toBe(true);
    expect(bytes.byteLength).toBe(bytes.buffer.byteLength);
  });

  it('gives a getter that encodes again the same result (the buffer is not shared with it)', () => {
    const [board] = buildLeaderboardMessages({ ...base, scores: worstCaseScores(5), withNames: true });
    const inner = buildLeaderboardMessages({ ...base, scores: worstCaseScores(50) })[0]!;
    let nested = '';
    const row = [...board!.standings[0]!] as Standing;
    Object.defineProperty(row, 1, {
      enumerable: true,
      get: () => {
        nested = encodeLeaderboard(inner);
        return 12.5;
      },
    });
    const message = { ...board!, standings: [row, ...board!.standings.slice(1)] };
    expect(encodeLeaderboard(message)).toBe(JSON.stringify(message));
    expect(nested).toBe(JSON.stringify(inner));
    nested = '';
    expect(Buffer.from(encodeLeaderboardBytes(message)).toString()).toBe(JSON.stringify(message));
    expect(nested).toBe(JSON.stringify(inner));
  });
});
