/**
 * The leaderboard message the backend publishes on `alleycat-subscribe/{classId}`. Standings are compact
 * rows (`[racerId, current, total, max, rank]`, ~35 bytes each), so 1,000 racers take ~35 KB, well inside
 * IoT Core's 128 KB. Larger races are split into parts, each under the limit: a bike reads the part holding
 * its racerId; `part`/`parts` tell a display when it has the whole board.
 */
import { decodeJson, type WireInput } from './decode.js';
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
  if (!Array.isArray(scores)) return rankBySort(scores);
  const n = scores.length;
  const keys = claimRankKeys(n);
  try {
    const { totals, racerIds, order } = keys;
    for (let i = 0; i < n; i++) {
      const score = scores[i]!;
      const total = score.total;
      const racerId = score.racerId;
      // A NaN (or a non-number) makes the order the runtime's sort gives depend on its algorithm: let it sort.
      if (
        typeof total !== 'number' ||
        Number.isNaN(total) ||
        typeof racerId !== 'number' ||
        Number.isNaN(racerId)
      )
        return rankBySort(scores);
      totals[i] = total;
      racerIds[i] = racerId;
      order[i] = i;
    }
    const sorted = sortByRank(keys, n);
    const standings: Standing[] = [];
    let rank = 0;
    let previous = Number.NaN;
    for (let k = 0; k < n; k++) {
      const i = sorted[k]!;
      const score = scores[i]!;
      const total = totals[i]!;
      if (total !== previous) rank = k + 1;
      previous = total;
      standings.push([
        racerIds[i]!,
        roundScore(score.current),
        roundScore(total),
        roundScore(score.max),
        rank,
      ]);
    }
    return standings;
  } finally {
    releaseRankKeys(keys);
  }
}

/** What `rankStandings` did before the typed-array sort; still the answer when a total or racerId is NaN. */
function rankBySort(scores: readonly RacerScore[]): Standing[] {
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

/** The sort keys of one race, in typed arrays reused from call to call (a race sorts every second). */
interface RankKeys {
  totals: Float64Array;
  racerIds: Float64Array;
  order: Int32Array;
  spare: Int32Array;
}

const newRankKeys = (capacity: number): RankKeys => ({
  totals: new Float64Array(capacity),
  racerIds: new Float64Array(capacity),
  order: new Int32Array(capacity),
  spare: new Int32Array(capacity),
});

let sharedRankKeys = newRankKeys(256);
let rankKeysBusy = false;

/** The shared keys, grown to `n`; fresh ones if a getter on a score re-entered `rankStandings`. */
function claimRankKeys(n: number): RankKeys {
  if (rankKeysBusy) return newRankKeys(n);
  if (sharedRankKeys.order.length < n)
    sharedRankKeys = newRankKeys(Math.max(n, sharedRankKeys.order.length * 2));
  rankKeysBusy = true;
  return sharedRankKeys;
}

function releaseRankKeys(keys: RankKeys): void {
  if (keys === sharedRankKeys) rankKeysBusy = false;
}

/** Runs of this many are insertion-sorted (cheap at this size), then merged pairwise. */
const SORT_RUN = 12;

/**
 * Stable merge sort of `order[0..n)` by total (highest first), then racerId. Without NaN this comparison is a
 * total preorder, so any stable sort gives the order `Array.prototype.sort` gives with the same comparator
 * (`b.total - a.total || a.racerId - b.racerId`); here it runs on typed arrays without calling a closure.
 * Returns the array holding the result (`order` or `spare`).
 */
function sortByRank({ totals, racerIds, order, spare }: RankKeys, n: number): Int32Array {
  for (let lo = 0; lo < n; lo += SORT_RUN) {
    const hi = Math.min(lo + SORT_RUN, n);
    for (let i = lo + 1; i < hi; i++) {
      const x = order[i]!;
      const total = totals[x]!;
      const racerId = racerIds[x]!;
      let j = i - 1;
      for (; j >= lo; j--) {
        const y = order[j]!;
        const other = totals[y]!;
        if (total > other || (total === other && racerId < racerIds[y]!)) order[j + 1] = y;
        else break;
      }
      order[j + 1] = x;
    }
  }
  let from = order;
  let to = spare;
  for (let width = SORT_RUN; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        const x = from[i]!;
        const y = from[j]!;
        const tx = totals[x]!;
        const ty = totals[y]!;
        // The right one goes first only if strictly before: equal keys keep their input order.
        if (ty > tx || (ty === tx && racerIds[y]! < racerIds[x]!)) {
          to[k++] = y;
          j++;
        } else {
          to[k++] = x;
          i++;
        }
      }
      while (i < mid) to[k++] = from[i++]!;
      while (j < hi) to[k++] = from[j++]!;
    }
    const swap = from;
    from = to;
    to = swap;
  }
  return from;
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
 * The most `standingBytes(row) + 1` can be for any row: four commas and brackets, two integers of at most 16
 * characters (`integerChars` stops there) and three scores of at most 24 (`String` of any number).
 */
const ROW_BYTES_BOUND = 6 + 16 + 3 * 24 + 16 + 1;

/**
 * The messages that carry one race's standings, each at most `maxBytes` of UTF-8 JSON and
 * `LEADERBOARD_MAX_STANDINGS_PER_PART` rows. One message for any race up to a few thousand racers.
 * The input is not checked against the leaderboard schema (it runs for every race every second, on scores the
 * caller computed from validated messages): out-of-range input — a NaN or negative score, a fractional
 * racerId, a name a race message could not carry — builds a message `parseLeaderboardMessage` refuses.
 */
export function buildLeaderboardMessages(
  input: LeaderboardInput,
  maxBytes: number = LEADERBOARD_MAX_BYTES,
): LeaderboardMessage[] {
  const standings = rankStandings(input.scores);
  let names: Map<number, string> | undefined;
  if (input.withNames) {
    names = new Map();
    for (const s of input.scores) if (s.name !== undefined) names.set(s.racerId, s.name);
  }

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
    ...(names !== undefined ? { names: [] } : {}),
  };
  // The largest part/parts numbers are in the header already, so the real ones can only be shorter.
  const budget = maxBytes - utf8Bytes(JSON.stringify(header));

  // Most races fit one part with room to spare: a bound on the rows' costs proves it without counting each.
  if (standings.length <= LEADERBOARD_MAX_STANDINGS_PER_PART) {
    const rows = names && namesInRankOrder(standings, names);
    if (fitsOnePart(standings, rows, budget)) return [leaderboardPart(header, 1, 1, standings, rows)];
  }

  const chunks: Array<{ standings: Standing[]; names: Array<[number, string]> }> = [];
  let current = { standings: [] as Standing[], names: [] as Array<[number, string]> };
  let used = 0;
  for (const standing of standings) {
    const name = names?.get(standing[0]);
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
  return chunks.map((chunk, index) =>
    leaderboardPart(header, index + 1, chunks.length, chunk.standings, names && chunk.names),
  );
}

function namesInRankOrder(standings: Standing[], names: Map<number, string>): Array<[number, string]> {
  const rows: Array<[number, string]> = [];
  for (const standing of standings) {
    const name = names.get(standing[0]);
    if (name !== undefined) rows.push([standing[0], name]);
  }
  return rows;
}

/**
 * Whether the counting below would put every row in one part: true only when the sum of upper bounds on
 * each row's cost (as counted there) is within the budget. First with no look at the numbers (any row of
 * any race up to ~1,100 racers); then by the largest racerId and score, and the names counted exactly.
 */
function fitsOnePart(
  standings: Standing[],
  names: Array<[number, string]> | undefined,
  budget: number,
): boolean {
  const n = standings.length;
  let namesBound = 0;
  if (names !== undefined) {
    for (const [, name] of names) {
      if (typeof name !== 'string') return false;
      // `[racerId,"name"],`: a UTF-16 unit is at most 6 bytes of JSON (`\u001f`, a lone surrogate).
      namesBound += 4 + 16 + 2 + 6 * name.length;
    }
  }
  if (n * ROW_BYTES_BOUND + namesBound <= budget) return true;

  let maxId = 0;
  let maxScore = 0;
  let scoresInRange = true;
  for (let i = 0; i < n; i++) {
    const row = standings[i]!;
    const racerId: unknown = row[0];
    if (typeof racerId !== 'number') return false;
    if (racerId > maxId) maxId = racerId; // integerChars only grows with its argument (and is 1 for NaN)
    for (let j = 1; j <= 3; j++) {
      const score = row[j]!;
      if (!(score >= 0 && score < 1e12)) scoresInRange = false;
      else if (score > maxScore) maxScore = score;
    }
  }
  // A score's hundredths round to at most maxScore + 0.005: its whole part has integerChars(maxScore + 1)
  // characters at most, and `.dd` three more.
  const scoreBound = scoresInRange ? integerChars(maxScore + 1) + 3 : 24;
  const rowBound = 6 + integerChars(maxId) + 3 * scoreBound + integerChars(n) + 1;
  let namesBytes = 0;
  if (names !== undefined)
    for (const [racerId, name] of names) namesBytes += 4 + integerChars(racerId) + jsonStringBytes(name);
  return n * rowBound + namesBytes <= budget;
}

/** One part: the header's fields in the header's order (the order the JSON has). */
function leaderboardPart(
  header: LeaderboardMessage,
  part: number,
  parts: number,
  standings: Standing[],
  names: Array<[number, string]> | undefined,
): LeaderboardMessage {
  const message: LeaderboardMessage = {
    type: 'leaderboard',
    raceId: header.raceId,
    classId: header.classId,
    second: header.second,
    publishedAt: header.publishedAt,
    closed: header.closed,
    racers: header.racers,
    part,
    parts,
    standings,
  };
  if (names !== undefined) message.names = names;
  return message;
}

/** UTF-8 bytes of `text`, without encoding it when it is ASCII (a header of numbers always is). */
function utf8Bytes(text: string): number {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return utf8.encode(text).byteLength;
  return text.length;
}

/** Parses a leaderboard message (what a bike receives). Never throws. */
export function parseLeaderboardMessage(input: WireInput): LeaderboardParseResult {
  const value = decodeJson(input, LEADERBOARD_MAX_BYTES);
  if (value instanceof Invalid) return { ok: false, error: value.error };
  const clean = validateLeaderboard(value, '');
  if (clean instanceof Invalid) return { ok: false, error: clean.error };
  return { ok: true, leaderboard: clean as LeaderboardMessage };
}

/**
 * `JSON.stringify(message)`, character for character, written in a fraction of its time: the publisher
 * encodes every part of every race every second. Scores rounded to hundredths (all a built message holds)
 * are written from their integer hundredths instead of by the runtime's shortest-double search. Anything
 * else (other keys or key order, `toJSON`, a value of another type) is left to `JSON.stringify`.
 */
export function encodeLeaderboard(message: LeaderboardMessage): string {
  return written(message, (bytes) => utf8Text.decode(bytes)) ?? JSON.stringify(message);
}

/**
 * The UTF-8 bytes of `encodeLeaderboard(message)`, what an MQTT publish carries, without the string in
 * between (`Buffer.from(encodeLeaderboard(message))` adds a quarter to a third to the encoding).
 */
export function encodeLeaderboardBytes(message: LeaderboardMessage): Uint8Array {
  return written(message, (bytes) => bytes.slice()) ?? utf8.encode(JSON.stringify(message));
}

/** `take` of the message's JSON as written by the writer, or undefined when it leaves it to JSON.stringify. */
function written<T>(message: LeaderboardMessage, take: (bytes: Uint8Array) => T): T | undefined {
  if (writing) return undefined; // re-entered from a getter: the buffer is in use
  writing = true;
  try {
    const length = writeLeaderboard(message);
    return length < 0 ? undefined : take(buffer.subarray(0, length));
  } finally {
    writing = false;
    if (buffer.length > MAX_KEPT_BUFFER) buffer = new Uint8Array(INITIAL_BUFFER);
  }
}

// ---- The leaderboard writer: the JSON as UTF-8 in one reused buffer, decoded to a string once ----

const INITIAL_BUFFER = 16_384;
/** A buffer grown for a huge message is dropped after it, not kept for the life of the process. */
const MAX_KEPT_BUFFER = 1 << 20;
/** The most bytes one number takes: `String` of any number is at most 24 characters. */
const NUMBER_MAX = 24;
/** `,[`, five numbers, four commas, `]`, and the standings' closing `]`. */
const ROW_MAX = 8 + 5 * NUMBER_MAX;

let buffer = new Uint8Array(INITIAL_BUFFER);
let writing = false;
/** The writer writes only well-formed UTF-8 (escaped JSON has no lone surrogates): decoding gives it back. */
const utf8Text = new TextDecoder();

/** The keys of a leaderboard message, in the order `buildLeaderboardMessages` gives them (`names` optional). */
const KEYS = [
  'type',
  'raceId',
  'classId',
  'second',
  'publishedAt',
  'closed',
  'racers',
  'part',
  'parts',
  'standings',
  'names',
] as const;

const OPENING = utf8.encode('{"type":"leaderboard"');
const PREFIXES = KEYS.map((key) => utf8.encode(`,"${key}":`));
const TRUE = utf8.encode('true');
const FALSE = utf8.encode('false');
/** Up to the standings' `[`: the keys, and at most a number's length for each value. */
const HEADER_MAX = PREFIXES.reduce((sum, prefix) => sum + prefix.length + NUMBER_MAX, OPENING.length + 1);
/** `00`..`99`: integers are written two digits at a time. */
const DIGIT_PAIRS = utf8.encode(Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0')).join(''));

type WithToJson = { toJSON?: unknown };
const toStringTag = Object.prototype.toString;

/** The buffer, with room for `bytes` more after `at` (a bigger one, keeping what is written, if needed). */
function room(at: number, bytes: number): Uint8Array {
  if (at + bytes > buffer.length) {
    const bigger = new Uint8Array(Math.max(buffer.length * 2, at + bytes));
    bigger.set(buffer.subarray(0, at));
    buffer = bigger;
  }
  return buffer;
}

function put(out: Uint8Array, at: number, bytes: Uint8Array): number {
  out.set(bytes, at);
  return at + bytes.length;
}

/**
 * Writes the message and returns its length in bytes, or -1 when it is not exactly a leaderboard message of
 * the shape built here (then `JSON.stringify` writes it, whatever it is).
 */
function writeLeaderboard(message: LeaderboardMessage): number {
  // A plain object (not an array, nor a boxed Number/String/Boolean, which JSON.stringify unboxes).
  if (typeof message !== 'object' || message === null || toStringTag.call(message) !== '[object Object]')
    return -1;
  if ((message as WithToJson).toJSON !== undefined) return -1;
  // JSON.stringify writes the own enumerable keys in this order: they must be ours, in ours.
  const keys = Object.keys(message);
  if (keys.length !== KEYS.length && keys.length !== KEYS.length - 1) return -1;
  for (let i = 0; i < keys.length; i++) if (keys[i] !== KEYS[i]) return -1;
  if (message.type !== 'leaderboard') return -1;

  let out = room(0, HEADER_MAX);
  let at = put(out, 0, OPENING);
  const fields: unknown[] = [
    message.raceId,
    message.classId,
    message.second,
    message.publishedAt,
    message.closed,
    message.racers,
    message.part,
    message.parts,
  ];
  for (let i = 0; i < fields.length; i++) {
    const value = fields[i];
    at = put(out, at, PREFIXES[i + 1]!);
    if (typeof value === 'number') at = writeNumber(out, at, value);
    else if (typeof value === 'boolean') at = put(out, at, value ? TRUE : FALSE);
    else return -1;
  }

  const standings: unknown = message.standings;
  if (!Array.isArray(standings) || (standings as WithToJson).toJSON !== undefined) return -1;
  at = put(out, at, PREFIXES[9]!);
  out[at++] = 0x5b; // [
  const rows = standings.length; // read once, as JSON.stringify does
  for (let i = 0; i < rows; i++) {
    const row: unknown = standings[i];
    if (!Array.isArray(row) || row.length !== 5 || (row as WithToJson).toJSON !== undefined) return -1;
    if (at + ROW_MAX > out.length) out = room(at, ROW_MAX);
    if (i > 0) out[at++] = 0x2c; // ,
    out[at++] = 0x5b;
    for (let j = 0; j < 5; j++) {
      const value: unknown = row[j];
      if (typeof value !== 'number') return -1;
      if (j > 0) out[at++] = 0x2c;
      at = writeNumber(out, at, value);
    }
    out[at++] = 0x5d; // ]
  }
  out[at++] = 0x5d;

  if (keys.length === KEYS.length) {
    at = writeNames(at, message.names);
    if (at < 0) return -1;
  }
  out = room(at, 1);
  out[at++] = 0x7d; // }
  return at;
}

/** `,"names":[[racerId,"name"],...]`, or -1 if `names` is not such a list. */
function writeNames(start: number, names: unknown): number {
  if (!Array.isArray(names) || (names as WithToJson).toJSON !== undefined) return -1;
  let out = room(start, PREFIXES[10]!.length + 2);
  let at = put(out, start, PREFIXES[10]!);
  out[at++] = 0x5b;
  const entries = names.length;
  for (let i = 0; i < entries; i++) {
    const entry: unknown = names[i];
    if (!Array.isArray(entry) || entry.length !== 2 || (entry as WithToJson).toJSON !== undefined) return -1;
    const racerId: unknown = entry[0];
    const name: unknown = entry[1];
    if (typeof racerId !== 'number' || typeof name !== 'string') return -1;
    // `,[`, the id, a comma, the name (quotes, at most 6 bytes per UTF-16 unit), `]`, and the list's `]`.
    out = room(at, 6 + NUMBER_MAX + 2 + 6 * name.length);
    if (i > 0) out[at++] = 0x2c;
    out[at++] = 0x5b;
    at = writeNumber(out, at, racerId);
    out[at++] = 0x2c;
    at = writeString(out, at, name);
    if (at < 0) return -1;
    out[at++] = 0x5d;
  }
  out[at++] = 0x5d;
  return at;
}

/**
 * A JSON string as UTF-8. Text with nothing to escape is encoded here; anything with a quote, backslash,
 * control character or lone surrogate is written as `JSON.stringify` escapes it. -1 if it did not fit.
 */
function writeString(out: Uint8Array, start: number, text: string): number {
  let at = start;
  out[at++] = 0x22; // "
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      if (c < 0x20 || c === 0x22 || c === 0x5c) return writeEscaped(out, start, text);
      out[at++] = c;
    } else if (c < 0x800) {
      out[at++] = 0xc0 | (c >> 6);
      out[at++] = 0x80 | (c & 0x3f);
    } else if (c < 0xd800 || c > 0xdfff) {
      out[at++] = 0xe0 | (c >> 12);
      out[at++] = 0x80 | ((c >> 6) & 0x3f);
      out[at++] = 0x80 | (c & 0x3f);
    } else {
      const low = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || (low & 0xfc00) !== 0xdc00) return writeEscaped(out, start, text);
      const point = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
      out[at++] = 0xf0 | (point >> 18);
      out[at++] = 0x80 | ((point >> 12) & 0x3f);
      out[at++] = 0x80 | ((point >> 6) & 0x3f);
      out[at++] = 0x80 | (point & 0x3f);
      i++;
    }
  }
  out[at++] = 0x22;
  return at;
}

function writeEscaped(out: Uint8Array, start: number, text: string): number {
  const json = JSON.stringify(text);
  const { read, written } = utf8.encodeInto(json, out.subarray(start));
  return read === json.length ? start + written : -1;
}

/** Largest score written from its hundredths: they stay below 2^31, so integer division is exact and fast. */
const HUNDREDTHS_BELOW = 21_474_836;
const INT32_LIMIT = 2 ** 31;

/**
 * `String(value)`, what JSON.stringify writes for a finite number (`null` for others). A non-negative double
 * equal to `h / 100` for an integer h is the double nearest that decimal, and below 1e12 no decimal with
 * fewer digits lands on it, so its shortest form is h's digits with the point two from the right (trailing
 * zeros dropped): written here without the runtime's shortest-double search.
 */
function writeNumber(out: Uint8Array, at: number, value: number): number {
  if (value >= 0 && value < INT32_LIMIT) {
    if ((value | 0) === value) return writeDigits(out, at, value | 0, 1); // -0 too: "0"
    if (value < HUNDREDTHS_BELOW) {
      const rounded = Math.round(value * 100);
      if (rounded / 100 === value) {
        const hundredths = rounded | 0;
        const whole = (hundredths / 100) | 0;
        const fraction = (hundredths - whole * 100) * 2;
        at = writeDigits(out, at, whole, 1);
        out[at++] = 0x2e; // .
        out[at++] = DIGIT_PAIRS[fraction]!;
        const last = DIGIT_PAIRS[fraction + 1]!;
        if (last !== 0x30) out[at++] = last;
        return at;
      }
    }
  } else if (value >= INT32_LIMIT && value <= Number.MAX_SAFE_INTEGER && Number.isInteger(value)) {
    // An exact integer: the digits above the low eight, then those eight zero-padded.
    const high = Math.floor(value / 1e8);
    return writeDigits(out, writeDigits(out, at, high, 1), value - high * 1e8, 8);
  }
  const text = Number.isFinite(value) ? String(value) : 'null';
  for (let i = 0; i < text.length; i++) out[at++] = text.charCodeAt(i);
  return at;
}

/** Decimal digits of a non-negative int32, zero-padded to at least `width` (at most 10). */
function writeDigits(out: Uint8Array, at: number, value: number, width: number): number {
  let digits = 1;
  for (let bound = 10; value >= bound && digits < 10; bound *= 10) digits++;
  if (digits < width) digits = width;
  const end = at + digits;
  let i = end;
  let rest = value;
  while (rest >= 100) {
    const next = (rest / 100) | 0;
    const pair = (rest - next * 100) * 2;
    out[--i] = DIGIT_PAIRS[pair + 1]!;
    out[--i] = DIGIT_PAIRS[pair]!;
    rest = next;
  }
  if (rest >= 10) {
    out[--i] = DIGIT_PAIRS[rest * 2 + 1]!;
    out[--i] = DIGIT_PAIRS[rest * 2]!;
  } else out[--i] = 0x30 + rest;
  while (i > at) out[--i] = 0x30;
  return end;
}
