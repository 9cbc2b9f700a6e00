import {
  InvalidArgumentException,
  ProvisionedThroughputExceededException,
  ResourceNotFoundException,
} from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { classifyRequestError } from '../src/classify.js';

const metadata = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } });

describe('classifyRequestError', () => {
  it('retries modeled throttling', () => {
    const e = classifyRequestError(
      new ProvisionedThroughputExceededException({ message: 'Rate exceeded', ...metadata(400) }),
    );
    expect(e).toMatchObject({
      code: 'ProvisionedThroughputExceededException',
      retryable: true,
      fault: 'client',
    });
  });

  it('does not retry modeled client faults', () => {
    expect(
      classifyRequestError(new ResourceNotFoundException({ message: 'no stream', ...metadata(400) })),
    ).toMatchObject({
      code: 'ResourceNotFoundException',
      retryable: false,
      fault: 'client',
    });
    expect(
      classifyRequestError(new InvalidArgumentException({ message: 'bad', ...metadata(400) })),
    ).toMatchObject({
      retryable: false,
    });
  });

  it('retries server faults by status', () => {
    const error = Object.assign(new Error('boom'), {
      name: 'InternalFailure',
      $fault: 'server',
      ...metadata(500),
    });
    expect(classifyRequestError(error)).toMatchObject({
      code: 'InternalFailure',
      retryable: true,
      fault: 'server',
      httpStatusCode: 500,
    });
  });

  it('retries transient network errors and names them', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    expect(classifyRequestError(refused)).toMatchObject({
      code: 'ECONNREFUSED',
      retryable: true,
      fault: 'network',
    });
    const timeout = Object.assign(new Error('socket timed out'), { name: 'TimeoutError' });
    expect(classifyRequestError(timeout)).toMatchObject({ code: 'TimeoutError', retryable: true });
  });

  it('tells a failure before any request (credentials, region) from an unreachable endpoint', () => {
    const credentials = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    expect(classifyRequestError(credentials)).toMatchObject({
      code: 'CredentialsProviderError',
      fault: 'client',
      retryable: false,
    });
    expect(classifyRequestError(new Error('Region is missing'))).toMatchObject({ fault: 'client' });
    const timeout = Object.assign(new Error('socket timed out'), { name: 'TimeoutError' });
    expect(classifyRequestError(timeout)).toMatchObject({ fault: 'network' });
  });

  it('says the HTTP status of an answer the SDK could not read', () => {
    const unknown = Object.assign(new Error('UnknownError'), {
      name: 'Unknown',
      $metadata: { httpStatusCode: 404 },
    });
    expect(classifyRequestError(unknown).message).toBe('Unknown: HTTP 404 with no Kinesis error in the body');
  });

  it('does not retry what it cannot classify', () => {
    expect(classifyRequestError(new TypeError('x is not a function'))).toMatchObject({
      code: 'TypeError',
      retryable: false,
    });
    expect(classifyRequestError('weird')).toMatchObject({ code: 'UnknownError', retryable: false });
  });
});
