/**
 * Is a failure worth retrying? Answered with the classifiers the AWS SDK's own retry strategy uses
 * (`@smithy/core/retry`: `$retryable`, throttling and transient names, 429/5xx, Node socket codes, a
 * transient `cause`), plus the modeled `$fault: 'server'` and a few socket codes it does not list —
 * never from message text.
 */
import { isRetryableByTrait, isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { IngestError } from './errors.js';

type SdkError = Parameters<typeof isThrottlingError>[0];

/**
 * Socket failures the SDK's lists miss (the request may not have reached the service): undici's socket
 * error and a connection aborted mid-request. The SDK's own list covers ECONNRESET, ECONNREFUSED, EPIPE,
 * ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, ENOTFOUND and EAI_AGAIN.
 */
const EXTRA_SOCKET_CODES = new Set(['UND_ERR_SOCKET', 'ECONNABORTED']);

interface ErrorShape {
  code?: unknown;
  $fault?: unknown;
}

export function isRetryable(error: unknown): boolean {
  if (error instanceof IngestError) return error.retryable;
  if (typeof error !== 'object' || error === null) return false;
  const sdk = error as SdkError;
  if (isRetryableByTrait(sdk) || isThrottlingError(sdk) || isTransientError(sdk) || isServerError(sdk)) {
    return true;
  }
  const e = error as ErrorShape;
  // A modeled server fault (e.g. DynamoDB's InternalServerError) even without an HTTP status at hand.
  if (e.$fault === 'server') return true;
  return typeof e.code === 'string' && EXTRA_SOCKET_CODES.has(e.code);
}
