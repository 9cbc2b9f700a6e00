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

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type InferObject<F> = Simplify<
  { -readonly [K in keyof F as F[K] extends { optional: true } ? never : K]: InferSpec<F[K]> } & {
    -readonly [K in keyof F as F[K] extends { optional: true } ? K : never]?: InferSpec<F[K]>;
  }
>;

/** The TypeScript type a definition describes (the types in `types.ts` are checked against it). */
export type InferSpec<S> = S extends { kind: 'integer' | 'number' }
  ? number
  : S extends { kind: 'string' }
    ? string
    : S extends { kind: 'boolean' }
      ? boolean
      : S extends { kind: 'enum'; values: readonly (infer V)[] }
        ? V
        : S extends { kind: 'object'; fields: infer F }
          ? InferObject<F>
          : S extends { kind: 'array'; items: infer I }
            ? InferSpec<I>[]
            : S extends { kind: 'tuple'; items: infer T }
              ? { -readonly [K in keyof T]: InferSpec<T[K]> }
              : never;
