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

class Writer {
  private buf: Buffer;
  /** Doubles go through a DataView: cheaper than `Buffer#writeDoubleLE` (no argument checks). */
  private view: DataView;
  offset = 0;

  constructor(expectedBytes: number) {
    this.buf = Buffer.allocUnsafe(Math.max(64, expectedBytes));
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Makes room for `extra` more bytes; the writes below assume the caller reserved what they write. */
  ensure(extra: number): void {
    if (this.offset + extra <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.offset + extra));
    this.buf.copy(next, 0, 0, this.offset);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  /** Unsigned LEB128 for integers up to 2^53 (arithmetic, since bit operators stop at 32 bits). */
  varint(value: number): void {
    let v = value;
    // Most values (seconds, counts, lags, small ids) fit in 31 bits: shifts instead of division.
    if (v < 0x80000000) {
      while (v >= 0x80) {
        this.buf[this.offset++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      this.buf[this.offset++] = v;
      return;
    }
    while (v >= 0x80) {
      this.buf[this.offset++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.offset++] = v;
  }

  f64(value: number): void {
    this.view.setFloat64(this.offset, value, true);
    this.offset += 8;
  }

  /** Length-prefixed UTF-8, written in place (no intermediate buffer per racer). */
  string(value: string): void {
    const n = value.length;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (value.charCodeAt(i) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      // Most names: one byte per character, copied directly (cheaper than the UTF-8 encoder for ~10 chars).
      this.varint(n);
      const buf = this.buf;
      let o = this.offset;
      for (let i = 0; i < n; i++) buf[o++] = value.charCodeAt(i);
      this.offset = o;
      return;
    }
    const length = Buffer.byteLength(value, 'utf8');
    this.varint(length);
    this.offset += this.buf.write(value, this.offset, length, 'utf8');
  }

  done(): Uint8Array {
    return this.buf.subarray(0, this.offset);
  }
}

class Reader {
  offset = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Buffer) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  varint(): number {
    // One-byte values (most of them) without the loop.
    const first = this.buf[this.offset];
    if (first !== undefined && first < 0x80) {
      this.offset++;
      return first;
    }
    let result = 0;
    let scale = 1;
    for (;;) {
      if (this.offset >= this.buf.length) throw new RangeError('truncated varint');
      const byte = this.buf[this.offset++]!;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new RangeError('varint too long');
    }
  }

  f64(): number {
    if (this.offset + 8 > this.buf.length) throw new RangeError('truncated float');
    const v = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return v;
  }

  string(): string {
    const length = this.varint();
    if (this.offset + length > this.buf.length) throw new RangeError('truncated string');
    const s = this.buf.toString('utf8', this.offset, this.offset + length);
    this.offset += length;
    return s;
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }
}

/** Encodes racers; `raceLastArrivalMs` is the board's, so arrivals are stored as small lags behind it. */
export function encodeRacers(racers: Iterable<RacerState>, raceLastArrivalMs: number): Uint8Array {
  const list = Array.isArray(racers) ? (racers as RacerState[]) : [...racers];
  // ~45 bytes for a racer with a short name and one range: one allocation in the common case.
  const w = new Writer(16 + list.length * 64);
  w.ensure(16);
  w.varint(BOARD_FORMAT);
  w.varint(list.length);
  for (const r of list) {
    const ranges = r.seen.ranges;
    // Worst case of this racer: 8-byte varints, 3 doubles, UTF-8 name (≤ 3 bytes a UTF-16 unit).
    w.ensure(8 * 6 + 24 + 8 + r.name.length * 3 + ranges.length * 8);
    w.varint(r.racerId);
    w.f64(r.total);
    w.f64(r.max);
    w.f64(r.current);
    w.varint(r.latestSecond + 1);
    w.varint(r.count);
    w.varint(r.closed === undefined ? 0 : CLOSE_CODES[r.closed]);
    w.varint(Math.max(0, raceLastArrivalMs - r.lastArrivalMs));
    w.string(r.name);
    w.varint(ranges.length >> 1);
    let previous = 0;
    for (let i = 0; i < ranges.length; i += 2) {
      w.varint(ranges[i]! - previous);
      w.varint(ranges[i + 1]! - ranges[i]!);
      previous = ranges[i + 1]!;
    }
  }
  return w.done();
}

/** Decodes what `encodeRacers` wrote; throws `RangeError` on anything malformed. */
export function decodeRacers(data: Uint8Array, raceLastArrivalMs: number): Map<number, RacerState> {
  const r = new Reader(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  const format = r.varint();
  if (format !== BOARD_FORMAT) throw new RangeError(`unknown board format ${format}`);
  const count = r.varint();
  const racers = new Map<number, RacerState>();
  for (let n = 0; n < count; n++) {
    const racerId = r.varint();
    const total = r.f64();
    const max = r.f64();
    const current = r.f64();
    const latestSecond = r.varint() - 1;
    const seconds = r.varint();
    const closeCode = r.varint();
    if (closeCode >= CLOSE_REASONS.length) throw new RangeError(`unknown close reason ${closeCode}`);
    const lastArrivalMs = raceLastArrivalMs - r.varint();
    const name = r.string();
    const rangeCount = r.varint();
    const ranges = new Array<number>(rangeCount * 2);
    let previous = 0;
    for (let i = 0; i < rangeCount; i++) {
      const start = previous + r.varint();
      const end = start + r.varint();
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
  if (r.remaining !== 0) throw new RangeError(`${r.remaining} trailing bytes`);
  return racers;
}
