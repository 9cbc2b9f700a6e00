/**
 * Named string formats. Each has the regular expression the JSON Schema ships (written with `\uXXXX`
 * escapes only, so other languages' regex engines read it too) and an equivalent character loop the
 * validator runs, because a regex per field costs ~15 % of the hot path. A test holds the two equal.
 */
export interface StringFormat {
  pattern: string;
  /** Admits only ASCII, so a string passing it has as many code points as UTF-16 units. */
  ascii: boolean;
  description: string;
  test(value: string): boolean;
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
    pattern: '^[^\\u0000-\\u001F\\u007F-\\u009F]*$',
    ascii: false,
    description: 'printable characters (no control characters)',
    test: isPrintable,
  },
  /** The textual UUID form, any version, either case. */
  uuid: {
    pattern: '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$',
    ascii: true,
    description: 'a UUID such as 123e4567-e89b-12d3-a456-426614174000',
    test: isUuid,
  },
} as const satisfies Record<string, StringFormat>;

export type StringFormatName = keyof typeof FORMATS;
