/**
 * Errors of the bike client. Every error extends `BikeClientError`, sets `name`, carries the data a caller
 * needs and says whether retrying can help (`retryable`), like AWS SDK v3 errors do.
 */
import { describeParseError, type ParseError } from '@alleycat/schema';

export class BikeClientError extends Error {
  /** Whether the same call may succeed if retried later. */
  readonly retryable: boolean;
  constructor(message: string, options: ErrorOptions & { retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BikeClientError';
    this.retryable = options.retryable ?? false;
  }
}

/** A command-line flag is missing, unknown or out of range. */
export class UsageError extends BikeClientError {
  readonly flag: string | undefined;
  constructor(message: string, flag?: string) {
    super(message);
    this.name = 'UsageError';
    this.flag = flag;
  }
}

/** A race message this package built does not pass the schema (a bug here, never sent). */
export class InvalidMessageError extends BikeClientError {
  readonly error: ParseError;
  constructor(error: ParseError) {
    super(`built race message is invalid: ${describeParseError(error)}`);
    this.name = 'InvalidMessageError';
    this.error = error;
  }
}

/** A record Kinesis can never accept (too large, bad partition key): refused before sending. */
export class InvalidRecordError extends BikeClientError {
  readonly reason: string;
  constructor(reason: string) {
    super(`record refused: ${reason}`);
    this.name = 'InvalidRecordError';
    this.reason = reason;
  }
}

/**
 * A whole PutRecords (or other Kinesis) request failed. `code` is the SDK error name (or Node's socket
 * error code), `fault` who is to blame, `retryable` the SDK's own classification.
 */
export class KinesisRequestError extends BikeClientError {
  readonly code: string;
  readonly fault: 'client' | 'server' | 'network';
  readonly httpStatusCode: number | undefined;
  constructor(
    message: string,
    details: {
      code: string;
      fault: 'client' | 'server' | 'network';
      retryable: boolean;
      httpStatusCode?: number;
      cause?: unknown;
    },
  ) {
    super(message, { retryable: details.retryable, cause: details.cause });
    this.name = 'KinesisRequestError';
    this.code = details.code;
    this.fault = details.fault;
    this.httpStatusCode = details.httpStatusCode;
  }
}

/** An endpoint (Kinesis or MQTT broker) could not be reached or refused the client. */
export class EndpointUnreachableError extends BikeClientError {
  readonly endpoint: string;
  constructor(endpoint: string, reason: string, cause?: unknown) {
    super(`cannot reach ${endpoint}: ${reason}`, { retryable: true, cause });
    this.name = 'EndpointUnreachableError';
    this.endpoint = endpoint;
  }
}

/** The certificate, key or CA a bike was given cannot be used (not PEM, or a key of another certificate). */
export class TlsMaterialError extends BikeClientError {
  readonly files: { cert: string; key: string; ca?: string };
  constructor(files: { cert: string; key: string; ca?: string }, reason: string, cause?: unknown) {
    super(
      `the TLS files cannot be used (--cert ${files.cert}, --key ${files.key}${files.ca ? `, --ca ${files.ca}` : ''}): ${reason} — each must be a PEM file, and the key the certificate's own`,
      { cause },
    );
    this.name = 'TlsMaterialError';
    this.files = files;
  }
}

/** The bike was used after `close()`. */
export class BikeClosedError extends BikeClientError {
  constructor() {
    super('the bike is closed');
    this.name = 'BikeClosedError';
  }
}
