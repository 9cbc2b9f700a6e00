/**
 * The expression language shared by IoT rule SQL (`SELECT`/`WHERE`) and substitution templates (`${…}`):
 * literals, JSON field paths, comparisons, arithmetic, `AND`/`OR`/`NOT`, and the functions the Alleycat stack
 * uses (`clientid()`, `topic()`, `topic(n)`, `timestamp()`, `newuuid()`, `isUndefined()`, `isNull()`,
 * `parse_time()`). Like IoT, a missing field is *Undefined*: comparisons with it are Undefined, and a WHERE that
 * is not `true` does not match. Pure (apart from `newuuid()`).
 */
import { randomUUID } from 'node:crypto';
import { RuleSqlSyntaxError } from '../errors.js';

export type Value = string | number | boolean | null | undefined | Value[] | { [key: string]: Value };

/** What a message gives an expression to look at. */
export interface MessageContext {
  /** The payload parsed as JSON; `undefined` when it is not JSON. */
  json: Value;
  /** True when the payload parsed as JSON. */
  isJson: boolean;
  topic: string;
  /** The publisher's MQTT client id; undefined when the broker cannot tell (an external broker). */
  clientId: string | undefined;
  /** When the broker received the message (ms since the epoch): `timestamp()`. */
  receivedAtMs: number;
}

export type Expr =
  | { kind: 'literal'; value: Value }
  | { kind: 'path'; segments: string[] }
  | { kind: 'call'; name: string; args: Expr[] }
  | { kind: 'unary'; op: 'NOT' | '-'; operand: Expr }
  | { kind: 'binary'; op: string; left: Expr; right: Expr };

type Token =
  | { type: 'ident'; text: string; pos: number }
  | { type: 'string'; text: string; pos: number }
  | { type: 'number'; value: number; pos: number }
  | { type: 'op'; text: string; pos: number }
  | { type: 'end'; pos: number };

const FUNCTIONS: Record<string, { min: number; max: number }> = {
  clientid: { min: 0, max: 0 },
  topic: { min: 0, max: 1 },
  timestamp: { min: 0, max: 0 },
  newuuid: { min: 0, max: 0 },
  isundefined: { min: 1, max: 1 },
  isnull: { min: 1, max: 1 },
  parse_time: { min: 2, max: 3 },
};

export function tokenize(source: string, offset = 0): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) {
      i += 1;
      continue;
    }
    const pos = offset + i;
    if (c === "'" || c === '"') {
      const end = source.indexOf(c, i + 1);
      if (end < 0) throw new RuleSqlSyntaxError(source, pos, 'unterminated string');
      tokens.push({ type: 'string', text: source.slice(i + 1, end), pos });
      i = end + 1;
    } else if (/[0-9]/.test(c)) {
      const match = /^\d+(\.\d+)?/.exec(source.slice(i))!;
      tokens.push({ type: 'number', value: Number(match[0]), pos });
      i += match[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i))!;
      tokens.push({ type: 'ident', text: match[0], pos });
      i += match[0].length;
    } else {
      const two = source.slice(i, i + 2);
      if (['<=', '>=', '<>', '!='].includes(two)) {
        tokens.push({ type: 'op', text: two, pos });
        i += 2;
      } else if ('=<>(),.*+-/%'.includes(c)) {
        tokens.push({ type: 'op', text: c, pos });
        i += 1;
      } else {
        throw new RuleSqlSyntaxError(source, pos, `unexpected character ${JSON.stringify(c)}`);
      }
    }
  }
  tokens.push({ type: 'end', pos: offset + source.length });
  return tokens;
}

/** A recursive-descent parser over tokens; `source` is kept for error messages. */
export class ExpressionParser {
  private index = 0;
  constructor(
    private readonly source: string,
    private readonly tokens: Token[],
  ) {}

  peek(): Token {
    return this.tokens[this.index]!;
  }

  next(): Token {
    return this.tokens[this.index++]!;
  }

  isKeyword(word: string): boolean {
    const token = this.peek();
    return token.type === 'ident' && token.text.toUpperCase() === word;
  }

  isOp(text: string): boolean {
    const token = this.peek();
    return token.type === 'op' && token.text === text;
  }

  expectOp(text: string): void {
    if (!this.isOp(text)) this.fail(`expected ${JSON.stringify(text)}`);
    this.index += 1;
  }

  fail(message: string): never {
    const token = this.peek();
    const found = token.type === 'end' ? 'end of input' : describe(token);
    throw new RuleSqlSyntaxError(this.source, token.pos, `${message}, found ${found}`);
  }

  parseExpression(): Expr {
    return this.parseOr();
  }

  private parseOr(): Expr {
    let left = this.parseAnd();
    while (this.isKeyword('OR')) {
      this.next();
      left = { kind: 'binary', op: 'OR', left, right: this.parseAnd() };
    }
    return left;
  }

  private parseAnd(): Expr {
    let left = this.parseNot();
    while (this.isKeyword('AND')) {
      this.next();
      left = { kind: 'binary', op: 'AND', left, right: this.parseNot() };
    }
    return left;
  }

  private parseNot(): Expr {
    if (this.isKeyword('NOT')) {
      this.next();
      return { kind: 'unary', op: 'NOT', operand: this.parseNot() };
    }
    return this.parseComparison();
  }

  private parseComparison(): Expr {
    const left = this.parseAdditive();
    const token = this.peek();
    if (token.type === 'op' && ['=', '<>', '!=', '<', '<=', '>', '>='].includes(token.text)) {
      this.next();
      return {
        kind: 'binary',
        op: token.text === '!=' ? '<>' : token.text,
        left,
        right: this.parseAdditive(),
      };
    }
    return left;
  }

  private parseAdditive(): Expr {
    let left = this.parseMultiplicative();
    while (this.isOp('+') || this.isOp('-')) {
      const op = (this.next() as { text: string }).text;
      left = { kind: 'binary', op, left, right: this.parseMultiplicative() };
    }
    return left;
  }

  private parseMultiplicative(): Expr {
    let left = this.parseUnary();
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const op = (this.next() as { text: string }).text;
      left = { kind: 'binary', op, left, right: this.parseUnary() };
    }
    return left;
  }

  private parseUnary(): Expr {
    if (this.isOp('-')) {
      this.next();
      return { kind: 'unary', op: '-', operand: this.parseUnary() };
    }
    return this.parsePrimary();
  }

  private parsePrimary(): Expr {
    const token = this.peek();
    if (token.type === 'number') {
      this.next();
      return { kind: 'literal', value: token.value };
    }
    if (token.type === 'string') {
      this.next();
      return { kind: 'literal', value: token.text };
    }
    if (this.isOp('(')) {
      this.next();
      const inner = this.parseExpression();
      this.expectOp(')');
      return inner;
    }
    if (token.type === 'ident') {
      const upper = token.text.toUpperCase();
      if (upper === 'TRUE' || upper === 'FALSE') {
        this.next();
        return { kind: 'literal', value: upper === 'TRUE' };
      }
      if (upper === 'NULL') {
        this.next();
        return { kind: 'literal', value: null };
      }
      this.next();
      if (this.isOp('(')) return this.parseCall(token.text, token.pos);
      const segments = [token.text];
      while (this.isOp('.')) {
        this.next();
        const part = this.next();
        if (part.type !== 'ident') this.fail('expected a field name after "."');
        segments.push(part.text);
      }
      return { kind: 'path', segments };
    }
    return this.fail('expected an expression');
  }

  private parseCall(name: string, pos: number): Expr {
    const lower = name.toLowerCase();
    const arity = FUNCTIONS[lower];
    if (arity === undefined) {
      throw new RuleSqlSyntaxError(
        this.source,
        pos,
        `function ${name}() is not supported locally (supported: ${Object.keys(FUNCTIONS).join(', ')})`,
      );
    }
    this.expectOp('(');
    const args: Expr[] = [];
    if (!this.isOp(')')) {
      args.push(this.parseExpression());
      while (this.isOp(',')) {
        this.next();
        args.push(this.parseExpression());
      }
    }
    this.expectOp(')');
    if (args.length < arity.min || args.length > arity.max) {
      throw new RuleSqlSyntaxError(this.source, pos, `${name}() takes ${arity.min}–${arity.max} arguments`);
    }
    return { kind: 'call', name: lower, args };
  }
}

function describe(token: Token): string {
  if (token.type === 'number') return String(token.value);
  if (token.type === 'string') return `'${token.text}'`;
  if (token.type === 'end') return 'end of input';
  return JSON.stringify(token.text);
}

/** Parses a whole expression (a template's `${…}` body). */
export function parseExpression(source: string): Expr {
  const parser = new ExpressionParser(source, tokenize(source));
  const expr = parser.parseExpression();
  if (parser.peek().type !== 'end') parser.fail('unexpected text after the expression');
  return expr;
}

/** Whether an expression reads the payload (a field path anywhere in it). */
export function readsPayload(expr: Expr): boolean {
  switch (expr.kind) {
    case 'path':
      return true;
    case 'literal':
      return false;
    case 'call':
      return expr.args.some(readsPayload);
    case 'unary':
      return readsPayload(expr.operand);
    case 'binary':
      return readsPayload(expr.left) || readsPayload(expr.right);
  }
}

export function evaluate(expr: Expr, ctx: MessageContext): Value {
  switch (expr.kind) {
    case 'literal':
      return expr.value;
    case 'path': {
      let value: Value = ctx.json;
      for (const segment of expr.segments) {
        if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
        value = Object.hasOwn(value, segment) ? value[segment] : undefined;
      }
      return value;
    }
    case 'call':
      return call(expr.name, expr.args, ctx);
    case 'unary': {
      const operand = evaluate(expr.operand, ctx);
      if (expr.op === 'NOT') {
        const value = asBoolean(operand);
        return value === undefined ? undefined : !value;
      }
      return typeof operand === 'number' ? -operand : undefined;
    }
    case 'binary':
      return binary(expr.op, expr.left, expr.right, ctx);
  }
}

/** A logical operand as IoT SQL reads it: a Boolean, or "true"/"false" (any case); otherwise undefined. */
function asBoolean(value: Value): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const lower = value.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
  }
  return undefined;
}

function binary(op: string, leftExpr: Expr, rightExpr: Expr, ctx: MessageContext): Value {
  const left = evaluate(leftExpr, ctx);
  if (op === 'AND' || op === 'OR') {
    // IoT's tables: Booleans, or the strings "true"/"false" in any case; anything else on either side
    // (Undefined included) makes the result Undefined — no short-circuit.
    const a = asBoolean(left);
    const b = asBoolean(evaluate(rightExpr, ctx));
    if (a === undefined || b === undefined) return undefined;
    return op === 'AND' ? a && b : a || b;
  }
  const right = evaluate(rightExpr, ctx);
  if (left === undefined || right === undefined) return undefined;
  switch (op) {
    case '=':
      return equal(left, right);
    case '<>':
      return !equal(left, right);
    case '<':
    case '<=':
    case '>':
    case '>=': {
      if (
        !(
          (typeof left === 'number' && typeof right === 'number') ||
          (typeof left === 'string' && typeof right === 'string')
        )
      )
        return undefined;
      if (op === '<') return left < right;
      if (op === '<=') return left <= right;
      if (op === '>') return left > right;
      return left >= right;
    }
    default: {
      if (typeof left !== 'number' || typeof right !== 'number') {
        return op === '+' && typeof left === 'string' && typeof right === 'string' ? left + right : undefined;
      }
      if (op === '+') return left + right;
      if (op === '-') return left - right;
      if (op === '*') return left * right;
      if (right === 0) return undefined;
      return op === '/' ? left / right : left % right;
    }
  }
}

function equal(a: Value, b: Value): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function call(name: string, args: Expr[], ctx: MessageContext): Value {
  switch (name) {
    case 'clientid':
      return ctx.clientId;
    case 'topic': {
      if (args.length === 0) return ctx.topic;
      const n = evaluate(args[0]!, ctx);
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) return undefined;
      return ctx.topic.split('/')[n - 1];
    }
    case 'timestamp':
      return ctx.receivedAtMs;
    case 'newuuid':
      return randomUUID();
    case 'isundefined':
      return evaluate(args[0]!, ctx) === undefined;
    case 'isnull':
      return evaluate(args[0]!, ctx) === null;
    case 'parse_time': {
      const pattern = evaluate(args[0]!, ctx);
      const ms = evaluate(args[1]!, ctx);
      const zone = args[2] === undefined ? 'UTC' : evaluate(args[2], ctx);
      if (typeof pattern !== 'string' || typeof ms !== 'number' || zone !== 'UTC') return undefined;
      return formatUtc(pattern, ms);
    }
    default:
      return undefined;
  }
}

/** Joda-style patterns IoT's `parse_time` takes, for the letters the stack uses (UTC only). */
function formatUtc(pattern: string, ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const parts: Record<string, string> = {
    yyyy: String(d.getUTCFullYear()),
    MM: pad(d.getUTCMonth() + 1),
    dd: pad(d.getUTCDate()),
    HH: pad(d.getUTCHours()),
    mm: pad(d.getUTCMinutes()),
    ss: pad(d.getUTCSeconds()),
    SSS: pad(d.getUTCMilliseconds(), 3),
  };
  return pattern.replace(/yyyy|MM|dd|HH|mm|ss|SSS/g, (token) => parts[token]!);
}

/** How IoT renders a value into a substitution template: strings as-is, the rest as JSON, Undefined empty. */
export function renderValue(value: Value): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}
