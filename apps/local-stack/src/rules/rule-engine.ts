/**
 * The IoT rules engine, locally: for each message, every enabled rule whose FROM filter matches evaluates its
 * SQL and runs its Kinesis actions (PutRecord, one per message, as IoT's Kinesis action does — no retries, so
 * a throttled put is a failed action). When an action fails, the rule's error action writes one JSON file per
 * message and rule, shaped like IoT's error action message, under a folder standing for the errors bucket.
 *
 * `onMessage` resolves only after every action (or the error action) accepted the message: the broker
 * acknowledges a QoS 1 publish after that. It rejects only when even the error action failed, so the broker
 * can refuse the publish and the client resends it.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { LocalStackError, RuleEvaluationError } from '../errors.js';
import { BASIC_INGEST_PREFIX, parseBasicIngestTopic } from './basic-ingest.js';
import type { MessageContext, Value } from './expression.js';
import { KinesisBatcher } from './kinesis-batcher.js';
import { evaluateRuleSql, parseRuleSql, type RuleSql } from './sql.js';
import { parseTemplate, renderTemplate, type Template } from './template.js';
import { topicMatches } from './topic-filter.js';

export interface KinesisActionConfig {
  streamName: string;
  /** IoT substitution template, e.g. `${racerId}` (Terraform's `$${` escape accepted). */
  partitionKey: string;
}

export interface TopicRuleConfig {
  name: string;
  sql: string;
  enabled?: boolean;
  kinesis: KinesisActionConfig[];
  /**
   * The S3 error action's key template; files land at `<errorsDir>/<key>`. Absent, the rule has no error
   * action: a message its action fails is dropped, as IoT drops it — counted (`droppedWithoutErrorAction`)
   * and logged under `ruleLogsDir`, as IoT logs it to CloudWatch.
   */
  errorActionKey?: string;
  /** The S3 error action's bucket name, reported as the failed resource if the error action fails. */
  errorActionBucket?: string;
}

export interface RuleEngineOptions {
  rules: TopicRuleConfig[];
  kinesis: KinesisClient;
  /** Folder standing for the errors bucket (its root: keys such as `errors/…` are paths under it). */
  errorsDir: string;
  /** Where SQL evaluation failures are logged (IoT sends those to CloudWatch Logs, not the error action). */
  ruleLogsDir?: string;
  now?: () => number;
}

export interface IncomingMessage {
  topic: string;
  payload: Buffer;
  /** The publisher's client id; undefined when the broker does not say (then `clientid()` is Undefined). */
  clientId: string | undefined;
}

export interface RuleEngineStats {
  /** Messages a rule matched and all its actions accepted. */
  delivered: number;
  /** Messages whose Kinesis action failed and went to the error action (files written). */
  errorActions: number;
  /** Of those, failures caused by Kinesis throttling. */
  throttled: number;
  /** Messages whose SQL could not be evaluated (logged under `ruleLogsDir`). */
  sqlErrors: number;
  /** Messages lost because the error action itself failed (the publish was refused, so the client resends). */
  errorActionFailures: number;
  /** Basic Ingest messages (`$aws/rules/{name}/…`) naming no enabled rule: dropped, as IoT drops them. */
  basicIngestUnknownRule: number;
  /** Messages whose action failed in a rule without an error action: dropped (and logged under `ruleLogsDir`). */
  droppedWithoutErrorAction: number;
}

interface CompiledRule {
  config: TopicRuleConfig;
  sql: RuleSql;
  actions: Array<{ streamName: string; partitionKey: Template }>;
  errorKey?: Template;
}

export interface ErrorActionMessage {
  ruleName: string;
  topic: string;
  cloudwatchTraceId: string;
  clientId: string;
  base64OriginalPayload: string;
  failures: Array<{ failedAction: string; failedResource: string; errorMessage: string }>;
}

export class ErrorActionFailedError extends LocalStackError {
  readonly ruleName: string;
  constructor(ruleName: string, cause: unknown) {
    super(`rule ${ruleName}: the error action could not store the failed message: ${String(cause)}`, {
      cause,
      retryable: true,
    });
    this.name = 'ErrorActionFailedError';
    this.ruleName = ruleName;
  }
}

export class RuleEngine {
  private readonly rules: CompiledRule[];
  private readonly writer: KinesisBatcher;
  private readonly errorsDir: string;
  private readonly ruleLogsDir: string;
  private readonly now: () => number;
  private readonly counters: RuleEngineStats = {
    delivered: 0,
    errorActions: 0,
    throttled: 0,
    sqlErrors: 0,
    errorActionFailures: 0,
    basicIngestUnknownRule: 0,
    droppedWithoutErrorAction: 0,
  };

  constructor(options: RuleEngineOptions) {
    // Parse everything up front: a rule the local stack cannot run is a startup error naming the rule.
    this.rules = options.rules
      .filter((rule) => rule.enabled !== false)
      .map((config) => {
        try {
          const compiled: CompiledRule = {
            config,
            sql: parseRuleSql(config.sql),
            actions: config.kinesis.map((a) => ({
              streamName: a.streamName,
              partitionKey: parseTemplate(a.partitionKey),
            })),
          };
          if (config.errorActionKey !== undefined) compiled.errorKey = parseTemplate(config.errorActionKey);
          return compiled;
        } catch (error) {
          throw new LocalStackError(`topic rule ${config.name}: ${(error as Error).message}`, {
            cause: error,
          });
        }
      });
    this.writer = new KinesisBatcher({ kinesis: options.kinesis });
    this.errorsDir = options.errorsDir;
    this.ruleLogsDir = options.ruleLogsDir ?? path.join(options.errorsDir, '..', 'rule-logs');
    this.now = options.now ?? Date.now;
  }

  stats(): RuleEngineStats {
    return { ...this.counters };
  }

  /**
   * The topic filters of the enabled rules (what a bridge on an external broker subscribes to), and the Basic
   * Ingest topics, which invoke a rule by name.
   */
  filters(): string[] {
    const filters = new Set(this.rules.map((rule) => rule.sql.from.filter));
    if (this.rules.length > 0) filters.add(`${BASIC_INGEST_PREFIX}#`);
    return [...filters];
  }

  /** Whether `topic` goes through the rules (the broker skips the rule path otherwise). */
  matches(topic: string): boolean {
    if (topic.startsWith(BASIC_INGEST_PREFIX)) return true;
    return !topic.startsWith('$') && this.rules.some((rule) => topicMatches(rule.sql.from, topic));
  }

  async onMessage(message: IncomingMessage): Promise<void> {
    const basic = parseBasicIngestTopic(message.topic);
    if (basic !== undefined) {
      const rule = this.rules.find((r) => r.config.name === basic.ruleName);
      if (rule === undefined) {
        this.counters.basicIngestUnknownRule += 1;
        return;
      }
      // topic() and the templates see the topic after the prefix; the error action reports the full one.
      await this.apply(rule, message, contextOf({ ...message, topic: basic.topic }, this.now()));
      return;
    }
    if (message.topic.startsWith('$')) return; // other reserved topics never reach rules
    const matching = this.rules.filter((rule) => topicMatches(rule.sql.from, message.topic));
    if (matching.length === 0) return;
    const ctx = contextOf(message, this.now());
    await Promise.all(matching.map((rule) => this.apply(rule, message, ctx)));
  }

  private async apply(rule: CompiledRule, message: IncomingMessage, ctx: MessageContext): Promise<void> {
    let output: Buffer;
    let partitionKeys: string[];
    try {
      const result = evaluateRuleSql(rule.sql, ctx, message.payload);
      if (!result.matched) return;
      output = result.payload;
      partitionKeys = rule.actions.map((action) => renderTemplate(action.partitionKey, ctx));
    } catch (error) {
      // Whatever the payload makes evaluation throw (a RangeError from JSON nested 10,000 deep, say) is this
      // message's failure, logged like IoT logs it, and the publish is still acknowledged: never the
      // connection's, or the bike would resend a poison message forever.
      const failure =
        error instanceof RuleEvaluationError
          ? error
          : new RuleEvaluationError(`cannot evaluate the rule on this payload: ${String(error)}`);
      this.counters.sqlErrors += 1;
      await this.logRuleFailure(rule, message, failure.message);
      return;
    }
    const failures: ErrorActionMessage['failures'] = [];
    let throttled = false;
    await Promise.all(
      rule.actions.map(async (action, i) => {
        const partitionKey = partitionKeys[i]!;
        const outcome = await this.writer.put(action.streamName, partitionKey, output);
        if (outcome.ok) return;
        if (outcome.throttled) throttled = true;
        failures.push({
          failedAction: 'KinesisAction',
          failedResource: action.streamName,
          errorMessage:
            `Failed to put record to Kinesis stream. The error received was ${outcome.error}. ` +
            `Message arrived on: ${message.topic}, Action: kinesis, StreamName: ${action.streamName}, PartitionKey: ${partitionKey}`,
        });
      }),
    );
    if (failures.length === 0) {
      this.counters.delivered += 1;
      return;
    }
    if (throttled) this.counters.throttled += 1;
    await this.runErrorAction(rule, message, ctx, failures);
  }

  private async runErrorAction(
    rule: CompiledRule,
    message: IncomingMessage,
    ctx: MessageContext,
    failures: ErrorActionMessage['failures'],
  ): Promise<void> {
    const report: ErrorActionMessage = {
      ruleName: rule.config.name,
      topic: message.topic,
      cloudwatchTraceId: randomUUID(),
      clientId: message.clientId ?? '',
      base64OriginalPayload: message.payload.toString('base64'),
      failures,
    };
    if (rule.errorKey === undefined) {
      this.counters.droppedWithoutErrorAction += 1;
      await this.logRuleFailure(rule, message, failures.map((f) => f.errorMessage).join('; '));
      return;
    }
    const key = renderTemplate(rule.errorKey, ctx);
    try {
      const file = safeJoin(this.errorsDir, key);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
      this.counters.errorActions += 1;
    } catch (error) {
      this.counters.errorActionFailures += 1;
      throw new ErrorActionFailedError(rule.config.name, error);
    }
  }

  /** A rule's failure IoT logs to CloudWatch (an SQL error; an action failure with no error action). */
  private async logRuleFailure(rule: CompiledRule, message: IncomingMessage, reason: string): Promise<void> {
    const entry = {
      ruleName: rule.config.name,
      topic: message.topic,
      clientId: message.clientId,
      reason,
      base64OriginalPayload: message.payload.toString('base64'),
      loggedAt: new Date(this.now()).toISOString(),
    };
    const file = path.join(
      this.ruleLogsDir,
      rule.config.name,
      `${entry.loggedAt.replace(/[:.]/g, '-')}-${randomUUID()}.json`,
    );
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify(entry, null, 2)}\n`);
  }
}

/**
 * Strict: a payload that is not valid UTF-8 is not JSON (a lenient decode would "repair" it and score it). A
 * leading BOM is dropped, as the Lambda's parser drops it.
 */
const utf8 = new TextDecoder('utf-8', { fatal: true });

function contextOf(message: IncomingMessage, receivedAtMs: number): MessageContext {
  let json: Value;
  let isJson = false;
  try {
    json = JSON.parse(utf8.decode(message.payload)) as Value;
    isJson = true;
  } catch {
    json = undefined;
  }
  return { json, isJson, topic: message.topic, clientId: message.clientId, receivedAtMs };
}

/** `root/key`, refusing keys that would escape the folder (`..`). */
function safeJoin(root: string, key: string): string {
  const file = path.resolve(root, key);
  if (!file.startsWith(path.resolve(root) + path.sep))
    throw new Error(`error action key ${JSON.stringify(key)} escapes ${root}`);
  return file;
}
