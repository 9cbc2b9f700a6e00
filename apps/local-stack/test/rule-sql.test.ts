import { INGEST_RULE_SQL } from '@alleycat/schema';
import { describe, expect, it } from 'vitest';
import { RuleEvaluationError, RuleSqlSyntaxError } from '../src/errors.js';
import type { MessageContext } from '../src/rules/expression.js';
import { evaluateRuleSql, parseRuleSql } from '../src/rules/sql.js';
import { parseTemplate, renderTemplate } from '../src/rules/template.js';
import { parseTopicFilter, topicMatches } from '../src/rules/topic-filter.js';

const ctx = (payload: string, topic = 'alleycat-publish', clientId = 'racer-7'): [MessageContext, Buffer] => {
  const raw = Buffer.from(payload);
  let json: MessageContext['json'];
  let isJson = true;
  try {
    json = JSON.parse(payload);
  } catch {
    isJson = false;
  }
  return [{ json, isJson, topic, clientId, receivedAtMs: Date.UTC(2026, 10, 27, 14, 5, 6, 789) }, raw];
};
const out = (sql: string, payload: string, topic?: string) => {
  const [c, raw] = ctx(payload, topic);
  const result = evaluateRuleSql(parseRuleSql(sql), c, raw);
  return result.matched ? JSON.parse(result.payload.toString()) : 'no match';
};

describe('rule SQL', () => {
  it("runs the ingest rule: the whole message plus the sender's client id, overriding a claimed one", () => {
    expect(out(INGEST_RULE_SQL, '{"racerId":7,"clientId":"racer-1","cadence":90}')).toEqual({
      racerId: 7,
      clientId: 'racer-7',
      cadence: 90,
    });
  });

  it('evaluates functions, aliases, nested fields and default names', () => {
    const result = out(
      "SELECT a.b, topic() AS t, topic(2) AS level, timestamp() AS ts, newuuid() AS id, clientid() FROM 'bikes/+/data'",
      '{"a":{"b":5}}',
      'bikes/9/data',
    );
    expect(result).toMatchObject({
      b: 5,
      t: 'bikes/9/data',
      level: '9',
      ts: Date.UTC(2026, 10, 27, 14, 5, 6, 789),
      clientid: 'racer-7',
    });
    expect(result.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('filters with WHERE: comparisons, AND/OR/NOT, arithmetic, isUndefined; Undefined never matches', () => {
    const sql = (where: string) => `SELECT * FROM '#' WHERE ${where}`;
    const msg = '{"cadence":90,"event":"update","nested":{"x":1}}';
    expect(out(sql("cadence > 80 AND event = 'update'"), msg)).not.toBe('no match');
    expect(out(sql("cadence > 100 OR event <> 'update'"), msg)).toBe('no match');
    expect(out(sql('NOT (cadence < 10)'), msg)).not.toBe('no match');
    expect(out(sql('cadence % 30 = 0 AND nested.x + 1 = 2'), msg)).not.toBe('no match');
    expect(out(sql('missing = 1'), msg)).toBe('no match');
    expect(out(sql('NOT missing = 1'), msg)).toBe('no match');
    expect(out(sql('isUndefined(missing) AND NOT isUndefined(cadence)'), msg)).not.toBe('no match');
    // IoT's operator tables: an operand that is not a Boolean (nor "true"/"false", any case) makes AND, OR
    // and NOT Undefined, whatever the other side — no short-circuit.
    expect(out(sql('cadence = 90 OR missing = 2'), msg)).toBe('no match');
    expect(out(sql('NOT (cadence = 1 AND missing = 2)'), msg)).toBe('no match');
    expect(out(sql('cadence = 90 OR cadence'), msg)).toBe('no match');
    const flagged = '{"flag":"TRUE","off":"false"}';
    expect(out(sql('flag AND true'), flagged)).not.toBe('no match');
    expect(out(sql('NOT off'), flagged)).not.toBe('no match');
    expect(out(sql("off OR 'yes'"), flagged)).toBe('no match');
  });

  it('leaves Undefined fields out of the result', () => {
    expect(out("SELECT cadence, nope FROM 'x'", '{"cadence":1}', 'x')).toEqual({ cadence: 1 });
  });

  it('passes a binary payload through SELECT * and refuses to add fields to it, as IoT does', () => {
    const [c, raw] = ctx('\u0000\u0001not json');
    const passed = evaluateRuleSql(parseRuleSql("SELECT * FROM 'alleycat-publish'"), c, raw);
    expect(passed).toEqual({ matched: true, payload: raw });
    expect(() => evaluateRuleSql(parseRuleSql(INGEST_RULE_SQL), c, raw)).toThrow(RuleEvaluationError);
  });

  it('reports syntax errors with the position and what was expected', () => {
    expect(() => parseRuleSql("SELECT * FRM 'x'")).toThrow(/rule SQL at 9: expected FROM, found "FRM"/);
    expect(() => parseRuleSql("SELECT lower(a) AS b FROM 'x'")).toThrow(RuleSqlSyntaxError);
    expect(() => parseRuleSql("SELECT * FROM 'x' WHERE a = 'open")).toThrow(/unterminated string/);
    expect(() => parseRuleSql("SELECT 1 FROM 'x'")).toThrow(/needs a name/);
  });
});

describe('topic filters', () => {
  it('matches + and # like MQTT', () => {
    const f = (filter: string, topic: string) => topicMatches(parseTopicFilter(filter), topic);
    expect(f('alleycat-publish', 'alleycat-publish')).toBe(true);
    expect(f('alleycat-publish', 'alleycat-publish/x')).toBe(false);
    expect(f('a/+/c', 'a/b/c')).toBe(true);
    expect(f('a/+/c', 'a/b/d')).toBe(false);
    expect(f('a/#', 'a')).toBe(true);
    expect(f('a/#', 'a/b/c')).toBe(true);
    expect(f('#', 'anything/at/all')).toBe(true);
    expect(() => parseTopicFilter('a/#/b')).toThrow(/must be the last level/);
  });
});

describe('substitution templates', () => {
  it('renders the partition-key and error-key templates, Terraform-escaped or not', () => {
    const [c] = ctx('{"racerId":42,"classId":3}');
    expect(renderTemplate(parseTemplate('${racerId}'), c)).toBe('42');
    expect(renderTemplate(parseTemplate('$${racerId}'), c)).toBe('42');
    expect(renderTemplate(parseTemplate('${timestamp()}'), c)).toBe(String(c.receivedAtMs));
    expect(renderTemplate(parseTemplate('${missing}'), c)).toBe('');
    expect(renderTemplate(parseTemplate('c-${classId}-${topic()}'), c)).toBe('c-3-alleycat-publish');
    const key = renderTemplate(
      parseTemplate('errors/$${parse_time("yyyy/MM/dd", timestamp(), "UTC")}/$${newuuid()}.json'),
      c,
    );
    expect(key).toMatch(/^errors\/2026\/11\/27\/[0-9a-f-]{36}\.json$/);
  });
});
