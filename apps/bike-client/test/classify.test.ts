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

  it('does not retry what it cannot classify', () => {
    expect(classifyRequestError(new TypeError('x is not a function'))).toMatchObject({
      code: 'TypeError',
      retryable: false,
    });
    expect(classifyRequestError('weird')).toMatchObject({ code: 'UnknownError', retryable: false });
  });
});
