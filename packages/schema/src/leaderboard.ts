/**
 * The leaderboard message the backend publishes on `alleycat-subscribe/{classId}`. Standings are compact
 * rows (`[racerId, current, total, max, rank]`, ~35 bytes each), so 1,000 racers take ~35 KB, well inside
 * IoT Core's 128 KB. Larger races are split into parts, each under the limit: a bike reads the part holding
 * its racerId; `part`/`parts` tell a display when it has the whole board.
 */
import { decodeJson } from './decode.js';
import { LEADERBOARD_MESSAGE } from './definitions.js';
import { InvalidArgumentError } from './errors.js';
import { withFastPath } from './fast-path.js';
import { LEADERBOARD_MAX_BYTES, LEADERBOARD_MAX_STANDINGS_PER_PART } from './limits.js';
import { roundScore } from './scoring.js';
import type { LeaderboardMessage, LeaderboardParseResult, Standing } from './types.js';
import { compile, Invalid } from './validator.js';

const validateLeaderboard = withFastPath(LEADERBOARD_MESSAGE, compile(LEADERBOARD_MESSAGE));

/** One racer's running score in a race, as the backend keeps it. */
export interface RacerScore {
  racerId: number;
  /** Output of the racer's latest second. */
  current: number;
  total: number;
  max: number;
  name?: string;
}

/**
 * Standings in rank order: highest total first; equal totals share a rank (1, 2, 2, 4) and list by racerId.
 * Scores are rounded to hundredths for the wire; ranks come from the unrounded totals.
 */
export function rankStandings(scores: readonly RacerScore[]): Standing[] {
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

export interface LeaderboardInput {
  raceId: number;
  classId: number;
  second: number;
  publishedAt: number;
  closed: boolean;
  scores: readonly RacerScore[];
  /** Include `names` (for racers that have one). Send them when racers join and now and then, not every second. */
  withNames?: boolean;
}

const utf8 = new TextEncoder();

/** Characters `JSON.stringify` writes for a non-negative integer below 2^53. */
function integerChars(value: number): number {
  let chars = 1;
  for (let bound = 10; value >= bound && chars < 16; bound *= 10) chars++;
  return chars;
}

/** Characters `JSON.stringify` writes for a non-negative score rounded to hundredths. */
function scoreChars(value: number): number {
  // Beyond 1e12 hundredths stop being exact in a double: let the runtime say (never for real races).
  if (value >= 1e12) return String(value).length;
  const hundredths = Math.round(value * 100);
  const fraction = hundredths % 100;
  const chars = integerChars((hundredths - fraction) / 100);
  return fraction === 0 ? chars : chars + (fraction % 10 === 0 ? 2 : 3);
}

/** UTF-8 bytes of `JSON.stringify(text)`, counted without building it (escapes included). */
export function jsonStringBytes(text: string): number {
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
    } else if (c >= 0xd800 && c <= 0xdfff)
      bytes += 6; // a lone surrogate is written as \uXXXX
    else bytes += 3;
  }
  return bytes;
}

/** Bytes of `JSON.stringify(standing)`, counted without building the string (this runs for every racer). */
export function standingBytes(standing: Standing): number {
  // Brackets and four commas, plus each number.
  return (
    6 +
    integerChars(standing[0]) +
    scoreChars(standing[1]) +
    scoreChars(standing[2]) +
    scoreChars(standing[3]) +
    integerChars(standing[4])
  );
}

/**
 * The messages that carry one race's standings, each at most `maxBytes` of UTF-8 JSON and
 * `LEADERBOARD_MAX_STANDINGS_PER_PART` rows. One message for any race up to a few thousand racers.
 */
export function buildLeaderboardMessages(
  input: LeaderboardInput,
  maxBytes: number = LEADERBOARD_MAX_BYTES,
): LeaderboardMessage[] {
  const standings = rankStandings(input.scores);
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
  // The largest part/parts numbers are in the header already, so the real ones can only be shorter.
  const headerBytes = utf8.encode(JSON.stringify(header)).byteLength;
  const budget = maxBytes - headerBytes;

  const chunks: Array<{ standings: Standing[]; names: Array<[number, string]> }> = [];
  let current = { standings: [] as Standing[], names: [] as Array<[number, string]> };
  let used = 0;
  for (const standing of standings) {
    const name = names.get(standing[0]);
    // Each row costs its JSON plus a separating comma (and the same for its name entry).
    let cost = standingBytes(standing) + 1;
    // `[racerId,"name"]` and its comma.
    if (name !== undefined) cost += 3 + integerChars(standing[0]) + jsonStringBytes(name) + 1;
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

/** Parses a leaderboard message (what a bike receives). Never throws. */
export function parseLeaderboardMessage(input: string | Uint8Array): LeaderboardParseResult {
  const value = decodeJson(input, LEADERBOARD_MAX_BYTES);
  if (value instanceof Invalid) return { ok: false, error: value.error };
  const clean = validateLeaderboard(value, '');
  if (clean instanceof Invalid) return { ok: false, error: clean.error };
  return { ok: true, leaderboard: clean as LeaderboardMessage };
}

export function encodeLeaderboard(message: LeaderboardMessage): string {
  return JSON.stringify(message);
}
