/**
 * Named string formats. Each has the JSON Schema keywords the shipped schemas carry for it and an equivalent
 * character loop the validator runs, because a regex per field costs ~15 % of the hot path. Tests hold the
 * two equal, in JavaScript (ajv) and in Python (`jsonschema`).
 *
 * The keywords are written to mean the same in every regex engine a partner's validator may use (ECMA-262,
 * Python `re`, Go's RE2, Java): no regex-level `\u` escapes (RE2 has none; the characters themselves are in
 * the pattern, JSON-escaped in the file), and no `$` anchor where a trailing newline could slip through
 * (Python's and Java's `$` also match before a final `\n`): "no control character" is a search for one,
 * under `not`, and the uuid's anchored pattern sits under a fixed length.
 */
export interface StringFormat {
  /** Added to the string's JSON Schema. */
  jsonSchema: Record<string, unknown>;
  /** Admits only ASCII, so a string passing it has as many code points as UTF-16 units. */
  ascii: boolean;
  description: string;
  test(value: string): boolean;
  /**
   * For an ASCII format: `test` of the text `bytes[start, end)` stands for, read as one character a byte
   * (a reader that checks a field without making its string).
   */
  testBytes?(bytes: Uint8Array, start: number, end: number): boolean;
}

function isPrintable(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit <= 0x1f || (unit >= 0x7f && unit <= 0x9f)) return false;
  }
  return true;
}

/** 1 for the code units of hexadecimal digits; a table lookup is a third cheaper than range comparisons. */
const HEX_DIGIT = new Uint8Array(0x10000);
for (const digit of '0123456789abcdefABCDEF') HEX_DIGIT[digit.charCodeAt(0)] = 1;

/** True when `value[from, to)` are all hexadecimal digits. */
function hexRun(value: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (HEX_DIGIT[value.charCodeAt(i)] === 0) return false;
  return true;
}

/** 1 for the bytes of hexadecimal digits. */
const HEX_BYTE = HEX_DIGIT.subarray(0, 0x100);

/** `isUuid` of the bytes `bytes[start, end)`, a character a byte. */
function isUuidBytes(bytes: Uint8Array, start: number, end: number): boolean {
  if (end - start !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const byte = bytes[start + i]!;
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (byte !== 0x2d) return false;
    } else if (HEX_BYTE[byte] !== 1) return false;
  }
  return true;
}

function isUuid(value: string): boolean {
  return (
    value.length === 36 &&
    value.charCodeAt(8) === 0x2d &&
    value.charCodeAt(13) === 0x2d &&
    value.charCodeAt(18) === 0x2d &&
    value.charCodeAt(23) === 0x2d &&
    hexRun(value, 0, 8) &&
    hexRun(value, 9, 13) &&
    hexRun(value, 14, 18) &&
    hexRun(value, 19, 23) &&
    hexRun(value, 24, 36)
  );
}

export const FORMATS = {
  /** No C0/C1 control characters: keeps names printable on bikes' displays and in logs. */
  printable: {
    // The control characters themselves (C0, DEL, C1), not regex escapes.
    jsonSchema: { not: { type: 'string', pattern: '[\u0000-\u001F\u007F-\u009F]' } },
    ascii: false,
    description: 'printable characters (no control characters)',
    test: isPrintable,
  },
  /** The textual UUID form, any version, either case. */
  uuid: {
    // Always with minLength = maxLength = 36 (definitions.ts), so a trailing newline cannot pass `$`.
    jsonSchema: {
      pattern: '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$',
    },
    ascii: true,
    description: 'a UUID such as 123e4567-e89b-12d3-a456-426614174000',
    test: isUuid,
    testBytes: isUuidBytes,
  },
} as const satisfies Record<string, StringFormat>;

export type StringFormatName = keyof typeof FORMATS;
