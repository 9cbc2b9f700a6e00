import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  INGEST_RULE_SQL_VERSION,
  INGEST_TOPIC,
  INVALID_RECORDS_PREFIX,
  ingestRuleSql,
  LAMBDA_BUNDLE,
  LAMBDA_ENV,
  planCapacity,
  RESULTS_TOPIC_FILTER,
  RESULTS_TOPIC_PREFIX,
  RULE_ERRORS_PREFIX,
  STATE_TABLE,
} from '@alleycat/schema';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesize } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { DEFAULT_EVENT_SOURCE, IOT_LOG_GROUP } from '../src/constants.js';
import { ConfigError, MissingLambdaBundleError } from '../src/errors.js';
import type { InfraConfig } from '../src/types.js';
import {
  allResources,
  type Json,
  ref,
  resources,
  type Synthesized,
  single,
  synthToTemp,
  TEST_ACCOUNT,
  TEST_ENDPOINT,
  TEST_ENV,
  TEST_REGION,
  target,
  testConfig,
} from './helpers.js';

let base: Synthesized;
let json: Json;
const cleanups: Array<() => void> = [];

function variant(env: Record<string, string>): Json {
  return synthesizedJson(testConfig(env));
}

function synthesizedJson(config: InfraConfig): Json {
  const s = synthToTemp(config);
  cleanups.push(s.cleanup);
  return s.json;
}

beforeAll(() => {
  base = synthToTemp(testConfig());
  cleanups.push(base.cleanup);
  json = base.json;
});
afterAll(() => {
  for (const cleanup of cleanups) cleanup();
});

describe('provider and stack', () => {
  it('names the stack per environment and sets region and default tags', () => {
    expect(base.stack.node.id).toBe('test-alleycat');
    const provider = json['provider'].aws[0];
    expect(provider.region).toBe(TEST_REGION);
    expect(provider.default_tags[0].tags).toEqual({ Application: 'alleycat', Environment: 'test' });
  });

  it('adds user tags over the defaults', () => {
    const tagged = variant({ ALLEYCAT_TAGS: 'team=racing,Environment=staging' });
    expect(tagged['provider'].aws[0].default_tags[0].tags).toEqual({
      Application: 'alleycat',
      Environment: 'staging',
      team: 'racing',
    });
  });

  it('deploys with real credentials: no test-only provider flags, no fake keys', () => {
    const provider = JSON.stringify(json['provider']);
    expect(provider).not.toMatch(/skip_|access_key|secret_key/);
  });

  it('uses inputs instead of data sources when account id and endpoint are set', () => {
    expect(json['data']).toBeUndefined();
  });

  it('looks the account id and the ATS data endpoint up when they are not set', () => {
    const looked = synthToTemp(testConfig({ ALLEYCAT_ACCOUNT_ID: '', ALLEYCAT_IOT_DATA_ENDPOINT: '' }));
    cleanups.push(looked.cleanup);
    const data = looked.json['data'];
    expect(Object.keys(data.aws_caller_identity)).toHaveLength(1);
    expect(Object.values<Json>(data.aws_iot_endpoint)[0]!.endpoint_type).toBe('iot:Data-ATS');
    const fn = single(looked.json, 'aws_lambda_function');
    expect(fn.environment.variables[LAMBDA_ENV.iotDataEndpoint]).toMatch(
      /^\$\{data\.aws_iot_endpoint\.[\w-]+\.endpoint_address\}$/,
    );
    expect(single(looked.json, 'aws_iot_policy').policy).toContain('${data.aws_caller_identity.');
  });

  it('keeps local state unless a state bucket is configured, then uses S3 with native locking', () => {
    expect(Object.keys(json['terraform'].backend)).toEqual(['local']);
    expect(json['terraform'].required_version).toBe('>= 1.5');
    const remote = variant({ ALLEYCAT_STATE_BUCKET: 'my-terraform-state' });
    // use_lockfile is Terraform 1.10's: an older one stops at init, saying so.
    expect(remote['terraform'].required_version).toBe('>= 1.10');
    expect(remote['terraform'].backend.s3).toMatchObject({
      bucket: 'my-terraform-state',
      key: 'alleycat/test/terraform.tfstate',
      region: TEST_REGION,
      encrypt: true,
      use_lockfile: true,
    });
  });
});

describe('Kinesis stream', () => {
  it('is provisioned with the shards planCapacity gives for the riders, KMS-encrypted', () => {
    const stream = json['resource'].aws_kinesis_stream.stream;
    expect(stream.name).toBe('test-alleycat');
    expect(stream.shard_count).toBe(planCapacity({ riders: 1000 }).shards);
    expect(stream.shard_count).toBe(2);
    expect(stream.stream_mode_details).toEqual({ stream_mode: 'PROVISIONED' });
    expect(stream.retention_period).toBe(24);
    expect(stream.encryption_type).toBe('KMS');
    expect(target(json, stream.kms_key_id).type).toBe('aws_kms_key');
  });

  it('scales the shard count with the riders', () => {
    const big = variant({ ALLEYCAT_RIDERS: '40000' });
    expect(big['resource'].aws_kinesis_stream.stream.shard_count).toBe(
      planCapacity({ riders: 40_000 }).shards,
    );
    expect(big['resource'].aws_kinesis_stream.stream.shard_count).toBe(50);
  });

  it('refuses a shard count one UpdateShardCount cannot reach from the deployed one', () => {
    // 1,000 riders → 2 shards; 40,000 → 50: Kinesis goes at most to double (or half) in one update.
    const from = planCapacity({ riders: 1_000 }).shards;
    expect(() => testConfig({ ALLEYCAT_RIDERS: '40000', ALLEYCAT_DEPLOYED_SHARDS: String(from) })).toThrow(
      new RegExp(
        `ALLEYCAT_RIDERS: needs 50 shards.*from ${from} \\(ALLEYCAT_DEPLOYED_SHARDS\\).*next: riders for ${2 * from} shards`,
      ),
    );
    expect(() => testConfig({ ALLEYCAT_RIDERS: '1000', ALLEYCAT_DEPLOYED_SHARDS: '50' })).toThrow(
      /between 25 and 100/,
    );
    // A step Kinesis takes, and any count on demand.
    const doubled = planCapacity({ riders: 2_000 }).shards;
    expect(doubled).toBeLessThanOrEqual(2 * from);
    expect(testConfig({ ALLEYCAT_RIDERS: '2000', ALLEYCAT_DEPLOYED_SHARDS: String(from) }).riders).toBe(
      2_000,
    );
    expect(
      testConfig({
        ALLEYCAT_RIDERS: '40000',
        ALLEYCAT_DEPLOYED_SHARDS: '2',
        ALLEYCAT_STREAM_MODE: 'on-demand',
      }).streamMode,
    ).toBe('on-demand');
  });

  it('can be on-demand (no shard count)', () => {
    const onDemand = variant({ ALLEYCAT_STREAM_MODE: 'on-demand' })['resource'].aws_kinesis_stream.stream;
    expect(onDemand.stream_mode_details).toEqual({ stream_mode: 'ON_DEMAND' });
    expect(onDemand.shard_count).toBeUndefined();
  });

  it('has a rotated customer-managed key with an alias', () => {
    const key = single(json, 'aws_kms_key');
    expect(key.enable_key_rotation).toBe(true);
    expect(key.policy).toBeUndefined(); // AWS's default key policy: access is granted through IAM only
    expect(single(json, 'aws_kms_alias').name).toBe('alias/test-alleycat');
  });
});

describe('IoT topic rule', () => {
  it('reads the ingest topic with the contract SQL and adds the client id', () => {
    const rule = json['resource'].aws_iot_topic_rule.ingest_rule;
    expect(rule.name).toBe('test_alleycatIngest');
    expect(rule.enabled).toBe(true);
    expect(rule.sql).toBe(ingestRuleSql(INGEST_TOPIC));
    expect(rule.sql).toBe("SELECT *, clientid() AS clientId FROM 'alleycat-publish'");
    expect(rule.sql_version).toBe(INGEST_RULE_SQL_VERSION);
  });

  it('puts into the stream keyed by racer, escaped for Terraform', () => {
    const [kinesis] = json['resource'].aws_iot_topic_rule.ingest_rule.kinesis;
    expect(kinesis.partition_key).toBe('$${racerId}');
    expect(kinesis.stream_name).toBe(ref(json, 'aws_kinesis_stream', 'name', 'stream'));
    expect(target(json, kinesis.role_arn).type).toBe('aws_iam_role');
  });

  it.each([
    ['timestamp', '$${timestamp()}'],
    ['random', '$${newuuid()}'],
    ['class', '$${classId}'],
  ])('can key by %s', (strategy, template) => {
    const rule = variant({ ALLEYCAT_PARTITION_KEY: strategy })['resource'].aws_iot_topic_rule.ingest_rule;
    expect(rule.kinesis[0].partition_key).toBe(template);
  });

  it('writes failed deliveries to the errors bucket under errors/', () => {
    const { s3 } = json['resource'].aws_iot_topic_rule.ingest_rule.error_action;
    expect(s3.bucket_name).toBe(ref(json, 'aws_s3_bucket', 'id', 'errors_bucket'));
    expect(s3.key.startsWith(RULE_ERRORS_PREFIX)).toBe(true);
    expect(s3.key).toBe('errors/$${parse_time("yyyy/MM/dd", timestamp(), "UTC")}/$${newuuid()}.json');
    // Every substitution template is escaped: no bare `${` that Terraform would try to evaluate.
    expect(s3.key.replaceAll('$${', '')).not.toContain('${');
  });
});

describe('IoT logging', () => {
  it('logs at the configured level with its own role, into a log group with retention', () => {
    const options = single(json, 'aws_iot_logging_options');
    expect(options.default_log_level).toBe('ERROR');
    expect(options.disable_all_logs).toBe(false);
    expect(target(json, options.role_arn).type).toBe('aws_iam_role');
    const groups = Object.values(resources(json, 'aws_cloudwatch_log_group'));
    const group = groups.find((g) => g.name === IOT_LOG_GROUP);
    expect(group?.retention_in_days).toBe(14);
    // The account's group (other workloads' IoT logs too): a destroy leaves it.
    expect(group?.skip_destroy).toBe(true);
  });

  it('leaves an existing AWSIotLogsV2 alone when told to (a create would fail on it)', () => {
    const unmanaged = variant({ ALLEYCAT_MANAGE_IOT_LOG_GROUP: 'false' });
    const groups = Object.values(resources(unmanaged, 'aws_cloudwatch_log_group'));
    expect(groups.map((g) => g.name)).not.toContain(IOT_LOG_GROUP);
    const options = single(unmanaged, 'aws_iot_logging_options');
    expect(options.depends_on).toHaveLength(1);
    expect(options.depends_on[0]).toMatch(/^aws_iam_role_policy\./);
    // IoT creates the group on its first log: its role may.
    expect(JSON.stringify(unmanaged)).toContain('logs:CreateLogGroup');
  });

  it('takes DEBUG, and DISABLED turns logging off', () => {
    expect(
      single(variant({ ALLEYCAT_IOT_LOG_LEVEL: 'debug' }), 'aws_iot_logging_options').default_log_level,
    ).toBe('DEBUG');
    expect(
      single(variant({ ALLEYCAT_IOT_LOG_LEVEL: 'DISABLED' }), 'aws_iot_logging_options').disable_all_logs,
    ).toBe(true);
  });
});

describe('S3 buckets', () => {
  it('are named per environment, account and region', () => {
    expect(json['resource'].aws_s3_bucket.errors_bucket.bucket).toBe(
      `test-alleycat-errors-${TEST_ACCOUNT}-${TEST_REGION}`,
    );
    expect(json['resource'].aws_s3_bucket.archive_bucket.bucket).toBe(
      `test-alleycat-archive-${TEST_ACCOUNT}-${TEST_REGION}`,
    );
  });

  it('expire objects and abort abandoned uploads', () => {
    const byBucket: Record<string, Json> = Object.fromEntries(
      Object.values(resources(json, 'aws_s3_bucket_lifecycle_configuration')).map((l) => [
        l.bucket,
        l.rule[0],
      ]),
    );
    expect(byBucket[ref(json, 'aws_s3_bucket', 'id', 'errors_bucket')]!.expiration[0].days).toBe(30);
    expect(byBucket[ref(json, 'aws_s3_bucket', 'id', 'archive_bucket')]!.expiration[0].days).toBe(365);
    for (const rule of Object.values(byBucket)) {
      expect(rule.status).toBe('Enabled');
      expect(rule.abort_incomplete_multipart_upload[0].days_after_initiation).toBe(1);
    }
  });

  it('refuse to be destroyed with objects unless data protection is off', () => {
    for (const b of Object.values(resources(json, 'aws_s3_bucket'))) expect(b.force_destroy).toBe(false);
    const unprotected = variant({ ALLEYCAT_PROTECT_DATA: 'false' });
    for (const b of Object.values(resources(unprotected, 'aws_s3_bucket')))
      expect(b.force_destroy).toBe(true);
    expect(single(unprotected, 'aws_dynamodb_table').deletion_protection_enabled).toBe(false);
  });
});

describe('archive (Firehose)', () => {
  it('always has the Firehose role, and no delivery stream by default', () => {
    const roles = Object.values(resources(json, 'aws_iam_role'));
    expect(roles.some((r) => r.name === 'test-alleycat-firehose')).toBe(true);
    expect(resources(json, 'aws_kinesis_firehose_delivery_stream')).toEqual({});
  });

  it('one flag turns on a GZIP, date-partitioned delivery stream from the stream to the archive bucket', () => {
    const archived = variant({ ALLEYCAT_ARCHIVE: 'true' });
    const firehose = archived['resource'].aws_kinesis_firehose_delivery_stream.archive_delivery_stream;
    expect(firehose.destination).toBe('extended_s3');
    expect(firehose.kinesis_source_configuration.kinesis_stream_arn).toBe(
      ref(archived, 'aws_kinesis_stream', 'arn', 'stream'),
    );
    const s3 = firehose.extended_s3_configuration;
    expect(s3.bucket_arn).toBe(ref(archived, 'aws_s3_bucket', 'arn', 'archive_bucket'));
    expect(s3.compression_format).toBe('GZIP');
    expect(s3.prefix).toBe('archive/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/');
    expect(s3.error_output_prefix).toContain('!{firehose:error-output-type}');
    expect(s3.role_arn).toBe(firehose.kinesis_source_configuration.role_arn);
    expect(target(archived, s3.role_arn).body.name).toBe('test-alleycat-firehose');
    expect(s3.cloudwatch_logging_options).toEqual({
      enabled: true,
      log_group_name: expect.stringMatching(/^\$\{aws_cloudwatch_log_group\.[\w-]+\.name\}$/),
      log_stream_name: expect.stringMatching(/^\$\{aws_cloudwatch_log_stream\.[\w-]+\.name\}$/),
    });
    const group = target(archived, s3.cloudwatch_logging_options.log_group_name).body;
    expect(group).toMatchObject({
      name: '/aws/kinesisfirehose/test-alleycat-archive',
      retention_in_days: 14,
    });
    expect(target(archived, s3.cloudwatch_logging_options.log_stream_name).body.name).toBe(
      'DestinationDelivery',
    );
    expect(firehose.depends_on).toEqual([expect.stringMatching(/^aws_iam_role_policy\./)]);
  });
});

describe('ingest Lambda', () => {
  it('runs the ingest-lambda bundle on nodejs22.x, arm64', () => {
    const fn = json['resource'].aws_lambda_function.ingest_function;
    expect(fn.function_name).toBe('test-alleycat-ingest');
    expect(fn.runtime).toBe('nodejs22.x');
    expect(fn.architectures).toEqual(['arm64']);
    expect(fn.handler).toBe(LAMBDA_BUNDLE.handler);
    expect(fn.source_code_hash).toBe(`\${filebase64sha256("${fn.filename}")}`);
    // The asset is the zipped bundle folder, copied into the stack's own folder.
    const archive = readFileSync(join(base.stackDir, fn.filename));
    expect(archive.subarray(0, 2).toString()).toBe('PK');
    expect(archive.includes(Buffer.from(LAMBDA_BUNDLE.file))).toBe(true);
  });

  it('gets table, endpoint, results topic prefix and errors bucket through the contract env vars', () => {
    const fn = json['resource'].aws_lambda_function.ingest_function;
    expect(fn.environment.variables).toEqual({
      [LAMBDA_ENV.tableName]: ref(json, 'aws_dynamodb_table', 'name', 'state_table'),
      [LAMBDA_ENV.iotDataEndpoint]: TEST_ENDPOINT,
      [LAMBDA_ENV.resultsTopicPrefix]: RESULTS_TOPIC_PREFIX,
      [LAMBDA_ENV.errorsBucket]: ref(json, 'aws_s3_bucket', 'id', 'errors_bucket'),
      POWERTOOLS_SERVICE_NAME: 'alleycat-ingest',
      POWERTOOLS_METRICS_NAMESPACE: 'Alleycat',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    });
    const tuned = variant({
      ALLEYCAT_RACE_TIMEOUT_SECONDS: '90',
      ALLEYCAT_PUBLISH_SETTLE_MS: '800',
      ALLEYCAT_LOG_LEVEL: 'debug',
    });
    const vars = tuned['resource'].aws_lambda_function.ingest_function.environment.variables;
    expect(vars[LAMBDA_ENV.raceTimeoutSeconds]).toBe('90');
    expect(vars[LAMBDA_ENV.publishSettleMs]).toBe('800');
    expect(vars.POWERTOOLS_LOG_LEVEL).toBe('DEBUG');
  });

  it('logs into its own log group with retention', () => {
    const fn = json['resource'].aws_lambda_function.ingest_function;
    const group = Object.values(resources(json, 'aws_cloudwatch_log_group')).find(
      (g) => g.name === '/aws/lambda/test-alleycat-ingest',
    );
    expect(group?.retention_in_days).toBe(14);
    expect(fn.logging_config.log_group).toBe(group?.name);
  });

  it('is fed by an event source mapping with bounded retries, bisect, partial batch responses and a DLQ', () => {
    const esm = json['resource'].aws_lambda_event_source_mapping.ingest_event_source;
    expect(esm).toMatchObject({
      event_source_arn: ref(json, 'aws_kinesis_stream_consumer', 'arn', 'ingest_consumer'),
      function_name: ref(json, 'aws_lambda_function', 'arn', 'ingest_function'),
      starting_position: DEFAULT_EVENT_SOURCE.startingPosition,
      batch_size: DEFAULT_EVENT_SOURCE.batchSize,
      maximum_batching_window_in_seconds: DEFAULT_EVENT_SOURCE.maximumBatchingWindowInSeconds,
      parallelization_factor: DEFAULT_EVENT_SOURCE.parallelizationFactor,
      bisect_batch_on_function_error: true,
      maximum_retry_attempts: DEFAULT_EVENT_SOURCE.maximumRetryAttempts,
      maximum_record_age_in_seconds: DEFAULT_EVENT_SOURCE.maximumRecordAgeInSeconds,
      function_response_types: ['ReportBatchItemFailures'],
      destination_config: { on_failure: { destination_arn: ref(json, 'aws_sqs_queue', 'arn', 'dlq') } },
    });
    // Literal values, so apps/local-stack can read them without evaluating Terraform.
    expect(esm.batch_size).toBe(1000);
    expect(esm.maximum_retry_attempts).toBeGreaterThan(0);
    expect(esm.maximum_record_age_in_seconds).toBeLessThanOrEqual(24 * 3600);
  });

  it('reads through its own enhanced fan-out consumer of the stream by default', () => {
    expect(DEFAULT_EVENT_SOURCE.enhancedFanOut).toBe(true);
    const consumer = json['resource'].aws_kinesis_stream_consumer.ingest_consumer;
    expect(consumer).toMatchObject({
      name: 'test-alleycat-ingest',
      stream_arn: ref(json, 'aws_kinesis_stream', 'arn', 'stream'),
    });
    // The mapping subscribes through the consumer (SubscribeToShard) instead of polling the stream.
    const esm = json['resource'].aws_lambda_event_source_mapping.ingest_event_source;
    expect(target(json, esm.event_source_arn).type).toBe('aws_kinesis_stream_consumer');
    expect(json['output'].stream_consumer_arn.value).toBe(
      ref(json, 'aws_kinesis_stream_consumer', 'arn', 'ingest_consumer'),
    );
  });

  it('polls the stream itself, with no consumer, when enhanced fan-out is off', () => {
    for (const off of [
      variant({ ALLEYCAT_ESM_ENHANCED_FAN_OUT: 'false' }),
      synthesizedJson(loadConfig({ env: TEST_ENV, context: { esmEnhancedFanOut: false } })),
    ]) {
      expect(off['resource'].aws_kinesis_stream_consumer).toBeUndefined();
      expect(off['output'].stream_consumer_arn).toBeUndefined();
      const esm = off['resource'].aws_lambda_event_source_mapping.ingest_event_source;
      expect(esm.event_source_arn).toBe(ref(off, 'aws_kinesis_stream', 'arn', 'stream'));
      // Everything else about the mapping is the same either way.
      const on = json['resource'].aws_lambda_event_source_mapping.ingest_event_source;
      expect({ ...esm, event_source_arn: undefined }).toEqual({ ...on, event_source_arn: undefined });
    }
  });

  it('takes event source settings from the environment', () => {
    const esm = variant({
      ALLEYCAT_ESM_BATCH_SIZE: '200',
      ALLEYCAT_ESM_BATCHING_WINDOW_SECONDS: '1',
      ALLEYCAT_ESM_STARTING_POSITION: 'latest',
      ALLEYCAT_ESM_PARALLELIZATION_FACTOR: '4',
      ALLEYCAT_ESM_MAX_RETRY_ATTEMPTS: '2',
      ALLEYCAT_ESM_MAX_RECORD_AGE_SECONDS: '600',
    })['resource'].aws_lambda_event_source_mapping.ingest_event_source;
    expect(esm).toMatchObject({
      batch_size: 200,
      maximum_batching_window_in_seconds: 1,
      starting_position: 'LATEST',
      parallelization_factor: 4,
      maximum_retry_attempts: 2,
      maximum_record_age_in_seconds: 600,
    });
  });

  it('sends failed batches to an SSE-encrypted queue that keeps them 14 days', () => {
    const dlq = json['resource'].aws_sqs_queue.dlq;
    expect(dlq.name).toBe('test-alleycat-ingest-dlq');
    expect(dlq.sqs_managed_sse_enabled).toBe(true);
    expect(dlq.message_retention_seconds).toBe(14 * 24 * 3600);
  });

  it('refuses to synthesize without the built bundle (never placeholder code)', () => {
    const empty = mkdtempSync(join(tmpdir(), 'alleycat-no-bundle-'));
    const out = mkdtempSync(join(tmpdir(), 'alleycat-infra-'));
    try {
      const config = { ...testConfig(), lambdaBundleDir: empty };
      expect(() => synthesize({ outdir: out, config })).toThrow(MissingLambdaBundleError);
      expect(() => synthesize({ outdir: out, config })).toThrow(
        /pnpm --filter "@alleycat\/ingest-lambda\.\.\." build/,
      );
      expect(existsSync(join(out, 'stacks', 'test-alleycat', 'cdk.tf.json'))).toBe(false);
    } finally {
      rmSync(empty, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('sweep schedule (EventBridge → ingest Lambda)', () => {
  const SWEEP_TYPES = ['aws_cloudwatch_event_rule', 'aws_cloudwatch_event_target', 'aws_lambda_permission'];

  it('has a rule that fires every minute by default, named per environment', () => {
    const rule = json['resource'].aws_cloudwatch_event_rule.sweep_rule;
    expect(rule.name).toBe('test-alleycat-sweep');
    expect(rule.schedule_expression).toBe('rate(1 minute)');
    // A scheduled rule: no event pattern, on the default bus, enabled (the provider's default state).
    expect(rule.event_pattern).toBeUndefined();
    expect(rule.event_bus_name).toBeUndefined();
    expect(rule.state).toBeUndefined();
    expect(rule.is_enabled).toBeUndefined();
    expect(json['output'].sweep_rule_name.value).toBe(
      ref(json, 'aws_cloudwatch_event_rule', 'name', 'sweep_rule'),
    );
  });

  it('targets the ingest function with the standard scheduled event (no input of its own)', () => {
    const t = json['resource'].aws_cloudwatch_event_target.sweep_target;
    expect(t.rule).toBe(ref(json, 'aws_cloudwatch_event_rule', 'name', 'sweep_rule'));
    expect(t.arn).toBe(ref(json, 'aws_lambda_function', 'arn', 'ingest_function'));
    expect(target(json, t.arn).body.function_name).toBe('test-alleycat-ingest');
    expect(t.target_id).toBe('ingest-function');
    // Any input, input path or transformer would replace the "Scheduled Event" the Lambda recognises.
    expect(t.input).toBeUndefined();
    expect(t.input_path).toBeUndefined();
    expect(t.input_transformer).toBeUndefined();
    // The function's resource policy exists before the first delivery.
    expect(t.depends_on).toEqual(['aws_lambda_permission.sweep_permission']);
    expect(Object.keys(resources(json, 'aws_cloudwatch_event_target'))).toEqual(['sweep_target']);
  });

  it('lets EventBridge invoke the function for this rule only', () => {
    const permission = single(json, 'aws_lambda_permission');
    expect(permission).toMatchObject({
      action: 'lambda:InvokeFunction',
      function_name: ref(json, 'aws_lambda_function', 'arn', 'ingest_function'),
      principal: 'events.amazonaws.com',
      source_arn: ref(json, 'aws_cloudwatch_event_rule', 'arn', 'sweep_rule'),
      statement_id: 'AllowSweepSchedule',
    });
    expect(target(json, permission.source_arn).body.name).toBe('test-alleycat-sweep');
  });

  it('takes its schedule from the environment or the context', () => {
    expect(
      variant({ ALLEYCAT_SWEEP_SCHEDULE: 'cron(0/2 * * * ? *)' })['resource'].aws_cloudwatch_event_rule
        .sweep_rule.schedule_expression,
    ).toBe('cron(0/2 * * * ? *)');
    const fromContext = synthesizedJson(
      loadConfig({ env: TEST_ENV, context: { sweepSchedule: 'rate(5 minutes)' } }),
    );
    expect(fromContext['resource'].aws_cloudwatch_event_rule.sweep_rule.schedule_expression).toBe(
      'rate(5 minutes)',
    );
  });

  it('creates no rule, target, permission or output when off; nothing else changes', () => {
    for (const off of [
      variant({ ALLEYCAT_SWEEP_SCHEDULE: 'off' }),
      synthesizedJson(loadConfig({ env: TEST_ENV, context: { sweepSchedule: false } })),
    ]) {
      for (const type of SWEEP_TYPES) expect(off['resource'][type]).toBeUndefined();
      expect(off['output'].sweep_rule_name).toBeUndefined();
      // Everything but the sweep's resources and output (and cdktf's metadata listing the outputs) is equal.
      const rest = (j: Json) => {
        const { resource, output, '//': _metadata, ...top } = j;
        const kept = Object.fromEntries(
          Object.entries(resource).filter(([type]) => !SWEEP_TYPES.includes(type)),
        );
        const { sweep_rule_name: _, ...outputs } = output;
        return { ...top, resource: kept, output: outputs };
      };
      expect(rest(off)).toEqual(rest(json));
    }
  });

  it('refuses an invalid schedule, naming the variable', () => {
    expect(() => variant({ ALLEYCAT_SWEEP_SCHEDULE: 'rate(1 minutes)' })).toThrow(ConfigError);
    expect(() => variant({ ALLEYCAT_SWEEP_SCHEDULE: 'every minute' })).toThrow(
      /^ALLEYCAT_SWEEP_SCHEDULE: must be/,
    );
  });
});

describe('DynamoDB state table', () => {
  it('has the contract keys and TTL, on demand, with PITR and encryption', () => {
    const table = json['resource'].aws_dynamodb_table.state_table;
    expect(table).toMatchObject({
      name: 'test-alleycat-state',
      billing_mode: 'PAY_PER_REQUEST',
      hash_key: STATE_TABLE.partitionKey,
      range_key: STATE_TABLE.sortKey,
      attribute: [
        { name: STATE_TABLE.partitionKey, type: 'S' },
        { name: STATE_TABLE.sortKey, type: 'S' },
      ],
      ttl: { attribute_name: STATE_TABLE.ttlAttribute, enabled: true },
      point_in_time_recovery: { enabled: true },
      server_side_encryption: { enabled: true },
      deletion_protection_enabled: true,
    });
  });
});

describe('device access', () => {
  it('lets a bike connect only as its thing, publish to the ingest topic and receive results', () => {
    const policy = json['resource'].aws_iot_policy.bike_policy;
    expect(policy.name).toBe('test-alleycat-bike');
    const doc = JSON.parse(policy.policy);
    const iot = `arn:aws:iot:${TEST_REGION}:${TEST_ACCOUNT}`;
    expect(doc.Statement).toEqual([
      {
        Sid: 'ConnectAsOwnThing',
        Effect: 'Allow',
        Action: 'iot:Connect',
        Resource: `${iot}:client/$\${iot:Connection.Thing.ThingName}`,
        Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
      },
      {
        Sid: 'PublishRaceMessages',
        Effect: 'Allow',
        Action: 'iot:Publish',
        Resource: `${iot}:topic/alleycat-publish`,
      },
      {
        Sid: 'SubscribeToResults',
        Effect: 'Allow',
        Action: 'iot:Subscribe',
        Resource: `${iot}:topicfilter/alleycat-subscribe/*`,
      },
      {
        Sid: 'ReceiveResults',
        Effect: 'Allow',
        Action: 'iot:Receive',
        Resource: `${iot}:topic/alleycat-subscribe/*`,
      },
    ]);
  });
});

describe('alarms', () => {
  const alarmsOf = (j: Json) => Object.values(resources(j, 'aws_cloudwatch_metric_alarm'));

  it('watch the DLQ, the Lambda (errors, iterator age, invalid records) and throttled stream writes', () => {
    const byName = new Map(alarmsOf(json).map((a) => [a.alarm_name as string, a]));
    expect([...byName.keys()].sort()).toEqual(
      [
        'test-alleycat-dlq-not-empty',
        'test-alleycat-ingest-errors',
        'test-alleycat-ingest-iterator-age',
        'test-alleycat-invalid-records',
        'test-alleycat-stream-writes-throttled',
      ].sort(),
    );
    const fn = single(json, 'aws_lambda_function');
    const dlq = resources(json, 'aws_sqs_queue')['dlq']!;
    const stream = single(json, 'aws_kinesis_stream');
    expect(byName.get('test-alleycat-dlq-not-empty')).toMatchObject({
      namespace: 'AWS/SQS',
      metric_name: 'ApproximateNumberOfMessagesVisible',
      dimensions: { QueueName: dlq.name },
      threshold: 0,
    });
    expect(byName.get('test-alleycat-ingest-errors')).toMatchObject({
      namespace: 'AWS/Lambda',
      metric_name: 'Errors',
      dimensions: { FunctionName: fn.function_name },
    });
    expect(byName.get('test-alleycat-ingest-iterator-age')).toMatchObject({
      metric_name: 'IteratorAge',
      statistic: 'Maximum',
      threshold: 60_000,
    });
    // The Lambda's own EMF metric, under the namespace and service dimension it is configured with.
    const invalid = byName.get('test-alleycat-invalid-records')!;
    expect(invalid.namespace).toBe(fn.environment.variables.POWERTOOLS_METRICS_NAMESPACE);
    expect(invalid.dimensions).toEqual({ service: fn.environment.variables.POWERTOOLS_SERVICE_NAME });
    expect(invalid.metric_name).toBe('InvalidRecords');
    expect(byName.get('test-alleycat-stream-writes-throttled')).toMatchObject({
      namespace: 'AWS/Kinesis',
      metric_name: 'WriteProvisionedThroughputExceeded',
      dimensions: { StreamName: stream.name },
    });
    for (const alarm of byName.values()) {
      expect(alarm.comparison_operator).toBe('GreaterThanThreshold');
      expect(alarm.treat_missing_data).toBe('notBreaching');
      expect(alarm.alarm_actions).toEqual([ref(json, 'aws_sns_topic', 'arn', 'alarm_topic')]);
      expect(alarm.ok_actions).toEqual(alarm.alarm_actions);
    }
  });

  it('publish to a topic only this account’s alarms may publish to, over TLS', () => {
    const policy = JSON.parse(single(json, 'aws_sns_topic_policy').policy);
    const [allowAlarms, denyPlain] = policy.Statement;
    expect(allowAlarms).toMatchObject({
      Effect: 'Allow',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: 'sns:Publish',
      Condition: {
        StringEquals: { 'aws:SourceAccount': TEST_ACCOUNT },
        ArnLike: {
          'aws:SourceArn': `arn:aws:cloudwatch:${TEST_REGION}:${TEST_ACCOUNT}:alarm:test-alleycat-*`,
        },
      },
    });
    expect(denyPlain).toMatchObject({
      Effect: 'Deny',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
    expect(resources(json, 'aws_sns_topic_subscription')).toEqual({});
  });

  it('subscribe an e-mail address when given one, and refuse one that is not', () => {
    const withEmail = variant({ ALLEYCAT_ALARM_EMAIL: 'ops@example.com' });
    expect(single(withEmail, 'aws_sns_topic_subscription')).toMatchObject({
      protocol: 'email',
      endpoint: 'ops@example.com',
      topic_arn: ref(withEmail, 'aws_sns_topic', 'arn', 'alarm_topic'),
    });
    expect(() => testConfig({ ALLEYCAT_ALARM_EMAIL: 'ops at example' })).toThrow(
      /ALLEYCAT_ALARM_EMAIL: must be an e-mail address/,
    );
  });

  it('can be switched off: no topic, no alarm, no output', () => {
    const off = variant({ ALLEYCAT_ALARMS: 'off' });
    expect(alarmsOf(off)).toEqual([]);
    expect(resources(off, 'aws_sns_topic')).toEqual({});
    expect(off['output'].alarm_topic_arn).toBeUndefined();
  });
});

describe('outputs', () => {
  it('names the stream, endpoint, topics, table, DLQ, buckets, sweep rule and alarm topic', () => {
    const outputs = json['output'];
    expect(Object.keys(outputs).sort()).toEqual(
      [
        'alarm_topic_arn',
        'archive_bucket',
        'bike_policy_name',
        'dlq_url',
        'errors_bucket',
        'firehose_role_arn',
        'function_name',
        'ingest_rule_name',
        'ingest_topic',
        'iot_data_endpoint',
        'partition_key_template',
        'results_topic_filter',
        'results_topic_prefix',
        'stream_arn',
        'stream_consumer_arn',
        'stream_name',
        'sweep_rule_name',
        'table_name',
      ].sort(),
    );
    expect(outputs.ingest_topic.value).toBe(INGEST_TOPIC);
    expect(outputs.results_topic_filter.value).toBe(RESULTS_TOPIC_FILTER);
    expect(outputs.iot_data_endpoint.value).toBe(TEST_ENDPOINT);
    expect(outputs.dlq_url.value).toBe(ref(json, 'aws_sqs_queue', 'url', 'dlq'));
    expect(outputs.partition_key_template.value).toBe('$${racerId}');
  });
});

describe('inventory', () => {
  it('creates exactly these resources by default', () => {
    const counts: Record<string, number> = {};
    for (const [type] of allResources(json)) counts[type] = (counts[type] ?? 0) + 1;
    expect(counts).toEqual({
      aws_cloudwatch_event_rule: 1,
      aws_cloudwatch_event_target: 1,
      aws_cloudwatch_log_group: 2,
      aws_cloudwatch_metric_alarm: 5,
      aws_dynamodb_table: 1,
      aws_iam_role: 4,
      aws_iam_role_policy: 4,
      aws_iot_logging_options: 1,
      aws_iot_policy: 1,
      aws_iot_topic_rule: 1,
      aws_kinesis_stream: 1,
      aws_kinesis_stream_consumer: 1,
      aws_kms_alias: 1,
      aws_kms_key: 1,
      aws_lambda_event_source_mapping: 1,
      aws_lambda_function: 1,
      aws_lambda_permission: 1,
      aws_s3_bucket: 2,
      aws_s3_bucket_lifecycle_configuration: 2,
      aws_s3_bucket_ownership_controls: 2,
      aws_s3_bucket_policy: 2,
      aws_s3_bucket_public_access_block: 2,
      aws_s3_bucket_server_side_encryption_configuration: 2,
      aws_sns_topic: 1,
      aws_sns_topic_policy: 1,
      aws_sqs_queue: 1,
      aws_sqs_queue_policy: 1,
    });
  });

  it('writes the invalid-records prefix the Lambda uses into its policy only', () => {
    expect(JSON.stringify(json)).toContain(`/${INVALID_RECORDS_PREFIX}*`);
  });
});

describe('cdktf context', () => {
  it('configures the stack from the app context when no config is given', () => {
    const out = mkdtempSync(join(tmpdir(), 'alleycat-infra-'));
    const saved: Record<string, string | undefined> = {};
    try {
      // Only the context: settings in the test's own environment would win over it, so set them aside.
      for (const key of Object.keys(process.env)) {
        if (/^(ALLEYCAT_|AWS_(DEFAULT_)?REGION$)/.test(key)) {
          saved[key] = process.env[key];
          delete process.env[key];
        }
      }
      const { stack, stackDir } = synthesize({
        outdir: out,
        context: { environment: 'ctx', riders: 40_000, accountId: TEST_ACCOUNT, region: 'us-east-1' },
      });
      expect(stack.node.id).toBe('ctx-alleycat');
      const synthesized = JSON.parse(readFileSync(join(stackDir, 'cdk.tf.json'), 'utf8')) as Json;
      expect(synthesized['resource'].aws_kinesis_stream.stream.shard_count).toBe(50);
      expect(synthesized['provider'].aws[0].region).toBe('us-east-1');
    } finally {
      Object.assign(process.env, saved);
      rmSync(out, { recursive: true, force: true });
    }
  });
});
