import { INVALID_RECORDS_PREFIX, LAMBDA_BUNDLE, LAMBDA_ENV, RESULTS_TOPIC_PREFIX } from '@alleycat/schema';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group/index.js';
import { KinesisStreamConsumer } from '@cdktf/provider-aws/lib/kinesis-stream-consumer/index.js';
import { LambdaEventSourceMapping } from '@cdktf/provider-aws/lib/lambda-event-source-mapping/index.js';
import { LambdaFunction } from '@cdktf/provider-aws/lib/lambda-function/index.js';
import { AssetType, Fn, TerraformAsset } from 'cdktf';
import { Construct } from 'constructs';
import {
  LAMBDA_ARCHITECTURE,
  LAMBDA_RUNTIME,
  METRICS_NAMESPACE,
  POWERTOOLS_SERVICE_NAME,
} from '../constants.js';
import { requireLambdaBundle } from '../lambda-bundle.js';
import type { Arns } from '../naming.js';
import { allow, forKinesisStream, policyDocument } from '../policy.js';
import type { EventSourceSettings, LambdaLogLevel } from '../types.js';
import { DeadLetterQueue } from './dead-letter-queue.js';
import type { PrivateBucket } from './private-bucket.js';
import { ServiceRole } from './service-role.js';

/**
 * What the ingest Lambda does to the state table (`apps/ingest-lambda/src/dynamo-store.ts`): read items, the
 * open-races partition and racers' bests (BatchGetItem, before raising them), conditionally put and update,
 * and delete a race's open marker when it closes. No batch writes, transactions or scans.
 */
export const STATE_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
] as const;

/** What an event source mapping needs to read a stream with shared-throughput (polling) consumers. */
export const STREAM_READ_ACTIONS = [
  'kinesis:DescribeStream',
  'kinesis:DescribeStreamSummary',
  'kinesis:GetRecords',
  'kinesis:GetShardIterator',
  'kinesis:ListShards',
] as const;

/**
 * What an event source mapping needs, on top of `STREAM_READ_ACTIONS` on the stream, to read through an
 * enhanced fan-out consumer: both actions take the consumer's ARN as their resource (Service Authorization
 * Reference, Kinesis; the KCL's EFO permissions are the same pair on `stream/{name}/consumer/*`).
 */
export const CONSUMER_READ_ACTIONS = ['kinesis:DescribeStreamConsumer', 'kinesis:SubscribeToShard'] as const;

export interface IngestFunctionProps {
  functionName: string;
  roleName: string;
  dlqName: string;
  /** Name of the stream consumer the mapping reads through when `eventSource.enhancedFanOut` is on. */
  streamConsumerName: string;
  arns: Arns;
  bundleDir: string;
  memoryMb: number;
  timeoutSeconds: number;
  logRetentionDays: number;
  logLevel: LambdaLogLevel;
  raceTimeoutSeconds?: number;
  publishSettleMs?: number;
  streamArn: string;
  streamKeyArn: string;
  tableName: string;
  tableArn: string;
  iotDataEndpoint: string;
  errorsBucket: PrivateBucket;
  eventSource: EventSourceSettings;
}

/**
 * The ingest Lambda (the `apps/ingest-lambda` bundle), its log group, its role, its DLQ and the event source
 * mapping that feeds it from the stream — through an enhanced fan-out consumer of its own when
 * `eventSource.enhancedFanOut` is on, otherwise as a shared-throughput (polling) reader.
 */
export class IngestFunction extends Construct {
  readonly function: LambdaFunction;
  readonly role: ServiceRole;
  readonly logGroup: CloudwatchLogGroup;
  readonly dlq: DeadLetterQueue;
  readonly eventSourceMapping: LambdaEventSourceMapping;
  /** The enhanced fan-out consumer the mapping reads through; undefined when it polls the stream itself. */
  readonly streamConsumer: KinesisStreamConsumer | undefined;
  readonly bundle: TerraformAsset;

  constructor(scope: Construct, id: string, props: IngestFunctionProps) {
    super(scope, id);
    const { arns } = props;
    this.bundle = new TerraformAsset(this, 'bundle', {
      path: requireLambdaBundle(props.bundleDir),
      type: AssetType.ARCHIVE,
    });
    this.dlq = new DeadLetterQueue(this, 'dlq', { name: props.dlqName });
    const es = props.eventSource;
    this.streamConsumer = es.enhancedFanOut
      ? new KinesisStreamConsumer(this, 'stream-consumer', {
          name: props.streamConsumerName,
          streamArn: props.streamArn,
        })
      : undefined;
    this.streamConsumer?.overrideLogicalId('ingest_consumer');
    const logGroupName = `/aws/lambda/${props.functionName}`;
    this.logGroup = new CloudwatchLogGroup(this, 'log-group', {
      name: logGroupName,
      retentionInDays: props.logRetentionDays,
    });

    this.role = new ServiceRole(this, 'role', {
      name: props.roleName,
      description: `Lambda ${props.functionName}: read the stream, use the state table, publish results`,
      // Lambda assumes an execution role only for functions of the role's own account that name it (guarded
      // by iam:PassRole); it documents no confused-deputy condition keys for execution roles.
      service: 'lambda.amazonaws.com',
      policy: policyDocument(
        allow('ReadStream', [...STREAM_READ_ACTIONS], props.streamArn),
        ...(this.streamConsumer === undefined
          ? []
          : [allow('ReadThroughConsumer', [...CONSUMER_READ_ACTIONS], this.streamConsumer.arn)]),
        allow('DecryptStream', 'kms:Decrypt', props.streamKeyArn, forKinesisStream(props.streamArn)),
        allow('UseStateTable', [...STATE_TABLE_ACTIONS], props.tableArn),
        allow('PublishResults', 'iot:Publish', arns.iot(`topic/${RESULTS_TOPIC_PREFIX}/*`)),
        allow('WriteInvalidRecords', 's3:PutObject', props.errorsBucket.objectsUnder(INVALID_RECORDS_PREFIX)),
        allow('SendFailedBatchesToDlq', 'sqs:SendMessage', this.dlq.queue.arn),
        allow('WriteLogs', ['logs:CreateLogStream', 'logs:PutLogEvents'], `${this.logGroup.arn}:*`),
      ),
    });

    this.function = new LambdaFunction(this, 'function', {
      functionName: props.functionName,
      description: 'Alleycat ingest: Kinesis race messages → validated, scored race state → leaderboards',
      role: this.role.arn,
      runtime: LAMBDA_RUNTIME,
      architectures: [LAMBDA_ARCHITECTURE],
      handler: LAMBDA_BUNDLE.handler,
      filename: this.bundle.path,
      sourceCodeHash: Fn.filebase64sha256(this.bundle.path),
      memorySize: props.memoryMb,
      timeout: props.timeoutSeconds,
      loggingConfig: { logFormat: 'Text', logGroup: logGroupName },
      environment: {
        variables: {
          [LAMBDA_ENV.tableName]: props.tableName,
          [LAMBDA_ENV.iotDataEndpoint]: props.iotDataEndpoint,
          [LAMBDA_ENV.resultsTopicPrefix]: RESULTS_TOPIC_PREFIX,
          [LAMBDA_ENV.errorsBucket]: props.errorsBucket.bucket.id,
          ...(props.raceTimeoutSeconds === undefined
            ? {}
            : { [LAMBDA_ENV.raceTimeoutSeconds]: String(props.raceTimeoutSeconds) }),
          ...(props.publishSettleMs === undefined
            ? {}
            : { [LAMBDA_ENV.publishSettleMs]: String(props.publishSettleMs) }),
          POWERTOOLS_SERVICE_NAME,
          POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
          POWERTOOLS_LOG_LEVEL: props.logLevel,
        },
      },
      dependsOn: [this.logGroup, this.role.policy],
    });
    this.function.overrideLogicalId('ingest_function');

    this.eventSourceMapping = new LambdaEventSourceMapping(this, 'event-source', {
      // A consumer ARN here makes Lambda subscribe (SubscribeToShard) instead of polling GetRecords.
      eventSourceArn: this.streamConsumer?.arn ?? props.streamArn,
      functionName: this.function.arn,
      startingPosition: es.startingPosition,
      batchSize: es.batchSize,
      maximumBatchingWindowInSeconds: es.maximumBatchingWindowInSeconds,
      parallelizationFactor: es.parallelizationFactor,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: es.maximumRetryAttempts,
      maximumRecordAgeInSeconds: es.maximumRecordAgeInSeconds,
      functionResponseTypes: ['ReportBatchItemFailures'],
      destinationConfig: { onFailure: { destinationArn: this.dlq.queue.arn } },
      // The mapping validates its role's permissions when it is created.
      dependsOn: [this.role.policy],
    });
    this.eventSourceMapping.overrideLogicalId('ingest_event_source');
  }
}
