/**
 * Enhanced fan-out consumers of the local streams: the registry behind RegisterStreamConsumer,
 * DescribeStreamConsumer, ListStreamConsumers and DeregisterStreamConsumer, which kinesalite does not have.
 * The stack's own consumers (`aws_kinesis_stream_consumer`) are registered at start, under the ARNs the event
 * source mapping reads with, so `aws kinesis list-stream-consumers` shows what a deployment would.
 *
 * As AWS: names `[a-zA-Z0-9_.-]{1,128}` unique per stream, at most 20 consumers a stream, the ARN
 * `{streamArn}/consumer/{name}:{creation epoch seconds}`, lookups by ARN or by stream ARN and name. Unlike AWS,
 * a consumer is ACTIVE at once (AWS shows CREATING/DELETING for a few seconds) and the registry lives in the
 * limits layer's memory (a restarted layer keeps the stack's consumers, not ones registered since). Pure.
 */
import { streamNameFromArn } from './aws-wire.js';

/** Consumers a provisioned or on-demand standard stream may have (Kinesis API reference). */
export const MAX_CONSUMERS_PER_STREAM = 20;
const NAME = /^[a-zA-Z0-9_.-]{1,128}$/;
const CONSUMER_ARN =
  /^(arn:aws[a-z-]*:kinesis:[^:]*:[^:]*:stream\/[a-zA-Z0-9_.-]{1,128})\/consumer\/([a-zA-Z0-9_.-]{1,128}):(\d+)$/;

export interface StreamConsumer {
  name: string;
  arn: string;
  streamArn: string;
  /** Epoch seconds. */
  createdAt: number;
}

/** What an operation answers: the JSON-shaped body, or an AWS error. */
export type ConsumerAnswer =
  | { ok: true; body: Record<string, unknown> }
  | { ok: false; type: string; message: string };

const fail = (type: string, message: string): ConsumerAnswer => ({ ok: false, type, message });

/** `arn:…:stream/{name}/consumer/{consumer}:{seconds}` → its parts, or undefined. */
export function parseConsumerArn(arn: string): { streamArn: string; name: string } | undefined {
  const match = CONSUMER_ARN.exec(arn);
  return match === null ? undefined : { streamArn: match[1]!, name: match[2]! };
}

export class ConsumerRegistry {
  /** By stream name (ARNs of one stream may differ in region/account spelling; the name is the stream). */
  private readonly byStream = new Map<string, StreamConsumer[]>();

  constructor(
    seeds: ReadonlyArray<Omit<StreamConsumer, 'createdAt'> & { createdAt?: number }> = [],
    private readonly nowSeconds: () => number = () => Math.floor(Date.now() / 1000),
  ) {
    // The stack's own consumers were "created" with the stack (their ARNs keep the `:0` the stack config gives
    // them, which the mapping's configuration refers to).
    const startedAt = nowSeconds();
    for (const seed of seeds) {
      const stream = streamNameFromArn(seed.streamArn);
      if (stream === undefined)
        throw new RangeError(`consumer ${seed.name}: ${seed.streamArn} is not a stream ARN`);
      this.consumersOf(stream).push({ ...seed, createdAt: seed.createdAt ?? startedAt });
    }
  }

  /** Consumers registered on a stream (its name). */
  count(streamName: string): number {
    return this.byStream.get(streamName)?.length ?? 0;
  }

  /** True when `arn` is a registered consumer: its reads are its own (enhanced fan-out), not the shard's. */
  has(arn: string): boolean {
    const parsed = parseConsumerArn(arn);
    const stream = parsed && streamNameFromArn(parsed.streamArn);
    return stream !== undefined && (this.byStream.get(stream) ?? []).some((c) => c.arn === arn);
  }

  /**
   * Runs a consumer operation on `params` (JSON-shaped). `streamExists`: whether the stream `streamToCheck`
   * names exists (kinesalite knows); only registering and listing ask.
   */
  call(operation: string, params: Record<string, unknown>, streamExists: boolean): ConsumerAnswer {
    switch (operation) {
      case 'RegisterStreamConsumer':
        return this.register(params, streamExists);
      case 'DescribeStreamConsumer':
        return this.describe(params);
      case 'ListStreamConsumers':
        return this.list(params, streamExists);
      case 'DeregisterStreamConsumer':
        return this.deregister(params);
      default:
        return fail('UnknownOperationException', `${operation} is not a consumer operation`);
    }
  }

  /**
   * The stream whose existence `operation` depends on: registering and listing answer
   * `ResourceNotFoundException` for a stream that does not exist; describing and deregistering look up the
   * consumer alone. Undefined when there is nothing to ask about.
   */
  static streamToCheck(operation: string, params: Record<string, unknown>): string | undefined {
    if (operation !== 'RegisterStreamConsumer' && operation !== 'ListStreamConsumers') return undefined;
    const streamArn = params['StreamARN'];
    return typeof streamArn === 'string' ? streamNameFromArn(streamArn) : undefined;
  }

  private consumersOf(stream: string): StreamConsumer[] {
    let list = this.byStream.get(stream);
    if (list === undefined) {
      list = [];
      this.byStream.set(stream, list);
    }
    return list;
  }

  private register(params: Record<string, unknown>, streamExists: boolean): ConsumerAnswer {
    const streamArn = params['StreamARN'];
    const name = params['ConsumerName'];
    const invalid = checkStreamArn(streamArn) ?? checkName(name);
    if (invalid !== undefined) return invalid;
    const stream = streamNameFromArn(streamArn as string)!;
    if (!streamExists) return notFoundStream(streamArn as string);
    const consumers = this.consumersOf(stream);
    if (consumers.some((c) => c.name === name)) {
      return fail('ResourceInUseException', `Consumer ${name} under stream ${stream} already exists.`);
    }
    if (consumers.length >= MAX_CONSUMERS_PER_STREAM) {
      return fail(
        'LimitExceededException',
        `Stream ${stream} already has ${MAX_CONSUMERS_PER_STREAM} registered consumers, the most it can have.`,
      );
    }
    const createdAt = this.nowSeconds();
    const consumer = {
      name: name as string,
      streamArn: streamArn as string,
      createdAt,
      arn: `${streamArn}/consumer/${name}:${createdAt}`,
    };
    consumers.push(consumer);
    return { ok: true, body: { Consumer: summary(consumer) } };
  }

  private find(params: Record<string, unknown>): StreamConsumer | ConsumerAnswer {
    const consumerArn = params['ConsumerARN'];
    if (typeof consumerArn === 'string') {
      const parsed = parseConsumerArn(consumerArn);
      if (parsed === undefined) {
        return constraint(
          'consumerARN',
          consumerArn,
          'Member must satisfy regular expression pattern: ^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/[a-zA-Z0-9_.-]+:[0-9]+',
        );
      }
      const stream = streamNameFromArn(parsed.streamArn)!;
      const found = this.byStream.get(stream)?.find((c) => c.arn === consumerArn);
      return found ?? fail('ResourceNotFoundException', `Consumer ${consumerArn} not found.`);
    }
    const streamArn = params['StreamARN'];
    const name = params['ConsumerName'];
    if (streamArn === undefined || name === undefined) {
      return fail(
        'InvalidArgumentException',
        'Either ConsumerARN, or both StreamARN and ConsumerName, must be given.',
      );
    }
    const invalid = checkStreamArn(streamArn) ?? checkName(name);
    if (invalid !== undefined) return invalid;
    const stream = streamNameFromArn(streamArn as string)!;
    const found = this.byStream.get(stream)?.find((c) => c.name === name);
    return found ?? fail('ResourceNotFoundException', `Consumer ${name} under stream ${stream} not found.`);
  }

  private describe(params: Record<string, unknown>): ConsumerAnswer {
    const found = this.find(params);
    if (!('arn' in found)) return found;
    return { ok: true, body: { ConsumerDescription: { ...summary(found), StreamARN: found.streamArn } } };
  }

  private list(params: Record<string, unknown>, streamExists: boolean): ConsumerAnswer {
    const streamArn = params['StreamARN'];
    const invalid = checkStreamArn(streamArn);
    if (invalid !== undefined) return invalid;
    if (!streamExists) return notFoundStream(streamArn as string);
    const max = params['MaxResults'] ?? 100;
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > 10_000) {
      return fail(
        'InvalidArgumentException',
        `MaxResults must be an integer from 1 to 10000, got ${String(max)}.`,
      );
    }
    const token = params['NextToken'];
    let start = 0;
    if (token !== undefined) {
      start = typeof token === 'string' && /^\d+$/.test(token) ? Number(token) : -1;
      if (start < 0)
        return fail('InvalidArgumentException', `NextToken ${String(token)} is not one this stream gave.`);
    }
    const all = this.byStream.get(streamNameFromArn(streamArn as string)!) ?? [];
    const page = all.slice(start, start + max);
    const body: Record<string, unknown> = { Consumers: page.map(summary) };
    if (start + max < all.length) body['NextToken'] = String(start + max);
    return { ok: true, body };
  }

  private deregister(params: Record<string, unknown>): ConsumerAnswer {
    const found = this.find(params);
    if (!('arn' in found)) return found;
    const list = this.byStream.get(streamNameFromArn(found.streamArn)!)!;
    list.splice(list.indexOf(found), 1);
    return { ok: true, body: {} };
  }
}

function summary(c: StreamConsumer): Record<string, unknown> {
  return {
    ConsumerName: c.name,
    ConsumerARN: c.arn,
    ConsumerStatus: 'ACTIVE',
    ConsumerCreationTimestamp: c.createdAt,
  };
}

/** AWS's wording for a request member that breaks its model's constraints. */
const constraint = (member: string, value: unknown, rule: string): ConsumerAnswer =>
  fail(
    'ValidationException',
    `1 validation error detected: Value '${String(value)}' at '${member}' failed to satisfy constraint: ${rule}`,
  );

function checkStreamArn(value: unknown): ConsumerAnswer | undefined {
  if (value === undefined) return constraint('streamARN', null, 'Member must not be null');
  return typeof value === 'string' && streamNameFromArn(value) !== undefined
    ? undefined
    : constraint(
        'streamARN',
        value,
        'Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+',
      );
}

function checkName(value: unknown): ConsumerAnswer | undefined {
  if (value === undefined) return constraint('consumerName', null, 'Member must not be null');
  if (typeof value === 'string' && value.length > 128) {
    return constraint('consumerName', value, 'Member must have length less than or equal to 128');
  }
  return typeof value === 'string' && NAME.test(value)
    ? undefined
    : constraint('consumerName', value, 'Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+');
}

function notFoundStream(streamArn: string): ConsumerAnswer {
  return fail(
    'ResourceNotFoundException',
    `Stream ${streamNameFromArn(streamArn)} not found (${streamArn}).`,
  );
}
