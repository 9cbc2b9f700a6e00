import { KmsAlias } from '@cdktf/provider-aws/lib/kms-alias/index.js';
import { KmsKey } from '@cdktf/provider-aws/lib/kms-key/index.js';
import { Construct } from 'constructs';
import { KMS_DELETION_WINDOW_DAYS } from '../constants.js';

export interface EncryptionKeyProps {
  alias: string;
  description: string;
}

/**
 * A customer-managed KMS key (rotated yearly). It keeps AWS's default key policy, which delegates access to
 * IAM: each role gets only the KMS action it needs on this key, through its own policy, limited to Kinesis's
 * calls for this stream (`kms:EncryptionContext:aws:kinesis:arn`).
 */
export class EncryptionKey extends Construct {
  readonly key: KmsKey;
  readonly alias: KmsAlias;

  constructor(scope: Construct, id: string, props: EncryptionKeyProps) {
    super(scope, id);
    this.key = new KmsKey(this, 'key', {
      description: props.description,
      enableKeyRotation: true,
      deletionWindowInDays: KMS_DELETION_WINDOW_DAYS,
    });
    this.alias = new KmsAlias(this, 'alias', { name: props.alias, targetKeyId: this.key.keyId });
  }

  get arn(): string {
    return this.key.arn;
  }
}
