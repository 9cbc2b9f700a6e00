import {
  escapeForTerraform,
  INGEST_TOPIC,
  PARTITION_KEY_TEMPLATES,
  RESULTS_TOPIC_FILTER,
  RESULTS_TOPIC_PREFIX,
} from '@alleycat/schema';
import { DataAwsCallerIdentity } from '@cdktf/provider-aws/lib/data-aws-caller-identity/index.js';
import { DataAwsIotEndpoint } from '@cdktf/provider-aws/lib/data-aws-iot-endpoint/index.js';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider/index.js';
import { S3Backend, TerraformOutput, TerraformStack } from 'cdktf';
import type { Construct } from 'constructs';
import {
  APP_NAME,
  IOT_DATA_ENDPOINT_TYPE,
  TERRAFORM_REQUIRED_VERSION,
  TERRAFORM_REQUIRED_VERSION_S3_LOCKING,
} from './constants.js';
import { Alarms } from './constructs/alarms.js';
import { Archive } from './constructs/archive.js';
import { BikePolicy } from './constructs/bike-policy.js';
import { EncryptionKey } from './constructs/encryption-key.js';
import { IngestFunction } from './constructs/ingest-function.js';
import { IngestRule } from './constructs/ingest-rule.js';
import { IotLogging } from './constructs/iot-logging.js';
import { PrivateBucket } from './constructs/private-bucket.js';
import { StateTable } from './constructs/state-table.js';
import { SweepSchedule } from './constructs/sweep-schedule.js';
import { TelemetryStream } from './constructs/telemetry-stream.js';
import { Arns, type ResourceNames, resourceNames } from './naming.js';
import type { InfraConfig } from './types.js';

/**
 * The whole Alleycat pipeline on AWS: IoT Core → Kinesis → Lambda → DynamoDB, results back over IoT.
 * Each construct makes one part; this composes them and names the outputs.
 */
export class AlleycatStack extends TerraformStack {
  readonly config: InfraConfig;
  readonly names: ResourceNames;
  readonly telemetry: TelemetryStream;
  readonly ingestRule: IngestRule;
  readonly ingestFunction: IngestFunction;
  /** The scheduled rule that invokes the ingest Lambda's sweep; undefined when the schedule is `off`. */
  readonly sweep: SweepSchedule | undefined;
  readonly archive: Archive;
  /** CloudWatch alarms into an SNS topic; undefined when alarms are off. */
  readonly alarms: Alarms | undefined;

  constructor(scope: Construct, config: InfraConfig) {
    const names = resourceNames(config.environment);
    super(scope, names.stack);
    this.config = config;
    this.names = names;

    new AwsProvider(this, 'aws', {
      region: config.region,
      defaultTags: [{ tags: { Application: APP_NAME, Environment: config.environment, ...config.tags } }],
    });
    if (config.stateBucket !== undefined) {
      new S3Backend(this, {
        bucket: config.stateBucket,
        key: `${APP_NAME}/${config.environment}/terraform.tfstate`,
        region: config.region,
        encrypt: true,
      });
      // S3-native state locking (Terraform ≥ 1.10); cdktf 0.21's S3Backend does not know the option yet.
      this.addOverride('terraform.backend.s3.use_lockfile', true);
    }
    // Said in the JSON, so an older Terraform stops at `init` with the version it needs.
    this.addOverride(
      'terraform.required_version',
      config.stateBucket === undefined ? TERRAFORM_REQUIRED_VERSION : TERRAFORM_REQUIRED_VERSION_S3_LOCKING,
    );

    const account = config.accountId ?? new DataAwsCallerIdentity(this, 'caller').accountId;
    const iotDataEndpoint =
      config.iotDataEndpoint ??
      new DataAwsIotEndpoint(this, 'iot-data-endpoint', { endpointType: IOT_DATA_ENDPOINT_TYPE })
        .endpointAddress;
    const arns = new Arns(config.region, account);

    const key = new EncryptionKey(this, 'stream-key', {
      alias: names.kmsAlias,
      description: `Alleycat ${config.environment}: Kinesis stream encryption`,
    });
    this.telemetry = new TelemetryStream(this, 'telemetry', {
      name: names.stream,
      riders: config.riders,
      mode: config.streamMode,
      retentionHours: config.streamRetentionHours,
      kmsKeyArn: key.arn,
    });
    const stream = this.telemetry.stream;

    const errorsBucket = new PrivateBucket(this, 'errors', {
      name: names.bucket('errors', account, config.region),
      logicalId: 'errors_bucket',
      expiryDays: config.errorsExpiryDays,
      protectData: config.protectData,
    });
    const archiveBucket = new PrivateBucket(this, 'archive', {
      name: names.bucket('archive', account, config.region),
      logicalId: 'archive_bucket',
      expiryDays: config.archiveExpiryDays,
      protectData: config.protectData,
    });

    this.ingestRule = new IngestRule(this, 'ingest-rule', {
      name: names.ingestRule,
      roleName: names.role('iot-rule'),
      arns,
      partitionKeyStrategy: config.partitionKeyStrategy,
      streamName: stream.name,
      streamArn: stream.arn,
      streamKeyArn: key.arn,
      errorsBucket,
    });
    new IotLogging(this, 'iot-logging', {
      level: config.iotLogLevel,
      roleName: names.role('iot-logging'),
      retentionDays: config.logRetentionDays,
      manageLogGroup: config.manageIotLogGroup,
      arns,
    });

    const table = new StateTable(this, 'state', { name: names.table, protectData: config.protectData });
    this.ingestFunction = new IngestFunction(this, 'ingest', {
      functionName: names.function,
      roleName: names.role('ingest-lambda'),
      dlqName: names.dlq,
      streamConsumerName: names.streamConsumer,
      arns,
      bundleDir: config.lambdaBundleDir,
      memoryMb: config.lambdaMemoryMb,
      timeoutSeconds: config.lambdaTimeoutSeconds,
      logRetentionDays: config.logRetentionDays,
      logLevel: config.lambdaLogLevel,
      ...(config.raceTimeoutSeconds === undefined ? {} : { raceTimeoutSeconds: config.raceTimeoutSeconds }),
      ...(config.publishSettleMs === undefined ? {} : { publishSettleMs: config.publishSettleMs }),
      streamArn: stream.arn,
      streamKeyArn: key.arn,
      tableName: table.table.name,
      tableArn: table.table.arn,
      iotDataEndpoint,
      errorsBucket,
      eventSource: config.eventSource,
    });

    this.sweep =
      config.sweepSchedule === false
        ? undefined
        : new SweepSchedule(this, 'sweep', {
            ruleName: names.sweepRule,
            scheduleExpression: config.sweepSchedule,
            functionArn: this.ingestFunction.function.arn,
          });

    this.archive = new Archive(this, 'archive-delivery', {
      enabled: config.archive,
      deliveryStreamName: names.firehose,
      roleName: names.role('firehose'),
      arns,
      streamArn: stream.arn,
      streamKeyArn: key.arn,
      bucket: archiveBucket,
      logRetentionDays: config.logRetentionDays,
    });

    const bikePolicy = new BikePolicy(this, 'bike', { name: names.bikePolicy, arns });

    this.alarms = config.alarms
      ? new Alarms(this, 'alarms', {
          prefix: names.prefix,
          arns,
          ...(config.alarmEmail === undefined ? {} : { email: config.alarmEmail }),
          dlqName: names.dlq,
          functionName: names.function,
          streamName: names.stream,
        })
      : undefined;

    const outputs: Record<string, { value: string; description: string }> = {
      stream_name: { value: stream.name, description: 'Kinesis stream of race messages' },
      stream_arn: { value: stream.arn, description: 'Kinesis stream ARN' },
      iot_data_endpoint: { value: iotDataEndpoint, description: 'IoT Core data endpoint (bikes, results)' },
      ingest_topic: { value: INGEST_TOPIC, description: 'Topic bikes publish race messages to' },
      results_topic_prefix: {
        value: RESULTS_TOPIC_PREFIX,
        description: 'Leaderboards go to {prefix}/{classId}',
      },
      results_topic_filter: {
        value: RESULTS_TOPIC_FILTER,
        description: 'MQTT filter of every results topic',
      },
      ingest_rule_name: { value: this.ingestRule.rule.name, description: 'IoT topic rule into the stream' },
      partition_key_template: {
        value: escapeForTerraform(PARTITION_KEY_TEMPLATES[config.partitionKeyStrategy]),
        description: 'IoT substitution template of the Kinesis partition key',
      },
      table_name: { value: table.table.name, description: 'DynamoDB race-state table' },
      function_name: { value: this.ingestFunction.function.functionName, description: 'Ingest Lambda' },
      dlq_url: {
        value: this.ingestFunction.dlq.queue.url,
        description: 'Event source mapping on-failure queue',
      },
      errors_bucket: {
        value: errorsBucket.bucket.id,
        description: 'Failed rule deliveries and invalid records',
      },
      archive_bucket: { value: archiveBucket.bucket.id, description: 'Archive of the stream (Firehose)' },
      firehose_role_arn: { value: this.archive.role.arn, description: 'Role Firehose assumes to archive' },
      bike_policy_name: {
        value: bikePolicy.policy.name,
        description: 'IoT policy to attach to bike certificates',
      },
    };
    const consumer = this.ingestFunction.streamConsumer;
    if (consumer !== undefined) {
      outputs['stream_consumer_arn'] = {
        value: consumer.arn,
        description: 'Enhanced fan-out consumer the event source mapping reads through',
      };
    }
    if (this.alarms !== undefined) {
      outputs['alarm_topic_arn'] = {
        value: this.alarms.topic.arn,
        description: 'SNS topic of the alarms (subscribe whoever should hear of dropped or late records)',
      };
    }
    if (this.sweep !== undefined) {
      outputs['sweep_rule_name'] = {
        value: this.sweep.rule.name,
        description: 'EventBridge rule that invokes the ingest Lambda to sweep idle races',
      };
    }
    for (const [id, output] of Object.entries(outputs)) new TerraformOutput(this, id, output);
  }
}
