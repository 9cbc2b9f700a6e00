/**
 * The one definition of every message Alleycat exchanges. Ranges and policies are decided here (see the
 * package README § Policies): physical ranges are generous bounds that catch unit mistakes and garbage,
 * not judgements about riders.
 */
import { RACE_BATCH_MAX_SAMPLES } from './limits.js';
import type { FieldSpec, ObjectSpec, StringSpec } from './spec.js';

/** Largest id: ids must survive a round trip through JSON numbers in every language (IEEE 754 doubles). */
export const MAX_ID = Number.MAX_SAFE_INTEGER;
/** Longest race, in seconds: a day. */
export const MAX_RACE_SECOND = 86_400;
/** Latest representable JavaScript date, in ms: device clocks are informational, so any valid epoch is kept. */
export const MAX_DEVICE_TIMESTAMP_MS = 8_640_000_000_000_000;
/** Cadence bound, in revolutions per minute: above elite sprint cadence (~200 rpm) with margin. */
export const MAX_CADENCE_RPM = 250;
/** Resistance bound, in percent of the bike's range. */
export const MAX_RESISTANCE_PERCENT = 100;
/** Rider display names, in Unicode code points. */
export const MAX_NAME_CHARS = 64;
/** Highest possible `output` for one second: `output(MAX_CADENCE_RPM, MAX_RESISTANCE_PERCENT)`. */
export const MAX_OUTPUT = ((MAX_CADENCE_RPM + 35) * (MAX_RESISTANCE_PERCENT + 65)) / 100;

const id = (description: string) =>
  ({ kind: 'integer', minimum: 0, maximum: MAX_ID, description }) as const satisfies FieldSpec;

const event = {
  kind: 'enum',
  values: ['update', 'final'],
  description: "`update` every second; `final` on the racer's last second (closes their race).",
} as const satisfies FieldSpec;
const deviceTimestamp = {
  kind: 'integer',
  minimum: 0,
  maximum: MAX_DEVICE_TIMESTAMP_MS,
  description: "The bike's clock when the sample was taken, in milliseconds since the Unix epoch.",
} as const satisfies FieldSpec;
const second = {
  kind: 'integer',
  minimum: 0,
  maximum: MAX_RACE_SECOND,
  description: "Race second this sample belongs to; a racer's second counts once however often it arrives.",
} as const satisfies FieldSpec;
const cadence = {
  kind: 'number',
  minimum: 0,
  maximum: MAX_CADENCE_RPM,
  description: 'Pedal cadence in revolutions per minute; fractions allowed.',
} as const satisfies FieldSpec;
const resistance = {
  kind: 'number',
  minimum: 0,
  maximum: MAX_RESISTANCE_PERCENT,
  description: "Resistance in percent of the bike's range; fractions allowed.",
} as const satisfies FieldSpec;
const name = {
  kind: 'string',
  minLength: 1,
  maxLength: MAX_NAME_CHARS,
  format: 'printable',
  description: 'Rider display name.',
} as const satisfies StringSpec;
const uuid = (description: string) =>
  ({
    kind: 'string',
    minLength: 36,
    maxLength: 36,
    format: 'uuid',
    description,
    optional: true,
  }) as const satisfies StringSpec;
const clientId = {
  kind: 'string',
  minLength: 1,
  maxLength: 128,
  format: 'printable',
  description:
    'MQTT client id of the sender, added by the ingest rule (`clientid()`); bikes do not send it. ' +
    'When present it must be `racer-{racerId}`.',
  optional: true,
} as const satisfies StringSpec;

/** One second of one racer: the seed's message, wire-compatible, plus the optional `clientId`. */
export const RACE_MESSAGE = {
  kind: 'object',
  description: 'One second of one racer in one race.',
  fields: {
    event,
    deviceTimestamp,
    second,
    raceId: id('One race of one class.'),
    name,
    racerId: id('The rider: unique across classes, stable across races.'),
    classId: id('The class (a group racing together); results go to `alleycat-subscribe/{classId}`.'),
    cadence,
    resistance,
    uuid: uuid('Message id chosen by the bike (the original frontend sent one; the simulator did not).'),
    clientId,
  },
} as const satisfies ObjectSpec;

/** One second inside a batch: the per-second fields of a race message. */
export const RACE_SAMPLE = {
  kind: 'object',
  description: 'One second of a racer inside a batch.',
  fields: {
    event,
    deviceTimestamp,
    second,
    cadence,
    resistance,
    uuid: uuid('Sample id chosen by the bike.'),
  },
} as const satisfies ObjectSpec;

/** Several seconds of one racer in one message: the seed's "buffer 5 seconds, send once" producer pattern. */
export const RACE_BATCH = {
  kind: 'object',
  description: 'Several seconds of one racer in one race, sent as one message.',
  fields: {
    raceId: RACE_MESSAGE.fields.raceId,
    name,
    racerId: RACE_MESSAGE.fields.racerId,
    classId: RACE_MESSAGE.fields.classId,
    samples: {
      kind: 'array',
      items: RACE_SAMPLE,
      minItems: 1,
      maxItems: RACE_BATCH_MAX_SAMPLES,
      description: "The racer's seconds, oldest first (order is not required; duplicates are absorbed).",
    },
    uuid: uuid('Batch id chosen by the bike.'),
    clientId,
  },
} as const satisfies ObjectSpec;

const score = (description: string) =>
  ({ kind: 'number', minimum: 0, maximum: Number.MAX_VALUE, description }) as const satisfies FieldSpec;

/** `[racerId, current, total, max, rank]`: one racer's standing, compact so 1,000 racers fit one message. */
export const STANDING = {
  kind: 'tuple',
  description: '[racerId, current output, total output, max output, rank]; sorted by rank.',
  items: [
    id('racerId'),
    score("Output of the racer's latest second."),
    score("Sum of output over the racer's distinct seconds."),
    score('Highest output of one second.'),
    { kind: 'integer', minimum: 1, maximum: MAX_ID, description: 'Rank (1 = leader; ties share a rank).' },
  ],
} as const satisfies FieldSpec;

/** Standings of a whole race, published on `alleycat-subscribe/{classId}` at most once a second. */
export const LEADERBOARD_MESSAGE = {
  kind: 'object',
  description: 'Standings of one race, as published to the bikes of its class.',
  fields: {
    type: { kind: 'enum', values: ['leaderboard'], description: 'Message kind on the results topic.' },
    raceId: RACE_MESSAGE.fields.raceId,
    classId: RACE_MESSAGE.fields.classId,
    second: { ...second, description: 'Latest race second counted in these standings.' },
    publishedAt: {
      kind: 'integer',
      minimum: 0,
      maximum: MAX_DEVICE_TIMESTAMP_MS,
      description: 'Backend clock when published, in milliseconds since the Unix epoch.',
    },
    closed: { kind: 'boolean', description: 'True once the race is over (every racer final, or timed out).' },
    racers: { kind: 'integer', minimum: 0, maximum: MAX_ID, description: 'Racers in the whole race.' },
    part: { kind: 'integer', minimum: 1, maximum: 10_000, description: "This part's number, from 1." },
    parts: {
      kind: 'integer',
      minimum: 1,
      maximum: 10_000,
      description: "Parts the standings are split into (to stay under IoT Core's 128 KB per message).",
    },
    standings: {
      kind: 'array',
      items: STANDING,
      minItems: 0,
      maxItems: 100_000,
      description: 'Standings of this part, in rank order.',
    },
    names: {
      kind: 'array',
      optional: true,
      minItems: 0,
      maxItems: 100_000,
      description:
        'Display names as [racerId, name], sent when racers join and now and then, not every second.',
      items: {
        kind: 'tuple',
        description: '[racerId, name]',
        items: [id('racerId'), { ...name, optional: false }],
      },
    },
  },
} as const satisfies ObjectSpec;
