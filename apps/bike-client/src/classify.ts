/**
 * Whole-request failures, classified with the SDK's own error metadata (`$retryable`, `$fault`, modeled
 * names, HTTP status, Node socket codes) through `@smithy/core`'s classifiers — never by matching messages.
 */
import { isRetryableByTrait, isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { KinesisRequestError } from './errors.js';

type SdkError = Parameters<typeof isThrottlingError>[0];

interface MaybeSdkError {
  name?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

/** The SDK error (or socket error) as a `KinesisRequestError` that says whether to retry. */
export function classifyRequestError(error: unknown): KinesisRequestError {
  if (error instanceof KinesisRequestError) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as MaybeSdkError;
  const sdk = e as unknown as SdkError;
  const status = e.$metadata?.httpStatusCode;
  const socketCode = typeof e.code === 'string' ? e.code : undefined;
  const throttling = isThrottlingError(sdk);
  const transient = isTransientError(sdk);
  const server = isServerError(sdk);
  const retryable = isRetryableByTrait(sdk) || throttling || transient || server;
  // A response with an HTTP status or a modeled fault came from the service; a socket error or a timeout is
  // the network; anything else failed before a request went out (credentials, region, configuration).
  const fault: 'client' | 'server' | 'network' =
    e.$fault ??
    (status !== undefined
      ? status >= 500
        ? 'server'
        : 'client'
      : socketCode !== undefined || transient
        ? 'network'
        : 'client');
  const code = (e.name && e.name !== 'Error' ? e.name : undefined) ?? socketCode ?? 'UnknownError';
  const detail = socketCode && socketCode !== code ? ` (${socketCode})` : '';
  // An answer the SDK could not read (an empty 404 from something that is not Kinesis) says only "UnknownError".
  const message =
    status !== undefined && (e.message === undefined || e.message === code || e.message === 'UnknownError')
      ? `HTTP ${status} with no Kinesis error in the body`
      : (e.message ?? String(error));
  return new KinesisRequestError(`${code}${detail}: ${message}`, {
    code,
    fault,
    retryable,
    ...(status === undefined ? {} : { httpStatusCode: status }),
    cause: error,
  });
}
