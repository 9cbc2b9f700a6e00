/**
 * The pipeline contract: names every part agrees on. `apps/infra` writes these into the synthesized stack and
 * `apps/local-stack` reads them back from it, so a name lives here once.
 */
import type { PartitionKeyStrategy } from './partition-keys.js';

/** The Kinesis stream (prefixed per environment by the infra: `{env}-alleycat`). */
export const STREAM_NAME = 'alleycat';
/** Bikes publish race messages here. */
export const INGEST_TOPIC = 'alleycat-publish';
/** Leaderboards go to `{RESULTS_TOPIC_PREFIX}/{classId}`. */
export const RESULTS_TOPIC_PREFIX = 'alleycat-subscribe';
/** MQTT filter matching every class's results topic. */
export const RESULTS_TOPIC_FILTER = `${RESULTS_TOPIC_PREFIX}/+`;

/** The results topic of one class: a bike subscribes to its own class only. */
export function resultsTopicFor(classId: number, prefix: string = RESULTS_TOPIC_PREFIX): string {
  return `${prefix}/${classId}`;
}

/** The ingest rule. IoT rule names allow only letters, digits and `_`. */
export const INGEST_RULE_NAME = 'alleycatIngest';
export const IOT_RULE_NAME_PATTERN = /^[a-zA-Z0-9_]{1,128}$/;
export const INGEST_RULE_SQL_VERSION = '2016-03-23';

/** The field the ingest rule adds with the sender's MQTT client id (DESIGN § Identities). */
export const CLIENT_ID_FIELD = 'clientId';

/**
 * The ingest rule's SQL: the whole message plus the sender's client id. `clientid()` comes after `*` so a
 * `clientId` a bike put in its own payload is overwritten, never trusted.
 */
export function ingestRuleSql(topic: string = INGEST_TOPIC): string {
  return `SELECT *, clientid() AS ${CLIENT_ID_FIELD} FROM '${topic}'`;
}
export const INGEST_RULE_SQL = ingestRuleSql();

/**
 * IoT substitution templates for the rule's Kinesis partition key, per strategy. They match
 * `partitionKeyFor`, so bikes through IoT and producers writing straight to Kinesis key a racer alike.
 */
export const PARTITION_KEY_TEMPLATES: Readonly<Record<PartitionKeyStrategy, string>> = {
  racer: '${racerId}',
  class: '${classId}',
  timestamp: '${timestamp()}',
  random: '${newuuid()}',
};

/** Escapes an IoT substitution template for a Terraform string (`${x}` → `$${x}`). */
export function escapeForTerraform(template: string): string {
  // A replacer function: in a replacement string `$$` would collapse to one `$`.
  return template.replaceAll('${', () => '$${');
}

/** Key prefix in the errors bucket where the rule's error action writes messages it could not deliver. */
export const RULE_ERRORS_PREFIX = 'errors/';
/** Key prefix in the errors bucket where the Lambda writes payloads it rejected, with the reason. */
export const INVALID_RECORDS_PREFIX = 'invalid/';

/** Environment variables of the ingest Lambda (the infra sets them; the local stack too). */
export const LAMBDA_ENV = {
  tableName: 'ALLEYCAT_TABLE_NAME',
  iotDataEndpoint: 'ALLEYCAT_IOT_DATA_ENDPOINT',
  resultsTopicPrefix: 'ALLEYCAT_RESULTS_TOPIC_PREFIX',
  errorsBucket: 'ALLEYCAT_ERRORS_BUCKET',
  /** Local stack only: a folder standing for the errors bucket. */
  errorsDir: 'ALLEYCAT_ERRORS_DIR',
  raceTimeoutSeconds: 'ALLEYCAT_RACE_TIMEOUT_SECONDS',
  /** Milliseconds a leaderboard publisher waits for other shards' writes of the same second. */
  publishSettleMs: 'ALLEYCAT_PUBLISH_SETTLE_MS',
} as const;

/**
 * `LAMBDA_ENV.publishSettleMs` when unset: how late an awaited racer may be before a second's leaderboard
 * goes out without them (the racer's second then goes out with the next one).
 */
export const DEFAULT_PUBLISH_SETTLE_MS = 400;
/** The largest `LAMBDA_ENV.publishSettleMs` the Lambda accepts: it must stay well inside the one-second round. */
export const MAX_PUBLISH_SETTLE_MS = 900;

/** What the Lambda writes for every record it rejects (`invalid/…` in the errors bucket). */
export interface InvalidRecordReport {
  reason: { code: string; path: string; message: string };
  eventSourceARN: string;
  shardId: string;
  sequenceNumber: string;
  /** Position inside a KPL aggregate or a batch, when the record held several. */
  subSequenceNumber?: number;
  partitionKey: string;
  approximateArrivalTimestamp: number;
  /** The record's data as received (base64), up to Kinesis's 1 MiB. */
  dataBase64: string;
  rejectedAt: string;
}

/** Object key of an invalid-record report: findable by day, shard and sequence number. */
export function invalidRecordKey(
  report: Pick<InvalidRecordReport, 'shardId' | 'sequenceNumber' | 'subSequenceNumber' | 'rejectedAt'>,
): string {
  const day = report.rejectedAt.slice(0, 10).replaceAll('-', '/');
  const sub = report.subSequenceNumber === undefined ? '' : `-${report.subSequenceNumber}`;
  return `${INVALID_RECORDS_PREFIX}${day}/${report.shardId}/${report.sequenceNumber}${sub}.json`;
}

/**
 * The race-state table: one table, generic string keys, so the Lambda's item design can evolve without
 * replacing the table. Items expire through TTL on `expiresAt` (epoch seconds).
 */
export const STATE_TABLE = {
  name: 'alleycat-state',
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
} as const;

/** The ingest Lambda's bundle, relative to `apps/ingest-lambda`, and its handler string. */
export const LAMBDA_BUNDLE = {
  directory: 'dist/lambda',
  file: 'index.mjs',
  handler: 'index.handler',
} as const;
