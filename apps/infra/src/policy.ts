/**
 * IAM (and IoT) policy documents as plain objects, rendered to JSON strings in the synthesized stack so
 * reviewers, tests and `apps/local-stack` read them without evaluating Terraform.
 */
export type Condition = Record<string, Record<string, string | string[]>>;
export type Principal = '*' | { Service?: string | string[]; AWS?: string | string[] };

export interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal?: Principal;
  Action: string | string[];
  Resource?: string | string[];
  Condition?: Condition;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Statement[];
}

export function policyDocument(...statements: Statement[]): PolicyDocument {
  return { Version: '2012-10-17', Statement: statements };
}

/** Renders a document for a Terraform string attribute (tokens inside are resolved by cdktf). */
export function renderPolicy(doc: PolicyDocument): string {
  return JSON.stringify(doc);
}

export function allow(
  sid: string,
  action: string | string[],
  resource: string | string[],
  condition?: Condition,
) {
  return {
    Sid: sid,
    Effect: 'Allow',
    Action: action,
    Resource: resource,
    ...(condition ? { Condition: condition } : {}),
  } satisfies Statement;
}

/**
 * A trust policy for an AWS service principal. `condition` scopes it against the confused-deputy problem
 * (`aws:SourceAccount`/`aws:SourceArn`, or an external id) wherever the service supports it.
 */
export function assumeRolePolicy(service: string, condition?: Condition): PolicyDocument {
  return policyDocument({
    Sid: 'TrustService',
    Effect: 'Allow',
    Principal: { Service: service },
    Action: 'sts:AssumeRole',
    ...(condition ? { Condition: condition } : {}),
  });
}

/** Denies every request not made over TLS (for bucket and queue resource policies). */
export function denyInsecureTransport(service: string, resources: string[]): Statement {
  return {
    Sid: 'DenyInsecureTransport',
    Effect: 'Deny',
    Principal: '*',
    Action: `${service}:*`,
    Resource: resources,
    Condition: { Bool: { 'aws:SecureTransport': 'false' } },
  };
}

/**
 * Restricts a KMS permission to Kinesis's calls for one stream: Kinesis passes the stream ARN as the encryption
 * context of every KMS call it makes (Kinesis Data Streams developer guide, "Permissions to use user-generated
 * KMS keys").
 */
export function forKinesisStream(streamArn: string): Condition {
  return { StringEquals: { 'kms:EncryptionContext:aws:kinesis:arn': streamArn } };
}
