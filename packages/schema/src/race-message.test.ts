import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { raceMessageArb, SEED_MESSAGES, validMessage } from '../test/fixtures.js';
import { invalidUtf8Offset } from './decode.js';
import {
  assertRaceMessage,
  encodeRaceMessage,
  expandBatch,
  InvalidArgumentError,
  InvalidPayloadError,
  PARSE_ERROR_CODES,
  type ParseErrorCode,
  parseRaceBatch,
  parseRaceMessage,
  parseRaceRecord,
  RACE_BATCH_MAX_BYTES,
  RACE_MESSAGE_MAX_BYTES,
  type RaceMessage,
  toBatch,
} from './index.js';

const json = (value: unknown) => JSON.stringify(value);
const errorOf = (input: string | Uint8Array) => {
  const result = parseRaceMessage(input);
  if (result.ok) throw new Error(`expected a failure for ${String(input)}`);
  return result.error;
};

describe('parseRaceMessage', () => {
  it('parses both seed examples, as text and as bytes', () => {
    for (const seed of SEED_MESSAGES) {
      const fromText = parseRaceMessage(seed);
      const fromBytes = parseRaceMessage(new TextEncoder().encode(seed));
      expect(fromText).toEqual({ ok: true, message: JSON.parse(seed) });
      expect(fromBytes).toEqual(fromText);
    }
  });

  it('round-trips every valid message', () => {
    fc.assert(
      fc.property(raceMessageArb, (message) => {
        expect(parseRaceMessage(encodeRaceMessage(message))).toEqual({ ok: true, message });
      }),
      { numRuns: 2_000 },
    );
  });

  it('ignores unknown fields and never copies them', () => {
    const result = parseRaceMessage(json({ ...validMessage(), color: 'red', schemaVersion: 2 }));
    expect(result).toEqual({ ok: true, message: validMessage() });
  });

  it('cannot pollute prototypes', () => {
    const hostile = `{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},${json(validMessage()).slice(1)}`;
    const result = parseRaceMessage(hostile);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(Object.getPrototypeOf(result.message)).toBe(Object.prototype);
    expect(Object.keys(result.message)).not.toContain('__proto__');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect((result.message as unknown as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it.each<[string, string | Uint8Array, ParseErrorCode, string]>([
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 'not_utf8', ''],
    [
      'over the byte budget',
      json({ ...validMessage(), pad: 'x'.repeat(RACE_MESSAGE_MAX_BYTES) }),
      'too_large',
      '',
    ],
    [
      'over the budget in multi-byte characters',
      json({ ...validMessage(), pad: '€'.repeat(400) }),
      'too_large',
      '',
    ],
    ['not JSON', '{"event":', 'not_json', ''],
    ['a JSON array', '[1,2]', 'not_object', ''],
    ['JSON null', 'null', 'not_object', ''],
    ['a missing field', json({ ...validMessage(), cadence: undefined }), 'missing_field', '/cadence'],
    ['a string number', json({ ...validMessage(), cadence: '79.8' }), 'wrong_type', '/cadence'],
    ['null for an optional field', json({ ...validMessage(), uuid: null }), 'wrong_type', '/uuid'],
    ['a fractional second', json({ ...validMessage(), second: 3.5 }), 'wrong_type', '/second'],
    ['a huge exponent', '{"event":"update","deviceTimestamp":1e999}', 'out_of_range', '/deviceTimestamp'],
    ['cadence over 250 rpm', json({ ...validMessage(), cadence: 250.01 }), 'out_of_range', '/cadence'],
    ['negative resistance', json({ ...validMessage(), resistance: -1 }), 'out_of_range', '/resistance'],
    ['an empty name', json({ ...validMessage(), name: '' }), 'out_of_range', '/name'],
    ['a 65-character name', json({ ...validMessage(), name: 'n'.repeat(65) }), 'out_of_range', '/name'],
    ['an unknown event', json({ ...validMessage(), event: 'start' }), 'invalid_value', '/event'],
    [
      'a control character in the name',
      json({ ...validMessage(), name: 'a\u0007b' }),
      'invalid_value',
      '/name',
    ],
    [
      'a malformed uuid',
      json({ ...validMessage(), uuid: 'not-a-uuid-not-a-uuid-not-a-uuid-123' }),
      'invalid_value',
      '/uuid',
    ],
    [
      "another racer's client id",
      json({ ...validMessage({ racerId: 7 }), clientId: 'racer-8' }),
      'identity_mismatch',
      '/clientId',
    ],
  ])('refuses %s', (_, input, code, path) => {
    const error = errorOf(input);
    expect(error).toMatchObject({ code, path });
    expect(error.message.length).toBeGreaterThan(5);
  });

  it('reaches every error code', () => {
    // The table above is the proof; this guards against a new code without a case.
    expect(new Set(PARSE_ERROR_CODES)).toEqual(
      new Set([
        'not_utf8',
        'too_large',
        'not_json',
        'not_object',
        'missing_field',
        'wrong_type',
        'out_of_range',
        'invalid_value',
        'identity_mismatch',
      ]),
    );
  });

  it('shows the offending value in the message: infinite numbers as such, invisible characters escaped', () => {
    const second = errorOf(json(validMessage()).replace('"second":3', '"second":1e400'));
    expect(second).toMatchObject({ code: 'out_of_range', path: '/second' });
    expect(second.message).toBe('must be between 0 and 86400, got Infinity');
    for (const [character, escaped] of [
      ['\u007f', '\\u007f'],
      ['\u0085', '\\u0085'],
    ]) {
      const error = errorOf(json(validMessage({ name: `a${character}b` })));
      expect(error).toMatchObject({ code: 'invalid_value', path: '/name' });
      expect(error.message).toContain(`got "a${escaped}b"`);
    }
    // A right-to-left override is printable (a name may hold one) but reverses what follows it in a log line.
    const event = errorOf(json(validMessage()).replace('"event":"update"', '"event":"up\u202edate"'));
    expect(event).toMatchObject({ code: 'invalid_value', path: '/event' });
    expect(event.message).toContain('got "up\\u202edate"');
  });

  it('says at which byte the text stops being UTF-8', () => {
    expect(errorOf(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])).message).toBe(
      'is not valid UTF-8 text (at byte 1)',
    );
    const name = new TextEncoder().encode(json(validMessage({ name: 'Zoë' })));
    const at = name.indexOf(0xc3);
    name[at + 1] = 0x41; // 'ë' loses its continuation byte
    expect(errorOf(name)).toMatchObject({
      code: 'not_utf8',
      message: `is not valid UTF-8 text (at byte ${at})`,
    });
  });

  it("finds the first bad byte where the platform's strict decoder fails, and nowhere else", () => {
    const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    const decodes = (bytes: Uint8Array) => {
      try {
        strict.decode(bytes);
        return true;
      } catch {
        return false;
      }
    };
    // The oracle: the lenient decoder's first U+FFFD that the bytes do not spell themselves (EF BF BD), located
    // by re-encoding the valid text before it (valid UTF-8 round-trips byte for byte).
    const lenient = new TextDecoder('utf-8', { ignoreBOM: true });
    const encoder = new TextEncoder();
    const firstReplaced = (bytes: Uint8Array) => {
      const text = lenient.decode(bytes);
      for (let at = text.indexOf('\ufffd'); at >= 0; at = text.indexOf('\ufffd', at + 1)) {
        const offset = encoder.encode(text.slice(0, at)).length;
        if (!(bytes[offset] === 0xef && bytes[offset + 1] === 0xbf && bytes[offset + 2] === 0xbd))
          return offset;
      }
      return -1;
    };
    // Bytes biased to UTF-8's edges: leads, continuations, overlong and surrogate starts, ASCII.
    const byte = fc.oneof(
      fc.integer({ min: 0, max: 255 }),
      fc.constantFrom(
        0x80,
        0xbf,
        0xc0,
        0xc2,
        0xdf,
        0xe0,
        0xed,
        0xef,
        0xf0,
        0xf4,
        0xf5,
        0x9f,
        0xa0,
        0x8f,
        0x90,
      ),
    );
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 12 }), (values) => {
        const bytes = Uint8Array.from(values);
        expect(invalidUtf8Offset(bytes)).toBe(decodes(bytes) ? -1 : firstReplaced(bytes));
      }),
      { numRuns: 20_000, seed: 5 },
    );
  });

  it('counts name length in code points, as JSON Schema does', () => {
    const emoji = '🚴'.repeat(64); // 128 UTF-16 units, 64 code points
    expect(parseRaceMessage(json(validMessage({ name: emoji }))).ok).toBe(true);
    expect(errorOf(json(validMessage({ name: `${emoji}🚴` })))).toMatchObject({ code: 'out_of_range' });
  });

  it('accepts a client id that matches the racer', () => {
    expect(parseRaceMessage(json({ ...validMessage({ racerId: 42 }), clientId: 'racer-42' })).ok).toBe(true);
  });

  it('never throws on arbitrary bytes or text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 2_000 }), fc.string({ maxLength: 2_000 })), (input) => {
        const result = parseRaceMessage(input);
        expect(typeof result.ok).toBe('boolean');
      }),
      { numRuns: 3_000 },
    );
  });

  it('never throws on arbitrary JSON, and whatever it accepts is a valid message', () => {
    const mutated = fc.tuple(
      raceMessageArb,
      fc.constantFrom(...Object.keys(validMessage()), 'uuid', 'clientId'),
      fc.jsonValue(),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue(),
          mutated.map(([m, k, v]) => ({ ...m, [k]: v })),
        ),
        (value) => {
          const result = parseRaceMessage(json(value) ?? 'undefined');
          if (result.ok) expect(parseRaceMessage(encodeRaceMessage(result.message))).toEqual(result);
        },
      ),
      { numRuns: 3_000 },
    );
  });

  it('refuses deep nesting by budget, not by stack overflow', () => {
    expect(errorOf('['.repeat(100_000)).code).toBe('too_large');
    expect(errorOf('['.repeat(500) + ']'.repeat(500)).code).toBe('not_object');
  });

  it('assertRaceMessage throws an InvalidPayloadError carrying the parse error', () => {
    expect(assertRaceMessage(SEED_MESSAGES[0]).name).toBe('Hayden');
    try {
      assertRaceMessage('{}');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidPayloadError);
      expect((error as InvalidPayloadError).error).toMatchObject({ code: 'missing_field', path: '/event' });
      expect((error as Error).message).toBe('missing_field at /event: is required');
    }
  });
});

describe('batches', () => {
  const seconds = (n: number, racerId = 7): RaceMessage[] =>
    Array.from({ length: n }, (_, i) =>
      validMessage({ racerId, second: i + 1, event: i === n - 1 ? 'final' : 'update', cadence: 60 + i }),
    );

  it('round-trips messages through a batch', () => {
    fc.assert(
      fc.property(fc.array(raceMessageArb, { minLength: 1, maxLength: 60 }), (messages) => {
        const first = messages[0]!;
        const same = messages.map((m) => ({
          ...m,
          raceId: first.raceId,
          racerId: first.racerId,
          classId: first.classId,
          name: first.name,
          clientId: undefined,
        }));
        for (const m of same) delete m.clientId;
        const batch = toBatch(same);
        const parsed = parseRaceBatch(JSON.stringify(batch));
        expect(parsed).toEqual({ ok: true, batch });
        if (parsed.ok) expect(expandBatch(parsed.batch)).toEqual(same);
      }),
      { numRuns: 300 },
    );
  });

  it('reports the failing sample by its path', () => {
    const batch = toBatch(seconds(5));
    (batch.samples[2] as unknown as Record<string, unknown>)['cadence'] = 999;
    expect(parseRaceBatch(json(batch))).toMatchObject({
      ok: false,
      error: { code: 'out_of_range', path: '/samples/2/cadence' },
    });
  });

  it('bounds samples and bytes', () => {
    const tooMany = toBatch(seconds(61));
    expect(parseRaceBatch(json(tooMany))).toMatchObject({
      ok: false,
      error: { code: 'out_of_range', path: '/samples' },
    });
    const empty = { ...toBatch(seconds(1)), samples: [] };
    expect(parseRaceBatch(json(empty))).toMatchObject({
      ok: false,
      error: { code: 'out_of_range', path: '/samples' },
    });
    const padded = { ...toBatch(seconds(5)), pad: 'x'.repeat(RACE_BATCH_MAX_BYTES) };
    expect(parseRaceBatch(json(padded))).toMatchObject({ ok: false, error: { code: 'too_large' } });
  });

  it('checks the identity of the whole batch', () => {
    const batch = { ...toBatch(seconds(3, 9)), clientId: 'racer-10' };
    expect(parseRaceBatch(json(batch))).toMatchObject({ ok: false, error: { code: 'identity_mismatch' } });
    const expanded = parseRaceRecord(json({ ...batch, clientId: 'racer-9' }));
    expect(expanded.ok && expanded.messages.every((m) => m.clientId === 'racer-9')).toBe(true);
  });

  it('toBatch refuses what one batch cannot hold, and keeps the client id', () => {
    expect(() => toBatch([validMessage({ racerId: 1 }), validMessage({ racerId: 2 })])).toThrow(
      InvalidArgumentError,
    );
    expect(() => toBatch([])).toThrow(InvalidArgumentError);
    expect(() => toBatch([validMessage({ name: 'Ana' }), validMessage({ name: 'Bea' })])).toThrow(
      /messages\[1\]\.name/,
    );
    expect(() =>
      toBatch([validMessage({ clientId: 'racer-5', racerId: 5 }), validMessage({ racerId: 5 })]),
    ).toThrow(/clientId/);
    const messages = [0, 1].map((second) => validMessage({ second, racerId: 5, clientId: 'racer-5' }));
    const batch = toBatch(messages);
    expect(batch.clientId).toBe('racer-5');
    expect(expandBatch(batch)).toEqual(messages);
  });
});

describe('parseRaceRecord', () => {
  it('reads a single message as one message', () => {
    expect(parseRaceRecord(SEED_MESSAGES[1])).toEqual({
      ok: true,
      messages: [JSON.parse(SEED_MESSAGES[1])],
      batched: false,
    });
  });

  it('reads a batch as its messages', () => {
    const messages = [validMessage({ second: 1 }), validMessage({ second: 2, event: 'final' })];
    const result = parseRaceRecord(Buffer.from(json(toBatch(messages))));
    expect(result).toEqual({ ok: true, messages, batched: true });
  });

  it('keeps the single-message byte budget for single messages', () => {
    const big = json({ ...validMessage(), pad: 'x'.repeat(2_000) });
    expect(parseRaceRecord(big)).toMatchObject({ ok: false, error: { code: 'too_large' } });
    expect(parseRaceRecord(Buffer.from(big))).toMatchObject({ ok: false, error: { code: 'too_large' } });
  });

  it('reports batch errors with their path', () => {
    expect(parseRaceRecord('{"samples":"no"}')).toMatchObject({
      ok: false,
      error: { code: 'missing_field', path: '/raceId' },
    });
  });
});

describe('binary input in every form a runtime hands out', () => {
  const encoder = new TextEncoder();
  const a = validMessage({ racerId: 0, second: 3, name: 'Hayden' });
  // Same length as a, different content: a stale read of a's bytes would still be a valid message.
  const b = validMessage({ racerId: 7, second: 4, name: 'Mallet' });

  it('reads an ArrayBuffer, a DataView and other views as the bytes they hold', () => {
    const bytes = encoder.encode(JSON.stringify(b));
    expect(encoder.encode(JSON.stringify(a)).byteLength).toBe(bytes.byteLength);
    const inLargerBuffer = new Uint8Array(bytes.byteLength + 8);
    inLargerBuffer.set(bytes, 4);
    const forms: unknown[] = [
      bytes.buffer,
      new DataView(bytes.buffer),
      new DataView(inLargerBuffer.buffer, 4, bytes.byteLength),
      new Int8Array(inLargerBuffer.buffer, 4, bytes.byteLength),
      Buffer.from(bytes),
    ];
    for (const form of forms) {
      parseRaceMessage(JSON.stringify(a)); // leaves a's bytes in the parser's scratch space
      expect(parseRaceMessage(form as ArrayBuffer)).toEqual({ ok: true, message: b });
      parseRaceMessage(JSON.stringify(a));
      expect(parseRaceRecord(form as ArrayBuffer)).toEqual({ ok: true, messages: [b], batched: false });
    }
    expect(parseRaceBatch(encoder.encode(JSON.stringify(toBatch([b]))).buffer)).toMatchObject({ ok: true });
  });

  it('refuses anything that is neither text nor bytes with wrong_type, without throwing', () => {
    for (const value of [null, undefined, 42, {}, [1, 2], true]) {
      for (const parse of [parseRaceMessage, parseRaceRecord, parseRaceBatch] as Array<
        (v: unknown) => unknown
      >) {
        expect(parse(value)).toMatchObject({ ok: false, error: { code: 'wrong_type', path: '' } });
      }
    }
    expect(parseRaceMessage(null as unknown as string)).toMatchObject({
      error: { message: expect.stringMatching(/^is null, not JSON text/) },
    });
  });

  it('treats a byte order mark alike in text and bytes', () => {
    const text = `\ufeff${JSON.stringify(a)}`;
    expect(parseRaceMessage(text)).toEqual({ ok: true, message: a });
    expect(parseRaceMessage(encoder.encode(text))).toEqual({ ok: true, message: a });
    expect(parseRaceRecord(text)).toEqual({ ok: true, messages: [a], batched: false });
  });

  it('throws InvalidArgumentError for a byteLength outside the bytes', () => {
    const bytes = encoder.encode(JSON.stringify(a));
    for (const length of [-1, 1.5, Number.NaN, bytes.byteLength + 1])
      expect(() => parseRaceRecord(bytes, length)).toThrow(InvalidArgumentError);
  });
});
