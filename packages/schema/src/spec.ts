/**
 * The declarative vocabulary the message definitions are written in. One definition feeds both the runtime
 * validator (`validator.ts`) and the JSON Schema (`json-schema.ts`), so the two cannot drift.
 */

import type { StringFormatName } from './formats.js';

interface BaseSpec {
  description: string;
  /** Absent is allowed; `null` is not (JSON Schema: not in `required`, and `null` fails the type). */
  optional?: boolean;
}

export interface IntegerSpec extends BaseSpec {
  kind: 'integer';
  minimum: number;
  maximum: number;
}

export interface NumberSpec extends BaseSpec {
  kind: 'number';
  minimum: number;
  maximum: number;
}

export interface StringSpec extends BaseSpec {
  kind: 'string';
  /** Lengths count Unicode code points, as JSON Schema does. */
  minLength: number;
  maxLength: number;
  /** A named format (`formats.ts`): a pattern in the JSON Schema, a character loop in the validator. */
  format?: StringFormatName;
}

export interface EnumSpec extends BaseSpec {
  kind: 'enum';
  values: readonly string[];
}

export interface BooleanSpec extends BaseSpec {
  kind: 'boolean';
}

export interface ObjectSpec extends BaseSpec {
  kind: 'object';
  /** Order matters: the validator reports the first failing field in this order. */
  fields: Readonly<Record<string, FieldSpec>>;
}

export interface ArraySpec extends BaseSpec {
  kind: 'array';
  items: FieldSpec;
  minItems: number;
  maxItems: number;
}

/** A fixed-length array whose positions have their own specs (compact rows such as leaderboard standings). */
export interface TupleSpec extends BaseSpec {
  kind: 'tuple';
  items: readonly FieldSpec[];
}

export type FieldSpec =
  | IntegerSpec
  | NumberSpec
  | StringSpec
  | EnumSpec
  | BooleanSpec
  | ObjectSpec
  | ArraySpec
  | TupleSpec;
