/**
 * The leaderboard build before the typed-array sort and the byte writer (src/leaderboard.ts at 6f2c7db),
 * frozen: the oracle of `src/leaderboard.test.ts` and the baseline of `bench/leaderboard.bench.ts`. Its
 * encoder was `JSON.stringify`. Never change it: it is what the current code must still agree with.
 */
import {
  InvalidArgumentError,
  LEADERBOARD_MAX_BYTES,
  LEADERBOARD_MAX_STANDINGS_PER_PART,
  type LeaderboardInput,
  type LeaderboardMessage,
  type RacerScore,
  roundScore,
  type Standing,
} from '../src/index.js';

export function legacyIntegerChars(value: number): number {
  let chars = 1;
  for (let bound = 10; value >= bound && chars < 16; bound *= 10) chars++;
  return chars;
}

export function legacyScoreChars(value: number): number {
  if (value >= 1e12) return String(value).length;
  const hundredths = Math.round(value * 100);
  const fraction = hundredths % 100;
  const chars = legacyIntegerChars((hundredths - fraction) / 100);
  return fraction === 0 ? chars : chars + (fraction % 10 === 0 ? 2 : 3);
}

export function legacyJsonStringBytes(text: string): number {
  let bytes = 2;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 || c === 0x5c || c === 0x08 || c === 0x0c || c === 0x0a || c === 0x0d || c === 0x09)
      bytes += 2;
    else if (c < 0x20) bytes += 6;
    else if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (
      c >= 0xd800 &&
      c <= 0xdbff &&
      i + 1 < text.length &&
      (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      bytes += 4;
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) bytes += 6;
    else bytes += 3;
  }
  return bytes;
}

export function legacyStandingBytes(standing: Standing): number {
  return (
    6 +
    legacyIntegerChars(standing[0]) +
    legacyScoreChars(standing[1]) +
    legacyScoreChars(standing[2]) +
    legacyScoreChars(standing[3]) +
    legacyIntegerChars(standing[4])
  );
}

export function legacyRankStandings(scores: readonly RacerScore[]): Standing[] {
  const sorted = [...scores].sort((a, b) => b.total - a.total || a.racerId - b.racerId);
  const standings: Standing[] = [];
  let rank = 0;
  let previous = Number.NaN;
  sorted.forEach((score, index) => {
    if (score.total !== previous) rank = index + 1;
    previous = score.total;
    standings.push([
      score.racerId,
      roundScore(score.current),
      roundScore(score.total),
      roundScore(score.max),
      rank,
    ]);
  });
  return standings;
}

const legacyUtf8 = new TextEncoder();

export function legacyBuildLeaderboardMessages(
  input: LeaderboardInput,
  maxBytes: number = LEADERBOARD_MAX_BYTES,
): LeaderboardMessage[] {
  const standings = legacyRankStandings(input.scores);
  const names = new Map<number, string>();
  if (input.withNames) for (const s of input.scores) if (s.name !== undefined) names.set(s.racerId, s.name);
  const header: LeaderboardMessage = {
    type: 'leaderboard',
    raceId: input.raceId,
    classId: input.classId,
    second: input.second,
    publishedAt: input.publishedAt,
    closed: input.closed,
    racers: standings.length,
    part: 10_000,
    parts: 10_000,
    standings: [],
    ...(input.withNames ? { names: [] } : {}),
  };
  const headerBytes = legacyUtf8.encode(JSON.stringify(header)).byteLength;
  const budget = maxBytes - headerBytes;
  const chunks: Array<{ standings: Standing[]; names: Array<[number, string]> }> = [];
  let current = { standings: [] as Standing[], names: [] as Array<[number, string]> };
  let used = 0;
  for (const standing of standings) {
    const name = names.get(standing[0]);
    let cost = legacyStandingBytes(standing) + 1;
    if (name !== undefined) cost += 3 + legacyIntegerChars(standing[0]) + legacyJsonStringBytes(name) + 1;
    if (cost > budget)
      throw new InvalidArgumentError('maxBytes', `${maxBytes} bytes cannot hold one standing`);
    if (
      current.standings.length > 0 &&
      (used + cost > budget || current.standings.length >= LEADERBOARD_MAX_STANDINGS_PER_PART)
    ) {
      chunks.push(current);
      current = { standings: [], names: [] };
      used = 0;
    }
    current.standings.push(standing);
    if (name !== undefined) current.names.push([standing[0], name]);
    used += cost;
  }
  chunks.push(current);
  return chunks.map((chunk, index) => {
    const message: LeaderboardMessage = {
      ...header,
      part: index + 1,
      parts: chunks.length,
      standings: chunk.standings,
    };
    if (input.withNames) message.names = chunk.names;
    else delete message.names;
    return message;
  });
}
