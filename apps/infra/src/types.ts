import type { PartitionKeyStrategy } from '@alleycat/schema';

export type StreamMode = 'provisioned' | 'on-demand';
/** IoT Core's logging levels; `DISABLED` turns the account's IoT logging off. */
export type IotLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'DISABLED';
/** Powertools log levels of the ingest Lambda. */
export type LambdaLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
export type StartingPosition = 'LATEST' | 'TRIM_HORIZON';

/** How the Lambda reads the stream (`aws_lambda_event_source_mapping`). */
export interface EventSourceSettings {
  batchSize: number;
  maximumBatchingWindowInSeconds: number;
  startingPosition: StartingPosition;
  parallelizationFactor: number;
  maximumRetryAttempts: number;
  maximumRecordAgeInSeconds: number;
  /**
   * Read through a registered stream consumer (`aws_kinesis_stream_consumer`, enhanced fan-out): records are
   * pushed to the mapping over `SubscribeToShard` (~70 ms) instead of polled about once a second, with the
   * consumer's own 2 MiB/s per shard and no share of the 5 GetRecords/s. Billed per consumer-shard hour.
   */
  enhancedFanOut: boolean;
}

/** Everything the stack is built from: validated, with defaults applied (see `loadConfig`). */
export interface InfraConfig {
  /** Environment name; prefixes every resource name (`{environment}-alleycat`). */
  environment: string;
  region: string;
  /** Tags on every resource (provider `default_tags`). */
  tags: Record<string, string>;
  /** Riders expected at once: sizes the provisioned stream through `planCapacity`. */
  riders: number;
  streamMode: StreamMode;
  streamRetentionHours: number;
  partitionKeyStrategy: PartitionKeyStrategy;
  iotLogLevel: IotLogLevel;
  /**
   * Create (and bound the retention of) the account-wide `AWSIotLogsV2` log group. Off when the group already
   * exists in the account and region (IoT logging was on before), which a create would fail on.
   */
  manageIotLogGroup: boolean;
  lambdaLogLevel: LambdaLogLevel;
  /** When unset, `aws_caller_identity` looks it up at plan time. */
  accountId?: string;
  /** IoT data endpoint hostname; when unset, `aws_iot_endpoint` (`iot:Data-ATS`) looks it up at plan time. */
  iotDataEndpoint?: string;
  /** Creates the Firehose delivery stream that archives the Kinesis stream to the archive bucket. */
  archive: boolean;
  eventSource: EventSourceSettings;
  lambdaMemoryMb: number;
  lambdaTimeoutSeconds: number;
  /** Seconds after which the Lambda closes a race whose `final` never came; unset keeps the Lambda's default. */
  raceTimeoutSeconds?: number;
  /**
   * Milliseconds a second's leaderboard waits for a few late racers before it goes out without them (the
   * Lambda's `ALLEYCAT_PUBLISH_SETTLE_MS`, 0–900); unset keeps the Lambda's default (400). A round missing
   * more than 5 % of its racers waits up to 900 ms whatever this is (the ingest Lambda's README § Leaderboards).
   */
  publishSettleMs?: number;
  /**
   * EventBridge schedule expression (`rate(…)` or `cron(…)`) of the sweep rule that invokes the ingest Lambda
   * with a "Scheduled Event", so idle races close and due leaderboards go out once bikes stop sending (nothing
   * else invokes a stream function then). `false` creates no rule.
   */
  sweepSchedule: string | false;
  logRetentionDays: number;
  errorsExpiryDays: number;
  archiveExpiryDays: number;
  /** Deletion protection on the table, and buckets that refuse to be destroyed while they hold objects. */
  protectData: boolean;
  /**
   * CloudWatch alarms (DLQ, Lambda errors and iterator age, invalid records, throttled stream writes) into an
   * SNS topic, so that a record set aside reaches a person.
   */
  alarms: boolean;
  /** An e-mail address subscribed to the alarm topic (it must confirm the subscription). */
  alarmEmail?: string;
  /**
   * The shard count deployed now, if any: synthesis refuses a provisioned shard count Kinesis cannot reach from
   * it in one `UpdateShardCount` (more than double, or less than half).
   */
  deployedShards?: number;
  /** S3 bucket for remote Terraform state (cdktf deploy); unset keeps cdktf's local state file. */
  stateBucket?: string;
  /** Folder holding the ingest Lambda's bundle; default `apps/ingest-lambda/dist/lambda`. */
  lambdaBundleDir: string;
}
