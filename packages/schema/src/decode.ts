/** Turns wire input (text or bytes) into a JSON value, enforcing a byte budget before any parsing. */
import type { ParseError } from './errors.js';
import { Invalid } from './validator.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

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

/** The text of `input` within a byte budget, or `Invalid` with `not_utf8` or `too_large`. */
export function decodeText(input: string | Uint8Array, maxBytes: number): string | Invalid {
  if (typeof input === 'string') {
    // The common case, a short string, is certainly within budget: no counting.
    if (input.length * 3 > maxBytes) {
      const oversize = checkSize(input, maxBytes);
      if (oversize !== undefined) return new Invalid(oversize);
    }
    return input;
  }
  if (input.byteLength > maxBytes) return new Invalid(tooLarge(input.byteLength, maxBytes));
  try {
    return utf8.decode(input);
  } catch {
    return new Invalid({ code: 'not_utf8', path: '', message: 'is not valid UTF-8 text' });
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

/** Decodes and parses `input`; the value, or `Invalid` with `not_utf8`, `too_large` or `not_json`. */
export function decodeJson(input: string | Uint8Array, maxBytes: number): unknown {
  const text = decodeText(input, maxBytes);
  return typeof text === 'string' ? parseJsonText(text) : text;
}
