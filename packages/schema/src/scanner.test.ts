import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { raceMessageArb, SEED_MESSAGES, validMessage } from '../test/fixtures.js';
import { checkSize, decodeJson } from './decode.js';
import { LEADERBOARD_MESSAGE, RACE_BATCH, RACE_MESSAGE } from './definitions.js';
import { InvalidArgumentError } from './errors.js';
import { MISS } from './fast-path.js';
import { RACE_BATCH_MAX_BYTES, RACE_MESSAGE_MAX_BYTES } from './limits.js';
import {
  expandBatch,
  parseRaceMessage,
  parseRaceRecord,
  readRaceRecord,
  validateRaceBatch,
  validateRaceMessage,
} from './race-message.js';
import { generateRowScanner, generateScanner, type Scanner } from './scanner.js';
import type { RaceMessage, RaceRecordParseResult, RaceRow } from './types.js';
import { compile, Invalid } from './validator.js';

const scanner = generateScanner(RACE_MESSAGE) as Scanner;
const precise = compile(RACE_MESSAGE);
const encoder = new TextEncoder();

/** Calls the scanner as `parseRaceMessage` does: UTF-8 bytes followed by a 0 sentinel. */
function scan(text: string): unknown {
  const bytes = new Uint8Array(text.length * 3 + 1);
  const { read, written } = encoder.encodeInto(text, bytes);
  expect(read).toBe(text.length);
  return scanner(bytes, written, text);
}

/** What `parseRaceMessage` must answer: the text parsed by `JSON.parse`, then validated in full. */
function reference(input: string | Uint8Array) {
  const value = decodeJson(input, RACE_MESSAGE_MAX_BYTES);
  if (value instanceof Invalid) return { ok: false, error: value.error };
  return validateRaceMessage(value);
}

/** What `parseRaceRecord` must answer: the full path, as it was before the scanner. */
function recordReference(input: string | Uint8Array) {
  const value = decodeJson(input, RACE_BATCH_MAX_BYTES);
  if (value instanceof Invalid) return { ok: false, error: value.error };
  if (typeof value === 'object' && value !== null && Object.hasOwn(value, 'samples')) {
    const result = validateRaceBatch(value);
    return result.ok ? { ok: true, messages: expandBatch(result.batch), batched: true } : result;
  }
  const oversize = checkSize(input, RACE_MESSAGE_MAX_BYTES);
  if (oversize !== undefined) return { ok: false, error: oversize };
  const result = validateRaceMessage(value);
  return result.ok ? { ok: true, messages: [result.message], batched: false } : result;
}

/** `readRaceRecord`'s answer, its rows copied as they are visited. */
function readRows(bytes: Uint8Array, byteLength?: number) {
  const rows: RaceRow[] = [];
  const error = readRaceRecord(
    bytes,
    (r) => {
      rows.push({ ...r }); // the row's own fields only: its offsets are not enumerable
    },
    byteLength,
  );
  return error === undefined ? { ok: true, rows } : { ok: false, error };
}

/** What `readRaceRecord` must answer: `parseRaceRecord`'s verdict, its messages without uuid and client id. */
function asRows(result: RaceRecordParseResult | ReturnType<typeof recordReference>) {
  if (!result.ok) return { ok: false, error: result.error };
  const messages = (result as { messages: RaceMessage[] }).messages;
  return { ok: true, rows: messages.map(({ uuid, clientId, ...row }) => row) };
}

const WHITESPACE = ['', '', '', ' ', '\n', '\t', '\r\n  ', '\u00a0', '\ufeff'];

/** Realistic messages: what bikes send (one-decimal readings, millisecond clocks, names without escapes). */
const realisticArb = raceMessageArb.map((m) => {
  const message = {
    ...m,
    deviceTimestamp: 1_600_000_000_000 + (m.deviceTimestamp % 1e11),
    cadence: Math.round(m.cadence * 10) / 10,
    resistance: Math.round(m.resistance * 10) / 10,
  };
  return message.name.length > 64 || /["\\]/u.test(message.name) ? { ...message, name: 'Hayden' } : message;
});

/** Serialises fields in any order with any whitespace, numbers in any notation, keys possibly repeated. */
const textArb = fc
  .tuple(
    realisticArb,
    fc.boolean(),
    fc.boolean(),
    fc.jsonValue(),
    fc.constantFrom('color', 'uuid', 'name', '__proto__', 'samples', 'ünknown', '🚴', 'a"b', 'x\\y'),
  )
  .chain(([message, extra, repeat, extraValue, extraKey]) => {
    const entries: Array<[string, unknown]> = Object.entries(message);
    if (extra) entries.push([extraKey, extraValue]);
    if (repeat) entries.push(entries[0]!);
    return fc.tuple(
      fc.shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length }),
      fc.array(fc.constantFrom(...WHITESPACE), {
        minLength: 4 * entries.length + 2,
        maxLength: 4 * entries.length + 2,
      }),
      // Per field: -1 writes a number as JSON.stringify does, n ≥ 0 with writer n (mostly not plain JSON).
      fc.array(fc.oneof({ weight: 4, arbitrary: fc.constant(-1) }, fc.nat()), {
        minLength: entries.length,
        maxLength: entries.length,
      }),
    );
  })
  .map(([entries, ws, writes]) => {
    let k = 0;
    const w = () => ws[k++] ?? '';
    const writers = [
      (v: number) => v.toFixed(2),
      (v: number) => v.toExponential(),
      (v: number) => `-${v}`,
      (v: number) => `0${v}`,
      (v: number) => `${v}.`,
      (v: number) => `${Math.trunc(v)}.${'0'.repeat(14)}1`,
      (v: number) => v.toPrecision(16),
    ];
    const parts = entries.map(([key, value], i) => {
      const write = writes[i]!;
      const written =
        write >= 0 && typeof value === 'number'
          ? writers[write % writers.length]!(value)
          : JSON.stringify(value);
      return `${w()}${JSON.stringify(key)}${w()}:${w()}${written}${w()}`;
    });
    return `${w()}{${parts.join(',')}}${w()}`;
  });

const INTERESTING = [
  '"',
  '\\',
  ' ',
  '\n',
  '-',
  'e',
  'E',
  '.',
  '0',
  '9',
  '{',
  '}',
  ',',
  ':',
  'ü',
  '€',
  '🚴',
  '\u0000',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u009f',
  '\u00a0',
  '\ud800',
  '\udc00',
  'x',
];

/** Valid texts with one character replaced, inserted or the text cut short. */
const mutatedArb = fc
  .tuple(
    fc.oneof(
      realisticArb.map((m) => JSON.stringify(m)),
      fc.constantFrom(...SEED_MESSAGES),
    ),
    fc.nat(),
    fc.constantFrom(...INTERESTING),
    fc.integer({ min: 0, max: 2 }),
  )
  .map(([text, at, char, how]) => {
    const i = at % (text.length + 1);
    if (how === 0) return text.slice(0, i) + char + text.slice(i + 1);
    if (how === 1) return text.slice(0, i) + char + text.slice(i);
    return text.slice(0, i);
  });

/** Names (and client ids) made of the characters a reader can get wrong. */
const trickyStringArb = fc
  .array(fc.constantFrom(...INTERESTING, 'a', 'ë', '\u00a0', '\u0080', '\u00a1', '\u2028', '\ud83d\udeb4'), {
    maxLength: 70,
  })
  .map((chars) => chars.join(''));
const trickyArb = fc
  .tuple(realisticArb, trickyStringArb, fc.constantFrom('name', 'clientId', 'note', 'nöte'))
  .map(([message, text, key]) =>
    // An unknown member goes first, so that what it contains must not upset the fields after it.
    JSON.stringify(
      key === 'name' || key === 'clientId' ? { ...message, [key]: text } : { [key]: text, ...message },
    ),
  );

/** A valid message after an unknown member holding any JSON, one character of it replaced or inserted. */
const unknownMemberArb = fc
  .tuple(
    realisticArb,
    fc.jsonValue({ maxDepth: 4 }),
    fc.nat(),
    fc.constantFrom(...INTERESTING, '[', ']', '1'),
    fc.boolean(),
  )
  .map(([message, value, at, char, insert]) => {
    const member = `"extra":${JSON.stringify(value)}`;
    const i = 8 + (at % (member.length - 7));
    const mutated = member.slice(0, i) + char + member.slice(insert ? i : i + 1);
    return `{${mutated},${JSON.stringify(message).slice(1)}`;
  });

const anyTextArb = fc.oneof(
  unknownMemberArb,
  textArb,
  trickyArb,
  mutatedArb,
  realisticArb.map((m) => JSON.stringify(m)),
  raceMessageArb.map((m) => JSON.stringify(m)),
  fc.json(),
  fc.string({ unit: 'binary', maxLength: 300 }),
);

describe('scanner', () => {
  it('exists for the flat race message, not for nested definitions', () => {
    expect(generateScanner(RACE_MESSAGE)).toBeTypeOf('function');
    expect(generateScanner(RACE_BATCH)).toBeUndefined();
    expect(generateScanner(LEADERBOARD_MESSAGE)).toBeUndefined();
  });

  it('from the bytes alone (no text) answers as with the UTF-8 text, or misses', () => {
    fc.assert(
      fc.property(anyTextArb, (text) => {
        const bytes = Buffer.alloc(text.length * 3 + 1);
        const written = bytes.write(text);
        const quick = scanner(bytes, written, '', true);
        // Against the text of the bytes (a lone surrogate in `text` was written as U+FFFD).
        if (quick !== MISS) expect(quick).toStrictEqual(scan(bytes.toString('utf8', 0, written)));
      }),
      { numRuns: 3_000 },
    );
    // Non-ASCII in a known string and in an unknown member is read, not given up on.
    for (const message of [
      validMessage({ name: 'Zoë 🚴 \ufeff' }),
      { fw: 'é', ...validMessage({ name: '\ufeffAnaïs' }) },
      { 'fé😀': { deep: ['ü', { ключ: '€' }] }, ...validMessage({ name: '名前' }) },
    ]) {
      const text = JSON.stringify(message);
      const bytes = Buffer.alloc(text.length * 3 + 1);
      const written = bytes.write(text);
      expect(scanner(bytes, written, '', true), text).toStrictEqual(scan(text));
    }
  });

  it('accepts only what JSON.parse and the precise validator accept, with the same clean copy', () => {
    let accepted = 0;
    fc.assert(
      fc.property(anyTextArb, (text) => {
        const quick = scan(text);
        if (quick === MISS) return;
        accepted++;
        const exact = precise(JSON.parse(text), '');
        expect(exact).not.toBeInstanceOf(Invalid);
        expect(quick).toStrictEqual(exact);
        // Same values to the bit, the sign of zero included.
        for (const [key, value] of Object.entries(quick as object)) {
          expect(Object.is(value, (exact as Record<string, unknown>)[key])).toBe(true);
        }
      }),
      { numRuns: 6_000 },
    );
    // The corpus must exercise acceptance, not only misses.
    expect(accepted).toBeGreaterThan(600);
  });

  it('reads every decimal of up to 15 significant digits exactly, and longer ones exactly or not at all', () => {
    const withCadence = (cadence: string) =>
      JSON.stringify(validMessage()).replace('"cadence":79.8', `"cadence":${cadence}`);
    const short = fc
      .tuple(fc.integer({ min: 0, max: 249 }), fc.stringMatching(/^[0-9]{1,12}$/))
      .map(([whole, fraction]) => `${whole}.${fraction}`);
    fc.assert(
      fc.property(short, (cadence) => {
        const quick = scan(withCadence(cadence)) as { cadence: number };
        expect(quick).not.toBe(MISS);
        expect(quick.cadence).toBe(JSON.parse(cadence));
      }),
      { numRuns: 5_000 },
    );
    const long = fc
      .tuple(fc.integer({ min: 0, max: 250 }), fc.stringMatching(/^[0-9]{10,30}$/))
      .map(([whole, fraction]) => `${whole}.${fraction}`);
    const id = fc.stringMatching(/^[1-9][0-9]{13,17}$/);
    fc.assert(
      fc.property(long, id, (cadence, racerId) => {
        const text = withCadence(cadence).replace('"racerId":7', `"racerId":${racerId}`);
        const quick = scan(text);
        if (quick !== MISS) expect(quick).toStrictEqual(precise(JSON.parse(text), ''));
      }),
      { numRuns: 5_000 },
    );
    // Around 2^53, where accumulating digits stops being exact.
    for (const racerId of ['9007199254740991', '9007199254740992', '9007199254740993', '90071992547409910']) {
      const text = JSON.stringify(validMessage()).replace('"racerId":7', `"racerId":${racerId}`);
      const quick = scan(text);
      if (racerId === '9007199254740991') expect(quick).toMatchObject({ racerId: 9007199254740991 });
      else expect(quick).toBe(MISS);
    }
  });

  it('reads what bikes send without falling back', () => {
    fc.assert(
      fc.property(realisticArb, (message) => {
        expect(scan(JSON.stringify(message))).toStrictEqual(message);
      }),
    );
    for (const seed of SEED_MESSAGES) expect(scan(seed)).toStrictEqual(JSON.parse(seed));
  });

  it('maps byte offsets to text offsets across multi-byte and astral characters', () => {
    for (const name of ['Zoë', 'Ana-María', '€uro', '🚴 Kai', 'a🚴b€cë', '\ud800x']) {
      const message = { ...validMessage({ name }), uuid: '123e4567-e89b-12d3-a456-426614174000' };
      const text = JSON.stringify(message);
      if (name === '\ud800x') {
        // A lone surrogate is valid JSON text; it must come back as it was, not as U+FFFD.
        expect(scan(text.replace('"\\ud800x"', '"\ud800x"'))).toStrictEqual(message);
      } else expect(scan(text)).toStrictEqual(message);
    }
  });

  it('skips unknown members whose values are JSON, and gives up on escaped keys and on what is not JSON', () => {
    const message = validMessage({ name: 'Zoë' });
    const body = JSON.stringify(message).slice(1);
    for (const member of [
      '"fw":"2.1\\u00e9\\n"',
      '"é€🚴":-1.5e+3',
      '"a":true',
      '"b":false',
      '"c":null',
      '"d":0',
      '"e":2E5',
      '"f":1e-7',
      '"g":{}',
      '"h":[]',
      '"i":[1, {"j": ["é", {"\\"k": null}]}, -0.5E-2, "🚴"]',
      `"deep":${'['.repeat(32)}${']'.repeat(32)}`,
    ]) {
      expect(scan(`{${member},${body}`)).toStrictEqual(message);
    }
    for (const member of [
      '"a":{"b"}',
      '"a":{"b":1,}',
      '"a":[1,]',
      '"a":[1 2]',
      '"a":{1:2}',
      '"a":[',
      `"deep":${'['.repeat(33)}${']'.repeat(33)}`,
      '"a":01',
      '"a":-',
      '"a":1.',
      '"a":1e',
      '"a":"\\x"',
      '"a":"\\u12"',
      '"\\u0065vent":"final"',
    ]) {
      expect(scan(`{${member},${body}`)).toBe(MISS);
    }
  });
});

describe('parseRaceMessage with the scanner', () => {
  it('answers as JSON.parse + the full validator would, for text and for bytes', () => {
    fc.assert(
      fc.property(anyTextArb, (text) => {
        expect(parseRaceMessage(text)).toStrictEqual(reference(text));
        const bytes = encoder.encode(text);
        expect(parseRaceMessage(bytes)).toStrictEqual(reference(bytes));
      }),
      { numRuns: 4_000 },
    );
  });

  it('parseRaceRecord answers as its full path, for text and for bytes, batches and budgets included', () => {
    const batchArb = fc
      .array(realisticArb, { minLength: 1, maxLength: 8 })
      .map((messages) => JSON.stringify({ ...messages[0]!, samples: messages.map(({ name, ...m }) => m) }));
    const padded = realisticArb.map((m) => JSON.stringify({ pad: 'x'.repeat(1_000), ...m }));
    fc.assert(
      fc.property(fc.oneof(anyTextArb, batchArb, padded), fc.integer({ min: 0, max: 255 }), (text, after) => {
        expect(parseRaceRecord(text)).toStrictEqual(recordReference(text));
        const bytes = encoder.encode(text);
        const expected = recordReference(bytes);
        expect(parseRaceRecord(bytes)).toStrictEqual(expected);
        expect(readRows(bytes)).toStrictEqual(asRows(expected));
        // The first bytes of a larger buffer (as the Lambda decodes into one): read in place when a 0
        // follows them in a Buffer, from a copy otherwise; the same answer either way.
        for (const larger of [Buffer.alloc(bytes.length + 8), new Uint8Array(bytes.length + 8)]) {
          larger.set(bytes);
          larger.fill(after, bytes.length);
          expect(parseRaceRecord(larger, bytes.length)).toStrictEqual(expected);
          expect(readRows(larger, bytes.length)).toStrictEqual(asRows(expected));
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('answers as the full path for raw bytes, a byte order mark and invalid UTF-8 included', () => {
    const valid = encoder.encode(JSON.stringify(validMessage({ name: 'Zoë' })));
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...valid]);
    expect(parseRaceMessage(withBom)).toStrictEqual(reference(withBom));
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), (at, byte) => {
        const bytes = valid.slice();
        bytes[at % bytes.length] = byte;
        expect(parseRaceMessage(bytes)).toStrictEqual(reference(bytes));
      }),
      { numRuns: 5_000 },
    );
  });

  it('parseRaceRecord: one byte of a record changed to any value, read in place, answers as the full path', () => {
    // Bytes are scanned with Latin-1 text: a byte over 0x7F anywhere (a known field, an unknown member,
    // between tokens) must be read as UTF-8 or fall back to the checked decode, never slip through as Latin-1.
    const records = [
      { fw: 'v2.1', ...validMessage({ uuid: '123e4567-e89b-12d3-a456-426614174000' }) },
      { fw: 'é€😀', ...validMessage({ name: 'Zoë 🚴' }) },
    ].map((m) => encoder.encode(JSON.stringify(m)));
    const larger = Buffer.alloc(1_024);
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }),
        (second, changes) => {
          const bytes = records[second ? 1 : 0]!.slice();
          for (const [at, byte] of changes) bytes[at % bytes.length] = byte;
          larger.set(bytes);
          larger[bytes.length] = 0;
          const expected = recordReference(bytes);
          expect(parseRaceRecord(larger, bytes.length)).toStrictEqual(expected);
          expect(parseRaceRecord(bytes)).toStrictEqual(expected);
          expect(readRows(larger, bytes.length)).toStrictEqual(asRows(expected));
        },
      ),
      { numRuns: 8_000 },
    );
  });

  it('parseRaceRecord: every edge of well-formed UTF-8 (RFC 3629), in a name and in an unknown member', () => {
    const sequences = [
      // well-formed: the first and last of each length, either side of the surrogates, a BOM
      [0xc3, 0xa9],
      [0xdf, 0xbf],
      [0xe0, 0xa0, 0x80],
      [0xed, 0x9f, 0xbf],
      [0xee, 0x80, 0x80],
      [0xef, 0xbb, 0xbf],
      [0xef, 0xbf, 0xbf],
      [0xf0, 0x90, 0x80, 0x80],
      [0xf4, 0x8f, 0xbf, 0xbf],
      // ill-formed: stray continuations, overlong forms, surrogates, past U+10FFFF, truncated, never-used bytes
      [0x80],
      [0xbf],
      [0xc0, 0x80],
      [0xc1, 0xbf],
      [0xe0, 0x80, 0x80],
      [0xe0, 0x9f, 0xbf],
      [0xed, 0xa0, 0x80],
      [0xed, 0xbf, 0xbf],
      [0xf0, 0x80, 0x80, 0x80],
      [0xf0, 0x8f, 0xbf, 0xbf],
      [0xf4, 0x90, 0x80, 0x80],
      [0xf5, 0x80, 0x80, 0x80],
      [0xe2, 0x82],
      [0xf0, 0x9f, 0x98],
      [0xff],
      [0xfe],
      [0xc3, 0x41],
      [0xe2, 0x41, 0x82],
      [0xf0, 0x9f, 0x41, 0x80],
    ];
    const [before, after] = JSON.stringify(validMessage({ name: 'A@B' })).split('@') as [string, string];
    const [unknownBefore, unknownAfter] = JSON.stringify({ fw: 'v@', ...validMessage() }).split('@') as [
      string,
      string,
    ];
    const larger = Buffer.alloc(1_024);
    for (const sequence of sequences) {
      for (const [head, tail] of [
        [before, after],
        [unknownBefore, unknownAfter],
      ] as const) {
        const bytes = Buffer.concat([Buffer.from(head), Uint8Array.from(sequence), Buffer.from(tail)]);
        larger.set(bytes);
        larger[bytes.length] = 0;
        const expected = recordReference(new Uint8Array(bytes));
        expect(parseRaceRecord(larger, bytes.length), `${sequence} in ${head}`).toStrictEqual(expected);
        expect(readRows(larger, bytes.length), `${sequence} in ${head}`).toStrictEqual(asRows(expected));
      }
    }
  });

  it('parseRaceRecord refuses a byteLength outside the bytes given (a caller bug, not bad input)', () => {
    const bytes = encoder.encode(JSON.stringify(validMessage()));
    for (const n of [-1, bytes.length + 1, 1.5, Number.NaN]) {
      expect(() => parseRaceRecord(bytes, n), String(n)).toThrow(InvalidArgumentError);
    }
    expect(parseRaceRecord(bytes, 0)).toStrictEqual(recordReference(new Uint8Array(0)));
    // An untyped caller's null is "all of it", on the scanner's path and the full path alike.
    const odd = encoder.encode(JSON.stringify(validMessage({ name: 'A\u007fB' })));
    const untyped = parseRaceRecord as (bytes: Uint8Array, byteLength: unknown) => unknown;
    expect(untyped(odd, null)).toStrictEqual(recordReference(odd));
    expect(untyped(bytes, null)).toStrictEqual(recordReference(bytes));
  });
});

describe('readRaceRecord', () => {
  const bytesOf = (m: object) => encoder.encode(JSON.stringify(m));

  it('visits a batch message by message, and answers an error without visiting', () => {
    const messages = [validMessage({ second: 1 }), validMessage({ second: 2, event: 'final' })];
    const batch = bytesOf({ ...messages[0]!, samples: messages.map(({ name, ...m }) => m) });
    expect(readRows(batch)).toStrictEqual(asRows(recordReference(batch)));
    expect((readRows(batch) as { rows: RaceRow[] }).rows).toHaveLength(2);
    const bad = bytesOf({ ...validMessage(), cadence: 251 });
    expect(readRows(bad)).toStrictEqual({ ok: false, error: expect.objectContaining({ path: '/cadence' }) });
  });

  it("answers an untyped caller's null or undefined with wrong_type, as parseRaceRecord does", () => {
    for (const value of [null, undefined]) {
      const visited: unknown[] = [];
      const error = readRaceRecord(value as unknown as Uint8Array, (row) => visited.push(row));
      expect(error).toMatchObject({ code: 'wrong_type', path: '' });
      expect(visited).toEqual([]);
    }
  });

  it("gives each racer's name as sent, whatever names that racer sent before", () => {
    // A racer's last name is kept to avoid making the string again: it must never stand in for another.
    // 'a\\u0062c' is "abc" escaped in the JSON (the full path reads it; the bytes do not spell "abc").
    const names = [
      'Hayden',
      'Haydem',
      'Hayde',
      'Zoë',
      'Zoe',
      'Ã©',
      'é',
      'Hayden',
      '🚴',
      'abc',
      'a\\u0062c',
      'abc',
    ];
    // Either side of the limit (64 code points; UTF-16 units and bytes differ) and the fast path's (64 units).
    for (const char of ['a', 'é', '€', '🚴']) names.push(char.repeat(64), char.repeat(65), char.repeat(32));
    for (const racerId of [7, 8]) {
      for (const name of names) {
        const text = JSON.stringify(validMessage({ racerId })).replace('"Hayden"', `"${name}"`);
        const bytes = Buffer.from(`${text}\0`);
        const expected = asRows(recordReference(encoder.encode(text)));
        expect(readRows(bytes, bytes.length - 1), name).toStrictEqual(expected);
      }
    }
  });

  it('checks the client id against the racer on the bytes, as parseRaceRecord does', () => {
    const ids: Array<[number, string]> = [
      [0, 'racer-0'],
      [0, 'racer-00'],
      [0, 'racer-'],
      [10, 'racer-10'],
      [10, 'racer-1'],
      [1, 'racer-10'],
      [10, 'racer-010'],
      [Number.MAX_SAFE_INTEGER, `racer-${Number.MAX_SAFE_INTEGER}`],
      [Number.MAX_SAFE_INTEGER, `racer-${Number.MAX_SAFE_INTEGER - 1}`],
      [5, 'Racer-5'],
      [5, 'rider-5'],
      [5, 'racer-5 '],
    ];
    for (const [racerId, clientId] of ids) {
      const bytes = bytesOf(validMessage({ racerId, clientId }));
      expect(readRows(bytes), clientId).toStrictEqual(asRows(recordReference(bytes)));
    }
  });

  it('reads what bikes send on its fast path (no fallback), with the fields the bytes hold', () => {
    const scanRow = generateRowScanner(RACE_MESSAGE, { ranges: ['name', 'uuid', 'clientId'] })!;
    fc.assert(
      fc.property(realisticArb, (m) => {
        const bytes = Buffer.from(`${JSON.stringify(m)}\0`);
        const row: Record<string, unknown> = {};
        expect(scanRow(bytes, bytes.length - 1, row)).toBe(true);
        const { uuid, clientId, name, ...fields } = m;
        expect(row).toMatchObject(fields);
        const text = (key: string) =>
          row[`${key}Start`] === -1
            ? undefined
            : bytes.toString('utf8', row[`${key}Start`] as number, row[`${key}End`] as number);
        expect([text('name'), text('uuid'), text('clientId')]).toStrictEqual([name, uuid, clientId]);
      }),
      { numRuns: 2_000 },
    );
  });

  it('answers as parseRaceRecord for any wire input and throws as it does on a length outside the bytes', () => {
    const other = bytesOf(validMessage({ name: 'Other', second: 4 }));
    readRows(bytesOf(validMessage())); // leaves its message in the reader's scratch space
    for (const input of [other.buffer, new DataView(other.buffer)]) {
      const untyped = readRaceRecord as (bytes: unknown, visit: (r: RaceRow) => void) => unknown;
      const rows: RaceRow[] = [];
      expect(untyped(input, (r) => rows.push({ ...r }))).toBeUndefined();
      expect(rows).toStrictEqual(asRows(recordReference(other)).rows);
    }
    for (const n of [-1, other.length + 1, 1.5, Number.NaN]) {
      expect(() => readRaceRecord(other, () => {}, n), String(n)).toThrow(InvalidArgumentError);
    }
  });

  it('visits a row that spreads to the message alone (the reader keeps its offsets out of sight)', () => {
    const seen: object[] = [];
    readRaceRecord(
      Buffer.from(`${JSON.stringify(validMessage({ clientId: 'racer-7' }))}\0`),
      (r) => seen.push({ ...r }),
      JSON.stringify(validMessage({ clientId: 'racer-7' })).length,
    );
    const { uuid, clientId, ...fields } = validMessage({ clientId: 'racer-7' });
    expect(seen).toStrictEqual([fields]);
  });

  it('misses (never accepts) a field it cannot check on bytes, and refuses such a range at generation', () => {
    const scanRow = generateRowScanner(RACE_MESSAGE, { ranges: ['uuid'] })!;
    const row: Record<string, unknown> = {};
    const text = JSON.stringify(validMessage({ uuid: '123e4567-e89b-12d3-a456-42661417400é' }));
    const bytes = Buffer.from(`${text}\0`);
    expect(scanRow(bytes, bytes.length - 1, row)).toBe(false);
    const ok = Buffer.from(
      `${JSON.stringify(validMessage({ uuid: '123E4567-e89b-12d3-a456-426614174000' }))}\0`,
    );
    expect(scanRow(ok, ok.length - 1, row)).toBe(true);
    expect(ok.toString('latin1', row['uuidStart'] as number, row['uuidEnd'] as number)).toBe(
      '123E4567-e89b-12d3-a456-426614174000',
    );
    expect(() => generateRowScanner(RACE_MESSAGE, { ranges: ['racerId'] })).toThrow(/not a string field/u);
  });
});
