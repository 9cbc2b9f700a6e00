/**
 * Defaults of the stack and fixed AWS values. Pipeline names, limits and capacity come from `@alleycat/schema`;
 * what is here is infrastructure policy. The README explains each value.
 */
import { DEFAULT_PARTITION_KEY_STRATEGY } from '@alleycat/schema';
import type { EventSourceSettings, InfraConfig } from './types.js';

export const APP_NAME = 'alleycat';

/** Runtime and architecture of the ingest Lambda (its bundle targets Node 22). */
export const LAMBDA_RUNTIME = 'nodejs22.x';
export const LAMBDA_ARCHITECTURE = 'arm64';

/** The IoT Core data-plane endpoint type bikes and the Lambda use (Amazon Trust Services certificates). */
export const IOT_DATA_ENDPOINT_TYPE = 'iot:Data-ATS';
/** IoT Core writes its logs (v2) to this log group; the stack creates it to bound its retention. */
export const IOT_LOG_GROUP = 'AWSIotLogsV2';

/** Terraform the synthesized JSON needs: 1.5 (import blocks, `check`), 1.10 for S3-native state locking. */
export const TERRAFORM_REQUIRED_VERSION = '>= 1.5';
export const TERRAFORM_REQUIRED_VERSION_S3_LOCKING = '>= 1.10';

/** Alarm on the Lambda's iterator age (the oldest record of a batch) past this: the stream is falling behind. */
export const ITERATOR_AGE_ALARM_MS = 60_000;
/** Evaluation period of the alarms (seconds). */
export const ALARM_PERIOD_SECONDS = 300;

/** SQS keeps messages at most 14 days: the DLQ keeps its failure records as long as SQS allows. */
export const DLQ_RETENTION_SECONDS = 14 * 24 * 60 * 60;
/** Days a KMS key waits before deletion once scheduled (7–30); the longest window to change one's mind. */
export const KMS_DELETION_WINDOW_DAYS = 30;
/** Days incomplete multipart uploads stay in a bucket. */
export const ABORT_MULTIPART_DAYS = 1;

/** Firehose archive: buffer up to 64 MiB or 5 minutes, whichever comes first (large, compressed objects). */
export const ARCHIVE_BUFFER_MB = 64;
export const ARCHIVE_BUFFER_SECONDS = 300;
export const ARCHIVE_PREFIX = 'archive/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/';
export const ARCHIVE_ERROR_PREFIX =
  'archive-errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/';

/** Powertools settings of the ingest Lambda. */
export const POWERTOOLS_SERVICE_NAME = 'alleycat-ingest';
export const METRICS_NAMESPACE = 'Alleycat';

/**
 * Event source mapping defaults, tuned for ~1 s end to end at 1,000 riders (2 shards at ~500 records/s each):
 * Lambda polls each shard about once a second; a batch of 1,000 holds a full shard-second, no batching window
 * means a poll is delivered at once, one batch per shard in flight keeps each shard's order. Retries are
 * bounded by record age rather than by a small count: a few quick retries would send valid records to the DLQ
 * during a DynamoDB outage of seconds (the local fault suite showed it with 3), whereas the Lambda already
 * skips invalid payloads itself, so what fails is transient. Bisect isolates a record that crashes the
 * function; records older than an hour go to the DLQ while the stream (24 h) still holds them for replay.
 */
export const DEFAULT_EVENT_SOURCE: Readonly<EventSourceSettings> = {
  batchSize: 1_000,
  maximumBatchingWindowInSeconds: 0,
  startingPosition: 'TRIM_HORIZON',
  parallelizationFactor: 1,
  maximumRetryAttempts: 10_000,
  maximumRecordAgeInSeconds: 3_600,
  // On: a standard iterator's ~1 s polling alone exceeds the 300 ms publish → leaderboard target (README).
  enhancedFanOut: true,
};

/** AWS's bounds on the event source mapping settings for Kinesis. */
export const EVENT_SOURCE_BOUNDS = {
  batchSize: [1, 10_000],
  maximumBatchingWindowInSeconds: [0, 300],
  parallelizationFactor: [1, 10],
  maximumRetryAttempts: [0, 10_000],
  maximumRecordAgeInSeconds: [60, 604_800],
} as const satisfies Record<string, readonly [number, number]>;

/**
 * The sweep's default schedule: every minute, the shortest interval an EventBridge schedule expression allows
 * (so a race closes at most about a minute after its timeout). 43,200 invocations a month.
 */
export const DEFAULT_SWEEP_SCHEDULE = 'rate(1 minute)';

export const DEFAULT_CONFIG: Readonly<Omit<InfraConfig, 'lambdaBundleDir' | 'eventSource'>> = {
  environment: 'dev',
  region: 'eu-west-1',
  tags: {},
  riders: 1_000,
  streamMode: 'provisioned',
  streamRetentionHours: 24,
  partitionKeyStrategy: DEFAULT_PARTITION_KEY_STRATEGY,
  iotLogLevel: 'ERROR',
  manageIotLogGroup: true,
  alarms: true,
  lambdaLogLevel: 'INFO',
  archive: false,
  lambdaMemoryMb: 512,
  lambdaTimeoutSeconds: 30,
  sweepSchedule: DEFAULT_SWEEP_SCHEDULE,
  logRetentionDays: 14,
  errorsExpiryDays: 30,
  archiveExpiryDays: 365,
  protectData: true,
};

/** Retention values CloudWatch Logs accepts. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;
