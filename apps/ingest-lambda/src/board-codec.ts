/**
 * The racers of a board as one compact binary attribute (format 1). Per racer: varint racerId, float64
 * total/max/current, varints for latest second, count, close reason, arrival (as lag behind the race's
 * latest arrival), UTF-8 name, and the seen ranges delta-encoded. ~45 bytes for a racer with no gaps,
 * against ~150 as a DynamoDB map — and DynamoDB bills writes per KB of item.
 */
import type { CloseReason, RacerState } from './board.js';
import { SecondSet } from './second-set.js';

export const BOARD_FORMAT = 1;

const CLOSE_CODES: Record<CloseReason, number> = { final: 1, timeout: 2 };
const CLOSE_REASONS: Array<CloseReason | undefined> = [undefined, 'final', 'timeout'];

/**
 * Unsigned LEB128 of `value` (an integer up to 2^53) at `buf[o]`; returns the offset after it. Arithmetic
 * past 31 bits, since bit operators stop at 32.
 */
function writeVarint(buf: Uint8Array, o: number, value: number): number {
  let v = value;
  // Most values (seconds, counts, lags, small ids) fit in 31 bits: shifts instead of division.
  if (v < 0x80000000) {
    while (v >= 0x80) {
      buf[o++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[o++] = v;
    return o;
  }
  while (v >= 0x80) {
    buf[o++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[o++] = v;
  return o;
}

/** Length-prefixed UTF-8 of `value` at `buf[o]` (room for 3 bytes a UTF-16 unit reserved); the offset after. */
function writeString(buf: Buffer, o: number, value: string): number {
  const n = value.length;
  for (let i = 0; i < n; i++) {
    if (value.charCodeAt(i) >= 0x80) {
      const length = Buffer.byteLength(value, 'utf8');
      o = writeVarint(buf, o, length);
      return o + buf.write(value, o, length, 'utf8');
    }
  }
  // Most names: one byte per character, copied directly (cheaper than the UTF-8 encoder for ~10 chars).
  o = writeVarint(buf, o, n);
  for (let i = 0; i < n; i++) buf[o++] = value.charCodeAt(i);
  return o;
}

/** The offset after the last value `readVarint` read (a second return value, without an object per read). */
let readEnd = 0;

/** Unsigned LEB128 at `buf[o]` (up to 2^56); sets `readEnd`. Throws `RangeError` if truncated or too long. */
function readVarint(buf: Uint8Array, o: number): number {
  const first = buf[o];
  // One-byte values (most of them) without the loop.
  if (first !== undefined && first < 0x80) {
    readEnd = o + 1;
    return first;
  }
  let result = 0;
  let scale = 1;
  for (;;) {
    if (o >= buf.length) throw new RangeError('truncated varint');
    const byte = buf[o++]!;
    result += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      readEnd = o;
      return result;
    }
    scale *= 0x80;
    if (scale > 2 ** 56) throw new RangeError('varint too long');
  }
}

/**
 * Racers' names as last decoded, by racer id: a board is decoded again whenever another shard wrote it, and
 * a racer's name seldom changes, so the stored bytes are compared with the name already held (a few byte
 * compares for the usual ASCII name) instead of decoding a new string each time. Bounded: cleared when full.
 */
const names = new Map<number, string>();
const NAMES_HELD = 50_000;

function readName(buf: Buffer, o: number, length: number, racerId: number): string {
  const held = names.get(racerId);
  if (held !== undefined && held.length === length) {
    // Byte for character, ASCII only: equal then means the same name (a non-ASCII name is decoded again:
    // Latin-1 look-alikes could otherwise match, as "Ã©" does the bytes of "é").
    let same = true;
    for (let i = 0; i < length; i++) {
      const byte = buf[o + i]!;
      if (byte >= 0x80 || held.charCodeAt(i) !== byte) {
        same = false;
        break;
      }
    }
    if (same) return held;
  }
  const name = buf.toString('utf8', o, o + length);
  if (names.size >= NAMES_HELD) names.clear();
  names.set(racerId, name);
  return name;
}

/** Encodes racers; `raceLastArrivalMs` is the board's, so arrivals are stored as small lags behind it. */
export function encodeRacers(racers: Iterable<RacerState>, raceLastArrivalMs: number): Uint8Array {
  const list = Array.isArray(racers) ? (racers as RacerState[]) : [...racers];
  // The worst case of every racer (10-byte varints, 3 doubles, 3 UTF-8 bytes a UTF-16 unit of the name,
  // two varints a range), summed first: one allocation, and no bounds checks while writing.
  let room = 24;
  for (const r of list) room += 10 * 6 + 24 + 10 + r.name.length * 3 + r.seen.ranges.length * 10;
  const buf = Buffer.allocUnsafe(room);
  // Doubles go through a DataView: cheaper than `Buffer#writeDoubleLE` (no argument checks).
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let o = writeVarint(buf, 0, BOARD_FORMAT);
  o = writeVarint(buf, o, list.length);
  for (const r of list) {
    o = writeVarint(buf, o, r.racerId);
    view.setFloat64(o, r.total, true);
    view.setFloat64(o + 8, r.max, true);
    view.setFloat64(o + 16, r.current, true);
    o = writeVarint(buf, o + 24, r.latestSecond + 1);
    o = writeVarint(buf, o, r.count);
    o = writeVarint(buf, o, r.closed === undefined ? 0 : CLOSE_CODES[r.closed]);
    o = writeVarint(buf, o, Math.max(0, raceLastArrivalMs - r.lastArrivalMs));
    o = writeString(buf, o, r.name);
    const ranges = r.seen.ranges;
    o = writeVarint(buf, o, ranges.length >> 1);
    let previous = 0;
    for (let i = 0; i < ranges.length; i += 2) {
      o = writeVarint(buf, o, ranges[i]! - previous);
      o = writeVarint(buf, o, ranges[i + 1]! - ranges[i]!);
      previous = ranges[i + 1]!;
    }
  }
  return buf.subarray(0, o);
}

/** Decodes what `encodeRacers` wrote; throws `RangeError` on anything malformed. */
export function decodeRacers(data: Uint8Array, raceLastArrivalMs: number): Map<number, RacerState> {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = buf.length;
  const format = readVarint(buf, 0);
  if (format !== BOARD_FORMAT) throw new RangeError(`unknown board format ${format}`);
  const count = readVarint(buf, readEnd);
  let o = readEnd;
  const racers = new Map<number, RacerState>();
  for (let k = 0; k < count; k++) {
    const racerId = readVarint(buf, o);
    o = readEnd;
    if (o + 24 > n) throw new RangeError('truncated float');
    const total = view.getFloat64(o, true);
    const max = view.getFloat64(o + 8, true);
    const current = view.getFloat64(o + 16, true);
    const latestSecond = readVarint(buf, o + 24) - 1;
    const seconds = readVarint(buf, readEnd);
    const closeCode = readVarint(buf, readEnd);
    if (closeCode >= CLOSE_REASONS.length) throw new RangeError(`unknown close reason ${closeCode}`);
    const lastArrivalMs = raceLastArrivalMs - readVarint(buf, readEnd);
    const nameLength = readVarint(buf, readEnd);
    o = readEnd;
    if (o + nameLength > n) throw new RangeError('truncated string');
    const name = readName(buf, o, nameLength, racerId);
    const rangeCount = readVarint(buf, o + nameLength);
    o = readEnd;
    const ranges = new Array<number>(rangeCount * 2);
    let previous = 0;
    for (let i = 0; i < rangeCount; i++) {
      const start = previous + readVarint(buf, o);
      const end = start + readVarint(buf, readEnd);
      o = readEnd;
      ranges[i * 2] = start;
      ranges[i * 2 + 1] = end;
      previous = end;
    }
    const state: RacerState = {
      racerId,
      name,
      total,
      max,
      current,
      latestSecond,
      count: seconds,
      lastArrivalMs,
      seen: new SecondSet(ranges),
    };
    const closed = CLOSE_REASONS[closeCode];
    if (closed !== undefined) state.closed = closed;
    racers.set(racerId, state);
  }
  if (o !== n) throw new RangeError(`${n - o} trailing bytes`);
  return racers;
}
