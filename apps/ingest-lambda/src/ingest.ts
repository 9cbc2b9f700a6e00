/** Builds the Lambda handler from configuration: clients, store, sinks, Powertools logger and metrics. */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, ScheduledEvent } from 'aws-lambda';
import { createClients, type IngestClients } from './clients.js';
import { METRIC, METRICS_NAMESPACE, SERVICE_NAME } from './constants.js';
import { DynamoStateStore } from './dynamo-store.js';
import { DirectoryInvalidRecordSink, S3InvalidRecordSink } from './invalid-sink.js';
import { IngestProcessor, type SweepResult, shardIdOf } from './processor.js';
import { IotLeaderboardPublisher } from './publisher.js';
import type { IngestConfig } from './types.js';

/**
 * The function's two event sources: Kinesis batches from the event source mapping, and the EventBridge
 * schedule's Scheduled Event, which runs the sweep (nothing else invokes the function once traffic stops).
 */
export type IngestHandler = {
  (event: KinesisStreamEvent, context: Context): Promise<KinesisStreamBatchResponse>;
  (event: ScheduledEvent, context: Context): Promise<SweepResult>;
  (
    event: KinesisStreamEvent | ScheduledEvent,
    context: Context,
  ): Promise<KinesisStreamBatchResponse | SweepResult>;
};

/** True for EventBridge's Scheduled Event (a schedule rule's invocation). */
export function isScheduledEvent(event: unknown): event is ScheduledEvent {
  const e = event as Partial<ScheduledEvent> | null | undefined;
  return e?.source === 'aws.events' && e['detail-type'] === 'Scheduled Event';
}

/**
 * When an invocation must stop waiting and answer: a margin before Lambda's timeout — a tenth of the time
 * left, at least 1 s (a quarter of it for a function of a few seconds), at most 5 s — so the batch is
 * handed back with its metrics instead of being killed mid-flight. None without a context that says (the
 * local stack's poller may pass a partial one).
 */
export function deadlineOf(
  context: Partial<Context> | undefined | null,
  nowMs = Date.now(),
): number | undefined {
  const remaining = context?.getRemainingTimeInMillis?.();
  if (typeof remaining !== 'number' || !Number.isFinite(remaining)) return undefined;
  const margin = Math.min(5_000, Math.max(Math.min(1_000, remaining / 4), remaining / 10));
  return nowMs + Math.max(0, remaining - margin);
}

export interface IngestRuntime {
  handler: IngestHandler;
  processor: IngestProcessor;
  store: DynamoStateStore;
  logger: Logger;
  metrics: Metrics;
  clients: IngestClients;
}

export function createIngestRuntime(
  config: IngestConfig,
  clients: IngestClients = createClients(config),
): IngestRuntime {
  const logger = new Logger({ serviceName: SERVICE_NAME });
  const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
  const store = new DynamoStateStore(clients.dynamodb, config.tableName);
  const sink =
    config.errorsBucket !== undefined && clients.s3 !== undefined
      ? new S3InvalidRecordSink(clients.s3, config.errorsBucket)
      : new DirectoryInvalidRecordSink(config.errorsDir!);
  const processor = new IngestProcessor({
    store,
    publisher: new IotLeaderboardPublisher(clients.iotData),
    sink,
    logger,
    metrics,
    resultsTopicPrefix: config.resultsTopicPrefix,
    raceTimeoutSeconds: config.raceTimeoutSeconds,
    publishSettleMs: config.publishSettleMs,
  });
  let coldStart = true;
  const handler = (async (event: KinesisStreamEvent | ScheduledEvent, context: Context) => {
    // The local stack's poller may pass a partial context; Lambda always passes a full one.
    if (context !== undefined && context !== null) logger.addContext(context);
    if (coldStart) {
      metrics.captureColdStartMetric(context?.functionName);
      coldStart = false;
    }
    try {
      if (isScheduledEvent(event)) return await processor.sweep();
      return await processor.process(event, deadlineOf(context));
    } catch (error) {
      // Lambda retries the whole batch (or bisects it); say so where the logs and metrics are read.
      metrics.addMetric(METRIC.invocationErrors, 'Count', 1);
      const first = isScheduledEvent(event) ? undefined : (event as Partial<KinesisStreamEvent>).Records?.[0];
      logger.error('invocation failed; Lambda retries the whole batch', {
        error,
        shardId: typeof first?.eventID === 'string' ? shardIdOf(first) : undefined,
        firstSequenceNumber: first?.kinesis?.sequenceNumber,
      });
      throw error;
    } finally {
      metrics.publishStoredMetrics();
    }
  }) as IngestHandler;
  return { handler, processor, store, logger, metrics, clients };
}
