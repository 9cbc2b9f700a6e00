/**
 * JSON Schema (2020-12) generated from the same definitions as the validator. The files shipped in
 * `json-schema/` are this output (a test keeps them current). Rules JSON Schema cannot express are listed
 * in the README: byte budgets, UTF-8 validity, and the client-id/racerId identity check.
 */
import { LEADERBOARD_MESSAGE, RACE_BATCH, RACE_MESSAGE } from './definitions.js';
import { FORMATS } from './formats.js';
import type { FieldSpec, ObjectSpec } from './spec.js';

export type JsonSchema = Record<string, unknown>;

/** Major version of the message contract; in every schema's `$id`. */
export const SCHEMA_VERSION = 1;
const BASE_ID = `https://alleycat.dev/schema/v${SCHEMA_VERSION}`;

function toJsonSchema(spec: FieldSpec): JsonSchema {
  const description = spec.description;
  switch (spec.kind) {
    case 'integer':
    case 'number':
      return { type: spec.kind, minimum: spec.minimum, maximum: spec.maximum, description };
    case 'string':
      return {
        type: 'string',
        minLength: spec.minLength,
        maxLength: spec.maxLength,
        ...(spec.format === undefined ? {} : FORMATS[spec.format].jsonSchema),
        description,
      };
    case 'enum':
      return { type: 'string', enum: [...spec.values], description };
    case 'boolean':
      return { type: 'boolean', description };
    case 'object':
      return objectSchema(spec);
    case 'array':
      return {
        type: 'array',
        items: toJsonSchema(spec.items),
        minItems: spec.minItems,
        maxItems: spec.maxItems,
        description,
      };
    case 'tuple':
      return {
        type: 'array',
        prefixItems: spec.items.map(toJsonSchema),
        items: false,
        minItems: spec.items.length,
        maxItems: spec.items.length,
        description,
      };
  }
}

function objectSchema(spec: ObjectSpec): JsonSchema {
  const entries = Object.entries(spec.fields);
  return {
    type: 'object',
    description: spec.description,
    properties: Object.fromEntries(entries.map(([key, field]) => [key, toJsonSchema(field)])),
    required: entries.filter(([, field]) => field.optional !== true).map(([key]) => key),
    // Forward compatible: fields added by newer versions are accepted and ignored by older readers.
    additionalProperties: true,
  };
}

function document(file: string, title: string, spec: ObjectSpec): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: `${BASE_ID}/${file}`,
    title,
    ...objectSchema(spec),
  };
}

/** The shipped schema documents, by file name. */
export function jsonSchemas(): Record<string, JsonSchema> {
  return {
    'race-message.schema.json': document('race-message.schema.json', 'Alleycat race message', RACE_MESSAGE),
    'race-batch.schema.json': document('race-batch.schema.json', 'Alleycat race batch', RACE_BATCH),
    'leaderboard.schema.json': document(
      'leaderboard.schema.json',
      'Alleycat leaderboard message',
      LEADERBOARD_MESSAGE,
    ),
  };
}

/**
 * A schema as the shipped file's text: `JSON.stringify`, indented, with DEL and the C1 controls (which it
 * leaves raw, invisible in an editor) written as `\u` escapes too. Same JSON value.
 */
export function schemaFileText(schema: JsonSchema): string {
  return JSON.stringify(schema, null, 2).replace(
    /[\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
