import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm/index.js';
import { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic/index.js';
import { SnsTopicPolicy } from '@cdktf/provider-aws/lib/sns-topic-policy/index.js';
import { SnsTopicSubscription } from '@cdktf/provider-aws/lib/sns-topic-subscription/index.js';
import { Construct } from 'constructs';
import {
  ALARM_PERIOD_SECONDS,
  ITERATOR_AGE_ALARM_MS,
  METRICS_NAMESPACE,
  POWERTOOLS_SERVICE_NAME,
} from '../constants.js';
import type { Arns } from '../naming.js';
import { denyInsecureTransport, policyDocument, renderPolicy } from '../policy.js';

export interface AlarmsProps {
  /** `{env}-alleycat`: the topic's name and every alarm's prefix. */
  prefix: string;
  arns: Arns;
  email?: string;
  dlqName: string;
  functionName: string;
  streamName: string;
}

/** One alarm: a metric over `ALARM_PERIOD_SECONDS`, in alarm when its statistic passes the threshold. */
interface AlarmSpec {
  id: string;
  description: string;
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
  statistic: 'Sum' | 'Maximum';
  threshold: number;
}

/**
 * Where a set-aside record reaches a person: alarms on what the pipeline drops or delays, into an SNS topic
 * (with an e-mail subscription when configured). Each one points at where to look:
 * - the DLQ holds a failure record (shard and sequence range; the records are still in the stream for its
 *   retention, so they can be replayed);
 * - the ingest Lambda failed an invocation (a crash: bisect isolates the record, retried until max age);
 * - its iterator age passed `ITERATOR_AGE_ALARM_MS` (the stream is falling behind, leaderboards are late);
 * - it set invalid records aside (`invalid/` in the errors bucket, with their reason);
 * - Kinesis throttled writes (through the IoT rule: its error action wrote them to `errors/`; a direct
 *   producer retries them, so there the alarm says the stream is short of shards, not that anything is lost).
 * `invalid-records` reads the Lambda's EMF metric by its `service` dimension, the same in every environment:
 * it relies on one environment per account and region, as the README asks.
 * The topic is not KMS-encrypted: CloudWatch cannot publish to a topic under the AWS-managed SNS key, and
 * alarm states are not sensitive; the policy lets only this account's alarms publish, over TLS.
 */
export class Alarms extends Construct {
  readonly topic: SnsTopic;
  readonly alarms: CloudwatchMetricAlarm[];

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    const { prefix, arns } = props;
    this.topic = new SnsTopic(this, 'topic', { name: `${prefix}-alarms` });
    this.topic.overrideLogicalId('alarm_topic');
    new SnsTopicPolicy(this, 'policy', {
      arn: this.topic.arn,
      policy: renderPolicy(
        policyDocument(
          {
            Sid: 'CloudWatchAlarmsOfThisAccount',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: this.topic.arn,
            Condition: {
              StringEquals: { 'aws:SourceAccount': arns.account },
              ArnLike: { 'aws:SourceArn': arns.of('cloudwatch', `alarm:${prefix}-*`) },
            },
          },
          denyInsecureTransport('sns', [this.topic.arn]),
        ),
      ),
    });
    if (props.email !== undefined) {
      new SnsTopicSubscription(this, 'email', {
        topicArn: this.topic.arn,
        protocol: 'email',
        endpoint: props.email,
      });
    }

    const specs: AlarmSpec[] = [
      {
        id: 'dlq-not-empty',
        description: `Batches the ingest Lambda gave up on are in the DLQ ${props.dlqName} (shard and sequence ranges): replay them from the stream before its retention ends`,
        namespace: 'AWS/SQS',
        metricName: 'ApproximateNumberOfMessagesVisible',
        dimensions: { QueueName: props.dlqName },
        statistic: 'Maximum',
        threshold: 0,
      },
      {
        id: 'ingest-errors',
        description: `The ingest Lambda ${props.functionName} failed invocations (a crash, not a skipped record): see its logs`,
        namespace: 'AWS/Lambda',
        metricName: 'Errors',
        dimensions: { FunctionName: props.functionName },
        statistic: 'Sum',
        threshold: 0,
      },
      {
        id: 'ingest-iterator-age',
        description: `The ingest Lambda ${props.functionName} reads records over ${ITERATOR_AGE_ALARM_MS / 1000} s old: the stream is falling behind and leaderboards are late`,
        namespace: 'AWS/Lambda',
        metricName: 'IteratorAge',
        dimensions: { FunctionName: props.functionName },
        statistic: 'Maximum',
        threshold: ITERATOR_AGE_ALARM_MS,
      },
      {
        id: 'invalid-records',
        description:
          'The ingest Lambda set invalid records aside: their payloads and reasons are under invalid/ in the errors bucket',
        namespace: METRICS_NAMESPACE,
        metricName: 'InvalidRecords',
        dimensions: { service: POWERTOOLS_SERVICE_NAME },
        statistic: 'Sum',
        threshold: 0,
      },
      {
        id: 'stream-writes-throttled',
        description: `Kinesis throttled writes to ${props.streamName}: messages through the IoT rule went to its error action (under errors/ in the errors bucket); direct producers retried theirs. Raise the shard count`,
        namespace: 'AWS/Kinesis',
        metricName: 'WriteProvisionedThroughputExceeded',
        dimensions: { StreamName: props.streamName },
        statistic: 'Sum',
        threshold: 0,
      },
    ];
    this.alarms = specs.map(
      (spec) =>
        new CloudwatchMetricAlarm(this, spec.id, {
          alarmName: `${prefix}-${spec.id}`,
          alarmDescription: spec.description,
          namespace: spec.namespace,
          metricName: spec.metricName,
          dimensions: spec.dimensions,
          statistic: spec.statistic,
          period: ALARM_PERIOD_SECONDS,
          evaluationPeriods: 1,
          comparisonOperator: 'GreaterThanThreshold',
          threshold: spec.threshold,
          // No data is no trouble: these metrics are only published when something happens or runs.
          treatMissingData: 'notBreaching',
          alarmActions: [this.topic.arn],
          okActions: [this.topic.arn],
        }),
    );
  }
}
