/**
 * A generated fast path for a definition: straight-line checks that accept only what is certainly valid and
 * build the clean copy as one object literal (one hidden class, no per-field branching on kinds). Whatever
 * it cannot accept at once, it hands to the precise validator (`validator.ts`), which finds and words the
 * error. So the fast path decides speed, never verdicts: both accept the same values (a property test
 * holds them equal). Generated with `new Function` once per definition at module load, as ajv does.
 */
import { FORMATS } from './formats.js';
import type { FieldSpec, ObjectSpec } from './spec.js';
import { codePoints, type Validate } from './validator.js';

/** Marks a fast-path miss; the caller then runs the precise validator. */
export const MISS: unique symbol = Symbol('miss');

/** A generated checker: the clean copy, or `MISS` when the value is not certainly valid. */
export type FastPath = (value: unknown) => unknown;

class Generator {
  private readonly functions: string[] = [];
  private count = 0;

  /** Emits a function `(v) => clean | MISS` for an object, array or tuple spec; returns its name. */
  emitFunction(spec: FieldSpec): string {
    const name = `f${this.count++}`;
    const body: string[] = [];
    if (spec.kind === 'object') {
      body.push(`if (typeof v !== 'object' || v === null || Array.isArray(v)) return MISS;`);
      const required: string[] = [];
      const optional: string[] = [];
      Object.entries(spec.fields).forEach(([key, field], i) => {
        const read =
          key in Object.prototype
            ? `(hasOwn(v, ${JSON.stringify(key)}) ? v[${JSON.stringify(key)}] : undefined)`
            : `v[${JSON.stringify(key)}]`;
        body.push(`let x${i} = ${read};`);
        if (field.optional === true) {
          body.push(`if (x${i} !== undefined) { ${this.check(field, `x${i}`)} }`);
          optional.push(`if (x${i} !== undefined) o[${JSON.stringify(key)}] = x${i};`);
        } else {
          body.push(this.check(field, `x${i}`));
          required.push(`${JSON.stringify(key)}: x${i}`);
        }
      });
      body.push(`const o = { ${required.join(', ')} };`, ...optional, 'return o;');
    } else if (spec.kind === 'array') {
      body.push(
        `if (!Array.isArray(v) || v.length < ${spec.minItems} || v.length > ${spec.maxItems}) return MISS;`,
      );
      body.push('const o = new Array(v.length);');
      body.push(
        `for (let i = 0; i < v.length; i++) { let x = v[i]; ${this.check(spec.items, 'x')} o[i] = x; }`,
      );
      body.push('return o;');
    } else if (spec.kind === 'tuple') {
      body.push(`if (!Array.isArray(v) || v.length !== ${spec.items.length}) return MISS;`);
      spec.items.forEach((item, i) => {
        body.push(`let x${i} = v[${i}];`, this.check(item, `x${i}`));
      });
      body.push(`return [${spec.items.map((_, i) => `x${i}`).join(', ')}];`);
    } else {
      throw new Error(`emitFunction: ${spec.kind} is a leaf`);
    }
    this.functions.push(`function ${name}(v) {\n  ${body.join('\n  ')}\n}`);
    return name;
  }

  /** Statements that `return MISS` unless variable `x` certainly satisfies `spec` (containers: replace x). */
  check(spec: FieldSpec, x: string): string {
    switch (spec.kind) {
      case 'integer':
        return `if (typeof ${x} !== 'number' || !(${x} >= ${spec.minimum} && ${x} <= ${spec.maximum}) || Math.floor(${x}) !== ${x}) return MISS;`;
      case 'number':
        return `if (typeof ${x} !== 'number' || !(${x} >= ${spec.minimum} && ${x} <= ${spec.maximum})) return MISS;`;
      case 'boolean':
        return `if (typeof ${x} !== 'boolean') return MISS;`;
      case 'enum':
        return `if (${spec.values.map((value) => `${x} !== ${JSON.stringify(value)}`).join(' && ')}) return MISS;`;
      case 'string': {
        // Lengths count code points, which lie in [ceil(units / 2), units]: count them only when needed.
        const format = spec.format === undefined ? '' : ` || !formats.${spec.format}.test(${x})`;
        const ascii = spec.format !== undefined && FORMATS[spec.format].ascii;
        const short = ascii
          ? `${x}.length < ${spec.minLength}`
          : `(${x}.length < ${2 * spec.minLength - 1} && codePoints(${x}) < ${spec.minLength})`;
        return `if (typeof ${x} !== 'string' || ${x}.length > ${spec.maxLength} || ${short}${format}) return MISS;`;
      }
      case 'object':
      case 'array':
      case 'tuple': {
        const fn = this.emitFunction(spec);
        return `${x} = ${fn}(${x}); if (${x} === MISS) return MISS;`;
      }
    }
  }

  source(root: string): string {
    return `${this.functions.join('\n')}\nreturn ${root};`;
  }
}

/** Generates the fast path for `spec`. */
export function generateFastPath(spec: ObjectSpec): FastPath {
  const generator = new Generator();
  const root = generator.emitFunction(spec);
  return new Function('MISS', 'formats', 'hasOwn', 'codePoints', generator.source(root))(
    MISS,
    FORMATS,
    Object.hasOwn,
    codePoints,
  ) as FastPath;
}

/** The fast path joined to the precise validator for misses: same verdicts, fast when valid. */
export function withFastPath(spec: ObjectSpec, precise: Validate): Validate {
  const fast = generateFastPath(spec);
  return (value, path) => {
    const clean = fast(value);
    return clean === MISS ? precise(value, path) : clean;
  };
}

/** The generated source, for reading and debugging. */
export function fastPathSource(spec: ObjectSpec): string {
  const generator = new Generator();
  return generator.source(generator.emitFunction(spec));
}
