/**
 * The stack's configuration, from environment variables (`ALLEYCAT_*`) over cdktf context (`cdktf.json`
 * "context") over defaults. Every value is validated here, and an error names the setting as the user wrote it.
 */
import { fileURLToPath } from 'node:url';
import {
  LAMBDA_BUNDLE,
  LAMBDA_ENV,
  MAX_PUBLISH_SETTLE_MS,
  PARTITION_KEY_STRATEGIES,
  type PartitionKeyStrategy,
} from '@alleycat/schema';
import { DEFAULT_CONFIG, DEFAULT_EVENT_SOURCE, EVENT_SOURCE_BOUNDS } from './constants.js';
import { streamShards } from './constructs/telemetry-stream.js';
import { ConfigError } from './errors.js';
import {
  ACCOUNT_ID,
  BUCKET_NAME,
  boolean,
  EMAIL,
  ENV_NAME,
  HOSTNAME,
  integer,
  logRetention,
  oneOf,
  pattern,
  REGION,
  scheduleExpression,
  tags,
  text,
  upper,
} from './parse.js';
import type {
  EventSourceSettings,
  InfraConfig,
  IotLogLevel,
  LambdaLogLevel,
  StartingPosition,
  StreamMode,
} from './types.js';

/** `apps/ingest-lambda/<bundle dir>`, resolved from this package, never from the cwd. */
export const DEFAULT_LAMBDA_BUNDLE_DIR = fileURLToPath(
  new URL(`../../ingest-lambda/${LAMBDA_BUNDLE.directory}/`, import.meta.url),
);

export type Env = Readonly<Record<string, string | undefined>>;
export type Context = Readonly<Record<string, unknown>>;

/** One setting: where it is read from and how it is parsed. `parse` throws `ConfigError`s. */
interface Setting<T> {
  env: string;
  context: string;
  parse: (raw: unknown, name: string) => T;
}

const SETTINGS = {
  environment: {
    env: 'ALLEYCAT_ENV',
    context: 'environment',
    parse: pattern(
      ENV_NAME,
      '1–16 lowercase letters, digits or "-", starting with a letter (e.g. "dev", "prod")',
    ),
  },
  region: {
    env: 'ALLEYCAT_REGION',
    context: 'region',
    parse: pattern(REGION, 'an AWS region such as "eu-west-1"'),
  },
  tags: { env: 'ALLEYCAT_TAGS', context: 'tags', parse: tags },
  riders: { env: 'ALLEYCAT_RIDERS', context: 'riders', parse: integer(1, 10_000_000) },
  streamMode: {
    env: 'ALLEYCAT_STREAM_MODE',
    context: 'streamMode',
    parse: oneOf<StreamMode>(['provisioned', 'on-demand'], (s) => s.toLowerCase()),
  },
  streamRetentionHours: {
    env: 'ALLEYCAT_STREAM_RETENTION_HOURS',
    context: 'streamRetentionHours',
    parse: integer(24, 8760),
  },
  partitionKeyStrategy: {
    env: 'ALLEYCAT_PARTITION_KEY',
    context: 'partitionKeyStrategy',
    parse: oneOf<PartitionKeyStrategy>(PARTITION_KEY_STRATEGIES, (s) => s.toLowerCase()),
  },
  iotLogLevel: {
    env: 'ALLEYCAT_IOT_LOG_LEVEL',
    context: 'iotLogLevel',
    parse: oneOf<IotLogLevel>(['DEBUG', 'INFO', 'WARN', 'ERROR', 'DISABLED'], upper),
  },
  manageIotLogGroup: {
    env: 'ALLEYCAT_MANAGE_IOT_LOG_GROUP',
    context: 'manageIotLogGroup',
    parse: boolean,
  },
  alarms: { env: 'ALLEYCAT_ALARMS', context: 'alarms', parse: boolean },
  alarmEmail: {
    env: 'ALLEYCAT_ALARM_EMAIL',
    context: 'alarmEmail',
    parse: pattern(EMAIL, 'an e-mail address'),
  },
  deployedShards: {
    env: 'ALLEYCAT_DEPLOYED_SHARDS',
    context: 'deployedShards',
    parse: integer(1, 100_000),
  },
  lambdaLogLevel: {
    env: 'ALLEYCAT_LOG_LEVEL',
    context: 'logLevel',
    parse: oneOf<LambdaLogLevel>(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'], upper),
  },
  accountId: {
    env: 'ALLEYCAT_ACCOUNT_ID',
    context: 'accountId',
    parse: pattern(ACCOUNT_ID, 'a 12-digit AWS account id'),
  },
  iotDataEndpoint: {
    env: 'ALLEYCAT_IOT_DATA_ENDPOINT',
    context: 'iotDataEndpoint',
    parse: pattern(HOSTNAME, 'a hostname without scheme, e.g. "abc123-ats.iot.eu-west-1.amazonaws.com"'),
  },
  archive: { env: 'ALLEYCAT_ARCHIVE', context: 'archive', parse: boolean },
  lambdaMemoryMb: {
    env: 'ALLEYCAT_LAMBDA_MEMORY_MB',
    context: 'lambdaMemoryMb',
    parse: integer(128, 10_240),
  },
  lambdaTimeoutSeconds: {
    env: 'ALLEYCAT_LAMBDA_TIMEOUT_SECONDS',
    context: 'lambdaTimeoutSeconds',
    parse: integer(1, 900),
  },
  raceTimeoutSeconds: {
    env: 'ALLEYCAT_RACE_TIMEOUT_SECONDS',
    context: 'raceTimeoutSeconds',
    parse: integer(1, 86_400),
  },
  publishSettleMs: {
    env: LAMBDA_ENV.publishSettleMs,
    context: 'publishSettleMs',
    parse: integer(0, MAX_PUBLISH_SETTLE_MS),
  },
  sweepSchedule: { env: 'ALLEYCAT_SWEEP_SCHEDULE', context: 'sweepSchedule', parse: scheduleExpression },
  logRetentionDays: { env: 'ALLEYCAT_LOG_RETENTION_DAYS', context: 'logRetentionDays', parse: logRetention },
  errorsExpiryDays: {
    env: 'ALLEYCAT_ERRORS_EXPIRY_DAYS',
    context: 'errorsExpiryDays',
    parse: integer(1, 36_500),
  },
  archiveExpiryDays: {
    env: 'ALLEYCAT_ARCHIVE_EXPIRY_DAYS',
    context: 'archiveExpiryDays',
    parse: integer(1, 36_500),
  },
  protectData: { env: 'ALLEYCAT_PROTECT_DATA', context: 'protectData', parse: boolean },
  stateBucket: {
    env: 'ALLEYCAT_STATE_BUCKET',
    context: 'stateBucket',
    parse: pattern(BUCKET_NAME, 'an S3 bucket name'),
  },
  lambdaBundleDir: { env: 'ALLEYCAT_LAMBDA_BUNDLE_DIR', context: 'lambdaBundleDir', parse: text },
} satisfies { [K in keyof Omit<InfraConfig, 'eventSource'>]-?: Setting<NonNullable<InfraConfig[K]>> };

const EVENT_SOURCE_SETTINGS = {
  batchSize: {
    env: 'ALLEYCAT_ESM_BATCH_SIZE',
    context: 'esmBatchSize',
    parse: integer(...EVENT_SOURCE_BOUNDS.batchSize),
  },
  maximumBatchingWindowInSeconds: {
    env: 'ALLEYCAT_ESM_BATCHING_WINDOW_SECONDS',
    context: 'esmBatchingWindowSeconds',
    parse: integer(...EVENT_SOURCE_BOUNDS.maximumBatchingWindowInSeconds),
  },
  startingPosition: {
    env: 'ALLEYCAT_ESM_STARTING_POSITION',
    context: 'esmStartingPosition',
    parse: oneOf<StartingPosition>(['LATEST', 'TRIM_HORIZON'], upper),
  },
  parallelizationFactor: {
    env: 'ALLEYCAT_ESM_PARALLELIZATION_FACTOR',
    context: 'esmParallelizationFactor',
    parse: integer(...EVENT_SOURCE_BOUNDS.parallelizationFactor),
  },
  maximumRetryAttempts: {
    env: 'ALLEYCAT_ESM_MAX_RETRY_ATTEMPTS',
    context: 'esmMaxRetryAttempts',
    parse: integer(...EVENT_SOURCE_BOUNDS.maximumRetryAttempts),
  },
  maximumRecordAgeInSeconds: {
    env: 'ALLEYCAT_ESM_MAX_RECORD_AGE_SECONDS',
    context: 'esmMaxRecordAgeSeconds',
    parse: integer(...EVENT_SOURCE_BOUNDS.maximumRecordAgeInSeconds),
  },
  enhancedFanOut: {
    env: 'ALLEYCAT_ESM_ENHANCED_FAN_OUT',
    context: 'esmEnhancedFanOut',
    parse: boolean,
  },
} satisfies { [K in keyof EventSourceSettings]: Setting<EventSourceSettings[K]> };

/** Every setting's env var and context key, for docs and error messages. */
export const CONFIG_SOURCES: ReadonlyArray<{ key: string; env: string; context: string }> = [
  ...Object.entries(SETTINGS),
  ...Object.entries(EVENT_SOURCE_SETTINGS).map(([k, v]) => [`eventSource.${k}`, v] as const),
].map(([key, s]) => ({ key, env: s.env, context: s.context }));

/** The raw value and the name it was given under: env wins over context; blank env vars count as unset. */
function lookup(
  setting: Setting<unknown>,
  env: Env,
  context: Context,
): { raw: unknown; name: string } | undefined {
  const fromEnv = env[setting.env];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return { raw: fromEnv, name: setting.env };
  const fromContext = context[setting.context];
  if (fromContext !== undefined && fromContext !== null && fromContext !== '') {
    return { raw: fromContext, name: `context "${setting.context}"` };
  }
  return undefined;
}

function read<T>(setting: Setting<T>, env: Env, context: Context): T | undefined {
  const found = lookup(setting as Setting<unknown>, env, context);
  return found === undefined ? undefined : setting.parse(found.raw, found.name);
}

export interface LoadConfigOptions {
  env?: Env;
  context?: Context;
}

/**
 * Builds the validated configuration. The region falls back to `AWS_REGION` / `AWS_DEFAULT_REGION` before the
 * default, as the AWS CLI and SDKs do.
 */
export function loadConfig({ env = process.env, context = {} }: LoadConfigOptions = {}): InfraConfig {
  const get = <K extends keyof typeof SETTINGS>(key: K) =>
    read(SETTINGS[key] as Setting<NonNullable<InfraConfig[K]>>, env, context);
  const awsRegion = env['AWS_REGION']?.trim() || env['AWS_DEFAULT_REGION']?.trim();
  const region =
    get('region') ??
    (awsRegion
      ? SETTINGS.region.parse(awsRegion, env['AWS_REGION'] ? 'AWS_REGION' : 'AWS_DEFAULT_REGION')
      : undefined);

  const eventSource = { ...DEFAULT_EVENT_SOURCE };
  for (const key of Object.keys(EVENT_SOURCE_SETTINGS) as Array<keyof EventSourceSettings>) {
    const value = read(EVENT_SOURCE_SETTINGS[key] as Setting<never>, env, context);
    if (value !== undefined) (eventSource as Record<string, unknown>)[key] = value;
  }

  const config: InfraConfig = {
    ...DEFAULT_CONFIG,
    tags: { ...DEFAULT_CONFIG.tags },
    lambdaBundleDir: DEFAULT_LAMBDA_BUNDLE_DIR,
    eventSource,
  };
  for (const key of Object.keys(SETTINGS) as Array<keyof typeof SETTINGS>) {
    const value = key === 'region' ? region : get(key);
    if (value !== undefined) (config as unknown as Record<string, unknown>)[key] = value;
  }
  return validateConfig(config);
}

/** Checks that hold between settings, and any config built by hand (tests, other programs). */
export function validateConfig(config: InfraConfig): InfraConfig {
  const es = config.eventSource;
  if (es.maximumRecordAgeInSeconds > config.streamRetentionHours * 3600) {
    throw new ConfigError(
      EVENT_SOURCE_SETTINGS.maximumRecordAgeInSeconds.env,
      es.maximumRecordAgeInSeconds,
      `must not exceed the stream retention (${config.streamRetentionHours} h): records sent to the DLQ must still be in the stream to be replayed`,
    );
  }
  if (config.deployedShards !== undefined && config.streamMode === 'provisioned') {
    // UpdateShardCount goes at most to double, and at least to half, the current count in one call.
    const shards = streamShards(config.riders);
    const from = config.deployedShards;
    if (shards > 2 * from || 2 * shards < from) {
      const step = shards > from ? 2 * from : Math.ceil(from / 2);
      throw new ConfigError(
        SETTINGS.riders.env,
        config.riders,
        `needs ${shards} shards, and Kinesis scales a stream from ${from} (${SETTINGS.deployedShards.env}) to between ${Math.ceil(from / 2)} and ${2 * from} in one update: deploy in steps (next: riders for ${step} shards), at most 10 a day, or use ALLEYCAT_STREAM_MODE=on-demand`,
      );
    }
  }
  // Re-parse every field so a hand-built config gets the same checks as env and context.
  for (const [key, setting] of Object.entries(SETTINGS)) {
    const value = (config as unknown as Record<string, unknown>)[key];
    if (value !== undefined) (setting.parse as (raw: unknown, name: string) => unknown)(value, key);
  }
  for (const [key, setting] of Object.entries(EVENT_SOURCE_SETTINGS)) {
    (setting.parse as (raw: unknown, name: string) => unknown)(
      (es as unknown as Record<string, unknown>)[key],
      `eventSource.${key}`,
    );
  }
  return config;
}
