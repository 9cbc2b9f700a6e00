import { DEFAULT_PARTITION_KEY_STRATEGY } from '@alleycat/schema';
import { describe, expect, it } from 'vitest';
import { CONFIG_SOURCES, DEFAULT_LAMBDA_BUNDLE_DIR, loadConfig, validateConfig } from '../src/config.js';
import { DEFAULT_EVENT_SOURCE } from '../src/constants.js';
import { ConfigError } from '../src/errors.js';
import { partitionOf, resourceNames } from '../src/naming.js';

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('has defaults for everything but the optional inputs', () => {
    const config = loadConfig({ env: {} });
    expect(config).toMatchObject({
      environment: 'dev',
      region: 'eu-west-1',
      tags: {},
      riders: 1000,
      streamMode: 'provisioned',
      streamRetentionHours: 24,
      partitionKeyStrategy: DEFAULT_PARTITION_KEY_STRATEGY,
      iotLogLevel: 'ERROR',
      lambdaLogLevel: 'INFO',
      archive: false,
      protectData: true,
      eventSource: DEFAULT_EVENT_SOURCE,
      lambdaBundleDir: DEFAULT_LAMBDA_BUNDLE_DIR,
    });
    expect(config.accountId).toBeUndefined();
    expect(config.iotDataEndpoint).toBeUndefined();
    expect(config.stateBucket).toBeUndefined();
    expect(DEFAULT_LAMBDA_BUNDLE_DIR).toMatch(/apps\/ingest-lambda\/dist\/lambda\/$/);
  });

  it('reads environment variables over context over defaults', () => {
    const config = loadConfig({
      env: { ALLEYCAT_RIDERS: '40000', ALLEYCAT_ARCHIVE: 'yes', ALLEYCAT_ENV: 'prod' },
      context: {
        riders: 5,
        environment: 'staging',
        region: 'us-east-1',
        tags: { team: 'racing' },
        esmBatchSize: 200,
      },
    });
    expect(config).toMatchObject({
      riders: 40000,
      archive: true,
      environment: 'prod',
      region: 'us-east-1',
      tags: { team: 'racing' },
    });
    expect(config.eventSource.batchSize).toBe(200);
  });

  it('turns enhanced fan-out off from the environment or the context (on by default)', () => {
    expect(loadConfig({ env: {} }).eventSource.enhancedFanOut).toBe(true);
    expect(loadConfig({ env: { ALLEYCAT_ESM_ENHANCED_FAN_OUT: 'off' } }).eventSource.enhancedFanOut).toBe(
      false,
    );
    expect(loadConfig({ env: {}, context: { esmEnhancedFanOut: false } }).eventSource.enhancedFanOut).toBe(
      false,
    );
    expect(
      loadConfig({ env: { ALLEYCAT_ESM_ENHANCED_FAN_OUT: 'true' }, context: { esmEnhancedFanOut: false } })
        .eventSource.enhancedFanOut,
    ).toBe(true);
  });

  it('sweeps every minute by default; takes rate and cron schedules, and off, from env or context', () => {
    expect(loadConfig({ env: {} }).sweepSchedule).toBe('rate(1 minute)');
    for (const schedule of [
      'rate(1 minute)',
      'rate(5 minutes)',
      'rate(1 hour)',
      'rate(12 hours)',
      'rate(1 day)',
      'rate(2 days)',
      'cron(0/5 * * * ? *)',
      'cron(15 10 ? * MON-FRI *)',
      'cron(0 18 L * ? 2026-2030)',
      'cron(0 8 ? * 6#3 *)',
    ]) {
      expect(loadConfig({ env: { ALLEYCAT_SWEEP_SCHEDULE: schedule } }).sweepSchedule).toBe(schedule);
    }
    expect(loadConfig({ env: {}, context: { sweepSchedule: 'rate(2 minutes)' } }).sweepSchedule).toBe(
      'rate(2 minutes)',
    );
    for (const off of ['off', 'OFF', 'false']) {
      expect(loadConfig({ env: { ALLEYCAT_SWEEP_SCHEDULE: off } }).sweepSchedule).toBe(false);
    }
    expect(loadConfig({ env: {}, context: { sweepSchedule: false } }).sweepSchedule).toBe(false);
    expect(loadConfig({ env: {}, context: { sweepSchedule: 'off' } }).sweepSchedule).toBe(false);
    // A hand-built config with the schedule off, or on, passes the same checks.
    const config = loadConfig({ env: {} });
    expect(validateConfig({ ...config, sweepSchedule: false }).sweepSchedule).toBe(false);
    expect(() => validateConfig({ ...config, sweepSchedule: 'rate(1 minutes)' })).toThrow(/^sweepSchedule: /);
    const error = errorOf(() => loadConfig({ env: {}, context: { sweepSchedule: 'hourly' } }));
    expect(error.setting).toBe('context "sweepSchedule"');
  });

  it('falls back to AWS_REGION, then AWS_DEFAULT_REGION', () => {
    expect(loadConfig({ env: { AWS_REGION: 'us-west-2' } }).region).toBe('us-west-2');
    expect(loadConfig({ env: { AWS_DEFAULT_REGION: 'ap-southeast-2' } }).region).toBe('ap-southeast-2');
    expect(loadConfig({ env: { ALLEYCAT_REGION: 'eu-central-1', AWS_REGION: 'us-west-2' } }).region).toBe(
      'eu-central-1',
    );
  });

  it('treats blank variables as unset', () => {
    expect(loadConfig({ env: { ALLEYCAT_ACCOUNT_ID: ' ', ALLEYCAT_RIDERS: '' } })).toMatchObject({
      riders: 1000,
    });
  });

  it('parses tags as key=value pairs', () => {
    expect(loadConfig({ env: { ALLEYCAT_TAGS: 'team=racing, cost-center = 42' } }).tags).toEqual({
      team: 'racing',
      'cost-center': '42',
    });
  });

  it.each([
    ['ALLEYCAT_RIDERS', 'many', /integer/],
    ['ALLEYCAT_RIDERS', '0', /integer from 1/],
    ['ALLEYCAT_RIDERS', '1.5', /integer/],
    ['ALLEYCAT_ENV', 'Prod', /lowercase/],
    ['ALLEYCAT_ENV', 'a-very-long-environment-name', /1–16/],
    ['ALLEYCAT_REGION', 'europe', /AWS region/],
    ['ALLEYCAT_STREAM_MODE', 'serverless', /provisioned, on-demand/],
    ['ALLEYCAT_PARTITION_KEY', 'uuid', /racer, class, timestamp, random/],
    ['ALLEYCAT_IOT_LOG_LEVEL', 'verbose', /DEBUG, INFO, WARN, ERROR, DISABLED/],
    ['ALLEYCAT_ACCOUNT_ID', '1234', /12-digit/],
    ['ALLEYCAT_IOT_DATA_ENDPOINT', 'https://x.iot.eu-west-1.amazonaws.com', /without scheme/],
    ['ALLEYCAT_ARCHIVE', 'maybe', /true or false/],
    ['ALLEYCAT_TAGS', 'team', /key=value/],
    ['ALLEYCAT_TAGS', 'aws:owner=me', /tag key/],
    ['ALLEYCAT_LOG_RETENTION_DAYS', '10', /retention values/],
    ['ALLEYCAT_STREAM_RETENTION_HOURS', '12', /from 24 to 8760/],
    ['ALLEYCAT_ESM_BATCH_SIZE', '20000', /from 1 to 10000/],
    ['ALLEYCAT_ESM_PARALLELIZATION_FACTOR', '11', /from 1 to 10/],
    ['ALLEYCAT_ESM_STARTING_POSITION', 'AT_TIMESTAMP', /LATEST, TRIM_HORIZON/],
    ['ALLEYCAT_ESM_MAX_RECORD_AGE_SECONDS', '30', /from 60/],
    ['ALLEYCAT_ESM_ENHANCED_FAN_OUT', 'fast', /true or false/],
    ['ALLEYCAT_STATE_BUCKET', 'Not_A_Bucket', /S3 bucket name/],
    ['ALLEYCAT_PUBLISH_SETTLE_MS', '1000', /from 0 to 900/],
    ['ALLEYCAT_PUBLISH_SETTLE_MS', '0.5', /integer/],
    ['ALLEYCAT_SWEEP_SCHEDULE', 'every minute', /rate\(N minute\|minutes.*cron\(.*"off"/],
    [
      'ALLEYCAT_SWEEP_SCHEDULE',
      'rate(30 seconds)',
      /unit must be minute, minutes, hour, hours, day or days, got "seconds"/,
    ],
    [
      'ALLEYCAT_SWEEP_SCHEDULE',
      'rate(1 minutes)',
      /singular unit for 1 .*: rate\(1 minute\), not rate\(1 minutes\)/,
    ],
    [
      'ALLEYCAT_SWEEP_SCHEDULE',
      'rate(5 minute)',
      /plural one above 1: rate\(5 minutes\), not rate\(5 minute\)/,
    ],
    ['ALLEYCAT_SWEEP_SCHEDULE', 'rate(0 minutes)', /at least 1/],
    ['ALLEYCAT_SWEEP_SCHEDULE', 'rate(1.5 hours)', /value must be a positive integer, got "1.5"/],
    [
      'ALLEYCAT_SWEEP_SCHEDULE',
      'rate(5  minutes)',
      /must be rate\(value unit\): two fields separated by one space/,
    ],
    ['ALLEYCAT_SWEEP_SCHEDULE', 'cron(*/5 * * * *)', /6 fields.*got 5/],
    ['ALLEYCAT_SWEEP_SCHEDULE', 'cron(0 10 * * * *)', /exactly one of cron day-of-month and day-of-week/],
    ['ALLEYCAT_SWEEP_SCHEDULE', 'cron(0 10 ? * ? *)', /exactly one of cron day-of-month and day-of-week/],
    ['ALLEYCAT_SWEEP_SCHEDULE', 'cron(0 25h * * ? *)', /cron field hours "25h"/],
  ])('rejects %s=%s naming the setting', (name, value, message) => {
    const error = errorOf(() => loadConfig({ env: { [name]: value } }));
    expect(error.setting).toBe(name);
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(new RegExp(`^${name}: `));
    expect(error.message).toMatch(message);
    expect(error.message).toContain(JSON.stringify(value));
  });

  it('names a bad context value by its context key', () => {
    const error = errorOf(() => loadConfig({ env: {}, context: { riders: -3 } }));
    expect(error.setting).toBe('context "riders"');
  });

  it('refuses a record age the stream does not retain (the DLQ entry could not be replayed)', () => {
    const error = errorOf(() =>
      loadConfig({
        env: { ALLEYCAT_ESM_MAX_RECORD_AGE_SECONDS: '172800', ALLEYCAT_STREAM_RETENTION_HOURS: '24' },
      }),
    );
    expect(error.setting).toBe('ALLEYCAT_ESM_MAX_RECORD_AGE_SECONDS');
    expect(
      loadConfig({
        env: { ALLEYCAT_ESM_MAX_RECORD_AGE_SECONDS: '172800', ALLEYCAT_STREAM_RETENTION_HOURS: '48' },
      }).eventSource.maximumRecordAgeInSeconds,
    ).toBe(172800);
  });

  it('validates hand-built configs the same way', () => {
    const config = loadConfig({ env: {} });
    expect(() => validateConfig({ ...config, riders: -1 })).toThrow(ConfigError);
    expect(() =>
      validateConfig({ ...config, eventSource: { ...config.eventSource, parallelizationFactor: 0 } }),
    ).toThrow(/eventSource.parallelizationFactor/);
  });

  it('lists every setting with a distinct env var and context key', () => {
    expect(new Set(CONFIG_SOURCES.map((s) => s.env)).size).toBe(CONFIG_SOURCES.length);
    expect(new Set(CONFIG_SOURCES.map((s) => s.context)).size).toBe(CONFIG_SOURCES.length);
    for (const s of CONFIG_SOURCES) expect(s.env).toMatch(/^ALLEYCAT_[A-Z0-9_]+$/);
  });
});

describe('names', () => {
  it('prefixes contract names per environment', () => {
    const names = resourceNames('prod');
    expect(names).toMatchObject({
      stack: 'prod-alleycat',
      stream: 'prod-alleycat',
      ingestRule: 'prod_alleycatIngest',
      table: 'prod-alleycat-state',
      function: 'prod-alleycat-ingest',
      sweepRule: 'prod-alleycat-sweep',
    });
    expect(resourceNames('eu-prod').ingestRule).toBe('eu_prod_alleycatIngest');
    // The longest environment name still gives a valid bucket name in the longest region name.
    expect(names.bucket('archive', '123456789012', 'ap-southeast-2').length).toBeLessThanOrEqual(63);
    expect(
      resourceNames('abcdefghijklmnop').bucket('archive', '123456789012', 'ap-southeast-2').length,
    ).toBeLessThanOrEqual(63);
  });

  it('knows the ARN partition of a region', () => {
    expect(partitionOf('eu-west-1')).toBe('aws');
    expect(partitionOf('cn-north-1')).toBe('aws-cn');
    expect(partitionOf('us-gov-west-1')).toBe('aws-us-gov');
  });
});
