/**
 * Errors of the ingest Lambda. Like AWS SDK v3 errors they say whether retrying can help (`retryable`),
 * so the batch logic asks that instead of matching messages.
 */

/** Base class of every error this package throws. */
export class IngestError extends Error {
  /** True when the same work may succeed if tried again (throttling, timeouts, conflicts, 5xx). */
  readonly retryable: boolean;
  constructor(message: string, options: ErrorOptions & { retryable: boolean }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'IngestError';
    this.retryable = options.retryable;
  }
}

/** An environment variable is missing or malformed; raised at cold start. */
export class ConfigError extends IngestError {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`, { retryable: false });
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/** Another invocation wrote the race's board since it was read, MAX_STATE_ATTEMPTS times in a row. */
export class StateConflictError extends IngestError {
  readonly raceId: number;
  readonly attempts: number;
  constructor(raceId: number, attempts: number) {
    super(`race ${raceId}: board changed under ${attempts} consecutive attempts`, { retryable: true });
    this.name = 'StateConflictError';
    this.raceId = raceId;
    this.attempts = attempts;
  }
}

/** The race's board would exceed the item budget: more racers or more fragmented seconds than one item holds. */
export class BoardTooLargeError extends IngestError {
  readonly raceId: number;
  readonly bytes: number;
  constructor(raceId: number, bytes: number, limit: number) {
    super(`race ${raceId}: board would be ${bytes} bytes; the limit is ${limit}`, { retryable: false });
    this.name = 'BoardTooLargeError';
    this.raceId = raceId;
    this.bytes = bytes;
  }
}

/** A stored board could not be read back (unknown format version, truncated data). */
export class CorruptBoardError extends IngestError {
  readonly raceId: number;
  constructor(raceId: number, message: string) {
    super(`race ${raceId}: stored board is unreadable: ${message}`, { retryable: false });
    this.name = 'CorruptBoardError';
    this.raceId = raceId;
  }
}

/**
 * An I/O step (state, publish, errors bucket) failed. `retryable` comes from the SDK's error metadata
 * (`classifyError`); `operation` names the step for logs.
 */
export class DependencyError extends IngestError {
  readonly operation: string;
  constructor(operation: string, cause: unknown, retryable: boolean) {
    const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`${operation} failed: ${detail}`, { retryable, cause });
    this.name = 'DependencyError';
    this.operation = operation;
  }
}
