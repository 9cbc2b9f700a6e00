/**
 * A generated single-pass reader for a flat object definition: it reads the UTF-8 bytes of a JSON text and
 * validates while it reads, building the clean copy without the intermediate object `JSON.parse` makes
 * (validating while parsing, as the fastest JSON validators do). Reading bytes from a typed array costs
 * a third of reading UTF-16 units with `charCodeAt`, which is why it works on bytes even for text input.
 *
 * It accepts only a plain subset of JSON it reads exactly (no escapes in the known fields' strings, no
 * minus sign or exponent in their numbers, digits that make an integer up to 2^53 − 1, no repeated known
 * keys or escaped unknown ones); unknown members are skipped, their values checked to be JSON) and returns `MISS` for
 * anything else; the caller then runs `JSON.parse` and the validators, which decide and word every
 * verdict. So, like the fast path, the scanner decides speed, never verdicts: a property test holds what
 * it accepts equal to `JSON.parse` + the precise validator on the same text.
 *
 * Numbers are exact: the digits, read as one integer, are accumulated exactly while they stay below 2^53
 * (once past it they cannot come back under the check). A decimal is that integer m divided by 10^k,
 * k ≤ 22: both exact doubles, and IEEE division rounds the quotient correctly, which is the value a
 * correctly rounding reader such as `JSON.parse` gives. Strings are sliced from the text (byte offsets mapped to
 * UTF-16 offsets while reading) or, reading bytes, made from their own bytes; either way exactly what
 * `JSON.parse` returns.
 */
import { MISS } from './fast-path.js';
import { FORMATS, type StringFormat } from './formats.js';
import type { FieldSpec, ObjectSpec } from './spec.js';
import { codePoints } from './validator.js';

/**
 * A generated reader of `bytes[0, length)`, with `bytes[length]` 0 (a sentinel no token contains, so no loop
 * needs a bounds check). Returns the clean copy, or `MISS` when the text is not certainly a valid, plain message.
 * Without `fromBytes`, `bytes[0, length)` is the UTF-8 encoding of `text` and strings are sliced from `text`.
 *
 * With `fromBytes`, `bytes` must be a Node `Buffer` and `text` is not read: each string is made from its own
 * bytes — an ASCII one a byte a character (`latin1Slice`, much cheaper than a text of the whole record,
 * which was ~15 % of a record's read), one with bytes over 0x7F checked to be well-formed UTF-8 (RFC 3629)
 * and decoded. Ill-formed UTF-8 anywhere is a `MISS`, so the caller's checked decode words it.
 */
export type Scanner = {
  (bytes: Buffer, length: number, text: string, fromBytes: true): unknown;
  (bytes: Uint8Array, length: number, text: string, fromBytes?: false): unknown;
};

/** Deepest nesting of an unknown member's value the scanner skips; deeper ones fall back to JSON.parse. */
const MAX_SKIPPED_DEPTH = 32;
/** Largest power of ten that is an exact double (5^22 < 2^53). */
const MAX_POWER = 22;
/** Keys and enum values are matched byte by byte, so they must be printable ASCII needing no escape. */
const PLAIN = /^[\u0020\u0021\u0023-\u005B\u005D-\u007E]+$/u;

const isWhitespace = (c: string) => `(${c} === 32 || ${c} === 10 || ${c} === 13 || ${c} === 9)`;

/** A condition: the bytes from `b[i + from]` on spell `word`. */
function spells(word: string, from = 0): string {
  return [...word]
    .slice(from)
    .map((char, k) => `b[i + ${k + from}] === ${char.charCodeAt(0)}`)
    .join(' && ');
}

/**
 * Statements reading the value at `i` into `x` (or `return MISS`); `c` holds `b[i]`, and after, too. A string
 * read as a `range` (row scanners only) is checked as the string would be, but left in the bytes: its start
 * in `x` and its end in `end`.
 */
function readValue(spec: FieldSpec, x: string, end?: string): string {
  switch (spec.kind) {
    case 'integer':
    case 'number': {
      // The digits of the integer part, then of the fraction, into one integer m; x = m / 10^(fraction digits).
      const range = `!(${x} >= ${spec.minimum} && ${x} <= ${spec.maximum})`;
      const integer = spec.kind === 'integer' ? ` || Math.floor(${x}) !== ${x}` : '';
      return `{
            const s = i;
            let m = 0;
            if (c === 48) c = b[++i];
            else while (c >= 48 && c <= 57) { m = m * 10 + (c - 48); c = b[++i]; }
            if (i === s) return MISS;
            if (c === 46) {
              const f = ++i;
              c = b[i];
              while (c >= 48 && c <= 57) { m = m * 10 + (c - 48); c = b[++i]; }
              if (i === f || i - f > ${MAX_POWER} || m > ${Number.MAX_SAFE_INTEGER}) return MISS;
              ${x} = m / POW10[i - f];
            } else {
              if (m > ${Number.MAX_SAFE_INTEGER}) return MISS;
              ${x} = m;
            }
            if (c === 101 || c === 69 || ${range}${integer}) return MISS;
          }`;
    }
    case 'boolean':
      return `if (${spells('true')}) { ${x} = true; i += 4; }
          else if (${spells('false')}) { ${x} = false; i += 5; }
          else return MISS;
          c = b[i];`;
    case 'enum': {
      const branches = spec.values.map(
        (value) =>
          `if (${spells(`"${value}"`, 1)}) { ${x} = ${JSON.stringify(value)}; i += ${value.length + 2}; }`,
      );
      return `if (c !== 34) return MISS;
          ${branches.join('\n          else ')}
          else return MISS;
          c = b[i];`;
    }
    case 'string': {
      if (end !== undefined) return readRange(spec, x, end);
      // Control characters are never plain JSON (and the sentinel is one, so the loop ends); printable strings
      // also refuse DEL and C1 (C2 80–C2 9F).
      const printable = spec.format === 'printable';
      const ascii = spec.format !== undefined && FORMATS[spec.format].ascii;
      const format = spec.format === undefined || printable ? '' : ` || !formats.${spec.format}.test(${x})`;
      const short = ascii
        ? `${x}.length < ${spec.minLength}`
        : `(${x}.length < ${2 * spec.minLength - 1} && codePoints(${x}) < ${spec.minLength})`;
      return `if (c !== 34) return MISS;
          {
            const s = ++i - shift;
            let wide = false;
            for (;;) {
              c = b[i];
              if (c === 34) break;
              if (!(c >= 32) || c === 92${printable ? ' || c === 127' : ''}) return MISS;
              if (c >= 128) {${printable ? '\n                if (c === 194 && b[i + 1] < 160) return MISS;' : ''}
                if (fromBytes) {
                  const end = utf8Sequence(b, i);
                  if (end < 0) return MISS;
                  wide = true;
                  i = end;
                  continue;
                }
                // A lead byte: its sequence is one UTF-16 unit shorter (two if 3 bytes; 4 bytes make 2 units).
                if (c >= 224) shift += 2;
                else if (c >= 192) shift += 1;
              }
              i++;
            }
            ${x} = wide ? utf8.decode(b.subarray(s, i)) : fromBytes ? b.latin1Slice(s, i) : t.slice(s, i - shift);
            c = b[++i];
          }
          if (${x}.length > ${spec.maxLength} || ${short}${format}) return MISS;`;
    }
    default:
      throw new Error(`readValue: ${spec.kind} is not a leaf`);
  }
}

/**
 * A string field checked on its bytes and left there: `[x, end)` are its bytes between the quotes. Its length
 * is counted as the string's would be (UTF-16 units; code points for the minimum), an ASCII format is tested
 * on the bytes, and a printable one needs no test beyond the loop's (which refuses C0, DEL and C1).
 */
function readRange(spec: Extract<FieldSpec, { kind: 'string' }>, x: string, end: string): string {
  const printable = spec.format === 'printable';
  const format: StringFormat | undefined =
    spec.format === undefined || printable ? undefined : FORMATS[spec.format];
  if (format !== undefined && (!format.ascii || format.testBytes === undefined))
    throw new Error(`readRange: format ${spec.format} cannot be tested on bytes`);
  const wideByte =
    format !== undefined
      ? 'return MISS;'
      : `${printable ? 'if (c === 194 && b[i + 1] < 160) return MISS;\n                ' : ''}const next = utf8Sequence(b, i);
                if (next < 0) return MISS;
                // A 2- or 3-byte sequence is one UTF-16 unit; a 4-byte one is two (one code point).
                if (next - i === 4) { extra += 2; astral++; }
                else extra += next - i - 1;
                i = next;
                continue;`;
  const test = format !== undefined ? ` || !formats.${spec.format}.testBytes(b, ${x}, ${end})` : '';
  if (format !== undefined && spec.minLength === spec.maxLength) {
    // Fixed width (a uuid): the format's test on exactly that many bytes, then the closing quote. It admits
    // no quote, backslash, control or non-ASCII byte (nor the 0 sentinel), so the loop below has nothing to add.
    return `if (c !== 34) return MISS;
          ${x} = i + 1;
          ${end} = ${x} + ${spec.maxLength};
          if (b[${end}] !== 34 || !formats.${spec.format}.testBytes(b, ${x}, ${end})) return MISS;
          i = ${end} + 1;
          c = b[i];`;
  }
  return `if (c !== 34) return MISS;
          {
            ${x} = ++i;
            // Bytes beyond one per UTF-16 unit, and the 4-byte sequences (two units, one code point).
            let extra = 0;
            let astral = 0;
            for (;;) {
              c = b[i];
              if (c === 34) break;
              if (!(c >= 32) || c === 92${printable ? ' || c === 127' : ''}) return MISS;
              if (c >= 128) {
                ${wideByte}
              }
              i++;
            }
            ${end} = i;
            c = b[++i];
            const units = ${end} - ${x} - extra;
            if (units > ${spec.maxLength} || units - astral < ${spec.minLength}${test}) return MISS;
          }`;
}

/** Options of a scanner. */
export interface ScannerOptions {
  /** Unknown keys whose presence the caller decides on (the batch form's `samples`): the scanner misses. */
  missOnKeys?: readonly string[];
}

/**
 * A generated reader like `Scanner` that fills `row` in place instead of making a copy: true when it read a
 * valid, plain message into it, false (row half-written) when it missed. Bytes only (`bytes[length]` 0).
 * Each field is `row[key]` (`undefined` when an optional one is absent), except the `ranges`.
 */
export type RowScanner = (bytes: Buffer, length: number, row: object) => boolean;

/** Options of a row scanner. */
export interface RowScannerOptions extends ScannerOptions {
  /**
   * String fields checked but not made into strings (a consumer that needs few of them saves a string per
   * field per message): `row[key + 'Start']` and `row[key + 'End']` are the byte offsets of the text between
   * the quotes, both -1 when the field is absent. Their format, if any, must be ASCII with `testBytes`.
   */
  ranges?: readonly string[];
}

/**
 * The generated source of the scanner for `spec`, or undefined when the spec is not flat and plain. With
 * `rows`, the source of the row scanner (the only one that takes `ranges`).
 */
function scannerSource(
  spec: ObjectSpec,
  { missOnKeys = [], ranges: rangeKeys = [] }: RowScannerOptions = {},
  rows = false,
): string | undefined {
  const fields = Object.entries(spec.fields);
  if (fields.length === 0 || fields.length > 30) return undefined;
  for (const [key, field] of fields) {
    if (!PLAIN.test(key)) return undefined;
    if (field.kind === 'object' || field.kind === 'array' || field.kind === 'tuple') return undefined;
    if (field.kind === 'enum' && !field.values.every((value) => PLAIN.test(value))) return undefined;
  }
  // Keys grouped by their first byte: a switch picks the group, a byte comparison the key.
  const groups = new Map<number, string[]>();
  let required = 0;
  const ranges = new Set(rows ? rangeKeys : []);
  for (const key of ranges) {
    if (spec.fields[key]?.kind !== 'string') throw new Error(`scanner: range ${key} is not a string field`);
  }
  fields.forEach(([key, field], index) => {
    const bit = 1 << index;
    if (field.optional !== true) required |= bit;
    const branch = `if (${spells(`${key}"`, 1)}) {
          if ((seen & ${bit}) !== 0) return MISS;
          seen |= ${bit};
          i += ${key.length + 1};
          c = b[i];
          if (c !== 58) { i = skip(b, i); if (b[i] !== 58) return MISS; }
          c = b[++i];
          if ${isWhitespace('c')} { i = skip(b, i); c = b[i]; }
          ${readValue(field, `x${index}`, ranges.has(key) ? `e${index}` : undefined)}
          break member;
        }`;
    const code = key.charCodeAt(0);
    groups.set(code, [...(groups.get(code) ?? []), branch]);
  });
  for (const key of missOnKeys) {
    if (!PLAIN.test(key) || Object.hasOwn(spec.fields, key)) return undefined;
    const code = key.charCodeAt(0);
    groups.set(code, [...(groups.get(code) ?? []), `if (${spells(`${key}"`, 1)}) return MISS;`]);
  }
  const cases = [...groups].map(
    ([code, branches]) => `case ${code}:
        ${branches.join('\n        ')}
        break;`,
  );
  const requiredFields = fields.flatMap(([key, field], index) =>
    field.optional === true ? [] : [`${JSON.stringify(key)}: x${index}`],
  );
  const optionalFields = fields.flatMap(([key, field], index) =>
    field.optional === true ? [`if (x${index} !== undefined) o[${JSON.stringify(key)}] = x${index};`] : [],
  );
  const declarations = fields.map(([key], index) =>
    ranges.has(key) ? `x${index} = -1, e${index} = -1` : `x${index}`,
  );
  const result = rows
    ? `${fields
        .map(([key], index) =>
          ranges.has(key)
            ? `row[${JSON.stringify(`${key}Start`)}] = x${index};\n  row[${JSON.stringify(`${key}End`)}] = e${index};`
            : `row[${JSON.stringify(key)}] = x${index};`,
        )
        .join('\n  ')}
  return true;`
    : `const o = { ${requiredFields.join(', ')} };
  ${optionalFields.join('\n  ')}
  return o;`;
  return `function skip(b, i) {
  for (;;) {
    const c = b[i];
    if ${isWhitespace('c')} i++;
    else return i;
  }
}
// Bytes minus UTF-16 units in the member skipMember last skipped.
let skipped = 0;
// The current scan's \`fromBytes\`: strings come from the bytes, and bytes over 0x7F are checked as UTF-8
// rather than counted (the offsets are bytes throughout, so \`shift\` stays 0).
let fromBytes = false;
/**
 * The index after the well-formed UTF-8 sequence whose lead byte is at i, or -1 (RFC 3629: no stray
 * continuation bytes, overlong forms, surrogates, or code points past U+10FFFF). The 0 sentinel is never a
 * continuation byte, so no read passes it.
 */
function utf8Sequence(b, i) {
  const c = b[i];
  if (c < 0xc2) return -1;
  if (c < 0xe0) return (b[i + 1] & 0xc0) === 0x80 ? i + 2 : -1;
  const c1 = b[i + 1];
  if ((c1 & 0xc0) !== 0x80) return -1;
  if (c < 0xf0) {
    if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f)) return -1;
    return (b[i + 2] & 0xc0) === 0x80 ? i + 3 : -1;
  }
  if (c > 0xf4 || (c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) return -1;
  return (b[i + 2] & 0xc0) === 0x80 && (b[i + 3] & 0xc0) === 0x80 ? i + 4 : -1;
}
/** Skips a member with an unknown key (at its first byte): the index after its value, or -1. */
function skipMember(b, i) {
  skipped = 0;
  for (;;) {
    const c = b[i];
    if (c === 34) break;
    // An escaped key may spell a known one: not plain.
    if (!(c >= 32) || c === 92) return -1;
    if (c >= 128) {
      if (fromBytes) {
        i = utf8Sequence(b, i);
        if (i < 0) return -1;
        continue;
      }
      if (c >= 192) skipped += c >= 224 ? 2 : 1;
    }
    i++;
  }
  i = skip(b, i + 1);
  if (b[i] !== 58) return -1;
  return skipValue(b, skip(b, i + 1), ${MAX_SKIPPED_DEPTH});
}
/** Skips any JSON value at i (nested at most depth deep): the index after it, or -1 if not JSON. */
function skipValue(b, i, depth) {
  let c = b[i];
  if (c === 34) return skipString(b, i);
  if (c === 45 || (c >= 48 && c <= 57)) {
    // -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
    if (c === 45) c = b[++i];
    if (c === 48) c = b[++i];
    else if (c >= 49 && c <= 57) do c = b[++i]; while (c >= 48 && c <= 57);
    else return -1;
    if (c === 46) {
      c = b[++i];
      if (!(c >= 48 && c <= 57)) return -1;
      do c = b[++i]; while (c >= 48 && c <= 57);
    }
    if (c === 101 || c === 69) {
      c = b[++i];
      if (c === 43 || c === 45) c = b[++i];
      if (!(c >= 48 && c <= 57)) return -1;
      do c = b[++i]; while (c >= 48 && c <= 57);
    }
    return i;
  }
  if (${spells('true')}) return i + 4;
  if (${spells('false')}) return i + 5;
  if (${spells('null')}) return i + 4;
  if (depth === 0 || (c !== 91 && c !== 123)) return -1;
  const close = c + 2;
  i = skip(b, i + 1);
  if (b[i] === close) return i + 1;
  for (;;) {
    if (close === 125) {
      if (b[i] !== 34) return -1;
      i = skipString(b, i);
      if (i < 0) return -1;
      i = skip(b, i);
      if (b[i] !== 58) return -1;
      i = skip(b, i + 1);
    }
    i = skipValue(b, i, depth - 1);
    if (i < 0) return -1;
    i = skip(b, i);
    c = b[i];
    if (c === close) return i + 1;
    if (c !== 44) return -1;
    i = skip(b, i + 1);
  }
}
/** Skips the string at i (its opening quote), escapes checked: the index after it, or -1. */
function skipString(b, i) {
  for (;;) {
    let c = b[++i];
    if (c === 34) return i + 1;
    if (!(c >= 32)) return -1;
    if (c === 92) {
      c = b[++i];
      if (c === 117) {
        if (HEX[b[i + 1]] !== 1 || HEX[b[i + 2]] !== 1 || HEX[b[i + 3]] !== 1 || HEX[b[i + 4]] !== 1) return -1;
        i += 4;
      } else if (!(c === 34 || c === 92 || c === 47 || c === 98 || c === 102 || c === 110 || c === 114 || c === 116)) return -1;
    } else if (c >= 128) {
      if (fromBytes) {
        const end = utf8Sequence(b, i);
        if (end < 0) return -1;
        i = end - 1;
      } else if (c >= 192) skipped += c >= 224 ? 2 : 1;
    }
  }
}
return function ${rows ? 'scanRow(b, n, row)' : 'scan(b, n, t, bytesOnly)'} {
  let ${declarations.join(', ')};
  fromBytes = ${rows ? 'true' : 'bytesOnly === true'};
  let seen = 0;
  // Bytes minus UTF-16 units read so far: maps a byte offset to an offset in t.
  let shift = 0;
  let i = 0;
  let c = b[0];
  if (c !== 123) { i = skip(b, 0); if (b[i] !== 123) return MISS; }
  i++;
  if (b[i] !== 34) { i = skip(b, i); if (b[i] !== 34) return MISS; }
  for (;;) {
    i++;
    member: {
      switch (b[i]) {
      ${cases.join('\n      ')}
      }
      // Not a known key: skipped (unknown fields are ignored), unless its value is not plain.
      i = skipMember(b, i);
      if (i < 0) return MISS;
      shift += skipped;
      c = b[i];
    }
    if ${isWhitespace('c')} { i = skip(b, i); c = b[i]; }
    if (c === 44) {
      i++;
      if (b[i] !== 34) { i = skip(b, i); if (b[i] !== 34) return MISS; }
      continue;
    }
    if (c === 125) break;
    return MISS;
  }
  i++;
  if (i !== n && skip(b, i) !== n) return MISS;
  if ((seen & ${required}) !== ${required}) return MISS;
  ${result}
};`;
}

/** 1 for the bytes of hexadecimal digits (of `\\u` escapes). */
const HEX = new Uint8Array(256);
for (const digit of '0123456789abcdefABCDEF') HEX[digit.charCodeAt(0)] = 1;

/**
 * Decodes strings the scanner has already checked to be well-formed UTF-8 (so: not fatal). `ignoreBOM`
 * keeps a leading U+FEFF in a string, as `JSON.parse` does.
 */
const UTF8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** Exact powers of ten (read from decimal literals, which are correctly rounded). */
const POW10 = Array.from({ length: MAX_POWER + 1 }, (_, k) => Number(`1e${k}`));

/** Compiles a generated source; `miss` is what its `return MISS` returns. */
function compileScanner(source: string, miss: unknown): unknown {
  return new Function('MISS', 'POW10', 'HEX', 'formats', 'codePoints', 'utf8', source)(
    miss,
    POW10,
    HEX,
    FORMATS,
    codePoints,
    UTF8,
  );
}

/** Generates the scanner for a flat definition, or undefined when it has nested or unusual fields. */
export function generateScanner(spec: ObjectSpec, options?: ScannerOptions): Scanner | undefined {
  const source = scannerSource(spec, options);
  return source === undefined ? undefined : (compileScanner(source, MISS) as Scanner);
}

/** Generates the row scanner for a flat definition, or undefined when it has nested or unusual fields. */
export function generateRowScanner(
  spec: ObjectSpec,
  options: RowScannerOptions = {},
): RowScanner | undefined {
  const source = scannerSource(spec, options, true);
  return source === undefined ? undefined : (compileScanner(source, false) as RowScanner);
}

/** The generated source, for reading and debugging (`rows`: the row scanner's). */
export function scannerSourceOf(
  spec: ObjectSpec,
  options?: RowScannerOptions,
  rows = false,
): string | undefined {
  return scannerSource(spec, options, rows);
}
