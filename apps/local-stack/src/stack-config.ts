/**
 * The local stack's configuration, read from the stack `apps/infra` synthesizes (`cdk.tf.json`) and nothing
 * else (DESIGN § One definition, two runtimes): streams, tables, topic rules, event source mappings and the
 * function they invoke (directly on a stream, or through an enhanced fan-out consumer of one). Terraform references (`${aws_kinesis_stream.stream.name}`) are resolved against the
 * same file; ARNs are built for the local account and the provider's region. IoT templates stay escaped
 * (`$${racerId}`) for the rule engine's template parser. EventBridge scheduled rules (`aws_cloudwatch_event_rule`
 * with a `schedule_expression`) are read with their Lambda targets (`schedules`). Pure apart from
 * `loadStackConfig`'s file read.
 */
import { readFile } from 'node:fs/promises';
import { LOCAL_ACCOUNT_ID } from './constants.js';
import { ConfigurationError } from './errors.js';
import type { EventSourceMappingConfig } from './esm/poller.js';
import type { TopicRuleConfig } from './rules/rule-engine.js';
import { scheduleIntervalMs } from './schedule/expression.js';
import type { ScheduleConfig } from './schedule/types.js';

export { LOCAL_ACCOUNT_ID };
/** Shards an on-demand stream starts with. */
export const ON_DEMAND_INITIAL_SHARDS = 4;

export interface StreamConfig {
  name: string;
  shardCount: number;
  arn: string;
  /** The provider's `default_tags` and the resource's own `tags` (which win), as AWS applies them. */
  tags: Record<string, string>;
}

/** An `aws_kinesis_stream_consumer`: an enhanced fan-out consumer of a stream of the stack. */
export interface StreamConsumerConfig {
  name: string;
  arn: string;
  streamArn: string;
}

export interface TableConfig {
  name: string;
  hashKey: string;
  rangeKey?: string;
  attributes: Array<{ name: string; type: 'S' | 'N' | 'B' }>;
  ttlAttribute?: string;
  /** `deletion_protection_enabled`: DeleteTable is refused until UpdateTable turns it off. */
  deletionProtection: boolean;
  /** As for streams. */
  tags: Record<string, string>;
}

export interface FunctionConfig {
  name: string;
  arn: string;
  /** `index.handler`: file `index.*` in the bundle, export `handler`. */
  handler: string;
  timeoutSeconds: number;
  memoryMb: number;
  roleArn: string;
  /** Environment as synthesized; values that point at AWS-only things (e.g. the IoT endpoint) are undefined. */
  environment: Record<string, string | undefined>;
}

export interface MappingConfig extends Omit<EventSourceMappingConfig, 'onFailureDir'> {
  functionName: string;
  /** The stream read; with enhanced fan-out, the consumer's stream (the consumer is `consumerArn`). */
  streamArn: string;
  /** True when `event_source_arn` is an `aws_kinesis_stream_consumer`: the mapping reads by enhanced fan-out. */
  enhancedFanOut: boolean;
  /** Name of the on-failure destination (an SQS queue on AWS; a folder locally). */
  onFailureDestination?: string;
}

export interface StackConfig {
  stackName: string;
  region: string;
  accountId: string;
  streams: StreamConfig[];
  streamConsumers: StreamConsumerConfig[];
  tables: TableConfig[];
  topicRules: Array<TopicRuleConfig & { errorActionBucket?: string }>;
  eventSourceMappings: MappingConfig[];
  functions: FunctionConfig[];
  /**
   * One entry per (enabled scheduled rule, Lambda target) pair. Rules with an event pattern instead of a
   * schedule, disabled rules and scheduled rules without a target are not run (nothing would be invoked).
   */
  schedules: ScheduleConfig[];
}

type Resources = Record<string, Record<string, Record<string, unknown>>>;

interface TerraformJson {
  provider?: {
    aws?: Array<{ region?: string; default_tags?: Array<{ tags?: Record<string, string> }> }>;
  };
  resource?: Resources;
  data?: Resources;
}

export async function loadStackConfig(file: string, stackName?: string): Promise<StackConfig> {
  let json: TerraformJson;
  try {
    json = JSON.parse(await readFile(file, 'utf8')) as TerraformJson;
  } catch (error) {
    throw new ConfigurationError(
      file,
      `cannot read the synthesized stack (${(error as Error).message}); run \`pnpm --filter @alleycat/infra synth\` first`,
    );
  }
  return parseStackConfig(json, stackName ?? file.split('/').at(-2) ?? 'stack');
}

export function parseStackConfig(json: TerraformJson, stackName: string): StackConfig {
  const resources = json.resource ?? {};
  const region = json.provider?.aws?.[0]?.region ?? 'us-east-1';
  const accountId = LOCAL_ACCOUNT_ID;
  const arnOf = (type: string, attrs: Record<string, unknown>): string | undefined => {
    const name = (key: string) => resolve(String(attrs[key]));
    switch (type) {
      case 'aws_kinesis_stream':
        return `arn:aws:kinesis:${region}:${accountId}:stream/${name('name')}`;
      case 'aws_kinesis_stream_consumer':
        // AWS appends the consumer's creation time (epoch seconds); a local consumer is created "at" 0.
        return `${name('stream_arn')}/consumer/${name('name')}:0`;
      case 'aws_lambda_function':
        return `arn:aws:lambda:${region}:${accountId}:function:${name('function_name')}`;
      case 'aws_sqs_queue':
        return `arn:aws:sqs:${region}:${accountId}:${name('name')}`;
      case 'aws_iam_role':
        return `arn:aws:iam::${accountId}:role/${name('name')}`;
      case 'aws_dynamodb_table':
        return `arn:aws:dynamodb:${region}:${accountId}:table/${name('name')}`;
      case 'aws_s3_bucket':
        return `arn:aws:s3:::${name('bucket')}`;
      case 'aws_cloudwatch_event_rule':
        // Scheduled rules live on the default bus, whose rules' ARNs carry no bus name.
        return `arn:aws:events:${region}:${accountId}:rule/${name('name')}`;
      default:
        return undefined;
    }
  };
  const reference = (path: string): string | undefined => {
    const parts = path.split('.');
    if (parts[0] === 'data') {
      if (parts[1] === 'aws_caller_identity' && parts[3] === 'account_id') return accountId;
      if (parts[1] === 'aws_region') return region;
      return undefined;
    }
    const [type, id, attr] = parts as [string, string, string];
    const attrs = resources[type]?.[id];
    if (attrs === undefined || attr === undefined) return undefined;
    if (attr === 'arn') return arnOf(type, attrs);
    if (attr === 'id' || attr === 'name' || attr === 'bucket' || attr === 'function_name') {
      const key =
        type === 'aws_s3_bucket' ? 'bucket' : type === 'aws_lambda_function' ? 'function_name' : 'name';
      return attrs[key] === undefined ? undefined : resolve(String(attrs[key]));
    }
    return attrs[attr] === undefined ? undefined : resolve(String(attrs[attr]));
  };
  /** Resolves `${…}` Terraform references; `$${…}` (escaped IoT templates) is left alone. */
  function resolve(value: string): string {
    return value.replace(
      /(?<!\$)\$\{([A-Za-z0-9_.-]+)\}/g,
      (whole, path: string) => reference(path) ?? whole,
    );
  }
  const isUnresolved = (value: string) => /(?<!\$)\$\{[A-Za-z0-9_.-]+\}/.test(value);
  const each = (type: string) => Object.entries(resources[type] ?? {});
  const str = (v: unknown) => resolve(String(v));
  const defaultTags = json.provider?.aws?.[0]?.default_tags?.[0]?.tags ?? {};
  /** The tags a resource gets: the provider's defaults, then its own (`tags`), references resolved. */
  const tagsOf = (r: Record<string, unknown>): Record<string, string> => {
    const tags: Record<string, string> = {};
    const own = (r['tags'] as Record<string, unknown> | undefined) ?? {};
    for (const [key, value] of Object.entries({ ...defaultTags, ...own })) tags[key] = str(value);
    return tags;
  };

  const streams = each('aws_kinesis_stream').map(([id, r]) => {
    const mode =
      (r['stream_mode_details'] as { stream_mode?: string } | undefined)?.stream_mode ?? 'PROVISIONED';
    // On-demand streams start with 4 shards and scale; locally they keep 4 (and the per-shard limits).
    const shardCount = mode === 'ON_DEMAND' ? ON_DEMAND_INITIAL_SHARDS : Number(r['shard_count']);
    if (!Number.isInteger(shardCount) || shardCount < 1) {
      throw new ConfigurationError(
        `aws_kinesis_stream.${id}`,
        `shard_count must be a positive integer, got ${String(r['shard_count'])}`,
      );
    }
    return { name: str(r['name']), shardCount, arn: arnOf('aws_kinesis_stream', r)!, tags: tagsOf(r) };
  });
  const tables = each('aws_dynamodb_table').map(([, r]) => {
    const table: TableConfig = {
      name: str(r['name']),
      hashKey: String(r['hash_key']),
      attributes: ((r['attribute'] as Array<{ name: string; type: 'S' | 'N' | 'B' }>) ?? []).map((a) => ({
        name: a.name,
        type: a.type,
      })),
      deletionProtection: r['deletion_protection_enabled'] === true,
      tags: tagsOf(r),
    };
    if (r['range_key'] !== undefined) table.rangeKey = String(r['range_key']);
    const ttl = r['ttl'] as { attribute_name?: string; enabled?: boolean } | undefined;
    if (ttl?.enabled && ttl.attribute_name) table.ttlAttribute = ttl.attribute_name;
    return table;
  });
  const topicRules = each('aws_iot_topic_rule').map(([id, r]) => {
    const kinesis = (r['kinesis'] as Array<Record<string, unknown>> | undefined) ?? [];
    const others = Object.keys(r).filter((k) =>
      ['lambda', 'sqs', 'sns', 'dynamodb', 'dynamodbv2', 's3', 'firehose', 'republish', 'http'].includes(k),
    );
    if (others.length > 0) {
      throw new ConfigurationError(
        `aws_iot_topic_rule.${id}`,
        `actions ${others.join(', ')} are not run locally (only kinesis)`,
      );
    }
    const rule: TopicRuleConfig & { errorActionBucket?: string } = {
      name: str(r['name']),
      sql: str(r['sql']),
      enabled: r['enabled'] !== false,
      kinesis: kinesis.map((k) => ({
        streamName: str(k['stream_name']),
        partitionKey: String(k['partition_key'] ?? '${newuuid()}'),
      })),
    };
    const version = r['sql_version'];
    if (version !== undefined && version !== '2016-03-23') {
      throw new ConfigurationError(
        `aws_iot_topic_rule.${id}`,
        `sql_version ${String(version)}: only 2016-03-23 is run locally`,
      );
    }
    const errorAction = r['error_action'] as Record<string, unknown> | undefined;
    const otherErrorActions = Object.keys(errorAction ?? {}).filter(
      (k) => k !== 's3' && errorAction?.[k] !== undefined && errorAction?.[k] !== null,
    );
    if (otherErrorActions.length > 0) {
      throw new ConfigurationError(
        `aws_iot_topic_rule.${id}`,
        `error_action ${otherErrorActions.join(', ')} is not run locally (only s3)`,
      );
    }
    const s3 = (errorAction as { s3?: { bucket_name?: string; key?: string } } | undefined)?.s3;
    if (s3?.key !== undefined) rule.errorActionKey = s3.key;
    if (s3?.bucket_name !== undefined) rule.errorActionBucket = str(s3.bucket_name);
    return rule;
  });
  const functions = each('aws_lambda_function').map(([, r]) => {
    const variables = ((r['environment'] as { variables?: Record<string, string> } | undefined)?.variables ??
      {}) as Record<string, string>;
    const environment: Record<string, string | undefined> = {};
    for (const [key, value] of Object.entries(variables)) {
      const resolved = str(value);
      environment[key] = isUnresolved(resolved) ? undefined : resolved;
    }
    return {
      name: str(r['function_name']),
      arn: arnOf('aws_lambda_function', r)!,
      handler: String(r['handler'] ?? 'index.handler'),
      timeoutSeconds: Number(r['timeout'] ?? 3),
      memoryMb: Number(r['memory_size'] ?? 128),
      roleArn: str(r['role']),
      environment,
    };
  });
  const consumers = each('aws_kinesis_stream_consumer').map(([id, r]) => ({
    where: `aws_kinesis_stream_consumer.${id}`,
    name: str(r['name']),
    arn: arnOf('aws_kinesis_stream_consumer', r)!,
    streamArn: str(r['stream_arn']),
  }));
  const eventSourceMappings = each('aws_lambda_event_source_mapping').flatMap(([id, r]) => {
    const where = `aws_lambda_event_source_mapping.${id}`;
    // A disabled mapping is not polled, as on AWS.
    if (r['enabled'] === false) return [];
    // What the local poller does not do is refused rather than ignored: records would reach the function
    // that AWS filters out, or without the window state a tumbling-window function expects.
    if (Number(r['tumbling_window_in_seconds'] ?? 0) > 0) {
      throw new ConfigurationError(where, 'tumbling_window_in_seconds is not run locally');
    }
    const filters =
      (r['filter_criteria'] as Array<{ filter?: unknown[] }> | { filter?: unknown[] } | undefined) ?? [];
    if ((Array.isArray(filters) ? filters : [filters]).some((f) => (f.filter ?? []).length > 0)) {
      throw new ConfigurationError(where, 'filter_criteria is not run locally');
    }
    const sourceArn = str(r['event_source_arn']);
    const consumer = consumers.find((c) => c.arn === sourceArn);
    const streamArn = consumer?.streamArn ?? sourceArn;
    const stream = streams.find((s) => s.arn === streamArn);
    if (stream === undefined)
      throw new ConfigurationError(
        consumer?.where ?? where,
        consumer === undefined
          ? `event_source_arn ${sourceArn} is neither a Kinesis stream nor a stream consumer of this stack`
          : `stream_arn ${streamArn} is not a Kinesis stream of this stack`,
      );
    const functionRef = str(r['function_name']);
    const fn = functions.find((f) => f.arn === functionRef || f.name === functionRef);
    if (fn === undefined)
      throw new ConfigurationError(where, `function_name ${functionRef} is not a function of this stack`);
    const position = String(r['starting_position'] ?? 'LATEST');
    if (position !== 'TRIM_HORIZON' && position !== 'LATEST' && position !== 'AT_TIMESTAMP') {
      throw new ConfigurationError(
        where,
        `starting_position ${position} is not one of TRIM_HORIZON, LATEST, AT_TIMESTAMP`,
      );
    }
    const destination = (r['destination_config'] as { on_failure?: { destination_arn?: string } } | undefined)
      ?.on_failure?.destination_arn;
    const mapping: MappingConfig = {
      streamName: stream.name,
      streamArn,
      enhancedFanOut: consumer !== undefined,
      ...(consumer === undefined ? {} : { consumerArn: consumer.arn }),
      functionName: fn.name,
      batchSize: Number(r['batch_size'] ?? 100),
      maximumBatchingWindowInSeconds: Number(r['maximum_batching_window_in_seconds'] ?? 0),
      startingPosition: position,
      parallelizationFactor: Number(r['parallelization_factor'] ?? 1),
      bisectBatchOnFunctionError: r['bisect_batch_on_function_error'] === true,
      maximumRetryAttempts: Number(r['maximum_retry_attempts'] ?? -1),
      maximumRecordAgeInSeconds: Number(r['maximum_record_age_in_seconds'] ?? -1),
      reportBatchItemFailures: ((r['function_response_types'] as string[] | undefined) ?? []).includes(
        'ReportBatchItemFailures',
      ),
    };
    if (r['starting_position_timestamp'] !== undefined) {
      mapping.startingPositionTimestamp = new Date(String(r['starting_position_timestamp']));
    }
    if (destination !== undefined) mapping.onFailureDestination = str(destination).split(':').at(-1)!;
    return [mapping];
  });
  const schedules = parseSchedules({ each, str, arnOf, functions });
  return {
    stackName,
    region,
    accountId,
    streams,
    streamConsumers: consumers.map(({ name, arn, streamArn }) => ({ name, arn, streamArn })),
    tables,
    topicRules,
    eventSourceMappings,
    functions,
    schedules,
  };
}

/** EventBridge principal a scheduled rule's Lambda permission must name. */
const EVENTS_PRINCIPAL = 'events.amazonaws.com';

/**
 * Scheduled rules and their Lambda targets. A target on a scheduled rule that is not a function of this stack
 * (SQS, SNS, another account…) is refused, as topic rules' other actions are; so is a Lambda target without an
 * `aws_lambda_permission` letting events.amazonaws.com invoke it (on AWS every fire would fail).
 */
function parseSchedules(stack: {
  each: (type: string) => Array<[string, Record<string, unknown>]>;
  str: (v: unknown) => string;
  arnOf: (type: string, attrs: Record<string, unknown>) => string | undefined;
  functions: FunctionConfig[];
}): ScheduleConfig[] {
  const { each, str, arnOf, functions } = stack;
  const rules = each('aws_cloudwatch_event_rule')
    .filter(([, r]) => r['schedule_expression'] !== undefined)
    .map(([id, r]) => {
      const where = `aws_cloudwatch_event_rule.${id}`;
      const bus = r['event_bus_name'] === undefined ? 'default' : str(r['event_bus_name']);
      if (bus !== 'default') {
        throw new ConfigurationError(
          where,
          `event_bus_name ${bus}: scheduled rules run only on the default event bus`,
        );
      }
      const expression = str(r['schedule_expression']);
      const state = r['state'] === undefined ? undefined : str(r['state']);
      const enabled = state === undefined ? r['is_enabled'] !== false : state !== 'DISABLED';
      return {
        id,
        where,
        name: str(r['name']),
        arn: arnOf('aws_cloudwatch_event_rule', r)!,
        expression,
        intervalMs: scheduleIntervalMs(expression, where),
        enabled,
      };
    });
  const permissions = each('aws_lambda_permission').map(([, p]) => ({
    principal: str(p['principal']),
    action: str(p['action']),
    functionName: str(p['function_name']),
    sourceArn: p['source_arn'] === undefined ? undefined : str(p['source_arn']),
  }));
  const schedules: ScheduleConfig[] = [];
  for (const [id, t] of each('aws_cloudwatch_event_target')) {
    const where = `aws_cloudwatch_event_target.${id}`;
    const ruleName = str(t['rule']);
    const rule = rules.find((r) => r.name === ruleName);
    if (rule === undefined || !rule.enabled) continue; // an event-pattern rule's target, or a disabled rule
    const arn = str(t['arn']);
    const fn = functions.find((f) => f.arn === arn || `${f.arn}:$LATEST` === arn);
    if (fn === undefined) {
      throw new ConfigurationError(
        where,
        `arn ${arn} of scheduled rule ${rule.name} is not a Lambda function of this stack (only Lambda targets are run locally)`,
      );
    }
    for (const unsupported of ['input_path', 'input_transformer']) {
      if (t[unsupported] !== undefined) {
        throw new ConfigurationError(
          where,
          `${unsupported} is not run locally (the event or a constant input only)`,
        );
      }
    }
    const allowed = permissions.some(
      (p) =>
        p.principal === EVENTS_PRINCIPAL &&
        (p.action === 'lambda:InvokeFunction' || p.action === 'lambda:*') &&
        (p.functionName === fn.name || p.functionName === fn.arn) &&
        (p.sourceArn === undefined || p.sourceArn === rule.arn),
    );
    if (!allowed) {
      throw new ConfigurationError(
        where,
        `no aws_lambda_permission lets ${EVENTS_PRINCIPAL} invoke ${fn.name} from rule ${rule.name} (on AWS every scheduled invocation would fail)`,
      );
    }
    let input: unknown;
    if (t['input'] !== undefined) {
      try {
        input = JSON.parse(String(t['input']));
      } catch (error) {
        throw new ConfigurationError(where, `input is not JSON (${(error as Error).message})`);
      }
    }
    schedules.push({
      ruleName: rule.name,
      ruleArn: rule.arn,
      expression: rule.expression,
      intervalMs: rule.intervalMs,
      functionName: fn.name,
      targetId: t['target_id'] === undefined ? `${rule.name}-${id}` : str(t['target_id']),
      ...(input === undefined ? {} : { input }),
    });
  }
  return schedules;
}
