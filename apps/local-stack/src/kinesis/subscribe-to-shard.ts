/**
 * `SubscribeToShard` (enhanced fan-out) over HTTP/2, as Kinesis serves it: an `initial-response` event, then a
 * `SubscribeToShardEvent` whenever records arrive (and at least every 5 s without them), each with
 * `ContinuationSequenceNumber` and `MillisBehindLatest`, for 5 minutes; then the stream ends and the consumer
 * subscribes again. One subscription per consumer and shard at a time (`ResourceInUseException`).
 * Records come from kinesalite with GetRecords, outside the shard's shared read limits, as a subscription's
 * are. The events use the AWS event-stream framing (`@smithy/core`'s codec, what the SDKs decode with).
 */
import type http2 from 'node:http2';
import { EventStreamCodec } from '@smithy/core/event-streams';
import { streamNameFromArn } from './aws-wire.js';
import { type ConsumerRegistry, parseConsumerArn } from './consumers.js';
import { type AskKinesalite, type ListingResult, refuse } from './listing.js';

/** A subscription's lifetime: Kinesis ends it after 5 minutes. */
export const SUBSCRIPTION_LIFETIME_MS = 5 * 60_000;
/** Kinesis sends an event at least this often, with or without records. */
export const HEARTBEAT_MS = 5_000;
/** How often an idle subscription looks for new records (a push arrives ~70 ms after the write on AWS). */
export const SUBSCRIPTION_POLL_MS = 50;

const STARTING_TYPES = new Set([
  'AT_SEQUENCE_NUMBER',
  'AFTER_SEQUENCE_NUMBER',
  'TRIM_HORIZON',
  'LATEST',
  'AT_TIMESTAMP',
]);

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();
const codec = new EventStreamCodec(
  (bytes) => utf8Decoder.decode(bytes),
  (text) => utf8Encoder.encode(text),
);

/** One event-stream message carrying JSON. */
export function eventMessage(eventType: string, body: unknown): Uint8Array {
  return codec.encode({
    headers: {
      ':event-type': { type: 'string', value: eventType },
      ':message-type': { type: 'string', value: 'event' },
      ':content-type': { type: 'string', value: 'application/json' },
    },
    body: utf8Encoder.encode(JSON.stringify(body)),
  });
}

export interface SubscriptionDeps {
  ask: AskKinesalite;
  consumers: ConsumerRegistry;
  /** Subscriptions running now, by `consumer ARN|shard id`. */
  active: Set<string>;
  now?: () => number;
  pollMs?: number;
  lifetimeMs?: number;
}

/**
 * Checks the call and opens the shard iterator. On success returns the function that streams the events into
 * `res` (the caller sends an error answer otherwise, before any header is written).
 */
export async function openSubscription(
  params: Record<string, unknown>,
  deps: SubscriptionDeps,
): Promise<ListingResult | ((res: http2.Http2ServerResponse) => Promise<void>)> {
  const consumerArn = params['ConsumerARN'];
  const shardId = params['ShardId'];
  const position = params['StartingPosition'] as Record<string, unknown> | undefined;
  if (typeof consumerArn !== 'string' || typeof shardId !== 'string' || typeof position !== 'object')
    return refuse('InvalidArgumentException', 'ConsumerARN, ShardId and StartingPosition are required');
  const streamArn = parseConsumerArn(consumerArn)?.streamArn;
  const stream = streamArn === undefined ? undefined : streamNameFromArn(streamArn);
  if (stream === undefined || !deps.consumers.has(consumerArn))
    return refuse('ResourceNotFoundException', `Consumer ${consumerArn} not found.`);
  const type = position?.['Type'];
  if (typeof type !== 'string' || !STARTING_TYPES.has(type))
    return refuse(
      'InvalidArgumentException',
      `StartingPosition.Type must be one of ${[...STARTING_TYPES].join(', ')}`,
    );
  const key = `${consumerArn}|${shardId}`;
  if (deps.active.has(key))
    return refuse(
      'ResourceInUseException',
      `Another active subscription exists for this consumer: ${consumerArn} on ${shardId}`,
    );
  const opened = await deps.ask('GetShardIterator', {
    StreamName: stream,
    ShardId: shardId,
    ShardIteratorType: type,
    ...(position?.['SequenceNumber'] === undefined
      ? {}
      : { StartingSequenceNumber: position['SequenceNumber'] }),
    ...(position?.['Timestamp'] === undefined ? {} : { Timestamp: position['Timestamp'] }),
  });
  if (!opened.ok) return opened;
  deps.active.add(key);
  const first = opened.value['ShardIterator'] as string;
  return (res) => stream_(res, first, key, deps);
}

async function stream_(
  res: http2.Http2ServerResponse,
  first: string,
  key: string,
  deps: SubscriptionDeps,
): Promise<void> {
  const now = deps.now ?? Date.now;
  const pollMs = deps.pollMs ?? SUBSCRIPTION_POLL_MS;
  const until = now() + (deps.lifetimeMs ?? SUBSCRIPTION_LIFETIME_MS);
  const closed = () => res.stream.closed || res.stream.destroyed;
  try {
    res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
    res.write(eventMessage('initial-response', {}));
    let iterator: string | undefined = first;
    let continuation: string | undefined;
    let lastEventMs = now();
    while (iterator !== undefined && now() < until && !closed()) {
      const page = await deps.ask('GetRecords', { ShardIterator: iterator, Limit: 10_000 });
      if (!page.ok) break; // the stream or shard went away: the subscription ends; the consumer sees it end
      const records = (page.value['Records'] as Array<{ SequenceNumber: string }> | undefined) ?? [];
      iterator = (page.value['NextShardIterator'] as string | null | undefined) ?? undefined;
      if (records.length > 0) continuation = records[records.length - 1]!.SequenceNumber;
      if (records.length > 0 || iterator === undefined || now() - lastEventMs >= HEARTBEAT_MS) {
        const event: Record<string, unknown> = {
          Records: records,
          MillisBehindLatest: page.value['MillisBehindLatest'] ?? 0,
        };
        if (continuation !== undefined) event['ContinuationSequenceNumber'] = continuation;
        // A closed shard's last event says so: no continuation, its children (kinesalite names none).
        if (iterator === undefined) {
          delete event['ContinuationSequenceNumber'];
          event['ChildShards'] = page.value['ChildShards'] ?? [];
        }
        if (closed()) break;
        res.write(eventMessage('SubscribeToShardEvent', event));
        lastEventMs = now();
      }
      if (records.length === 0) await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
    if (!closed()) res.end();
  } finally {
    deps.active.delete(key);
  }
}
