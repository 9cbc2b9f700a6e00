/**
 * Reads the protocol level out of a connection's first packet (CONNECT) without consuming it, so the broker can
 * hand MQTT 3.1/3.1.1 connections to aedes untouched and MQTT 5 ones to the translating adapter.
 */
import type { Duplex } from 'node:stream';
import { sniffHead } from '../net.js';
import { SNIFF_MAX_BYTES } from './constants.js';

/** `undefined`: more bytes are needed; `null`: not a CONNECT we can read (aedes decides what to do with it). */
export type SniffResult = number | null | undefined;

/** The CONNECT protocol level in `head` (MQTT 5.0 § 3.1.2.2), if the bytes so far tell. */
export function connectProtocolLevel(head: Buffer): SniffResult {
  if (head.length === 0) return undefined;
  if (head[0] !== 0x10) return null; // not CONNECT (type 1, flags 0)
  // Remaining length: a variable byte integer of 1 to 4 bytes.
  let offset = 1;
  for (;;) {
    if (offset >= head.length) return undefined;
    const byte = head[offset++]!;
    if ((byte & 0x80) === 0) break;
    if (offset > 4) return null;
  }
  if (head.length < offset + 2) return undefined;
  const nameLength = head.readUInt16BE(offset);
  if (nameLength > 6) return null; // "MQTT" or "MQIsdp"
  const levelAt = offset + 2 + nameLength;
  if (head.length <= levelAt) return undefined;
  return head[levelAt]!;
}

/**
 * Waits for enough bytes to read the protocol level (`sniffHead`) and calls `done` once with it, or with null
 * when the first bytes are no CONNECT this can read. A stream that ends or fails first is destroyed.
 */
export function sniffProtocolLevel(stream: Duplex, done: (level: number | null, head: Buffer) => void): void {
  sniffHead(
    stream,
    (head) => {
      const level = connectProtocolLevel(head);
      if (level !== undefined) return level;
      return head.length >= SNIFF_MAX_BYTES ? null : undefined;
    },
    done,
  );
}
