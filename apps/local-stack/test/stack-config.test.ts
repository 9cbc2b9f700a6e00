import { readFile } from 'node:fs/promises';
import { INGEST_RULE_SQL, LAMBDA_ENV } from '@alleycat/schema';
import { describe, expect, it } from 'vitest';
import { loadStackConfig, parseStackConfig } from '../src/stack-config.js';
import { FIXTURE } from './helpers.js';

// A copy of the stack apps/infra synthesized (dev-alleycat), trimmed to the resources the local stack reads.

describe('stack config from cdk.tf.json', () => {
  it('reads streams, tables, the ingest rule, the mapping and the function, resolving references', async () => {
    const config = await loadStackConfig(FIXTURE, 'dev-alleycat');
    expect(config.region).toBe('eu-west-1');
    expect(config.streams).toEqual([
      {
        name: 'dev-alleycat',
        shardCount: 2,
        arn: 'arn:aws:kinesis:eu-west-1:000000000000:stream/dev-alleycat',
        // The provider's default_tags, as Terraform applies them to every resource.
        tags: { Application: 'alleycat', Environment: 'dev' },
      },
    ]);
    expect(config.tables).toEqual([
      {
        name: 'dev-alleycat-state',
        hashKey: 'pk',
        rangeKey: 'sk',
        attributes: [
          { name: 'pk', type: 'S' },
          { name: 'sk', type: 'S' },
        ],
        ttlAttribute: 'expiresAt',
        deletionProtection: true,
        tags: { Application: 'alleycat', Environment: 'dev' },
      },
    ]);
    expect(config.topicRules).toEqual([
      {
        name: 'dev_alleycatIngest',
        sql: INGEST_RULE_SQL,
        enabled: true,
        kinesis: [{ streamName: 'dev-alleycat', partitionKey: '$${racerId}' }],
        errorActionKey: 'errors/$${parse_time("yyyy/MM/dd", timestamp(), "UTC")}/$${newuuid()}.json',
        errorActionBucket: 'dev-alleycat-errors-000000000000-eu-west-1',
      },
    ]);
    expect(config.eventSourceMappings).toEqual([
      {
        streamName: 'dev-alleycat',
        streamArn: 'arn:aws:kinesis:eu-west-1:000000000000:stream/dev-alleycat',
        // infra's default: the mapping reads through its enhanced fan-out consumer.
        enhancedFanOut: true,
        consumerArn:
          'arn:aws:kinesis:eu-west-1:000000000000:stream/dev-alleycat/consumer/dev-alleycat-ingest:0',
        functionName: 'dev-alleycat-ingest',
        batchSize: 1000,
        maximumBatchingWindowInSeconds: 0,
        startingPosition: 'TRIM_HORIZON',
        parallelizationFactor: 1,
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: 10_000,
        maximumRecordAgeInSeconds: 3600,
        reportBatchItemFailures: true,
        onFailureDestination: 'dev-alleycat-ingest-dlq',
      },
    ]);
    const [fn] = config.functions;
    expect(fn).toMatchObject({
      name: 'dev-alleycat-ingest',
      handler: 'index.handler',
      timeoutSeconds: 30,
      memoryMb: 512,
      arn: 'arn:aws:lambda:eu-west-1:000000000000:function:dev-alleycat-ingest',
    });
    expect(fn!.roleArn).toMatch(/^arn:aws:iam::000000000000:role\//);
    expect(fn!.environment[LAMBDA_ENV.tableName]).toBe('dev-alleycat-state');
    // The IoT endpoint is an AWS data source: the local stack supplies its own.
    expect(fn!.environment[LAMBDA_ENV.iotDataEndpoint]).toBeUndefined();
  });

  it('reads a mapping on the stream itself (enhanced fan-out off) as a polling mapping', async () => {
    const json = JSON.parse(await readFile(FIXTURE, 'utf8'));
    delete json.resource.aws_kinesis_stream_consumer;
    json.resource.aws_lambda_event_source_mapping.ingest_event_source.event_source_arn =
      '${aws_kinesis_stream.stream.arn}';
    const [mapping] = parseStackConfig(json, 'dev-alleycat').eventSourceMappings;
    expect(mapping).toMatchObject({
      streamName: 'dev-alleycat',
      streamArn: 'arn:aws:kinesis:eu-west-1:000000000000:stream/dev-alleycat',
      enhancedFanOut: false,
    });
    expect(mapping).not.toHaveProperty('consumerArn');
  });

  it('skips a disabled mapping and refuses the settings it does not run (tumbling windows, filters)', async () => {
    const mappingOf = (json: { resource: Record<string, Record<string, Record<string, unknown>>> }) =>
      json.resource['aws_lambda_event_source_mapping']!['ingest_event_source']!;
    const disabled = JSON.parse(await readFile(FIXTURE, 'utf8'));
    mappingOf(disabled)['enabled'] = false;
    expect(parseStackConfig(disabled, 's').eventSourceMappings).toEqual([]);
    const tumbling = JSON.parse(await readFile(FIXTURE, 'utf8'));
    mappingOf(tumbling)['tumbling_window_in_seconds'] = 60;
    expect(() => parseStackConfig(tumbling, 's')).toThrow(
      /aws_lambda_event_source_mapping\.ingest_event_source: tumbling_window_in_seconds is not run locally/,
    );
    const filtered = JSON.parse(await readFile(FIXTURE, 'utf8'));
    mappingOf(filtered)['filter_criteria'] = { filter: [{ pattern: '{"data":{"racerId":[1]}}' }] };
    expect(() => parseStackConfig(filtered, 's')).toThrow(/filter_criteria is not run locally/);
    const emptyFilter = JSON.parse(await readFile(FIXTURE, 'utf8'));
    mappingOf(emptyFilter)['filter_criteria'] = [];
    expect(parseStackConfig(emptyFilter, 's').eventSourceMappings).toHaveLength(1);
  });

  it('names the consumer or mapping whose source is not in the stack', async () => {
    const json = JSON.parse(await readFile(FIXTURE, 'utf8'));
    json.resource.aws_kinesis_stream_consumer.ingest_consumer.stream_arn = 'arn:aws:kinesis:x:1:stream/other';
    // The mapping's ARN is the consumer's, so the consumer is what points outside the stack.
    expect(() => parseStackConfig(json, 's')).toThrow(
      /aws_kinesis_stream_consumer\.ingest_consumer: stream_arn arn:aws:kinesis:x:1:stream\/other is not a Kinesis stream of this stack/,
    );
    const dangling = JSON.parse(await readFile(FIXTURE, 'utf8'));
    dangling.resource.aws_lambda_event_source_mapping.ingest_event_source.event_source_arn =
      '${aws_kinesis_stream_consumer.gone.arn}';
    expect(() => parseStackConfig(dangling, 's')).toThrow(
      /aws_lambda_event_source_mapping\.ingest_event_source: event_source_arn .* is neither a Kinesis stream nor a stream consumer/,
    );
  });

  it('names the resource and setting it cannot run', async () => {
    const stack = {
      resource: {
        aws_iot_topic_rule: {
          r: { name: 'x', sql: "SELECT * FROM 'a'", sql_version: '2016-03-23', lambda: [{}] },
        },
      },
    };
    expect(() => parseStackConfig(stack, 's')).toThrow(
      /aws_iot_topic_rule\.r: actions lambda are not run locally/,
    );
    const onDemand = {
      resource: {
        aws_kinesis_stream: { s: { name: 'x', stream_mode_details: { stream_mode: 'ON_DEMAND' } } },
      },
    };
    expect(parseStackConfig(onDemand, 's').streams[0]!.shardCount).toBe(4);
    const noShards = { resource: { aws_kinesis_stream: { s: { name: 'x' } } } };
    expect(() => parseStackConfig(noShards, 's')).toThrow(
      /aws_kinesis_stream\.s: shard_count must be a positive integer/,
    );
    const sqsErrors = {
      resource: {
        aws_iot_topic_rule: {
          r: { name: 'x', sql: "SELECT * FROM 'a'", kinesis: [], error_action: { sqs: { queue_url: 'q' } } },
        },
      },
    };
    expect(() => parseStackConfig(sqsErrors, 's')).toThrow(
      /aws_iot_topic_rule\.r: error_action sqs is not run locally \(only s3\)/,
    );
    await expect(loadStackConfig('/nonexistent/cdk.tf.json')).rejects.toThrow(
      /pnpm --filter @alleycat\/infra synth/,
    );
  });
});
