import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group/index.js';
import { CloudwatchLogStream } from '@cdktf/provider-aws/lib/cloudwatch-log-stream/index.js';
import { KinesisFirehoseDeliveryStream } from '@cdktf/provider-aws/lib/kinesis-firehose-delivery-stream/index.js';
import { Construct } from 'constructs';
import {
  ARCHIVE_BUFFER_MB,
  ARCHIVE_BUFFER_SECONDS,
  ARCHIVE_ERROR_PREFIX,
  ARCHIVE_PREFIX,
} from '../constants.js';
import type { Arns } from '../naming.js';
import { allow, forKinesisStream, policyDocument } from '../policy.js';
import { STREAM_READ_ACTIONS } from './ingest-function.js';
import type { PrivateBucket } from './private-bucket.js';
import { ServiceRole } from './service-role.js';

export interface ArchiveProps {
  enabled: boolean;
  deliveryStreamName: string;
  roleName: string;
  arns: Arns;
  streamArn: string;
  streamKeyArn: string;
  bucket: PrivateBucket;
  logRetentionDays: number;
}

/** Firehose's CloudWatch log stream for delivery errors. */
export const ARCHIVE_LOG_STREAM = 'DestinationDelivery';

/**
 * Archiving the stream to S3: the role Firehose assumes (always created, so turning archiving on needs no
 * IAM change) and, when enabled, the delivery stream (GZIP, date-partitioned) with its error log.
 */
export class Archive extends Construct {
  readonly role: ServiceRole;
  readonly deliveryStream?: KinesisFirehoseDeliveryStream;

  constructor(scope: Construct, id: string, props: ArchiveProps) {
    super(scope, id);
    const { arns } = props;
    const logGroupName = `/aws/kinesisfirehose/${props.deliveryStreamName}`;
    this.role = new ServiceRole(this, 'role', {
      name: props.roleName,
      description: 'Firehose: read the Kinesis stream, write the archive bucket',
      service: 'firehose.amazonaws.com',
      // Firehose passes the account id as the external id when it assumes a role.
      trustCondition: { StringEquals: { 'sts:ExternalId': arns.account } },
      policy: policyDocument(
        allow('ReadStream', [...STREAM_READ_ACTIONS], props.streamArn),
        allow('DecryptStream', 'kms:Decrypt', props.streamKeyArn, forKinesisStream(props.streamArn)),
        allow(
          'ListArchiveBucket',
          ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
          props.bucket.arn,
        ),
        allow(
          'WriteArchiveObjects',
          ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
          `${props.bucket.arn}/*`,
        ),
        allow('WriteDeliveryErrors', 'logs:PutLogEvents', `${arns.logGroup(logGroupName)}:*`),
      ),
    });
    if (!props.enabled) return;

    const logGroup = new CloudwatchLogGroup(this, 'log-group', {
      name: logGroupName,
      retentionInDays: props.logRetentionDays,
    });
    const logStream = new CloudwatchLogStream(this, 'log-stream', {
      name: ARCHIVE_LOG_STREAM,
      logGroupName: logGroup.name,
    });
    this.deliveryStream = new KinesisFirehoseDeliveryStream(this, 'delivery-stream', {
      name: props.deliveryStreamName,
      destination: 'extended_s3',
      kinesisSourceConfiguration: { kinesisStreamArn: props.streamArn, roleArn: this.role.arn },
      extendedS3Configuration: {
        roleArn: this.role.arn,
        bucketArn: props.bucket.arn,
        prefix: ARCHIVE_PREFIX,
        errorOutputPrefix: ARCHIVE_ERROR_PREFIX,
        compressionFormat: 'GZIP',
        bufferingSize: ARCHIVE_BUFFER_MB,
        bufferingInterval: ARCHIVE_BUFFER_SECONDS,
        cloudwatchLoggingOptions: {
          enabled: true,
          logGroupName: logGroup.name,
          logStreamName: logStream.name,
        },
      },
      dependsOn: [this.role.policy],
    });
    this.deliveryStream.overrideLogicalId('archive_delivery_stream');
  }
}
