/**
 * Compiles a definition (`spec.ts`) into a validating copier: it checks a parsed JSON value and returns a fresh
 * value holding only the defined fields. Copying only known keys into new objects is what makes unknown
 * fields harmless, `__proto__` and `constructor` included: nothing from the input becomes a prototype.
 * Closures are built once per definition so the hot path is plain property reads and `typeof` checks.
 */
import type { ParseError, ParseErrorCode } from './errors.js';
import { FORMATS } from './formats.js';
import type { FieldSpec, ObjectSpec, StringSpec } from './spec.js';

/** Returned instead of a value when validation fails; a class so `instanceof` is one cheap check. */
export class Invalid {
  constructor(readonly error: ParseError) {}
}

/** Validates `value` found at JSON Pointer `path`; returns the cleaned value or `Invalid`. */
export type Validate = (value: unknown, path: string) => unknown;

const fail = (code: ParseErrorCode, path: string, message: string) => new Invalid({ code, path, message });

/** A short rendering of an offending value for error messages. */
function shown(value: unknown): string {
  // JSON.stringify writes Infinity (JSON.parse's 1e400) as null, and DEL, C1 controls, line separators and
  // zero-width or direction-changing characters raw: invisible (or misleading) in a log line that names the
  // value as the fault. Those are escaped as \uXXXX.
  if (typeof value === 'number') return String(value);
  const text =
    value === undefined
      ? 'undefined'
      : JSON.stringify(value).replace(
          /[\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g,
          (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
        );
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

export function codePoints(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return count;
}

function compileString(spec: StringSpec): Validate {
  const format = spec.format === undefined ? undefined : FORMATS[spec.format];
  const { minLength, maxLength } = spec;
  return (value, path) => {
    if (typeof value !== 'string')
      return fail('wrong_type', path, `must be a string, got ${jsonType(value)}`);
    const units = value.length;
    // Code points lie between ceil(units / 2) and units: count them only when that range straddles a bound.
    if (units > maxLength || Math.ceil(units / 2) < minLength) {
      const length = codePoints(value);
      if (length < minLength || length > maxLength) {
        return fail('out_of_range', path, `must be ${minLength}–${maxLength} characters long, got ${length}`);
      }
    }
    if (format !== undefined && !format.test(value)) {
      return fail('invalid_value', path, `must be ${format.description}, got ${shown(value)}`);
    }
    return value;
  };
}

function compileObject(spec: ObjectSpec): Validate {
  const fields = Object.entries(spec.fields).map(([key, field]) => ({
    key,
    pointer: `/${escapePointer(key)}`,
    optional: field.optional === true,
    // Only a key Object.prototype also has needs the slower own-property check.
    inherited: key in Object.prototype,
    validate: compile(field),
  }));
  return (value, path) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return fail(
        path === '' ? 'not_object' : 'wrong_type',
        path,
        `must be a JSON object, got ${jsonType(value)}`,
      );
    }
    const input = value as Record<string, unknown>;
    const output: Record<string, unknown> = {};
    for (const field of fields) {
      const raw = !field.inherited || Object.hasOwn(input, field.key) ? input[field.key] : undefined;
      if (raw === undefined) {
        if (field.optional) continue;
        return fail('missing_field', path + field.pointer, `is required`);
      }
      const clean = field.validate(raw, path + field.pointer);
      if (clean instanceof Invalid) return clean;
      output[field.key] = clean;
    }
    return output;
  };
}

/** Builds the validator for one definition. */
export function compile(spec: FieldSpec): Validate {
  switch (spec.kind) {
    case 'integer': {
      const { minimum, maximum } = spec;
      return (value, path) => {
        if (typeof value !== 'number')
          return fail('wrong_type', path, `must be an integer, got ${jsonType(value)}`);
        if (!Number.isFinite(value)) {
          // JSON.parse reads a number beyond a double's range (1e400) as ±Infinity.
          return fail('out_of_range', path, `must be between ${minimum} and ${maximum}, got ${value}`);
        }
        if (!Number.isInteger(value))
          return fail('wrong_type', path, `must be an integer, got ${shown(value)}`);
        if (value < minimum || value > maximum) {
          return fail('out_of_range', path, `must be between ${minimum} and ${maximum}, got ${value}`);
        }
        return value;
      };
    }
    case 'number': {
      const { minimum, maximum } = spec;
      return (value, path) => {
        if (typeof value !== 'number')
          return fail('wrong_type', path, `must be a number, got ${jsonType(value)}`);
        // JSON.parse turns 1e999 into Infinity; the range check rejects it.
        if (!(value >= minimum && value <= maximum)) {
          return fail('out_of_range', path, `must be between ${minimum} and ${maximum}, got ${value}`);
        }
        return value;
      };
    }
    case 'string':
      return compileString(spec);
    case 'enum': {
      const allowed = new Set<unknown>(spec.values);
      const listed = spec.values.map((v) => `"${v}"`).join(' or ');
      return (value, path) => {
        if (typeof value !== 'string')
          return fail('wrong_type', path, `must be ${listed}, got ${jsonType(value)}`);
        if (!allowed.has(value)) return fail('invalid_value', path, `must be ${listed}, got ${shown(value)}`);
        return value;
      };
    }
    case 'boolean':
      return (value, path) =>
        typeof value === 'boolean'
          ? value
          : fail('wrong_type', path, `must be true or false, got ${jsonType(value)}`);
    case 'object':
      return compileObject(spec);
    case 'array': {
      const { minItems, maxItems } = spec;
      const item = compile(spec.items);
      return (value, path) => {
        if (!Array.isArray(value))
          return fail('wrong_type', path, `must be an array, got ${jsonType(value)}`);
        if (value.length < minItems || value.length > maxItems) {
          return fail('out_of_range', path, `must hold ${minItems}–${maxItems} items, got ${value.length}`);
        }
        const output = new Array<unknown>(value.length);
        for (let i = 0; i < value.length; i++) {
          const clean = item(value[i], `${path}/${i}`);
          if (clean instanceof Invalid) return clean;
          output[i] = clean;
        }
        return output;
      };
    }
    case 'tuple': {
      const items = spec.items.map(compile);
      const size = items.length;
      return (value, path) => {
        if (!Array.isArray(value))
          return fail('wrong_type', path, `must be an array of ${size} items, got ${jsonType(value)}`);
        if (value.length !== size)
          return fail('out_of_range', path, `must hold exactly ${size} items, got ${value.length}`);
        const output = new Array<unknown>(size);
        for (let i = 0; i < size; i++) {
          const clean = items[i]!(value[i], `${path}/${i}`);
          if (clean instanceof Invalid) return clean;
          output[i] = clean;
        }
        return output;
      };
    }
  }
}
