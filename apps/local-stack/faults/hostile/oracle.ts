/**
 * What must become of each input, decided here from the contract alone (pure, no stack): the schema's
 * parse functions and limits, DESIGN § Identities, and what IoT Core and Kinesis do at their doors. The test
 * compares these verdicts, one input at a time, with what the running pipeline did.
 *
 * MQTT, in IoT Core's order: QoS 2 or a payload over 128 KiB → the broker refuses it (connection closed,
 * counted); a payload that is not UTF-8 JSON *object* → the rule cannot run `SELECT *, clientid() AS clientId`
 * on it and logs it (rule-logs/); an empty or over-long partition key (`${racerId}`) → the Kinesis action
 * fails → the rule's error action (errors/); otherwise the rule's record (payload + the sender's client id)
 * is judged by the Lambda: scored, or an `invalid/` report with the schema's code.
 * Kinesis: a record over 1 MiB → PutRecords refuses it (the producer hears why); otherwise the Lambda judges
 * the record (each user record of a KPL aggregate on its own).
 */
import { AggregationError, deaggregate, isAggregated } from '@alleycat/kinesis-agg';
import {
  addOutput,
  CLIENT_ID_FIELD,
  IOT_MESSAGE_MAX_BYTES,
  KINESIS_PARTITION_KEY_MAX_CHARS,
  KINESIS_RECORD_MAX_BYTES,
  output,
  parseRaceRecord,
  type RaceMessage,
  roundScore,
} from '@alleycat/schema';

/** A field every JSON-object input carries (unknown to the schema, so ignored by it): the input's identity. */
export const TAG_FIELD = 'fuzzTag';

export type Outcome =
  | { fate: 'scored'; messages: RaceMessage[] }
  /** `match`: the bytes the `invalid/` report must hold; `tag`: the input's tag, when it is a JSON object. */
  | { fate: 'invalid'; code: string; match: Buffer; tag?: string }
  | { fate: 'rule-log'; match: Buffer }
  | { fate: 'error-action'; match: Buffer }
  | { fate: 'refused-broker' }
  | { fate: 'refused-kinesis' };

export type Fate = Outcome['fate'];

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** How IoT renders `${racerId}` (Undefined → empty; strings as they are; anything else as JSON). */
export function renderPartitionKey(json: Record<string, unknown>): string {
  if (!Object.hasOwn(json, 'racerId')) return '';
  const value = json['racerId'];
  if (value === undefined) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function judge(bytes: Buffer, tag: string | undefined): Outcome {
  const parsed = parseRaceRecord(bytes);
  if (parsed.ok) return { fate: 'scored', messages: parsed.messages };
  const outcome: Outcome = { fate: 'invalid', code: parsed.error.code, match: bytes };
  if (tag !== undefined) outcome.tag = tag;
  return outcome;
}

function tagOf(json: Record<string, unknown>): string | undefined {
  const tag = Object.hasOwn(json, TAG_FIELD) ? json[TAG_FIELD] : undefined;
  return typeof tag === 'string' ? tag : undefined;
}

export function fateOverMqtt(payload: Buffer, clientId: string, qos: 0 | 1 | 2): Outcome[] {
  if (qos === 2 || payload.byteLength > IOT_MESSAGE_MAX_BYTES) return [{ fate: 'refused-broker' }];
  let json: unknown;
  try {
    json = JSON.parse(strictUtf8.decode(payload));
  } catch {
    return [{ fate: 'rule-log', match: payload }];
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    return [{ fate: 'rule-log', match: payload }];
  const object = json as Record<string, unknown>;
  object[CLIENT_ID_FIELD] = clientId; // the rule's `clientid() AS clientId`, after `*`: overwrites a forged one
  let record: Buffer;
  let key: string;
  try {
    record = Buffer.from(JSON.stringify(object));
    key = renderPartitionKey(object);
  } catch {
    // Too deep to serialise: the rule cannot produce its record, so it cannot be evaluated (logged, like
    // any payload the statement cannot apply to).
    return [{ fate: 'rule-log', match: payload }];
  }
  if (key.length < 1 || key.length > KINESIS_PARTITION_KEY_MAX_CHARS)
    return [{ fate: 'error-action', match: payload }];
  return [judge(record, tagOf(object))];
}

export function fateOverKinesis(data: Buffer): Outcome[] {
  if (data.byteLength > KINESIS_RECORD_MAX_BYTES) return [{ fate: 'refused-kinesis' }];
  if (!isAggregated(data)) return [judge(data, undefined)];
  let users: ReturnType<typeof deaggregate>;
  try {
    users = deaggregate(data);
  } catch (error) {
    if (!(error instanceof AggregationError)) throw error;
    return [{ fate: 'invalid', code: 'corrupt_aggregate', match: data }];
  }
  return users.map((user) => judge(Buffer.from(user.data), undefined));
}

/**
 * The totals the boards must show, computed here from the accepted messages: each (race, racer, second)
 * once, whatever arrived again; a second sent twice with different values is a bug of the test's plan.
 */
export class ExpectedScores {
  private readonly seconds = new Map<string, RaceMessage>();

  add(message: RaceMessage): void {
    const key = `${message.raceId}:${message.racerId}:${message.second}`;
    const earlier = this.seconds.get(key);
    if (earlier === undefined) this.seconds.set(key, message);
    else if (output(earlier.cadence, earlier.resistance) !== output(message.cadence, message.resistance))
      throw new Error(`the plan sends second ${key} twice with different values`);
  }

  get size(): number {
    return this.seconds.size;
  }

  /** raceId → racerId → total, rounded as boards show it. */
  totals(): Map<number, Map<number, number>> {
    const sums = new Map<number, Map<number, number>>();
    for (const m of this.seconds.values()) {
      const race = sums.get(m.raceId) ?? new Map<number, number>();
      sums.set(m.raceId, race);
      race.set(m.racerId, addOutput(race.get(m.racerId) ?? 0, output(m.cadence, m.resistance)));
    }
    for (const race of sums.values()) for (const [racerId, sum] of race) race.set(racerId, roundScore(sum));
    return sums;
  }
}
