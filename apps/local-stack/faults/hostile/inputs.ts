/**
 * The fuzzer's inputs. fast-check generates small *descriptions* (a kind and its parameters); `buildCampaign`
 * turns them into bytes. So a failing case prints as a readable description, not as a megabyte of payload.
 *
 * Valid traffic: races of a few racers, each racer's seconds sent over MQTT (QoS 1, client id = racer),
 * Kinesis (PutRecords), both (the same second twice), in the batch form, or as KPL aggregates, some resent.
 * Hostile traffic: one input per description, over MQTT or Kinesis, each in a race of its own (so nothing it
 * does depends on the state another input left), every JSON object tagged with `TAG_FIELD`.
 */
import { Aggregator } from '@alleycat/kinesis-agg';
import {
  CLIENT_ID_FIELD,
  clientIdFor,
  encodeRaceMessage,
  IOT_MESSAGE_MAX_BYTES,
  KIB,
  KINESIS_RECORD_MAX_BYTES,
  MAX_CADENCE_RPM,
  MAX_ID,
  MAX_RACE_SECOND,
  MAX_RESISTANCE_PERCENT,
  MIB,
  RACE_BATCH_MAX_SAMPLES,
  type RaceMessage,
  toBatch,
} from '@alleycat/schema';
import fc from 'fast-check';
import { TAG_FIELD } from './oracle.js';

export type Via = 'mqtt' | 'kinesis';

/** One thing the test sends. */
export interface Input {
  via: Via;
  /** For the tally: `valid:mqtt`, `truncated`, `oversized`, … */
  kind: string;
  payload: Buffer;
  /** MQTT: the client that publishes it (a racer's `racer-{id}`). */
  clientId?: string;
  qos?: 0 | 1 | 2;
  /** Kinesis: the record's partition key. */
  partitionKey?: string;
  /** Kinesis records over this many bytes go in a second phase (see the test), so they cannot throttle MQTT. */
  big?: boolean;
}

// ---------------------------------------------------------------------------------------------- valid races

const value = (max: number) =>
  fc.oneof(
    { arbitrary: fc.integer({ min: 0, max: max * 1000 }).map((v) => v / 1000), weight: 8 },
    { arbitrary: fc.constantFrom(0, max, max / 2), weight: 1 },
    { arbitrary: fc.double({ min: 0, max, noNaN: true }), weight: 1 },
  );

/** The schema's `printable`: no C0 or C1 control characters. */
const printable = (s: string) =>
  [...s].every((ch) => {
    const c = ch.codePointAt(0)!;
    return c > 0x1f && (c < 0x7f || c > 0x9f);
  });
const validName = fc.oneof(
  fc.constantFrom(
    'Anna',
    'Zoë',
    '李雷',
    '🚴‍♀️ Rider',
    `O'Brien "The Rocket" \\ /`,
    'x'.repeat(64),
    '👍'.repeat(64),
  ),
  fc
    .string({ unit: 'binary', minLength: 1, maxLength: 64 })
    .filter((s) => printable(s) && [...s].length <= 64),
);

const VALID_PATHS = ['mqtt', 'kinesis', 'both', 'batch-kinesis', 'batch-mqtt', 'kpl'] as const;
export type ValidPath = (typeof VALID_PATHS)[number];

export interface RacerPlan {
  name: string;
  path: ValidPath;
  seconds: number[];
  values: Array<[number, number]>;
  resend: boolean;
  final: boolean;
  uuid: boolean;
}

const racerPlan: fc.Arbitrary<RacerPlan> = fc.record({
  name: validName,
  path: fc.constantFrom(...VALID_PATHS),
  seconds: fc.uniqueArray(
    fc.oneof(fc.integer({ min: 0, max: 30 }), fc.constantFrom(0, MAX_RACE_SECOND), fc.nat(MAX_RACE_SECOND)),
    { minLength: 1, maxLength: 12 },
  ),
  values: fc.array(fc.tuple(value(MAX_CADENCE_RPM), value(MAX_RESISTANCE_PERCENT)), {
    minLength: 12,
    maxLength: 12,
  }),
  resend: fc.boolean(),
  final: fc.boolean(),
  uuid: fc.boolean(),
});

export interface RacePlan {
  classId: number;
  racers: RacerPlan[];
}

const racePlan: fc.Arbitrary<RacePlan> = fc.record({
  classId: fc.integer({ min: 1, max: 5 }),
  racers: fc.array(racerPlan, { minLength: 1, maxLength: 8 }),
});

// -------------------------------------------------------------------------------------------- hostile inputs

/** The fields of the base message, in the seed's order; a mutation replaces a field's JSON text. */
const FIELDS = [
  'uuid',
  'event',
  'deviceTimestamp',
  'second',
  'raceId',
  'name',
  'racerId',
  'classId',
  'cadence',
  'resistance',
] as const;
type Field = (typeof FIELDS)[number];

/** JSON texts that are the wrong type for a field. */
const WRONG_TYPE: Record<Field, string[]> = {
  uuid: ['5', 'null', '["0b7f3c7e-1c1a-4c4e-9c1e-0d8b8a1f2e3d"]', '{}'],
  event: ['1', 'null', '["update"]', 'true'],
  deviceTimestamp: ['"1700000000000"', '1.5', 'null', '[]', 'true'],
  second: ['"1"', '1.5', 'null', '{"$numberInt":"1"}', 'false'],
  raceId: ['"7"', '7.25', 'null', '[7]', 'true'],
  name: ['5', 'null', '["Anna"]', '{"first":"Anna"}', 'false'],
  racerId: ['"7"', '7.5', 'null', '[7]', '{"id":7}', 'true'],
  classId: ['"1"', '1.5', 'null', '[1]', 'true'],
  cadence: ['"80"', 'null', '[80]', '{"rpm":80}', 'true'],
  resistance: ['"40"', 'null', '[40]', '{"pct":40}', 'false'],
};

/** JSON texts of the right type but outside the allowed range or values. */
const OUT_OF_RANGE: Record<Field, string[]> = {
  uuid: ['"not-a-uuid"', '""', `"${'g'.repeat(36)}"`, '"0b7f3c7e1c1a4c4e9c1e0d8b8a1f2e3d0000"'],
  event: ['"start"', '""', '"UPDATE"', '"final "'],
  deviceTimestamp: ['-1', '8640000000000001', '1e400'],
  second: ['-1', `${MAX_RACE_SECOND + 1}`, '1e300'],
  raceId: ['-1', `${MAX_ID + 1}`, '1e400', '-1e400'],
  name: ['""', `"${'x'.repeat(65)}"`, '"bell\\u0007"', '"nel\\u0085"', `"${'👍'.repeat(65)}"`],
  racerId: ['-1', `${MAX_ID + 1}`, '1e308'],
  classId: ['-1', `${MAX_ID + 1}`, '-0.5'],
  cadence: ['-0.001', `${MAX_CADENCE_RPM + 0.001}`, '1e309', '-1e309'],
  resistance: ['-1', `${MAX_RESISTANCE_PERCENT + 0.5}`, '1e309'],
};

const REQUIRED: Field[] = FIELDS.filter((f) => f !== 'uuid');

const via = fc.constantFrom<Via>('mqtt', 'kinesis');
const mutation = (pool: Record<Field, string[]>) =>
  fc.constantFrom(...FIELDS).chain((field) => fc.tuple(fc.constant(field), fc.constantFrom(...pool[field])));

/** Key/value JSON texts added to a message: prototype pollution attempts and other unknown fields. */
const PROTO_EXTRAS: Array<[string, string]> = [
  ['__proto__', '{"racerId":1,"cadence":250,"polluted":true}'],
  ['constructor', '{"prototype":{"polluted":true,"racerId":1}}'],
  ['prototype', '{"racerId":1}'],
  ['__proto__', 'null'],
  ['__proto__', '[1,2,3]'],
  ['x', '{"__proto__":{"admin":true},"constructor":{"prototype":{"admin":true}}}'],
  ['toString', '"not a function"'],
  ['hasOwnProperty', '1'],
  ['valueOf', '{}'],
];

/** How a hostile input is made, before it has ids and bytes. */
export type HostileSpec =
  | { kind: 'truncated'; via: Via; cutPerMille: number }
  | { kind: 'binary'; via: Via; bytes: Uint8Array }
  | { kind: 'kpl-corrupt'; bytes: Uint8Array; keepMagicOnly: boolean }
  | { kind: 'kpl-mixed'; bad: Array<[Field, string]>; goodFirst: boolean }
  | { kind: 'non-utf8'; via: Via; seq: readonly number[]; where: 'name' | 'key' | 'outside' }
  | { kind: 'wrong-type'; via: Via; mutations: Array<[Field, string]> }
  | { kind: 'out-of-range'; via: Via; mutations: Array<[Field, string]> }
  | { kind: 'missing'; via: Via; drop: Field[] }
  | { kind: 'not-object'; via: Via; text: string }
  | { kind: 'deep'; via: Via; depth: number; shape: 'array' | 'object'; at: 'extra' | 'name' | 'racerId' }
  | { kind: 'proto'; via: Via; extras: Array<[string, string]>; dropRequired: Field | null }
  | { kind: 'oversized'; via: Via; bytes: number; form: 'single' | 'batch' | 'padding' }
  | { kind: 'batch-invalid'; via: Via; samples: number; bad: [Field, string] | null }
  | { kind: 'identity'; via: Via; forgedField: boolean; asDashboard: boolean }
  | { kind: 'partition-key'; racerId: 'absent' | 'empty' | 'long' | 'long-array' }
  | { kind: 'empty'; via: Via }
  | { kind: 'qos2' }
  | {
      kind: 'odd-valid';
      via: Via;
      variant:
        | 'proto'
        | 'whitespace'
        | 'exponent'
        | 'lone-surrogate'
        | 'duplicate-key'
        | 'deep-extra'
        | 'forged-own-client-id'
        | 'bom';
      extras: Array<[string, string]>;
    };

const bytes = (max: number) => fc.uint8Array({ minLength: 1, maxLength: max });

export function hostileSpec(): fc.Arbitrary<HostileSpec> {
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('truncated' as const),
        via,
        cutPerMille: fc.integer({ min: 0, max: 999 }),
      }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('binary' as const), via, bytes: bytes(300) }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('kpl-corrupt' as const),
        bytes: bytes(200),
        keepMagicOnly: fc.boolean(),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('kpl-mixed' as const),
        bad: fc.array(mutation(WRONG_TYPE), { minLength: 1, maxLength: 2 }),
        goodFirst: fc.boolean(),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('non-utf8' as const),
        via,
        seq: fc.constantFrom(
          [0xff],
          [0xfe, 0xff],
          [0xc0, 0x80],
          [0xed, 0xa0, 0x80],
          [0xf5, 0x80, 0x80, 0x80],
          [0xe2, 0x82],
          [0x80],
        ),
        where: fc.constantFrom('name' as const, 'key' as const, 'outside' as const),
      }),
    },
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('wrong-type' as const),
        via,
        mutations: fc.array(mutation(WRONG_TYPE), { minLength: 1, maxLength: 3 }),
      }),
    },
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('out-of-range' as const),
        via,
        mutations: fc.array(mutation(OUT_OF_RANGE), { minLength: 1, maxLength: 3 }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('missing' as const),
        via,
        drop: fc.uniqueArray(fc.constantFrom(...REQUIRED), { minLength: 1, maxLength: REQUIRED.length }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('not-object' as const),
        via,
        text: fc.oneof(
          fc.constantFrom('[]', '[{"racerId":7}]', '7', '-0', '"racer"', 'null', 'true', '""', '1e400'),
          fc.json().filter((j) => !j.startsWith('{')),
        ),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('deep' as const),
        via,
        // Up to 2,000 levels fit the schema's byte budgets; from ~10,000 on, JSON.stringify overflows the stack
        // (the rule once crashed on that: hostile-findings.md F1).
        depth: fc.oneof(
          fc.integer({ min: 2, max: 400 }),
          fc.integer({ min: 401, max: 2_000 }),
          fc.integer({ min: 10_000, max: 60_000 }),
        ),
        shape: fc.constantFrom('array' as const, 'object' as const),
        at: fc.constantFrom('extra' as const, 'name' as const, 'racerId' as const),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('proto' as const),
        via,
        extras: fc.subarray(PROTO_EXTRAS, { minLength: 1 }),
        dropRequired: fc.option(fc.constantFrom(...REQUIRED), { nil: null }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('oversized' as const),
        via,
        bytes: fc.oneof(
          { weight: 8, arbitrary: fc.integer({ min: KIB + 1, max: 16 * KIB }) },
          { weight: 3, arbitrary: fc.integer({ min: 16 * KIB + 1, max: 64 * KIB }) },
          { weight: 1, arbitrary: fc.integer({ min: 64 * KIB + 1, max: IOT_MESSAGE_MAX_BYTES }) },
          { weight: 2, arbitrary: fc.integer({ min: IOT_MESSAGE_MAX_BYTES + 1, max: 160 * KIB }) },
          { weight: 1, arbitrary: fc.integer({ min: 512 * KIB, max: KINESIS_RECORD_MAX_BYTES - KIB }) },
          {
            weight: 2,
            arbitrary: fc.integer({
              min: KINESIS_RECORD_MAX_BYTES + 1,
              max: KINESIS_RECORD_MAX_BYTES + 64 * KIB,
            }),
          },
        ),
        form: fc.constantFrom('single' as const, 'batch' as const, 'padding' as const),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('batch-invalid' as const),
        via,
        samples: fc.oneof(
          fc.integer({ min: 1, max: 5 }),
          fc.constant(0),
          fc.constant(RACE_BATCH_MAX_SAMPLES + 1),
        ),
        bad: fc.option(
          mutation(WRONG_TYPE).filter(([f]) =>
            ['event', 'deviceTimestamp', 'second', 'cadence', 'resistance', 'uuid'].includes(f),
          ),
          { nil: null },
        ),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('identity' as const),
        via,
        forgedField: fc.boolean(),
        asDashboard: fc.boolean(),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('partition-key' as const),
        racerId: fc.constantFrom('absent' as const, 'empty' as const, 'long' as const, 'long-array' as const),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('empty' as const), via }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('qos2' as const) }) },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('odd-valid' as const),
        via,
        variant: fc.constantFrom(
          'proto' as const,
          'whitespace' as const,
          'exponent' as const,
          'lone-surrogate' as const,
          'duplicate-key' as const,
          'deep-extra' as const,
          'forged-own-client-id' as const,
          'bom' as const,
        ),
        extras: fc.subarray(PROTO_EXTRAS, { minLength: 1, maxLength: 3 }),
      }),
    },
  );
}

export interface Campaign {
  races: RacePlan[];
  hostile: HostileSpec[];
  /** Seeds the interleaving of valid and hostile sends. */
  order: number;
  cadence: number;
  resistance: number;
}

export function campaign(hostileCount: number): fc.Arbitrary<Campaign> {
  return fc.record({
    races: fc.array(racePlan, { minLength: 2, maxLength: 4 }),
    hostile: fc.array(hostileSpec(), { minLength: hostileCount, maxLength: hostileCount }),
    order: fc.integer(),
    cadence: value(MAX_CADENCE_RPM),
    resistance: value(MAX_RESISTANCE_PERCENT),
  });
}

// ------------------------------------------------------------------------------------------------- building

/** Ids of one run: every run of the property gets races and racers no other run uses. */
export interface RunIds {
  run: number;
  /** First race id of the run's valid races; hostile inputs use `hostileRaceBase + index`. */
  raceBase: number;
  hostileRaceBase: number;
  racerBase: number;
  /** Racers that publish the hostile MQTT inputs (each with its own connection). */
  hostileRacers: number[];
}

export function runIds(run: number): RunIds {
  const base = (run + 1) * 100_000;
  return {
    run,
    raceBase: base,
    hostileRaceBase: base + 1_000,
    racerBase: base,
    hostileRacers: Array.from({ length: 32 }, (_, i) => base + 90_000 + i),
  };
}

type Pairs = Array<[string, string]>;

const text = (pairs: Pairs) => `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;

function basePairs(ids: RunIds, index: number, racerId: number, c: Campaign): Pairs {
  return [
    ['uuid', JSON.stringify(uuidFor(ids.run, index))],
    ['event', '"update"'],
    ['deviceTimestamp', String(1_700_000_000_000 + index)],
    ['second', String(index % 100)],
    ['raceId', String(ids.hostileRaceBase + index)],
    ['name', '"Hostile"'],
    ['racerId', String(racerId)],
    ['classId', '1'],
    ['cadence', JSON.stringify(c.cadence)],
    ['resistance', JSON.stringify(c.resistance)],
    [TAG_FIELD, JSON.stringify(`r${ids.run}-h${index}`)],
  ];
}

function uuidFor(run: number, index: number): string {
  const hex = (run * 1_000_000 + index).toString(16).padStart(12, '0');
  return `0b7f3c7e-1c1a-4c4e-9c1e-${hex}`;
}

function mutate(pairs: Pairs, mutations: Array<[Field, string]>): Pairs {
  const out = pairs.map((p) => [...p] as [string, string]);
  for (const [field, value] of mutations) {
    const at = out.findIndex(([k]) => k === field);
    if (at >= 0) out[at]![1] = value;
  }
  return out;
}

function nest(depth: number, shape: 'array' | 'object', leaf = '1'): string {
  return shape === 'array'
    ? `${'['.repeat(depth)}${leaf}${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}${leaf}${'}'.repeat(depth)}`;
}

/** Pads a JSON object text to `size` bytes with an unknown string field (or whitespace). */
function padTo(objectText: string, size: number, form: 'padding' | 'field'): string {
  const missing = size - Buffer.byteLength(objectText);
  if (missing <= 0) return objectText;
  if (form === 'padding') return `${objectText.slice(0, -1)}${' '.repeat(missing)}}`;
  const field = `,"pad":""`;
  const fill = Math.max(0, missing - field.length);
  return `${objectText.slice(0, -1)},"pad":"${'p'.repeat(fill)}"}`;
}

/** Turns one description into the input the test sends. */
export function buildHostile(spec: HostileSpec, index: number, ids: RunIds, c: Campaign): Input {
  const racers = ids.hostileRacers;
  const racerId = racers[index % racers.length]!;
  const own = clientIdFor(racerId);
  const pairs = basePairs(ids, index, racerId, c);
  const key = String(racerId);
  const mk = (v: Via, payload: Buffer | string, extra: Partial<Input> = {}): Input => {
    const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const input: Input = { via: v, kind: spec.kind, payload: data, ...extra };
    if (v === 'mqtt') {
      input.clientId ??= own;
      input.qos ??= 1;
    } else {
      input.partitionKey ??= key;
      if (data.byteLength > 64 * KIB) input.big = true;
    }
    return input;
  };
  switch (spec.kind) {
    case 'truncated': {
      const full = text(pairs);
      return mk(spec.via, full.slice(0, 1 + Math.floor((spec.cutPerMille / 1000) * (full.length - 1))));
    }
    case 'binary':
      return mk(spec.via, Buffer.from(spec.bytes));
    case 'kpl-corrupt': {
      const magic = Buffer.from([0xf3, 0x89, 0x9a, 0xc2]);
      return mk('kinesis', spec.keepMagicOnly ? magic : Buffer.concat([magic, spec.bytes]));
    }
    case 'kpl-mixed': {
      const good = Buffer.from(text(pairs));
      const badPairs = mutate(basePairs(ids, index, racerId, c), spec.bad).map(([k, v]) =>
        k === TAG_FIELD
          ? ([k, JSON.stringify(`r${ids.run}-h${index}-bad`)] as [string, string])
          : ([k, v] as [string, string]),
      );
      const bad = Buffer.from(text(badPairs));
      const users = spec.goodFirst ? [good, bad] : [bad, good];
      const aggregator = new Aggregator({ passThroughSingle: false });
      for (const data of users) aggregator.add({ partitionKey: key, data });
      const record = aggregator.flush()!;
      return mk('kinesis', Buffer.from(record.data), { partitionKey: record.partitionKey });
    }
    case 'non-utf8': {
      const seq = Buffer.from(spec.seq);
      const full = text(pairs);
      if (spec.where === 'outside') return mk(spec.via, Buffer.concat([Buffer.from(full), seq]));
      const marker = spec.where === 'name' ? '"Hostile' : '"deviceTimestamp';
      const at = full.indexOf(marker) + marker.length;
      return mk(spec.via, Buffer.concat([Buffer.from(full.slice(0, at)), seq, Buffer.from(full.slice(at))]));
    }
    case 'wrong-type':
    case 'out-of-range':
      return mk(spec.via, text(mutate(pairs, spec.mutations)));
    case 'missing':
      return mk(spec.via, text(pairs.filter(([k]) => !spec.drop.includes(k as Field))));
    case 'not-object':
      return mk(spec.via, spec.text);
    case 'deep': {
      const deep = nest(spec.depth, spec.shape);
      if (spec.at === 'extra') return mk(spec.via, text([...pairs, ['deep', deep]]));
      return mk(spec.via, text(mutate(pairs, [[spec.at, deep]])));
    }
    case 'proto': {
      let out: Pairs = [...spec.extras, ...pairs];
      if (spec.dropRequired !== null) {
        // The dropped field only inside `__proto__`: a parser that merged prototypes would find it there.
        const dropped = pairs.find(([k]) => k === spec.dropRequired)!;
        out = out.filter(([k]) => k !== spec.dropRequired);
        out.unshift(['__proto__', `{${JSON.stringify(dropped[0])}:${dropped[1]}}`]);
      }
      return mk(spec.via, text(out));
    }
    case 'oversized': {
      if (spec.form === 'batch') {
        const samples = Array.from({ length: 3 }, (_, s) => ({
          event: 'update',
          deviceTimestamp: 1_700_000_000_000 + s,
          second: s,
          cadence: c.cadence,
          resistance: c.resistance,
        }));
        const batch = `{"raceId":${ids.hostileRaceBase + index},"name":"Hostile","racerId":${racerId},"classId":1,"samples":${JSON.stringify(samples)},${JSON.stringify(TAG_FIELD)}:"r${ids.run}-h${index}"}`;
        return mk(spec.via, padTo(batch, spec.bytes, 'field'));
      }
      return mk(spec.via, padTo(text(pairs), spec.bytes, spec.form === 'padding' ? 'padding' : 'field'));
    }
    case 'batch-invalid': {
      const samples = Array.from({ length: spec.samples }, (_, s) => {
        const sample: Pairs = [
          ['event', '"update"'],
          ['deviceTimestamp', String(1_700_000_000_000 + s)],
          ['second', String(s)],
          ['cadence', JSON.stringify(c.cadence)],
          ['resistance', JSON.stringify(c.resistance)],
        ];
        return text(
          s === 0 && spec.bad !== null
            ? mutate([...sample, ['uuid', JSON.stringify(uuidFor(ids.run, index))]], [spec.bad])
            : sample,
        );
      });
      const batch = text([
        ['raceId', String(ids.hostileRaceBase + index)],
        ['name', '"Hostile"'],
        ['racerId', String(racerId)],
        ['classId', '1'],
        ['samples', `[${samples.join(',')}]`],
        [TAG_FIELD, JSON.stringify(`r${ids.run}-h${index}`)],
      ]);
      return mk(spec.via, batch);
    }
    case 'identity': {
      // Another hostile racer's message: over MQTT sent from this racer's connection; over Kinesis with a
      // client id field that is not the racer's (as if a rule had recorded another sender).
      const other = racers[(index + 1) % racers.length]!;
      const sender = spec.asDashboard ? 'dashboard-1' : own;
      let out = mutate(pairs, [['racerId', String(other)]]);
      if (spec.forgedField || spec.via === 'kinesis')
        out = [
          ...out,
          [CLIENT_ID_FIELD, JSON.stringify(spec.via === 'kinesis' ? sender : clientIdFor(other))],
        ];
      return mk(
        spec.via,
        text(out),
        spec.via === 'mqtt' ? { clientId: sender } : { partitionKey: String(other) },
      );
    }
    case 'partition-key': {
      const value = {
        absent: undefined,
        empty: '""',
        long: JSON.stringify('7'.repeat(300)),
        'long-array': JSON.stringify(Array.from({ length: 100 }, () => 7)),
      }[spec.racerId];
      const out =
        value === undefined ? pairs.filter(([k]) => k !== 'racerId') : mutate(pairs, [['racerId', value]]);
      return mk('mqtt', text(out));
    }
    case 'empty':
      return mk(spec.via, Buffer.alloc(0));
    case 'qos2':
      return mk('mqtt', text(pairs), { qos: 2 });
    case 'odd-valid': {
      switch (spec.variant) {
        case 'proto':
          return mk(spec.via, text([...spec.extras, ...pairs]));
        case 'whitespace':
          return mk(spec.via, ` \n\t${text(pairs).replaceAll(',', ' ,\n ')}\r\n `);
        case 'exponent':
          return mk(
            spec.via,
            text(
              mutate(pairs, [
                ['second', '2e1'],
                ['classId', '1.0'],
                ['cadence', '8E1'],
                ['resistance', '0.4e2'],
              ]),
            ),
          );
        case 'lone-surrogate':
          return mk(spec.via, text(mutate(pairs, [['name', '"\\ud800 lone \\udfff"']])));
        case 'duplicate-key':
          return mk(spec.via, text([['cadence', '250'], ['racerId', '"spoof"'], ...pairs]));
        case 'deep-extra':
          return mk(spec.via, text([...pairs, ['deep', nest(60, 'array')]]));
        case 'forged-own-client-id':
          return mk(spec.via, text([...pairs, [CLIENT_ID_FIELD, JSON.stringify(own)]]));
        case 'bom': // a UTF-8 byte order mark first: decoders drop it, as the schema's does
          return mk(spec.via, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text(pairs))]));
      }
    }
  }
}

/** The valid messages of a race plan, and the inputs that send them (with resends and both paths). */
export function buildRaces(races: RacePlan[], ids: RunIds): { inputs: Input[]; racers: number[] } {
  const inputs: Input[] = [];
  const racers: number[] = [];
  races.forEach((race, r) => {
    const raceId = ids.raceBase + r;
    race.racers.forEach((plan, p) => {
      const racerId = ids.racerBase + 100 + r * 10 + p;
      racers.push(racerId);
      const last = Math.max(...plan.seconds);
      const messages: RaceMessage[] = plan.seconds.map((second, s) => {
        const [cadence, resistance] = plan.values[s]!;
        const m: RaceMessage = {
          event: plan.final && second === last ? 'final' : 'update',
          deviceTimestamp: 1_700_000_000_000 + second * 1000,
          second,
          raceId,
          name: plan.name,
          racerId,
          classId: race.classId,
          cadence,
          resistance,
        };
        if (plan.uuid) m.uuid = uuidFor(ids.run, 500_000 + racerId * 100 + s);
        return m;
      });
      const key = String(racerId);
      const client = clientIdFor(racerId);
      const kind = `valid:${plan.path}`;
      const mqtt = (payload: string): Input => ({
        via: 'mqtt',
        kind,
        payload: Buffer.from(payload),
        clientId: client,
        qos: 1,
      });
      const kinesis = (payload: Buffer | string): Input => ({
        via: 'kinesis',
        kind,
        payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
        partitionKey: key,
      });
      const sends: Input[] = [];
      switch (plan.path) {
        case 'mqtt':
          for (const m of messages) sends.push(mqtt(encodeRaceMessage(m)));
          break;
        case 'kinesis':
          for (const m of messages) sends.push(kinesis(encodeRaceMessage(m)));
          break;
        case 'both':
          for (const m of messages) sends.push(mqtt(encodeRaceMessage(m)), kinesis(encodeRaceMessage(m)));
          break;
        case 'batch-kinesis':
        case 'batch-mqtt': {
          const batch = JSON.stringify(toBatch(messages));
          sends.push(plan.path === 'batch-mqtt' ? mqtt(batch) : kinesis(batch));
          break;
        }
        case 'kpl': {
          const aggregator = new Aggregator({ passThroughSingle: false });
          for (const m of messages)
            aggregator.add({ partitionKey: key, data: Buffer.from(encodeRaceMessage(m)) });
          sends.push(kinesis(Buffer.from(aggregator.flush()!.data)));
          break;
        }
      }
      inputs.push(...sends);
      if (plan.resend) inputs.push(...sends.map((s) => ({ ...s, kind: `${kind}:resend` })));
    });
  });
  return { inputs, racers };
}

export { MIB };
