import { LAMBDA_ENV, RESULTS_TOPIC_PREFIX } from '@alleycat/schema';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { DEFAULT_PUBLISH_SETTLE_MS } from '../src/constants.js';
import { ConfigError } from '../src/errors.js';

const valid = {
  [LAMBDA_ENV.tableName]: 'dev-alleycat-state',
  [LAMBDA_ENV.iotDataEndpoint]: 'abc123-ats.iot.eu-west-1.amazonaws.com',
  [LAMBDA_ENV.errorsBucket]: 'dev-alleycat-errors',
  AWS_REGION: 'eu-west-1',
};

function errorOf(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('reads a complete AWS configuration, with defaults', () => {
    expect(loadConfig(valid)).toEqual({
      tableName: 'dev-alleycat-state',
      iotDataEndpoint: 'https://abc123-ats.iot.eu-west-1.amazonaws.com',
      resultsTopicPrefix: RESULTS_TOPIC_PREFIX,
      errorsBucket: 'dev-alleycat-errors',
      raceTimeoutSeconds: 120,
      publishSettleMs: DEFAULT_PUBLISH_SETTLE_MS,
      region: 'eu-west-1',
    });
  });

  it('reads a local configuration (URL endpoint, errors folder, timeout)', () => {
    const config = loadConfig({
      ...valid,
      [LAMBDA_ENV.errorsBucket]: undefined,
      [LAMBDA_ENV.errorsDir]: '/tmp/alleycat-errors',
      [LAMBDA_ENV.iotDataEndpoint]: 'http://127.0.0.1:4000',
      [LAMBDA_ENV.raceTimeoutSeconds]: '30',
      [LAMBDA_ENV.publishSettleMs]: '0',
      [LAMBDA_ENV.resultsTopicPrefix]: 'dev/alleycat-subscribe',
    });
    expect(config.iotDataEndpoint).toBe('http://127.0.0.1:4000');
    expect(config.errorsDir).toBe('/tmp/alleycat-errors');
    expect(config.errorsBucket).toBeUndefined();
    expect(config.raceTimeoutSeconds).toBe(30);
    expect(config.publishSettleMs).toBe(0);
    expect(config.resultsTopicPrefix).toBe('dev/alleycat-subscribe');
  });

  it('takes every AWS region name and endpoints the SDK can use', () => {
    for (const region of [
      'us-east-1',
      'us-gov-west-1',
      'cn-northwest-1',
      'ap-southeast-3',
      'us-isob-east-1',
      'eusc-de-east-1',
    ])
      expect(loadConfig({ ...valid, AWS_REGION: region }).region).toBe(region);
    for (const bucket of ['dev-alleycat-errors', 'a.b-c', 'abc', '123'])
      expect(loadConfig({ ...valid, [LAMBDA_ENV.errorsBucket]: bucket }).errorsBucket).toBe(bucket);
    const env = { ...valid, AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:8000', AWS_ENDPOINT_URL: ' ' };
    expect(loadConfig(env).tableName).toBe(valid[LAMBDA_ENV.tableName]);
  });

  it.each([
    [LAMBDA_ENV.tableName, { [LAMBDA_ENV.tableName]: undefined }, /required/],
    [LAMBDA_ENV.tableName, { [LAMBDA_ENV.tableName]: 'no spaces allowed' }, /not a DynamoDB table name/],
    [LAMBDA_ENV.iotDataEndpoint, { [LAMBDA_ENV.iotDataEndpoint]: '  ' }, /required/],
    [LAMBDA_ENV.iotDataEndpoint, { [LAMBDA_ENV.iotDataEndpoint]: 'mqtt://broker:1883' }, /http\(s\)/],
    [LAMBDA_ENV.iotDataEndpoint, { [LAMBDA_ENV.iotDataEndpoint]: 'http://h:1/topics' }, /without a path/],
    [LAMBDA_ENV.iotDataEndpoint, { [LAMBDA_ENV.iotDataEndpoint]: 'http://[bad' }, /neither a URL/],
    [LAMBDA_ENV.errorsBucket, { [LAMBDA_ENV.errorsBucket]: undefined }, /rejected records must go somewhere/],
    [LAMBDA_ENV.errorsDir, { [LAMBDA_ENV.errorsDir]: '/tmp/x' }, /only one/],
    [LAMBDA_ENV.raceTimeoutSeconds, { [LAMBDA_ENV.raceTimeoutSeconds]: '0' }, /whole number/],
    [LAMBDA_ENV.raceTimeoutSeconds, { [LAMBDA_ENV.raceTimeoutSeconds]: '1.5' }, /whole number/],
    [LAMBDA_ENV.raceTimeoutSeconds, { [LAMBDA_ENV.raceTimeoutSeconds]: 'soon' }, /whole number/],
    [LAMBDA_ENV.publishSettleMs, { [LAMBDA_ENV.publishSettleMs]: '901' }, /from 0 to 900/],
    [LAMBDA_ENV.publishSettleMs, { [LAMBDA_ENV.publishSettleMs]: '-5' }, /whole number of milliseconds/],
    [LAMBDA_ENV.resultsTopicPrefix, { [LAMBDA_ENV.resultsTopicPrefix]: 'results/#' }, /not a topic prefix/],
    [LAMBDA_ENV.resultsTopicPrefix, { [LAMBDA_ENV.resultsTopicPrefix]: 'results/' }, /not a topic prefix/],
    ['AWS_REGION', { AWS_REGION: undefined }, /required/],
    ['AWS_REGION', { AWS_REGION: 'not a region' }, /not an AWS region name/],
    ['AWS_REGION', { AWS_REGION: 'Ireland' }, /not an AWS region name/],
    [LAMBDA_ENV.errorsBucket, { [LAMBDA_ENV.errorsBucket]: 's3://my-bucket' }, /not an S3 bucket name/],
    [LAMBDA_ENV.errorsBucket, { [LAMBDA_ENV.errorsBucket]: 'Bad_Name' }, /lower case/],
    [LAMBDA_ENV.errorsBucket, { [LAMBDA_ENV.errorsBucket]: 'a..b' }, /two dots/],
    [LAMBDA_ENV.errorsBucket, { [LAMBDA_ENV.errorsBucket]: '192.168.1.1' }, /IP address/],
    [LAMBDA_ENV.errorsBucket, { [LAMBDA_ENV.errorsBucket]: 'logs-s3alias' }, /reserved/],
    ['AWS_ENDPOINT_URL_DYNAMODB', { AWS_ENDPOINT_URL_DYNAMODB: '127.0.0.1:8000' }, /not an http\(s\) URL/],
    ['AWS_ENDPOINT_URL_DYNAMODB', { AWS_ENDPOINT_URL_DYNAMODB: 'not a url' }, /not an http\(s\) URL/],
    ['AWS_ENDPOINT_URL_S3', { AWS_ENDPOINT_URL_S3: 'ftp://files:21' }, /not an http\(s\) URL/],
    ['AWS_ENDPOINT_URL', { AWS_ENDPOINT_URL: 'localhost:4566' }, /not an http\(s\) URL/],
  ])('names %s when it is wrong (%j)', (variable, change, message) => {
    const error = errorOf({ ...valid, ...change });
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(message);
    expect(error.message.startsWith(`${variable}: `)).toBe(true);
    expect(error.retryable).toBe(false);
    expect(error.name).toBe('ConfigError');
  });
});
