/** Turns wire input (text or bytes) into a JSON value, enforcing a byte budget before any parsing. */
import type { ParseError } from './errors.js';
import { Invalid } from './validator.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * What the parse functions take: JSON text, or its UTF-8 bytes in any binary form a JavaScript runtime hands
 * out — a Buffer or Uint8Array, an ArrayBuffer (what aws-crt's MQTT callback delivers), any other view.
 */
export type WireInput = string | ArrayBufferLike | ArrayBufferView;

const toStringTag = Object.prototype.toString;

/** What an untyped caller passed instead of text or bytes, for the error message. */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? toStringTag.call(value).slice(8, -1) : typeof value;
}

/**
 * `input` as text or as a Uint8Array over the same bytes (no copy), or `Invalid` (`wrong_type`) for anything
 * else. A Uint8Array or string passes through untouched (the hot path: one type check).
 */
export function wireInput(input: unknown): string | Uint8Array | Invalid {
  if (typeof input === 'string' || input instanceof Uint8Array) return input;
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  // By tag, not instanceof: a buffer from another realm (a vm context, a worker's message) counts too.
  const tag = toStringTag.call(input);
  if (tag === '[object ArrayBuffer]' || tag === '[object SharedArrayBuffer]')
    return new Uint8Array(input as ArrayBufferLike);
  return new Invalid({
    code: 'wrong_type',
    path: '',
    message: `is ${kindOf(input)}, not JSON text or its bytes (a string, a Uint8Array or Buffer, an ArrayBuffer)`,
  });
}

/** UTF-8 length of a string without allocating. */
export function utf8ByteLength(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

const tooLarge = (bytes: number | string, maxBytes: number): ParseError => ({
  code: 'too_large',
  path: '',
  message: `is ${bytes} bytes; the limit is ${maxBytes} bytes`,
});

/** `too_large` when `input` is over `maxBytes` of UTF-8, else undefined. Counts only when it must. */
export function checkSize(input: string | Uint8Array, maxBytes: number): ParseError | undefined {
  if (typeof input !== 'string') {
    return input.byteLength > maxBytes ? tooLarge(input.byteLength, maxBytes) : undefined;
  }
  // UTF-8 needs 1–3 bytes per UTF-16 unit: only the middle band needs counting.
  if (input.length > maxBytes) return tooLarge(`more than ${maxBytes}`, maxBytes);
  if (input.length * 3 <= maxBytes) return undefined;
  const bytes = utf8ByteLength(input);
  return bytes > maxBytes ? tooLarge(bytes, maxBytes) : undefined;
}

/**
 * Where well-formed UTF-8 (RFC 3629: no overlongs, surrogates or code points past U+10FFFF) first breaks: the
 * offset of the sequence's first byte, as Python's `UnicodeDecodeError.start` gives it; -1 when it does not.
 * Only for error messages: the decoder itself decides validity.
 */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    const length =
      lead >= 0xc2 && lead <= 0xdf
        ? 2
        : lead >= 0xe0 && lead <= 0xef
          ? 3
          : lead >= 0xf0 && lead <= 0xf4
            ? 4
            : 0;
    if (length === 0 || i + length > bytes.length) return i;
    // The second byte's range narrows for the leads that could start an overlong, a surrogate or > U+10FFFF.
    const low = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
    const high = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
    const second = bytes[i + 1]!;
    if (second < low || second > high) return i;
    for (let k = 2; k < length; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i;
    i += length;
  }
  return -1;
}

/** The text of `input` within a byte budget, or `Invalid` with `not_utf8` or `too_large`. */
export function decodeText(input: string | Uint8Array, maxBytes: number): string | Invalid {
  if (typeof input === 'string') {
    // The common case, a short string, is certainly within budget: no counting.
    if (input.length * 3 > maxBytes) {
      const oversize = checkSize(input, maxBytes);
      if (oversize !== undefined) return new Invalid(oversize);
    }
    // A byte order mark is dropped, as the UTF-8 decoder drops it from bytes: text and bytes agree.
    return input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  }
  if (input.byteLength > maxBytes) return new Invalid(tooLarge(input.byteLength, maxBytes));
  try {
    return utf8.decode(input);
  } catch {
    return new Invalid({
      code: 'not_utf8',
      path: '',
      message: `is not valid UTF-8 text (at byte ${invalidUtf8Offset(input)})`,
    });
  }
}

/** `JSON.parse(text)`, or `Invalid` with `not_json`. */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    return new Invalid({ code: 'not_json', path: '', message: `is not JSON: ${(error as Error).message}` });
  }
}

/**
 * Decodes and parses `input`; the value, or `Invalid` with `wrong_type` (neither text nor bytes), `not_utf8`,
 * `too_large` or `not_json`.
 */
export function decodeJson(raw: WireInput, maxBytes: number): unknown {
  const input = wireInput(raw);
  if (input instanceof Invalid) return input;
  const text = decodeText(input, maxBytes);
  return typeof text === 'string' ? parseJsonText(text) : text;
}
