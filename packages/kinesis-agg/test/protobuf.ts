/**
 * A deliberately naive protobuf writer for tests: builds KPL messages field by field, including the
 * malformed and unknown ones the codec never emits, so the decoder can be checked against them.
 */
import { createHash } from 'node:crypto';

export function varint(value: number | bigint): number[] {
  let v = BigInt(value);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

export function tag(field: number, wireType: number): number[] {
  return varint(BigInt(field) * 8n + BigInt(wireType));
}

export function bytesField(field: number, payload: Uint8Array | number[] | string): number[] {
  const bytes = typeof payload === 'string' ? [...Buffer.from(payload, 'utf8')] : [...payload];
  return [...tag(field, 2), ...varint(bytes.length), ...bytes];
}

export function varintField(field: number, value: number | bigint): number[] {
  return [...tag(field, 0), ...varint(value)];
}

/** A `Record` message body. */
export function record(pkIndex: number | undefined, data: string | undefined, ehkIndex?: number): number[] {
  return [
    ...(pkIndex === undefined ? [] : varintField(1, pkIndex)),
    ...(ehkIndex === undefined ? [] : varintField(2, ehkIndex)),
    ...(data === undefined ? [] : bytesField(3, data)),
  ];
}

/** Magic + message + MD5 of the message (a valid frame around any message bytes). */
export function frame(message: number[] | Uint8Array): Buffer {
  const body = Buffer.from(message);
  return Buffer.concat([
    Buffer.from([0xf3, 0x89, 0x9a, 0xc2]),
    body,
    createHash('md5').update(body).digest(),
  ]);
}
