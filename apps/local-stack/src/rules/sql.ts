/**
 * IoT rule SQL (version 2016-03-23), the subset Alleycat's rules use: `SELECT` of `*` and/or expressions with
 * optional `AS` aliases, `FROM '<topic filter>'` (with `+`/`#`), optional `WHERE`. Pure.
 *
 * Non-JSON payloads behave as on AWS (developer guide, "Working with binary payloads"): `SELECT *` alone
 * passes the bytes through untouched; a statement that adds fields or reads the payload cannot be evaluated
 * on them — AWS logs that (not an action failure, so no error action), and so do we (`RuleEvaluationError`).
 */
import { RuleEvaluationError, RuleSqlSyntaxError } from '../errors.js';
import {
  type Expr,
  ExpressionParser,
  evaluate,
  type MessageContext,
  readsPayload,
  tokenize,
  type Value,
} from './expression.js';
import { parseTopicFilter, type TopicFilter } from './topic-filter.js';

export type SelectItem = { kind: 'star' } | { kind: 'expr'; expr: Expr; name: string };

export interface RuleSql {
  sql: string;
  select: SelectItem[];
  from: TopicFilter;
  where?: Expr;
}

export function parseRuleSql(sql: string): RuleSql {
  const parser = new ExpressionParser(sql, tokenize(sql));
  if (!parser.isKeyword('SELECT')) parser.fail('expected SELECT');
  parser.next();
  const select: SelectItem[] = [];
  do {
    if (select.length > 0) parser.next(); // the comma
    if (parser.isOp('*')) {
      parser.next();
      select.push({ kind: 'star' });
      continue;
    }
    const expr = parser.parseExpression();
    let name = defaultName(expr);
    if (parser.isKeyword('AS')) {
      parser.next();
      const alias = parser.next();
      if (alias.type !== 'ident' && alias.type !== 'string') parser.fail('expected a name after AS');
      name = (alias as { text: string }).text;
    }
    if (name === undefined) return parser.fail('an expression in SELECT needs a name: add AS <name>');
    select.push({ kind: 'expr', expr, name });
  } while (parser.isOp(','));
  if (!parser.isKeyword('FROM')) parser.fail('expected FROM');
  parser.next();
  const topic = parser.next();
  if (topic.type !== 'string') parser.fail('expected a quoted topic filter after FROM');
  const from = parseTopicFilter((topic as { text: string }).text);
  let where: Expr | undefined;
  if (parser.isKeyword('WHERE')) {
    parser.next();
    where = parser.parseExpression();
  }
  if (parser.peek().type !== 'end') parser.fail('unexpected text at the end of the statement');
  const parsed: RuleSql = { sql, select, from };
  if (where !== undefined) parsed.where = where;
  return parsed;
}

function defaultName(expr: Expr): string | undefined {
  if (expr.kind === 'path') return expr.segments[expr.segments.length - 1];
  if (expr.kind === 'call') return expr.name;
  return undefined;
}

/** The rule's output for one message: JSON bytes, the original bytes (binary `SELECT *`), or no match. */
export type RuleOutput = { matched: false } | { matched: true; payload: Buffer };

/** Evaluates WHERE and SELECT; throws `RuleEvaluationError` when the statement cannot apply to the payload. */
export function evaluateRuleSql(rule: RuleSql, ctx: MessageContext, raw: Buffer): RuleOutput {
  const onlyStar = rule.select.length === 1 && rule.select[0]!.kind === 'star';
  if (!ctx.isJson) {
    const needsJson = !onlyStar || (rule.where !== undefined && readsPayload(rule.where));
    if (needsJson) {
      throw new RuleEvaluationError(
        `payload on ${ctx.topic} is not JSON, and "${rule.sql}" selects or reads fields: only SELECT * applies to binary payloads`,
      );
    }
  }
  if (rule.where !== undefined && evaluate(rule.where, ctx) !== true) return { matched: false };
  if (onlyStar) return { matched: true, payload: raw };
  const output: Record<string, Value> = {};
  for (const item of rule.select) {
    if (item.kind === 'star') {
      const json = ctx.json;
      if (json !== null && typeof json === 'object' && !Array.isArray(json)) Object.assign(output, json);
      else
        throw new RuleEvaluationError(
          `payload on ${ctx.topic} is JSON but not an object: SELECT *, … needs an object`,
        );
      continue;
    }
    const value = evaluate(item.expr, ctx);
    if (value !== undefined) output[item.name] = value; // IoT leaves Undefined out of the result
  }
  return { matched: true, payload: Buffer.from(JSON.stringify(output)) };
}

export { RuleSqlSyntaxError };
