import {
  escapeForTerraform,
  INGEST_RULE_SQL_VERSION,
  INGEST_TOPIC,
  ingestRuleSql,
  PARTITION_KEY_TEMPLATES,
  type PartitionKeyStrategy,
  RULE_ERRORS_PREFIX,
} from '@alleycat/schema';
import { IotTopicRule } from '@cdktf/provider-aws/lib/iot-topic-rule/index.js';
import { Construct } from 'constructs';
import type { Arns } from '../naming.js';
import { allow, forKinesisStream, policyDocument } from '../policy.js';
import type { PrivateBucket } from './private-bucket.js';
import { ServiceRole } from './service-role.js';

/** Object key of a message the rule could not deliver: by day, unique per failure. IoT substitution template. */
export const RULE_ERROR_KEY_TEMPLATE = `${RULE_ERRORS_PREFIX}\${parse_time("yyyy/MM/dd", timestamp(), "UTC")}/\${newuuid()}.json`;

export interface IngestRuleProps {
  name: string;
  roleName: string;
  arns: Arns;
  partitionKeyStrategy: PartitionKeyStrategy;
  streamName: string;
  streamArn: string;
  streamKeyArn: string;
  errorsBucket: PrivateBucket;
}

/**
 * The IoT topic rule `alleycatIngest`: every message on the ingest topic, plus the sender's client id, goes to
 * the Kinesis stream under the configured partition key. A delivery that fails (throttling, say) is not
 * retried by IoT Core: the error action writes it to the errors bucket under `errors/` for inspection.
 */
export class IngestRule extends Construct {
  readonly rule: IotTopicRule;
  readonly role: ServiceRole;

  constructor(scope: Construct, id: string, props: IngestRuleProps) {
    super(scope, id);
    const { arns } = props;
    this.role = new ServiceRole(this, 'role', {
      name: props.roleName,
      description: `IoT rule ${props.name}: put records into the stream, write failed messages under ${RULE_ERRORS_PREFIX}`,
      service: 'iot.amazonaws.com',
      trustCondition: {
        StringEquals: { 'aws:SourceAccount': arns.account },
        ArnLike: { 'aws:SourceArn': arns.iot(`rule/${props.name}`) },
      },
      policy: policyDocument(
        allow('PutIntoStream', 'kinesis:PutRecord', props.streamArn),
        allow(
          'EncryptForStream',
          'kms:GenerateDataKey',
          props.streamKeyArn,
          forKinesisStream(props.streamArn),
        ),
        allow('WriteFailedMessages', 's3:PutObject', props.errorsBucket.objectsUnder(RULE_ERRORS_PREFIX)),
      ),
    });

    this.rule = new IotTopicRule(this, 'rule', {
      name: props.name,
      description: `Race messages from ${INGEST_TOPIC} into Kinesis stream ${props.streamName}`,
      enabled: true,
      sql: ingestRuleSql(INGEST_TOPIC),
      sqlVersion: INGEST_RULE_SQL_VERSION,
      kinesis: [
        {
          streamName: props.streamName,
          roleArn: this.role.arn,
          partitionKey: escapeForTerraform(PARTITION_KEY_TEMPLATES[props.partitionKeyStrategy]),
        },
      ],
      errorAction: {
        s3: {
          bucketName: props.errorsBucket.bucket.id,
          key: escapeForTerraform(RULE_ERROR_KEY_TEMPLATE),
          roleArn: this.role.arn,
        },
      },
      // The role must be allowed to act before the rule starts routing.
      dependsOn: [this.role.policy],
    });
    this.rule.overrideLogicalId('ingest_rule');
  }
}
