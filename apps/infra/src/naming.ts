/**
 * Resource names per environment (pure). Contract names come from `@alleycat/schema`; this only prefixes them.
 */
import { INGEST_RULE_NAME, IOT_RULE_NAME_PATTERN, STATE_TABLE, STREAM_NAME } from '@alleycat/schema';
import { APP_NAME } from './constants.js';
import { ConfigError } from './errors.js';

export interface ResourceNames {
  /** The cdktf stack, and so the folder `cdktf.out/stacks/<stack>` and the state file. */
  stack: string;
  /** `{env}-alleycat`: the prefix of every other name. */
  prefix: string;
  stream: string;
  ingestRule: string;
  table: string;
  function: string;
  dlq: string;
  /** The enhanced fan-out consumer the event source mapping reads through (unique within the stream). */
  streamConsumer: string;
  bikePolicy: string;
  /** The EventBridge rule that invokes the ingest Lambda on a schedule (the sweep). */
  sweepRule: string;
  firehose: string;
  kmsAlias: string;
  role: (purpose: string) => string;
  /** Globally unique bucket name: `{prefix}-{purpose}-{account}-{region}`. */
  bucket: (purpose: string, account: string, region: string) => string;
}

export function resourceNames(environment: string): ResourceNames {
  const prefix = `${environment}-${APP_NAME}`;
  const ingestRule = `${environment.replaceAll('-', '_')}_${INGEST_RULE_NAME}`;
  if (!IOT_RULE_NAME_PATTERN.test(ingestRule)) {
    throw new ConfigError('environment', environment, `gives an invalid IoT rule name "${ingestRule}"`);
  }
  return {
    stack: prefix,
    prefix,
    stream: `${environment}-${STREAM_NAME}`,
    ingestRule,
    table: `${environment}-${STATE_TABLE.name}`,
    function: `${prefix}-ingest`,
    dlq: `${prefix}-ingest-dlq`,
    streamConsumer: `${prefix}-ingest`,
    bikePolicy: `${prefix}-bike`,
    sweepRule: `${prefix}-sweep`,
    firehose: `${prefix}-archive`,
    kmsAlias: `alias/${prefix}`,
    role: (purpose) => `${prefix}-${purpose}`,
    bucket: (purpose, account, region) => `${prefix}-${purpose}-${account}-${region}`,
  };
}

/** The ARN partition of a region (`aws`, `aws-cn`, `aws-us-gov`), kept literal in the synthesized stack. */
export function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

/** Builds ARNs of this stack's account and region. `account` may be a Terraform token. */
export class Arns {
  readonly partition: string;
  constructor(
    readonly region: string,
    readonly account: string,
  ) {
    this.partition = partitionOf(region);
  }
  of(service: string, resource: string, { regional = true, withAccount = true } = {}): string {
    return `arn:${this.partition}:${service}:${regional ? this.region : ''}:${withAccount ? this.account : ''}:${resource}`;
  }
  iot(resource: string): string {
    return this.of('iot', resource);
  }
  logGroup(name: string): string {
    return this.of('logs', `log-group:${name}`);
  }
  bucket(name: string): string {
    return this.of('s3', name, { regional: false, withAccount: false });
  }
}
