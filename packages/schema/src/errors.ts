/**
 * Stable, machine-readable reasons a payload is refused. Partners and the pipeline branch on `code`;
 * `message` is for people.
 */
export const PARSE_ERROR_CODES = [
  /** Bytes are not valid UTF-8. */
  'not_utf8',
  /** Larger than the byte budget of its kind; refused before parsing. */
  'too_large',
  /** Not parseable as JSON. */
  'not_json',
  /** Valid JSON, but not a JSON object where one is required. */
  'not_object',
  /** A required field is absent. */
  'missing_field',
  /** A field has the wrong JSON type (including a fraction where an integer is required). */
  'wrong_type',
  /** A number, string length or array length is outside its allowed range. */
  'out_of_range',
  /** A value is of the right type but not an allowed value (enum, pattern, format). */
  'invalid_value',
  /** The sender's MQTT client id (added by the ingest rule) is not `racer-{racerId}`. */
  'identity_mismatch',
] as const;

export type ParseErrorCode = (typeof PARSE_ERROR_CODES)[number];

/** Why a payload was refused, and where: `path` is a JSON Pointer (RFC 6901) into the payload, `""` for the whole. */
export interface ParseError {
  code: ParseErrorCode;
  path: string;
  message: string;
}

/** Base class of every error this package throws (parse functions never throw; they return `ParseError`s). */
export class AlleycatSchemaError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AlleycatSchemaError';
  }
}

/** A function of this package was called with an argument outside its domain (a programming error). */
export class InvalidArgumentError extends AlleycatSchemaError {
  readonly argument: string;
  constructor(argument: string, message: string) {
    super(`${argument}: ${message}`);
    this.name = 'InvalidArgumentError';
    this.argument = argument;
  }
}

/** Thrown by the `assert…` helpers; carries the `ParseError` the matching `parse…` function returns. */
export class InvalidPayloadError extends AlleycatSchemaError {
  readonly error: ParseError;
  constructor(error: ParseError) {
    super(describeParseError(error));
    this.name = 'InvalidPayloadError';
    this.error = error;
  }
}

/** One line for logs and inspection files: `out_of_range at /cadence: must be between 0 and 250, got 300`. */
export function describeParseError(error: ParseError): string {
  return `${error.code} at ${error.path === '' ? '(root)' : error.path}: ${error.message}`;
}
