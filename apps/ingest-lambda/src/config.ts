/** Configuration from the environment, validated once at cold start (names come from `LAMBDA_ENV`). */
import { LAMBDA_ENV, RESULTS_TOPIC_PREFIX } from '@alleycat/schema';
import {
  DEFAULT_PUBLISH_SETTLE_MS,
  DEFAULT_RACE_TIMEOUT_SECONDS,
  MAX_PUBLISH_SETTLE_MS,
} from './constants.js';
import { ConfigError } from './errors.js';
import type { IngestConfig } from './types.js';

type Env = Readonly<Record<string, string | undefined>>;

const DYNAMODB_TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;
/** MQTT wildcards and NUL may not appear in a topic name. */
const isBadTopicPrefix = (prefix: string): boolean =>
  prefix.includes('#') || prefix.includes('+') || prefix.includes(String.fromCharCode(0));

function required(env: Env, name: string): string {
  const value = env[name]?.trim();
  if (value === undefined || value === '') throw new ConfigError(name, 'is required but not set');
  return value;
}

/** A URL (`http://127.0.0.1:4000`) or a bare host (`abc-ats.iot.eu-west-1.amazonaws.com` → https). */
export function normaliseEndpoint(variable: string, value: string): string {
  const candidate = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `https://${value}`;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    throw new ConfigError(variable, `"${value}" is neither a URL nor a host name`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(variable, `"${value}" must be http(s), not ${url.protocol}`);
  }
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    throw new ConfigError(variable, `"${value}" must be a scheme, host and port only, without a path`);
  }
  return url.origin;
}

/** `eu-west-1`, `us-gov-west-1`, `cn-north-1`, `us-isob-east-1`, `eusc-de-east-1`: every AWS region name's shape. */
const AWS_REGION_NAME = /^[a-z]{2,4}(-[a-z]+)+-\d+$/;

/**
 * S3's rules for a general purpose bucket name: 3–63 of a-z 0-9 . -, a letter or digit at each end, no `..`,
 * not an IP address, none of the reserved prefixes and suffixes.
 */
function bucketNameProblem(name: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name))
    return '3–63 of a-z 0-9 . - (lower case), beginning and ending with a letter or digit';
  if (name.includes('..')) return 'no two dots in a row';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return 'not an IP address';
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name) || /(-s3alias|--ol-s3|--x-s3|--table-s3)$/.test(name))
    return 'not a reserved prefix or suffix (xn--, sthree-, -s3alias, --ol-s3, …)';
  return undefined;
}

/**
 * Endpoint variables the AWS SDK itself reads (the local stack sets them): checked here, because the SDK
 * takes a bad one at construction and fails every call later as a non-retryable error (the shard stalls).
 */
const SDK_ENDPOINT_VARIABLES = ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_S3'];

function checkSdkEndpoint(variable: string, value: string): void {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.host === '') {
    throw new ConfigError(
      variable,
      `"${value}" is not an http(s) URL (the AWS SDK needs one: http://host:port)`,
    );
  }
}

/** Reads and checks every variable; the error names the variable and says what is wrong with it. */
export function loadConfig(env: Env = process.env): IngestConfig {
  const tableName = required(env, LAMBDA_ENV.tableName);
  if (!DYNAMODB_TABLE_NAME.test(tableName)) {
    throw new ConfigError(
      LAMBDA_ENV.tableName,
      `"${tableName}" is not a DynamoDB table name (3–255 of a-z A-Z 0-9 _ . -)`,
    );
  }
  const iotDataEndpoint = normaliseEndpoint(
    LAMBDA_ENV.iotDataEndpoint,
    required(env, LAMBDA_ENV.iotDataEndpoint),
  );

  const prefix = env[LAMBDA_ENV.resultsTopicPrefix]?.trim() || RESULTS_TOPIC_PREFIX;
  if (isBadTopicPrefix(prefix) || prefix.startsWith('$') || prefix.endsWith('/')) {
    throw new ConfigError(
      LAMBDA_ENV.resultsTopicPrefix,
      `"${prefix}" is not a topic prefix (no wildcards, no leading $, no trailing /)`,
    );
  }

  const errorsBucket = env[LAMBDA_ENV.errorsBucket]?.trim() || undefined;
  const errorsDir = env[LAMBDA_ENV.errorsDir]?.trim() || undefined;
  if (errorsBucket === undefined && errorsDir === undefined) {
    throw new ConfigError(
      LAMBDA_ENV.errorsBucket,
      `is required (or ${LAMBDA_ENV.errorsDir} for a local folder): rejected records must go somewhere`,
    );
  }
  if (errorsBucket !== undefined && errorsDir !== undefined) {
    throw new ConfigError(LAMBDA_ENV.errorsDir, `set only one of ${LAMBDA_ENV.errorsBucket} and it`);
  }
  const bucketProblem = errorsBucket === undefined ? undefined : bucketNameProblem(errorsBucket);
  if (bucketProblem !== undefined) {
    throw new ConfigError(
      LAMBDA_ENV.errorsBucket,
      `"${errorsBucket}" is not an S3 bucket name: ${bucketProblem}`,
    );
  }

  const rawTimeout = env[LAMBDA_ENV.raceTimeoutSeconds]?.trim();
  let raceTimeoutSeconds = DEFAULT_RACE_TIMEOUT_SECONDS;
  if (rawTimeout !== undefined && rawTimeout !== '') {
    raceTimeoutSeconds = Number(rawTimeout);
    if (!/^\d+$/.test(rawTimeout) || raceTimeoutSeconds < 1 || raceTimeoutSeconds > 86_400) {
      throw new ConfigError(
        LAMBDA_ENV.raceTimeoutSeconds,
        `"${rawTimeout}" must be a whole number of seconds from 1 to 86400`,
      );
    }
  }

  const rawSettle = env[LAMBDA_ENV.publishSettleMs]?.trim();
  let publishSettleMs = DEFAULT_PUBLISH_SETTLE_MS;
  if (rawSettle !== undefined && rawSettle !== '') {
    publishSettleMs = Number(rawSettle);
    if (!/^\d+$/.test(rawSettle) || publishSettleMs > MAX_PUBLISH_SETTLE_MS) {
      throw new ConfigError(
        LAMBDA_ENV.publishSettleMs,
        `"${rawSettle}" must be a whole number of milliseconds from 0 to ${MAX_PUBLISH_SETTLE_MS}`,
      );
    }
  }

  // Lambda always sets AWS_REGION; the local stack must too (the SDK would fail later, less clearly).
  const region = required(env, 'AWS_REGION');
  if (!AWS_REGION_NAME.test(region)) {
    throw new ConfigError('AWS_REGION', `"${region}" is not an AWS region name (such as eu-west-1)`);
  }
  for (const variable of SDK_ENDPOINT_VARIABLES) {
    const value = env[variable]?.trim();
    if (value !== undefined && value !== '') checkSdkEndpoint(variable, value);
  }

  const config: IngestConfig = {
    tableName,
    iotDataEndpoint,
    resultsTopicPrefix: prefix,
    raceTimeoutSeconds,
    publishSettleMs,
    region,
  };
  if (errorsBucket !== undefined) config.errorsBucket = errorsBucket;
  if (errorsDir !== undefined) config.errorsDir = errorsDir;
  return config;
}
