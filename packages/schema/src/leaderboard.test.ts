import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addOutput,
  buildLeaderboardMessages,
  encodeLeaderboard,
  IOT_MESSAGE_MAX_BYTES,
  jsonStringBytes,
  LEADERBOARD_MAX_STANDINGS_PER_PART,
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
