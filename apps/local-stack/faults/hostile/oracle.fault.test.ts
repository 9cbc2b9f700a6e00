/**
 * The fuzzer's judge, without a stack: the verdicts it gives known inputs, and that its comparisons fail when
 * the pipeline loses, doubles, misfiles or miscodes something (a check that cannot fail proves nothing).
 */
import { Aggregator } from '@alleycat/kinesis-agg';
import {
  clientIdFor,
  encodeRaceMessage,
  IOT_MESSAGE_MAX_BYTES,
  KINESIS_RECORD_MAX_BYTES,
  output,
  type RaceMessage,
  roundScore,
} from '@alleycat/schema';
import { describe, expect, it } from 'vitest';
import { RaceBoards } from '../../src/race/race-boards.js';
import type { BoardWatch } from './boards.js';
import type { Input } from './inputs.js';
import { ExpectedScores, fateOverKinesis, fateOverMqtt, TAG_FIELD } from './oracle.js';
import { boardProblems, type Judged, judge, matchFiles } from './run.js';
import type { Inspected } from './stack.js';

const m = (second: number, over: Partial<RaceMessage> = {}): RaceMessage => ({
  event: 'update',
  deviceTimestamp: 1_700_000_000_000,
  second,
  raceId: 1,
  name: 'A',
  racerId: 7,
  classId: 1,
  cadence: 80,
  resistance: 40,
  ...over,
});
const bytes = (text: string) => Buffer.from(text);
const fates = (outcomes: ReturnType<typeof fateOverMqtt>) =>
  outcomes.map((o) => (o.fate === 'invalid' ? `invalid:${o.code}` : o.fate));

describe('verdicts over MQTT (client racer-7)', () => {
  const mqtt = (payload: Buffer | string, qos: 0 | 1 | 2 = 1) =>
    fates(fateOverMqtt(typeof payload === 'string' ? bytes(payload) : payload, clientIdFor(7), qos));
  it('refused by the broker: over 128 KiB, QoS 2', () => {
    expect(mqtt(Buffer.alloc(IOT_MESSAGE_MAX_BYTES + 1, 0x20))).toEqual(['refused-broker']);
    expect(mqtt(encodeRaceMessage(m(1)), 2)).toEqual(['refused-broker']);
  });
  it('logged by the rule: not a UTF-8 JSON object, or too deep to serialise', () => {
    for (const payload of [
      '',
      'not json',
      '[1]',
      '7',
      'null',
      `{"a":${'['.repeat(20_000)}${']'.repeat(20_000)}}`,
    ])
      expect(mqtt(payload), payload.slice(0, 20)).toEqual(['rule-log']);
    expect(mqtt(Buffer.concat([bytes('{"name":"'), Buffer.from([0xff]), bytes('"}')]))).toEqual(['rule-log']);
  });
  it("the rule's error action: no usable partition key", () => {
    const { racerId: _, ...noRacer } = m(1);
    expect(mqtt(JSON.stringify(noRacer))).toEqual(['error-action']);
    expect(mqtt(JSON.stringify({ ...m(1), racerId: 'x'.repeat(257) }))).toEqual(['error-action']);
  });
  it('judged by the Lambda: identity, schema codes; valid ones scored', () => {
    expect(mqtt(encodeRaceMessage(m(1, { racerId: 8 })))).toEqual(['invalid:identity_mismatch']);
    expect(mqtt(JSON.stringify({ ...m(1), clientId: clientIdFor(8), racerId: 8 }))).toEqual([
      'invalid:identity_mismatch',
    ]);
    expect(mqtt(encodeRaceMessage(m(1, { cadence: 251 })))).toEqual(['invalid:out_of_range']);
    expect(mqtt(`{"__proto__":{"racerId":7},${encodeRaceMessage(m(1)).slice(1)}`)).toEqual(['scored']);
    expect(mqtt(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes(encodeRaceMessage(m(1)))]))).toEqual([
      'scored',
    ]);
  });
});

describe('verdicts over Kinesis', () => {
  const kinesis = (payload: Buffer | string) =>
    fates(fateOverKinesis(typeof payload === 'string' ? bytes(payload) : payload));
  it('refused by PutRecords over 1 MiB; the Lambda judges the rest, aggregates record by record', () => {
    expect(kinesis(Buffer.alloc(KINESIS_RECORD_MAX_BYTES + 1))).toEqual(['refused-kinesis']);
    expect(kinesis(Buffer.from([0x7b, 0xff, 0x7d]))).toEqual(['invalid:not_utf8']);
    expect(kinesis(JSON.stringify({ ...m(1), clientId: 'dashboard' }))).toEqual([
      'invalid:identity_mismatch',
    ]);
    expect(kinesis(Buffer.from([0xf3, 0x89, 0x9a, 0xc2, 1, 2, 3]))).toEqual(['invalid:corrupt_aggregate']);
    const aggregator = new Aggregator({ passThroughSingle: false });
    aggregator.add({ partitionKey: '7', data: bytes(encodeRaceMessage(m(1))) });
    aggregator.add({ partitionKey: '7', data: bytes('[7]') });
    expect(kinesis(Buffer.from(aggregator.flush()!.data))).toEqual(['scored', 'invalid:not_object']);
  });
});

describe('the comparisons fail when the pipeline is wrong', () => {
  const input = (payload: string, via: 'mqtt' | 'kinesis' = 'kinesis'): Input =>
    via === 'mqtt'
      ? { via, kind: 'test', payload: bytes(payload), clientId: clientIdFor(7), qos: 1 }
      : { via, kind: 'test', payload: bytes(payload), partitionKey: '7' };
  const file = (place: Inspected['place'], payload: string, code: string): Inspected => ({
    place,
    file: `/x/${Math.random()}`,
    payload: bytes(payload),
    code,
    reason: `${code}: why`,
  });
  const bad = '{"racerId":7}';
  const tagged = JSON.stringify({ ...m(1, { cadence: 999 }), [TAG_FIELD]: 't1' });

  it('matches by bytes (Kinesis) and by tag (MQTT, rewritten by the rule)', () => {
    const judged: Judged[] = [judge(input(bad)), judge(input(tagged, 'mqtt')), judge(input('[1]', 'mqtt'))];
    const rewritten = JSON.stringify({ ...JSON.parse(tagged), clientId: 'racer-7' });
    const files = [
      file('invalid', bad, 'missing_field'),
      file('invalid', rewritten, 'out_of_range'),
      file('rule-log', '[1]', 'sql'),
    ];
    expect(matchFiles(judged, files)).toEqual([]);
  });
  it('a missing file, an extra file and a wrong code are each reported', () => {
    const judged: Judged[] = [judge(input(bad)), judge(input('{"x":1}'))];
    const problems = matchFiles(judged, [
      file('invalid', bad, 'not_json'),
      file('invalid', 'stray', 'not_json'),
    ]);
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/code not_json, expected missing_field/);
    expect(problems.join('\n')).toMatch(/nothing sent explains/);
    expect(problems.join('\n')).toMatch(/no invalid missing_field file/);
  });
  it('a second lost, a second doubled, an unexpected racer or race are each reported', () => {
    const expected = new ExpectedScores();
    for (const s of [1, 2]) expected.add(m(s));
    expected.add(m(1)); // a duplicate counts once
    const total = roundScore(2 * output(80, 40));
    // What the boards show: raceId → racerId → total.
    const watch = (standings: Array<[number, number]>, raceId = 1): BoardWatch => ({
      boards: new RaceBoards(),
      unreadable: 0,
      totals: () => new Map([[raceId, new Map(standings)]]),
      close: async () => {},
    });
    expect(boardProblems(watch([[7, total]]), expected)).toEqual([]);
    expect(boardProblems(watch([[7, roundScore(output(80, 40))]]), expected)).toHaveLength(1);
    expect(boardProblems(watch([[7, roundScore(3 * output(80, 40))]]), expected)).toHaveLength(1);
    expect(
      boardProblems(
        watch([
          [7, total],
          [8, 1],
        ]),
        expected,
      ),
    ).toHaveLength(1);
    expect(boardProblems(watch([[7, total]], 2), expected)).toHaveLength(2); // race 1 missing, race 2 unexpected
    expect(() => expected.add(m(1, { cadence: 81 }))).toThrow(/twice with different values/);
  });
});
