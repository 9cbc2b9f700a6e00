/**
 * The few protobuf wire-format pieces the KPL format needs, hand-written so decoding allocates nothing
 * but the output and checks every length against the bytes actually present.
 */
import { MAX_GROUP_DEPTH } from './constants.js';
import { AggregationError } from './errors.js';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LENGTH_DELIMITED = 2;
export const WIRE_START_GROUP = 3;
export const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

/** Largest field number protobuf allows (2^29 - 1). */
const MAX_FIELD_NUMBER = 0x1fffffff;

/** Bytes a varint of `value` (a non-negative safe integer) takes. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

/** Writes `value` (a non-negative safe integer) as a varint at `pos`; returns the position after it. */
export function writeVarint(out: Uint8Array, pos: number, value: number): number {
  while (value >= 0x80) {
    out[pos++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  out[pos++] = value;
  return pos;
}

/**
 * A cursor over `bytes[pos, end)`. Offsets are absolute into `bytes` (the whole Kinesis record), so errors
 * point at the faulty byte. Every read checks `end` and throws `AggregationError`, never a RangeError.
 */
export class Reader {
  pos: number;
  end: number;
  readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array, pos: number, end: number) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
  }

  /**
   * Reads a varint of up to 10 bytes. Values above 2^53 lose precision, which is harmless here: they are
   * only ever indexes or lengths, and any such value is out of range and rejected as such.
   */
  varint(): number {
    const start = this.pos;
    const bytes = this.bytes;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new AggregationError('truncated', start, 'varint runs past the end');
      const b = bytes[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 0x80;
    }
    throw new AggregationError('bad_varint', start, 'varint longer than 10 bytes');
  }

  /** Reads a field tag; returns `fieldNumber * 8 + wireType`, validated. */
  tag(): number {
    const start = this.pos;
    const tag = this.varint();
    const fieldNumber = Math.floor(tag / 8);
    if (fieldNumber === 0 || fieldNumber > MAX_FIELD_NUMBER) {
      throw new AggregationError('bad_field_number', start, `field number ${fieldNumber} is out of range`);
    }
    return tag;
  }

  /** Reads a length prefix and returns the end of the field it announces, checked against `end`. */
  lengthDelimitedEnd(): number {
    const start = this.pos;
    const length = this.varint();
    if (length > this.end - this.pos) {
      throw new AggregationError(
        'truncated',
        start,
        `length-delimited field of ${length} bytes, only ${this.end - this.pos} left`,
      );
    }
    return this.pos + length;
  }

  /** Skips the value of an unknown field (forward compatibility), whatever its wire type. */
  skip(tag: number, tagOffset: number, depth = 0): void {
    const wireType = tag % 8;
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.skipBytes(8, tagOffset);
        return;
      case WIRE_LENGTH_DELIMITED:
        this.pos = this.lengthDelimitedEnd();
        return;
      case WIRE_FIXED32:
        this.skipBytes(4, tagOffset);
        return;
      case WIRE_START_GROUP: {
        if (depth >= MAX_GROUP_DEPTH) {
          throw new AggregationError(
            'nesting_too_deep',
            tagOffset,
            `groups nested deeper than ${MAX_GROUP_DEPTH}`,
          );
        }
        const endTag = tag - WIRE_START_GROUP + WIRE_END_GROUP;
        for (;;) {
          if (this.pos >= this.end) throw new AggregationError('truncated', tagOffset, 'group has no end');
          const innerOffset = this.pos;
          const inner = this.tag();
          if (inner === endTag) return;
          this.skip(inner, innerOffset, depth + 1);
        }
      }
      default:
        // WIRE_END_GROUP without a start, or the undefined wire types 6 and 7.
        throw new AggregationError('bad_wire_type', tagOffset, `unexpected wire type ${wireType}`);
    }
  }

  private skipBytes(count: number, tagOffset: number): void {
    if (count > this.end - this.pos) {
      throw new AggregationError(
        'truncated',
        tagOffset,
        `fixed-width field of ${count} bytes runs past the end`,
      );
    }
    this.pos += count;
  }
}
