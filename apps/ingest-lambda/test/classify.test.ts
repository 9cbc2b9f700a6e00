import {
  ConditionalCheckFailedException,
  InternalServerError,
  ProvisionedThroughputExceededException,
  ResourceNotFoundException,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import { InvalidRequestException, ServiceUnavailableException } from '@aws-sdk/client-iot-data-plane';
import { describe, expect, it } from 'vitest';
import { isRetryable } from '../src/classify.js';
import { BoardTooLargeError, ConfigError, DependencyError, StateConflictError } from '../src/errors.js';

const meta = { $metadata: {} };

describe('isRetryable', () => {
  it('follows the SDK’s modeled errors', () => {
    expect(isRetryable(new ProvisionedThroughputExceededException({ message: 'slow down', ...meta }))).toBe(
      true,
    );
    expect(isRetryable(new ThrottlingException({ message: 'throttled', ...meta }))).toBe(true);
    expect(isRetryable(new InternalServerError({ message: 'oops', ...meta }))).toBe(true);
    expect(isRetryable(new ServiceUnavailableException({ message: 'later', ...meta }))).toBe(true);
    expect(isRetryable(new ResourceNotFoundException({ message: 'no table', ...meta }))).toBe(false);
    expect(isRetryable(new ConditionalCheckFailedException({ message: 'lost', ...meta }))).toBe(false);
    expect(isRetryable(new InvalidRequestException({ message: 'bad topic', ...meta }))).toBe(false);
  });

  it('reads $retryable, $fault and HTTP status of unmodeled errors', () => {
    expect(
      isRetryable(Object.assign(new Error('x'), { name: 'Weird', $retryable: { throttling: true } })),
    ).toBe(true);
    expect(isRetryable(Object.assign(new Error('x'), { name: 'Weird', $fault: 'server' }))).toBe(true);
    expect(isRetryable(Object.assign(new Error('x'), { name: 'Weird', $fault: 'client' }))).toBe(false);
    expect(
      isRetryable(Object.assign(new Error('x'), { name: 'Unknown', $metadata: { httpStatusCode: 503 } })),
    ).toBe(true);
    expect(
      isRetryable(Object.assign(new Error('x'), { name: 'Unknown', $metadata: { httpStatusCode: 400 } })),
    ).toBe(false);
    expect(
      isRetryable(Object.assign(new Error('x'), { name: 'Unknown', $metadata: { httpStatusCode: 429 } })),
    ).toBe(true);
    expect(
      isRetryable(Object.assign(new Error('x'), { name: 'Unknown', $metadata: { httpStatusCode: 501 } })),
    ).toBe(true);
    expect(isRetryable(Object.assign(new Error('x'), { name: 'SlowDown', $metadata: {} }))).toBe(true);
  });

  it('treats socket failures and timeouts as transient', () => {
    expect(isRetryable(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryable(Object.assign(new Error('dns'), { code: 'EAI_AGAIN' }))).toBe(true);
    expect(isRetryable(Object.assign(new Error('undici'), { code: 'UND_ERR_SOCKET' }))).toBe(true);
    expect(isRetryable(Object.assign(new Error('aborted'), { code: 'ECONNABORTED' }))).toBe(true);
    expect(isRetryable(Object.assign(new Error('t'), { name: 'TimeoutError' }))).toBe(true);
    // A transient cause makes the wrapper transient (as the SDK's classifier reads it).
    expect(
      isRetryable(
        Object.assign(new Error('wrapped'), { cause: Object.assign(new Error('r'), { code: 'EPIPE' }) }),
      ),
    ).toBe(true);
    // An abort is deliberate (the SDK does not retry it either).
    expect(isRetryable(Object.assign(new Error('a'), { name: 'AbortError' }))).toBe(false);
    expect(isRetryable(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false);
    expect(isRetryable(new Error('plain'))).toBe(false);
    expect(isRetryable('a string')).toBe(false);
  });

  it('uses our own errors’ flag', () => {
    expect(isRetryable(new StateConflictError(1, 8))).toBe(true);
    expect(isRetryable(new BoardTooLargeError(1, 500_000, 389_120))).toBe(false);
    expect(isRetryable(new ConfigError('X', 'bad'))).toBe(false);
    expect(isRetryable(new DependencyError('op', new Error('x'), true))).toBe(true);
  });
});
