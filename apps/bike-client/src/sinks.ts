/**
 * Where the simulator's messages go: straight into Kinesis (PutRecords, optionally KPL-aggregated), or
 * through MQTT with one connection per bike (the path real bikes take). Both report what they could not
 * deliver, message by message, with the reason.
 */
import {
  hashKeyOf,
  INGEST_TOPIC,
  type PartitionKeyStrategy,
  partitionKeyFor,
  type RaceMessage,
} from '@alleycat/schema';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { mqtt } from 'aws-iot-device-sdk-v2';
import { AggregatingProducer, unsentUserRecords } from './aggregating-producer.js';
import { Bike } from './bike.js';
import { MQTT_CONNECT_GROUP_SIZE } from './constants.js';
import { KinesisProducer, type KinesisProducerOptions } from './kinesis-producer.js';
import type {
  BikeEndpoint,
  DropReason,
  ShardRange,
  Sink,
  SinkCounters,
  UndeliveredMessage,
  UnsentRecord,
} from './types.js';

export interface KinesisSinkOptions {
  client: KinesisClient;
  streamName: string;
  partitionKey: PartitionKeyStrategy;
  aggregate?: { shards: readonly ShardRange[]; maxBytes?: number };
  producer?: Partial<Omit<KinesisProducerOptions, 'client' | 'streamName'>>;
}

const utf8 = new TextDecoder();

/**
 * Records in the order of their partition keys' hash keys (stable: a key's records keep their order). A shard
 * owns a contiguous range of hash keys, so the producer's PutRecords (≤ 500 entries, cut in this order) each
 * carry one shard's records, or two at a range's edge, instead of every shard's: a shard's second then lands in
 * one request, and its consumer gets it in one batch rather than one per request (fewer invocations, and fewer
 * state writes behind them).
 */
export function inHashKeyOrder<T extends { partitionKey: string }>(records: readonly T[]): T[] {
  return records
    .map((record) => ({ record, hashKey: hashKeyOf(record.partitionKey) }))
    .sort((a, b) => (a.hashKey < b.hashKey ? -1 : a.hashKey > b.hashKey ? 1 : 0))
    .map(({ record }) => record);
}

export class KinesisSink implements Sink {
  readonly name: string;
  private readonly producer: KinesisProducer;
  private readonly aggregator: AggregatingProducer | undefined;
  private readonly strategy: PartitionKeyStrategy;

  constructor(options: KinesisSinkOptions) {
    this.strategy = options.partitionKey;
    this.producer = new KinesisProducer({
      ...options.producer,
      client: options.client,
      streamName: options.streamName,
    });
    if (options.aggregate) {
      this.aggregator = new AggregatingProducer({
        producer: this.producer,
        shards: options.aggregate.shards,
        ...(options.aggregate.maxBytes === undefined ? {} : { maxBytes: options.aggregate.maxBytes }),
      });
    }
    this.name = `kinesis:${options.streamName}${this.aggregator ? ' (KPL-aggregated)' : ''}`;
  }

  async send(messages: readonly RaceMessage[], payloads: readonly string[]): Promise<void> {
    const records = messages.map((message, i) => ({
      data: Buffer.from(payloads[i]!, 'utf8'),
      partitionKey: partitionKeyFor(message, this.strategy),
    }));
    // A whole race second: nothing more comes until the next, so its last batch (or each shard's last
    // aggregate) goes now rather than after the linger, which would add up to `lingerMs` to every record of
    // the second (a leaderboard waits for its round's last racer).
    if (this.aggregator) {
      for (const record of records) await this.aggregator.put(record);
      await this.aggregator.sendBuffered();
      return;
    }
    for (const record of inHashKeyOrder(records)) await this.producer.put(record);
    this.producer.sendBuffered();
  }

  counters(): SinkCounters {
    const s = this.producer.stats;
    return {
      delivered: s.messagesSent,
      retried: s.recordsRetried,
      failed: s.messagesFailed,
      requests: s.requests,
      bytes: s.bytesSent,
      putPayloadUnits: s.putPayloadUnits,
      records: s.recordsSent,
      throttled: s.throttledEntries,
    };
  }

  async flush(): Promise<UndeliveredMessage[]> {
    const unsent: UnsentRecord[] = this.aggregator
      ? await this.aggregator.flush()
      : await this.producer.flush();
    return unsentUserRecords(unsent).map((u) => ({
      errorCode: u.errorCode,
      errorMessage: u.errorMessage,
      attempts: u.attempts,
      payload: utf8.decode(u.data),
    }));
  }

  close(): Promise<UndeliveredMessage[]> {
    return this.flush();
  }
}

export interface MqttSinkOptions {
  endpoint: BikeEndpoint;
  qos: 0 | 1;
  /** Riders, each gets a bike (one connection). */
  riders: ReadonlyArray<{ racerId: number; classId: number }>;
  /** Bikes connecting at once. */
  groupSize?: number;
  /** Subscribe every bike to its class's results (more broker load). Default false for fleets. */
  subscribeResults?: boolean;
  onConnectProgress?: (connected: number, total: number) => void;
  topic?: string;
}

/** One bike per rider, connected in groups (thousands at once time out, FIELD-NOTES). */
export class MqttSink implements Sink {
  readonly name: string;
  private readonly bikes = new Map<number, Bike>();
  private readonly options: MqttSinkOptions;
  private readonly client = new mqtt.MqttClient();
  private undelivered: UndeliveredMessage[] = [];
  private failedCount = 0;

  constructor(options: MqttSinkOptions) {
    this.options = options;
    const e = options.endpoint;
    this.name = `mqtt:${e.mode === 'local' ? `${e.host}:${e.port}` : e.endpoint} (QoS ${options.qos})`;
  }

  /** Opens every connection; throws (after closing what opened) if any bike cannot connect. */
  async connect(): Promise<void> {
    const { riders, groupSize = MQTT_CONNECT_GROUP_SIZE } = this.options;
    // One bike first: an unreachable broker then fails in one bike's connect time, with its own error,
    // instead of a whole group's retries.
    const groups = [riders.slice(0, 1)];
    for (let i = 1; i < riders.length; i += groupSize) groups.push(riders.slice(i, i + groupSize));
    let connected = 0;
    for (const riderGroup of groups) {
      const group = riderGroup.map(
        (rider) =>
          new Bike({
            racerId: rider.racerId,
            classId: rider.classId,
            endpoint: this.options.endpoint,
            qos: this.options.qos,
            client: this.client,
            subscribeResults: this.options.subscribeResults ?? false,
            // Spread a fleet's reconnects over 1–5 s after a broker restart instead of all at once.
            reconnectMinSeconds: 1 + (rider.racerId % 5),
            topic: this.options.topic ?? INGEST_TOPIC,
            onDropped: (messages, reason) => this.dropped(messages, reason),
          }),
      );
      for (const bike of group) this.bikes.set(bike.racerId, bike);
      const results = await Promise.allSettled(group.map((bike) => bike.connect()));
      const failure = results.find((r) => r.status === 'rejected');
      if (failure) {
        await this.close();
        throw (failure as PromiseRejectedResult).reason;
      }
      connected += group.length;
      this.options.onConnectProgress?.(connected, riders.length);
    }
  }

  private dropped(messages: RaceMessage[], reason: DropReason): void {
    this.failedCount += messages.length;
    for (const m of messages) {
      this.undelivered.push({
        errorCode: reason === 'queue_full' ? 'OfflineQueueFull' : 'NotDeliveredBeforeClose',
        errorMessage: `bike racer-${m.racerId}: ${reason === 'queue_full' ? 'offline queue full, oldest dropped' : 'still queued when the bike closed'}`,
        payload: JSON.stringify(m),
      });
    }
  }

  async send(messages: readonly RaceMessage[]): Promise<void> {
    for (const message of messages) {
      const bike = this.bikes.get(message.racerId);
      if (!bike) throw new RangeError(`no bike for racer ${message.racerId}`);
      bike.publish(message);
    }
  }

  counters(): SinkCounters {
    const total: SinkCounters = {
      delivered: 0,
      retried: 0,
      failed: this.failedCount,
      requests: 0,
      bytes: 0,
      putPayloadUnits: 0,
      records: 0,
      throttled: 0,
    };
    for (const bike of this.bikes.values()) {
      const s = bike.stats;
      total.delivered += s.delivered;
      total.retried += s.resent;
      total.requests += s.delivered + s.resent;
    }
    total.records = total.delivered;
    return total;
  }

  async flush(): Promise<UndeliveredMessage[]> {
    await Promise.all([...this.bikes.values()].map((bike) => bike.drain(30_000)));
    const out = this.undelivered;
    this.undelivered = [];
    return out;
  }

  async close(): Promise<UndeliveredMessage[]> {
    const drained = await this.flush();
    const bikes = [...this.bikes.values()];
    this.bikes.clear();
    // Bikes hand back what they still held (undelivered after the drain timeout) through onDropped.
    for (let i = 0; i < bikes.length; i += MQTT_CONNECT_GROUP_SIZE) {
      await Promise.all(bikes.slice(i, i + MQTT_CONNECT_GROUP_SIZE).map((bike) => bike.close()));
    }
    return [...drained, ...this.undelivered.splice(0)];
  }
}
