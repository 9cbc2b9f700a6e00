/**
 * How the fuzzer sends: real MQTT clients (mqtt.js, MQTT 3.1.1, one connection per client id, as bikes) and a
 * Kinesis producer (@aws-sdk/client-kinesis PutRecords, failed entries retried with backoff as DESIGN asks of
 * producers), paced so the valid MQTT traffic stays inside the shards' write limits (the rule does not retry a
 * throttled put: IoT sends it to the error action).
 */

import { INGEST_TOPIC, KINESIS_PUT_RECORDS_MAX_ENTRIES, MIB } from '@alleycat/schema';
import { PutRecordCommand, PutRecordsCommand, type PutRecordsRequestEntry } from '@aws-sdk/client-kinesis';
import mqtt from 'mqtt';
import { localKinesisClient } from '../../src/kinesis/client.js';

/** Spends byte and record budgets at a steady rate (a token bucket holding half a second). */
export class Pacer {
  private bytes: number;
  private records: number;
  private at = Date.now();
  constructor(
    private readonly bytesPerSecond: number,
    private readonly recordsPerSecond: number,
  ) {
    this.bytes = bytesPerSecond / 2;
    this.records = recordsPerSecond / 2;
  }

  async take(bytes: number): Promise<void> {
    for (;;) {
      const now = Date.now();
      const elapsed = (now - this.at) / 1000;
      this.at = now;
      this.bytes = Math.min(this.bytesPerSecond / 2, this.bytes + elapsed * this.bytesPerSecond);
      this.records = Math.min(this.recordsPerSecond / 2, this.records + elapsed * this.recordsPerSecond);
      // A payload larger than the bucket may go once the bucket is full (it then runs into debt).
      if ((this.bytes >= bytes || this.bytes >= this.bytesPerSecond / 2) && this.records >= 1) {
        this.bytes -= bytes;
        this.records -= 1;
        return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** QoS 1 publishes one connection has waiting for their PUBACK at once. */
export const PER_CLIENT_IN_FLIGHT = 4;

export type PublishResult = { ok: true } | { ok: false; why: string };

/** Bike-like MQTT connections, one per client id, kept for the whole test. */
export class MqttFleet {
  private readonly clients = new Map<string, Promise<mqtt.MqttClient>>();
  private throwaway = 0;
  private readonly slots = new Map<string, { used: number; waiting: Array<() => void> }>();
  constructor(private readonly url: string) {}

  private client(clientId: string): Promise<mqtt.MqttClient> {
    let client = this.clients.get(clientId);
    if (client === undefined) {
      client = mqtt.connectAsync(this.url, { clientId, protocolVersion: 4, reconnectPeriod: 250 });
      this.clients.set(clientId, client);
    }
    return client;
  }

  /**
   * Publishes and waits for the PUBACK (QoS 1: the broker sends it once the rule has stored the message).
   * At most `PER_CLIENT_IN_FLIGHT` per connection, as a bike would have: the broker handles one connection's
   * publishes one after another, so a deeper queue only measures the test's own burst.
   */
  async publish(clientId: string, payload: Buffer, qos: 0 | 1, timeoutMs: number): Promise<PublishResult> {
    const client = await this.client(clientId);
    const slots = this.slots.get(clientId) ?? { used: 0, waiting: [] as Array<() => void> };
    this.slots.set(clientId, slots);
    if (slots.used >= PER_CLIENT_IN_FLIGHT) await new Promise<void>((resolve) => slots.waiting.push(resolve));
    slots.used += 1;
    try {
      return await this.publishNow(client, payload, qos, timeoutMs);
    } finally {
      slots.used -= 1;
      slots.waiting.shift()?.();
    }
  }

  private async publishNow(
    client: mqtt.MqttClient,
    payload: Buffer,
    qos: 0 | 1,
    timeoutMs: number,
  ): Promise<PublishResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<PublishResult>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, why: `no PUBACK within ${timeoutMs} ms` }), timeoutMs);
    });
    try {
      return await Promise.race([
        client.publishAsync(INGEST_TOPIC, payload, { qos }).then(
          (): PublishResult => ({ ok: true }),
          (error: Error): PublishResult => ({ ok: false, why: error.message }),
        ),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Sends what the broker must refuse (over 128 KiB, QoS 2) on a connection of its own — the broker closes it,
   * as IoT Core does — and reports whether it was closed. A client id of its own, too: reusing a bike's id
   * would take over (and close) that bike's connection.
   */
  async publishRefused(payload: Buffer, qos: 0 | 1 | 2, timeoutMs: number): Promise<boolean> {
    const clientId = `refused-${process.pid}-${++this.throwaway}`;
    const client = await mqtt.connectAsync(this.url, { clientId, protocolVersion: 4, reconnectPeriod: 0 });
    const closed = new Promise<boolean>((resolve) => client.once('close', () => resolve(true)));
    client.publish(INGEST_TOPIC, payload, { qos }, () => {});
    const result = await Promise.race([
      closed,
      new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs)),
    ]);
    await client.endAsync(true);
    return result;
  }

  async close(): Promise<void> {
    const all = await Promise.allSettled(this.clients.values());
    await Promise.all(all.map((c) => (c.status === 'fulfilled' ? c.value.endAsync(true) : undefined)));
    this.clients.clear();
  }
}

export interface KinesisEntry {
  data: Buffer;
  partitionKey: string;
}

/** PutRecords in calls of ≤ 500 entries / ≤ 4 MiB; entries that fail (throttled) are retried with backoff. */
export class KinesisProducer {
  private readonly client;
  readonly counters = { calls: 0, retried: 0, accepted: 0 };
  constructor(
    endpoint: string,
    private readonly stream: string,
  ) {
    this.client = localKinesisClient(endpoint);
  }

  /** Resolves when every entry is in the stream; rejects after `maxAttempts` rounds with entries still failing. */
  async putAll(entries: readonly KinesisEntry[], maxAttempts = 30): Promise<void> {
    let pending = [...entries];
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > maxAttempts)
        throw new Error(`${pending.length} records still refused after ${maxAttempts} PutRecords rounds`);
      const failed: KinesisEntry[] = [];
      for (const chunk of chunks(pending)) {
        this.counters.calls += 1;
        const answer = await this.client.send(
          new PutRecordsCommand({
            StreamName: this.stream,
            Records: chunk.map(
              (e): PutRecordsRequestEntry => ({ Data: e.data, PartitionKey: e.partitionKey }),
            ),
          }),
        );
        answer.Records?.forEach((result, i) => {
          if (result.ErrorCode === undefined) this.counters.accepted += 1;
          else failed.push(chunk[i]!);
        });
      }
      if (failed.length > 0) {
        this.counters.retried += failed.length;
        await new Promise((r) => setTimeout(r, Math.min(1_000, 50 * 2 ** attempt) * (0.5 + Math.random())));
      }
      pending = failed;
    }
  }

  /** Puts one record that Kinesis must refuse; returns the error it answered with (undefined if accepted). */
  async putRefused(entry: KinesisEntry): Promise<string | undefined> {
    try {
      await this.client.send(
        new PutRecordCommand({ StreamName: this.stream, Data: entry.data, PartitionKey: entry.partitionKey }),
      );
      this.counters.accepted += 1;
      return undefined;
    } catch (error) {
      return `${(error as Error).name}: ${(error as Error).message}`;
    }
  }

  close(): void {
    this.client.destroy();
  }
}

function* chunks(entries: readonly KinesisEntry[]): Generator<KinesisEntry[]> {
  let chunk: KinesisEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = entry.data.byteLength + Buffer.byteLength(entry.partitionKey);
    if (chunk.length === KINESIS_PUT_RECORDS_MAX_ENTRIES || (chunk.length > 0 && bytes + size > 4 * MIB)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(entry);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
