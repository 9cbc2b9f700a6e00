import { SqsQueue } from '@cdktf/provider-aws/lib/sqs-queue/index.js';
import { SqsQueuePolicy } from '@cdktf/provider-aws/lib/sqs-queue-policy/index.js';
import { Construct } from 'constructs';
import { DLQ_RETENTION_SECONDS } from '../constants.js';
import { denyInsecureTransport, policyDocument, renderPolicy } from '../policy.js';

/**
 * The event source mapping's on-failure destination: SSE-SQS encrypted, TLS only, keeping each failure record
 * (shard and sequence range of the batch that could not be processed) as long as SQS allows.
 */
export class DeadLetterQueue extends Construct {
  readonly queue: SqsQueue;

  constructor(scope: Construct, id: string, props: { name: string }) {
    super(scope, id);
    this.queue = new SqsQueue(this, 'queue', {
      name: props.name,
      sqsManagedSseEnabled: true,
      messageRetentionSeconds: DLQ_RETENTION_SECONDS,
    });
    this.queue.overrideLogicalId('dlq');
    new SqsQueuePolicy(this, 'policy', {
      queueUrl: this.queue.url,
      policy: renderPolicy(policyDocument(denyInsecureTransport('sqs', [this.queue.arn]))),
    });
  }
}
