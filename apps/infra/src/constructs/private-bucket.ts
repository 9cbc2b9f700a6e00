import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket/index.js';
import { S3BucketLifecycleConfiguration } from '@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration/index.js';
import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls/index.js';
import { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy/index.js';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block/index.js';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration/index.js';
import { Construct } from 'constructs';
import { ABORT_MULTIPART_DAYS } from '../constants.js';
import { denyInsecureTransport, policyDocument, renderPolicy } from '../policy.js';

export interface PrivateBucketProps {
  name: string;
  /** Logical id of the bucket resource in the synthesized stack (stable, for readers of `cdk.tf.json`). */
  logicalId: string;
  /** Objects expire this many days after they are written. */
  expiryDays: number;
  /** When false, `terraform destroy` empties the bucket; when true it refuses while objects remain. */
  protectData: boolean;
}

/**
 * A bucket nobody outside the account can reach: every public-access block on, ACLs disabled (bucket owner
 * enforced), SSE-S3 encryption by default, a policy refusing requests without TLS, and a lifecycle that
 * expires objects and aborts abandoned multipart uploads.
 */
export class PrivateBucket extends Construct {
  readonly bucket: S3Bucket;

  constructor(scope: Construct, id: string, props: PrivateBucketProps) {
    super(scope, id);
    this.bucket = new S3Bucket(this, 'bucket', { bucket: props.name, forceDestroy: !props.protectData });
    this.bucket.overrideLogicalId(props.logicalId);
    const bucket = this.bucket.id;

    const publicAccess = new S3BucketPublicAccessBlock(this, 'public-access', {
      bucket,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketOwnershipControls(this, 'ownership', {
      bucket,
      rule: { objectOwnership: 'BucketOwnerEnforced' },
    });
    new S3BucketServerSideEncryptionConfigurationA(this, 'encryption', {
      bucket,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }],
    });
    new S3BucketLifecycleConfiguration(this, 'lifecycle', {
      bucket,
      rule: [
        {
          id: 'expire-objects',
          status: 'Enabled',
          filter: [{ prefix: '' }],
          expiration: [{ days: props.expiryDays }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: ABORT_MULTIPART_DAYS }],
        },
      ],
    });
    new S3BucketPolicy(this, 'policy', {
      bucket,
      policy: renderPolicy(
        policyDocument(denyInsecureTransport('s3', [this.bucket.arn, `${this.bucket.arn}/*`])),
      ),
      // A bucket policy put while the public-access block is still being created can be refused.
      dependsOn: [publicAccess],
    });
  }

  get arn(): string {
    return this.bucket.arn;
  }

  /** ARN pattern of the objects under `prefix` (which ends with `/`). */
  objectsUnder(prefix: string): string {
    return `${this.bucket.arn}/${prefix}*`;
  }
}
