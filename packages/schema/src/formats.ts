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

function isHex(unit: number): boolean {
  return (unit >= 0x30 && unit <= 0x39) || (unit >= 0x41 && unit <= 0x46) || (unit >= 0x61 && unit <= 0x66);
}

function isUuid(value: string): boolean {
  if (value.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const unit = value.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (unit !== 0x2d) return false;
    } else if (!isHex(unit)) return false;
  }
  return true;
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
