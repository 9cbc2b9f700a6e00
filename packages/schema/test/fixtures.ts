import fc from 'fast-check';
import { FORMATS } from '../src/formats.js';
import type { RaceMessage } from '../src/index.js';

/** The `Data` of the seed's PutRecords call: both must parse. */
export const SEED_MESSAGES = [
  '{"event":"update","deviceTimestamp":1620824038331,"second":3,"raceId":5402746,"name":"Hayden","racerId":0,"classId":1,"cadence":79.8,"resistance":79}',
  '{"event":"update","deviceTimestamp":1620824038331,"second":3,"raceId":5402746,"name":"Hubert","racerId":1,"classId":1,"cadence":60.4,"resistance":60.6}',
] as const;

export const validMessage = (overrides: Partial<RaceMessage> = {}): RaceMessage => ({
  event: 'update',
  deviceTimestamp: 1620824038331,
  second: 3,
  raceId: 5402746,
  name: 'Hayden',
  racerId: 7,
  classId: 1,
  cadence: 79.8,
  resistance: 79,
  ...overrides,
});

const printable = fc
  .string({ minLength: 1, maxLength: 64, unit: 'grapheme' })
  .filter((s) => FORMATS.printable.test(s) && [...s].length <= 64 && s.length > 0);

/** Arbitrary valid race messages, exercising every optional field and the full ranges. */
export const raceMessageArb: fc.Arbitrary<RaceMessage> = fc
  .record(
    {
      event: fc.constantFrom('update' as const, 'final' as const),
      deviceTimestamp: fc.integer({ min: 0, max: 8_640_000_000_000_000 }),
      second: fc.integer({ min: 0, max: 86_400 }),
      raceId: fc.maxSafeNat(),
      name: printable,
      racerId: fc.maxSafeNat(),
      classId: fc.maxSafeNat(),
      cadence: fc.double({ min: 0, max: 250, noNaN: true }),
      resistance: fc.double({ min: 0, max: 100, noNaN: true }),
      uuid: fc.uuid(),
      withClientId: fc.boolean(),
    },
    {
      requiredKeys: [
        'event',
        'deviceTimestamp',
        'second',
        'raceId',
        'name',
        'racerId',
        'classId',
        'cadence',
        'resistance',
      ],
    },
  )
  .map(({ withClientId, ...m }) => {
    // -0 does not survive JSON (it becomes 0); normalise so round trips compare equal.
    const message: RaceMessage = { ...m, cadence: m.cadence + 0, resistance: m.resistance + 0 };
    if (withClientId) message.clientId = `racer-${m.racerId}`;
    return message;
  });

/** A valid message with one field replaced, removed, or one field added. */
export const mutatedMessageArb: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    raceMessageArb,
    fc.constantFrom(...Object.keys(validMessage()), 'uuid', 'clientId', 'extra', '__proto__'),
    fc.oneof(
      fc.jsonValue({ maxDepth: 2 }),
      fc.constant(undefined),
      fc.double(),
      fc.integer({ min: -10, max: 100_000 }),
      fc.string({ maxLength: 70 }),
      fc.constantFrom('update', 'final', 'racer-1', '', 1e21, -0.5, 250.5, 86_401, 9_007_199_254_740_992),
    ),
  )
  .map(([message, key, value]) => {
    const copy: Record<string, unknown> = { ...message };
    if (value === undefined) delete copy[key];
    else Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
    return copy;
  });
