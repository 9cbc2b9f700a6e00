/** Encryption at rest and no public access, for every stream, bucket, queue and table the stack makes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PolicyDocument } from '../src/policy.js';
import { type Json, ref, resources, type Synthesized, synthToTemp, target, testConfig } from './helpers.js';

let stacks: Synthesized[];
beforeAll(() => {
  // Archiving on, so the Firehose delivery stream is checked too.
  stacks = [synthToTemp(testConfig()), synthToTemp(testConfig({ ALLEYCAT_ARCHIVE: 'true' }))];
});
afterAll(() => {
  for (const s of stacks) s.cleanup();
});

/** The resources of `type` whose `bucket` (or other attribute) refers to `reference`. */
function attachedTo(json: Json, type: string, reference: string, attribute = 'bucket'): Json[] {
  return Object.values(resources(json, type)).filter((r) => r[attribute] === reference);
}

function denyInsecure(policy: string): boolean {
  return (JSON.parse(policy) as PolicyDocument).Statement.some(
    (s) =>
      s.Effect === 'Deny' &&
      s.Principal === '*' &&
      s.Condition?.['Bool']?.['aws:SecureTransport'] === 'false',
  );
}

describe.each([0, 1])('encryption and public access (stack %i)', (i) => {
  const json = () => stacks[i]!.json;

  it('encrypts every Kinesis stream with the customer-managed key', () => {
    const streams = Object.values(resources(json(), 'aws_kinesis_stream'));
    expect(streams.length).toBeGreaterThan(0);
    for (const stream of streams) {
      expect(stream.encryption_type).toBe('KMS');
      expect(target(json(), stream.kms_key_id).body.enable_key_rotation).toBe(true);
    }
  });

  it('encrypts and fences off every bucket, and refuses plain HTTP', () => {
    const buckets = Object.keys(resources(json(), 'aws_s3_bucket'));
    expect(buckets).toHaveLength(2);
    for (const id of buckets) {
      const bucket = ref(json(), 'aws_s3_bucket', 'id', id);
      const [sse] = attachedTo(json(), 'aws_s3_bucket_server_side_encryption_configuration', bucket);
      expect(['AES256', 'aws:kms']).toContain(
        sse?.rule[0].apply_server_side_encryption_by_default.sse_algorithm,
      );
      const [block] = attachedTo(json(), 'aws_s3_bucket_public_access_block', bucket);
      expect(block).toMatchObject({
        block_public_acls: true,
        block_public_policy: true,
        ignore_public_acls: true,
        restrict_public_buckets: true,
      });
      const [ownership] = attachedTo(json(), 'aws_s3_bucket_ownership_controls', bucket);
      expect(ownership?.rule.object_ownership).toBe('BucketOwnerEnforced');
      const [policy] = attachedTo(json(), 'aws_s3_bucket_policy', bucket);
      expect(denyInsecure(policy!.policy)).toBe(true);
      expect(resources(json(), 'aws_s3_bucket')[id]!.acl).toBeUndefined();
    }
  });

  it('encrypts every queue and refuses plain HTTP', () => {
    const queues = Object.keys(resources(json(), 'aws_sqs_queue'));
    expect(queues.length).toBeGreaterThan(0);
    for (const id of queues) {
      const queue = resources(json(), 'aws_sqs_queue')[id]!;
      expect(queue.sqs_managed_sse_enabled === true || typeof queue.kms_master_key_id === 'string').toBe(
        true,
      );
      const [policy] = attachedTo(
        json(),
        'aws_sqs_queue_policy',
        ref(json(), 'aws_sqs_queue', 'url', id),
        'queue_url',
      );
      expect(denyInsecure(policy!.policy)).toBe(true);
    }
  });

  it('encrypts every table and keeps point-in-time recovery', () => {
    const tables = Object.values(resources(json(), 'aws_dynamodb_table'));
    expect(tables.length).toBeGreaterThan(0);
    for (const table of tables) {
      expect(table.server_side_encryption).toEqual({ enabled: true });
      expect(table.point_in_time_recovery).toEqual({ enabled: true });
    }
  });

  it('archives only from the encrypted stream into an encrypted bucket', () => {
    // A delivery stream's own server-side encryption applies to Direct PUT sources only; with a Kinesis
    // source, data at rest is the stream's (KMS) and the destination bucket's (SSE).
    for (const firehose of Object.values(resources(json(), 'aws_kinesis_firehose_delivery_stream'))) {
      const stream = target(json(), firehose.kinesis_source_configuration.kinesis_stream_arn);
      expect(stream.body.encryption_type).toBe('KMS');
      const bucket = target(json(), firehose.extended_s3_configuration.bucket_arn);
      expect(
        attachedTo(
          json(),
          'aws_s3_bucket_server_side_encryption_configuration',
          ref(json(), 'aws_s3_bucket', 'id', bucket.id),
        ),
      ).toHaveLength(1);
    }
    expect(Object.keys(resources(json(), 'aws_kinesis_firehose_delivery_stream'))).toHaveLength(i);
  });
});
