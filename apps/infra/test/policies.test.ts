/**
 * Least privilege, checked over every policy document in the synthesized stack (IAM trust and permission
 * policies, bucket and queue policies, the bikes' IoT policy): no wildcard action, no `*` resource, every
 * resource this stack's own, every principal scoped. Exceptions are listed below with their reasons.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyDocument, Statement } from '../src/policy.js';
import {
  allResources,
  type Json,
  resources,
  type Synthesized,
  synthToTemp,
  TEST_ACCOUNT,
  TEST_REGION,
  target,
  testConfig,
} from './helpers.js';

/** Where a rule below is relaxed, and why. Nothing else may break it. */
const EXCEPTIONS = {
  /**
   * Deny statements only take permissions away. `DenyInsecureTransport` (bucket and queue policies) names every
   * principal (`*`) and every action of its service (`s3:*`, `sqs:*`) so that no request without TLS succeeds.
   */
  denyStatements: 'DenyInsecureTransport',
  /**
   * `lambda.amazonaws.com` assumes an execution role only for a function of the role's own account that names
   * the role (creating one requires iam:PassRole); Lambda documents no `aws:SourceAccount`/`aws:SourceArn`
   * support for execution-role trust, so adding them risks a function that cannot start.
   */
  unconditionedServices: ['lambda.amazonaws.com'],
  /** `*` resources AWS requires: none in this stack (every List and Describe call here can be scoped to a resource). */
  starResources: [] as string[],
} as const;

const SERVICES = ['iot.amazonaws.com', 'lambda.amazonaws.com', 'firehose.amazonaws.com'];
/** Services a resource policy of this stack lets in (not to assume a role): CloudWatch alarms into the topic. */
const GRANTED_SERVICES = ['cloudwatch.amazonaws.com'];

interface FoundPolicy {
  where: string;
  attribute: string;
  doc: PolicyDocument;
}

/** Every attribute that holds a policy document, in any resource. */
function policiesIn(json: Json): FoundPolicy[] {
  const found: FoundPolicy[] = [];
  for (const [type, id, body] of allResources(json)) {
    for (const [attribute, value] of Object.entries(body)) {
      if (!/policy$/.test(attribute) || typeof value !== 'string') continue;
      found.push({ where: `${type}.${id}`, attribute, doc: JSON.parse(value) as PolicyDocument });
    }
  }
  return found;
}

const list = (v: string | string[] | undefined): string[] =>
  v === undefined ? [] : Array.isArray(v) ? v : [v];

/** A resource of this stack: a Terraform reference (optionally with a path), or an ARN of this account/region. */
function isOwnResource(json: Json, resource: string): boolean {
  const reference = /^(\$\{[a-z0-9_]+\.[A-Za-z0-9_-]+\.arn\})(\/[A-Za-z0-9_./-]*\*?|:\*)?$/.exec(resource);
  if (reference) {
    target(json, reference[1]!); // throws on a dangling reference
    return true;
  }
  const arn = /^arn:aws:([a-z0-9-]+):([a-z0-9-]*):(\d*):(.+)$/.exec(resource);
  if (!arn) return false;
  const [, , region, account, rest] = arn;
  // The only wildcard allowed is a trailing one after a specific prefix (a topic or key prefix, log streams).
  const wildcardOk = !rest!.slice(0, -1).includes('*') && rest !== '*';
  return region === TEST_REGION && account === TEST_ACCOUNT && wildcardOk;
}

function checkStatement(json: Json, where: string, s: Statement, attribute = 'assume_role_policy'): string[] {
  const problems: string[] = [];
  const actions = list(s.Action);
  const id = `${where} ${s.Sid ?? '(no Sid)'}`;
  if (s.Effect === 'Deny') {
    if (s.Sid !== EXCEPTIONS.denyStatements) problems.push(`${id}: unexpected Deny statement`);
    return problems;
  }
  for (const action of actions) {
    if (action.includes('*')) problems.push(`${id}: wildcard action ${action}`);
  }
  if (s.Principal !== undefined && attribute !== 'assume_role_policy') {
    // A resource policy letting a service in: a listed one, scoped to this account, on this stack's resources.
    const services = s.Principal === '*' ? ['*'] : list(s.Principal.Service);
    if (s.Principal === '*' || s.Principal.AWS !== undefined) problems.push(`${id}: principal not a service`);
    for (const service of services) {
      if (!GRANTED_SERVICES.includes(service))
        problems.push(`${id}: unexpected service principal ${service}`);
    }
    if (!JSON.stringify(s.Condition ?? {}).includes(TEST_ACCOUNT))
      problems.push(`${id}: not scoped to the account`);
    for (const resource of list(s.Resource)) {
      if (!isOwnResource(json, resource)) problems.push(`${id}: resource not this stack's: ${resource}`);
    }
    return problems;
  }
  if (s.Principal !== undefined) {
    // A trust policy: one named service, scoped to this account unless listed as an exception.
    if (s.Principal === '*' || s.Principal.AWS !== undefined) problems.push(`${id}: principal not a service`);
    const services = list(s.Principal === '*' ? '*' : s.Principal.Service);
    for (const service of services) {
      if (!SERVICES.includes(service)) problems.push(`${id}: unexpected service principal ${service}`);
      const scoped = JSON.stringify(s.Condition ?? {}).includes(TEST_ACCOUNT);
      if (!scoped && !(EXCEPTIONS.unconditionedServices as readonly string[]).includes(service)) {
        problems.push(`${id}: ${service} not scoped to the account`);
      }
    }
    if (actions.join() !== 'sts:AssumeRole') problems.push(`${id}: trust allows ${actions.join()}`);
    return problems;
  }
  const resourcesOf = list(s.Resource);
  if (resourcesOf.length === 0) problems.push(`${id}: no resource`);
  for (const resource of resourcesOf) {
    if (resource === '*' && !EXCEPTIONS.starResources.includes(id)) problems.push(`${id}: * resource`);
    else if (!isOwnResource(json, resource)) problems.push(`${id}: resource not this stack's: ${resource}`);
  }
  // KMS use only through Kinesis, for this stream: its ARN is the encryption context of every Kinesis KMS call.
  const kmsScope = s.Condition?.['StringEquals']?.['kms:EncryptionContext:aws:kinesis:arn'];
  if (actions.some((a) => a.startsWith('kms:')) && kmsScope !== '${aws_kinesis_stream.stream.arn}') {
    problems.push(`${id}: KMS use not limited to this stream's encryption context`);
  }
  return problems;
}

/** Actions each role may take, by role name. */
function actionsByRole(json: Json): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  for (const policy of Object.values(resources(json, 'aws_iam_role_policy'))) {
    const role = target(json, policy.role.replace(/\.id\}$/, '.arn}')).body.name as string;
    const doc = JSON.parse(policy.policy) as PolicyDocument;
    out[role] = Object.fromEntries(doc.Statement.map((s) => [s.Sid!, list(s.Action)]));
  }
  return out;
}

let base: Synthesized;
let archived: Synthesized;
beforeAll(() => {
  base = synthToTemp(testConfig());
  archived = synthToTemp(testConfig({ ALLEYCAT_ARCHIVE: 'true' }));
});
afterAll(() => {
  base.cleanup();
  archived.cleanup();
});

describe('least privilege', () => {
  it.each(['default', 'archive'])('holds for every policy document (%s stack)', (which) => {
    const json = which === 'default' ? base.json : archived.json;
    const policies = policiesIn(json);
    // 4 trust + 4 permission policies, 2 bucket policies, 1 queue policy, 1 topic policy, 1 IoT policy.
    expect(policies).toHaveLength(13);
    const problems = policies.flatMap(({ where, attribute, doc }) => {
      expect(doc.Version).toBe('2012-10-17');
      return doc.Statement.flatMap((s) => checkStatement(json, where, s, attribute));
    });
    expect(problems).toEqual([]);
  });

  it('scopes every statement a permission adds to a function policy to a source of this stack', () => {
    // aws_lambda_permission is a resource-policy statement written as attributes, not a policy document.
    const permissions = Object.entries(resources(base.json, 'aws_lambda_permission'));
    expect(permissions.map(([id]) => id)).toEqual(['sweep_permission']);
    for (const [id, p] of permissions) {
      expect(p.action, id).toBe('lambda:InvokeFunction');
      expect(p.principal, id).toBe('events.amazonaws.com');
      expect(isOwnResource(base.json, p.source_arn), `${id} source_arn ${p.source_arn}`).toBe(true);
      expect(p.source_arn, id).not.toContain('*');
      expect(target(base.json, p.function_name).type).toBe('aws_lambda_function');
    }
  });

  it('uses inline policies only: no managed policies or attachments', () => {
    for (const [type, , body] of allResources(archived.json)) {
      expect(type).not.toMatch(/^aws_iam_(policy|role_policy_attachment|policy_attachment)$/);
      expect(body['managed_policy_arns']).toBeUndefined();
    }
  });

  it('gives each role exactly the actions its job needs', () => {
    expect(actionsByRole(base.json)).toEqual({
      'test-alleycat-iot-rule': {
        PutIntoStream: ['kinesis:PutRecord'],
        EncryptForStream: ['kms:GenerateDataKey'],
        WriteFailedMessages: ['s3:PutObject'],
      },
      'test-alleycat-iot-logging': {
        CreateLogGroup: ['logs:CreateLogGroup'],
        WriteLogs: ['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents'],
      },
      'test-alleycat-ingest-lambda': {
        ReadStream: [
          'kinesis:DescribeStream',
          'kinesis:DescribeStreamSummary',
          'kinesis:GetRecords',
          'kinesis:GetShardIterator',
          'kinesis:ListShards',
        ],
        ReadThroughConsumer: ['kinesis:DescribeStreamConsumer', 'kinesis:SubscribeToShard'],
        DecryptStream: ['kms:Decrypt'],
        UseStateTable: [
          'dynamodb:GetItem',
          'dynamodb:BatchGetItem',
          'dynamodb:Query',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
        ],
        PublishResults: ['iot:Publish'],
        WriteInvalidRecords: ['s3:PutObject'],
        SendFailedBatchesToDlq: ['sqs:SendMessage'],
        WriteLogs: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      },
      'test-alleycat-firehose': {
        ReadStream: [
          'kinesis:DescribeStream',
          'kinesis:DescribeStreamSummary',
          'kinesis:GetRecords',
          'kinesis:GetShardIterator',
          'kinesis:ListShards',
        ],
        DecryptStream: ['kms:Decrypt'],
        ListArchiveBucket: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
        WriteArchiveObjects: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
        WriteDeliveryErrors: ['logs:PutLogEvents'],
      },
    });
  });

  it('limits the rule role to this stream and to errors/ in the errors bucket', () => {
    const json = base.json;
    const policy = Object.values(resources(json, 'aws_iam_role_policy')).find((p) =>
      p.role.includes('ingest-rule'),
    )!;
    const doc = JSON.parse(policy.policy) as PolicyDocument;
    const bySid = Object.fromEntries(doc.Statement.map((s) => [s.Sid, s]));
    expect(bySid['PutIntoStream']!.Resource).toBe('${aws_kinesis_stream.stream.arn}');
    expect(target(json, bySid['EncryptForStream']!.Resource as string).type).toBe('aws_kms_key');
    expect(bySid['WriteFailedMessages']!.Resource).toBe('${aws_s3_bucket.errors_bucket.arn}/errors/*');
  });

  it('limits the Lambda to this stream, table, results topics, invalid/ and its DLQ', () => {
    const doc = JSON.parse(
      Object.values(resources(base.json, 'aws_iam_role_policy')).find((p) => p.role.includes('ingest_role'))!
        .policy,
    ) as PolicyDocument;
    const bySid = Object.fromEntries(doc.Statement.map((s) => [s.Sid, s.Resource]));
    expect(bySid).toMatchObject({
      ReadStream: '${aws_kinesis_stream.stream.arn}',
      ReadThroughConsumer: '${aws_kinesis_stream_consumer.ingest_consumer.arn}',
      UseStateTable: '${aws_dynamodb_table.state_table.arn}',
      PublishResults: `arn:aws:iot:${TEST_REGION}:${TEST_ACCOUNT}:topic/alleycat-subscribe/*`,
      WriteInvalidRecords: '${aws_s3_bucket.errors_bucket.arn}/invalid/*',
      SendFailedBatchesToDlq: '${aws_sqs_queue.dlq.arn}',
    });
  });

  it('lets the Lambda subscribe only through its own consumer, and not at all when it polls the stream', () => {
    const ingestPolicy = (json: Json) =>
      JSON.parse(
        Object.values(resources(json, 'aws_iam_role_policy')).find((p) => p.role.includes('ingest_role'))!
          .policy,
      ) as PolicyDocument;
    const consumer = ingestPolicy(base.json).Statement.find((s) => s.Sid === 'ReadThroughConsumer')!;
    expect(target(base.json, consumer.Resource as string).type).toBe('aws_kinesis_stream_consumer');
    const polling = synthToTemp(testConfig({ ALLEYCAT_ESM_ENHANCED_FAN_OUT: 'false' }));
    try {
      const actions = ingestPolicy(polling.json).Statement.flatMap((s) => list(s.Action));
      expect(actions).not.toContain('kinesis:SubscribeToShard');
      expect(actions).not.toContain('kinesis:DescribeStreamConsumer');
      expect(actions).toContain('kinesis:GetRecords');
    } finally {
      polling.cleanup();
    }
  });

  it('scopes service trust to this account (and the IoT rule role to its rule)', () => {
    const trust = Object.fromEntries(
      Object.values(resources(base.json, 'aws_iam_role')).map((r) => [
        r.name,
        (JSON.parse(r.assume_role_policy) as PolicyDocument).Statement[0]!.Condition,
      ]),
    );
    expect(trust['test-alleycat-iot-rule']).toEqual({
      StringEquals: { 'aws:SourceAccount': TEST_ACCOUNT },
      ArnLike: { 'aws:SourceArn': `arn:aws:iot:${TEST_REGION}:${TEST_ACCOUNT}:rule/test_alleycatIngest` },
    });
    expect(trust['test-alleycat-iot-logging']).toEqual({
      StringEquals: { 'aws:SourceAccount': TEST_ACCOUNT },
    });
    expect(trust['test-alleycat-firehose']).toEqual({ StringEquals: { 'sts:ExternalId': TEST_ACCOUNT } });
    expect(trust['test-alleycat-ingest-lambda']).toBeUndefined();
  });

  it('the checker itself catches what it must', () => {
    const json = base.json;
    const bad = (s: Partial<Statement>) =>
      checkStatement(json, 'probe', {
        Sid: 'Probe',
        Effect: 'Allow',
        Action: 's3:GetObject',
        ...s,
      } as Statement);
    expect(bad({ Action: 's3:*', Resource: '${aws_s3_bucket.errors_bucket.arn}' })).toHaveLength(1);
    expect(bad({ Resource: '*' })).toHaveLength(1);
    expect(bad({ Resource: 'arn:aws:s3:::someone-elses-bucket/*' })).toHaveLength(1);
    expect(bad({ Resource: `arn:aws:iot:${TEST_REGION}:999999999999:topic/x` })).toHaveLength(1);
    expect(bad({ Resource: `arn:aws:iot:${TEST_REGION}:${TEST_ACCOUNT}:*` })).toHaveLength(1);
    expect(bad({ Action: 'kms:Decrypt', Resource: '${aws_kms_key.stream-key_7E507838.arn}' }).join()).toMatch(
      /KMS|dangling/,
    );
    expect(
      bad({ Principal: { Service: 'iot.amazonaws.com' }, Action: 'sts:AssumeRole', Resource: undefined }),
    ).toEqual(['probe Probe: iot.amazonaws.com not scoped to the account']);
    expect(bad({ Principal: '*', Action: 'sts:AssumeRole', Resource: undefined }).length).toBeGreaterThan(0);
    // In a resource policy: a service let in must be a listed one, scoped to this account.
    const grant = (s: Partial<Statement>) =>
      checkStatement(
        json,
        'probe',
        {
          Sid: 'Probe',
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: 'sns:Publish',
          Resource: '${aws_sns_topic.alarm_topic.arn}',
          Condition: { StringEquals: { 'aws:SourceAccount': TEST_ACCOUNT } },
          ...s,
        } as Statement,
        'policy',
      );
    expect(grant({})).toEqual([]);
    expect(grant({ Condition: undefined })).toEqual(['probe Probe: not scoped to the account']);
    expect(grant({ Principal: { Service: 'sns.amazonaws.com' } })).toHaveLength(1);
    expect(grant({ Resource: 'arn:aws:sns:eu-west-1:999999999999:other' })).toHaveLength(1);
    expect(
      checkStatement(json, 'probe', { Effect: 'Deny', Principal: '*', Action: '*', Resource: '*' }),
    ).toHaveLength(1);
  });
});
