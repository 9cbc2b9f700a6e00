/**
 * The data shapes this package hands to its callers and passes between its modules: records and what became
 * of them, counters, endpoints, standings, summaries. Options types stay next to the class they configure.
 */
import type { RaceMessage } from '@alleycat/schema';

export interface ProducerRecord {
  data: Uint8Array;
  partitionKey: string;
  /** Decimal 128-bit hash key that overrides the partition key's shard (aggregates use it). */
  explicitHashKey?: string;
  /** Records sharing an ordering key are never in flight together. Default: the partition key. */
  orderingKey?: string;
  /** Race messages this record carries (1 unless it is an aggregate or a batch); for the counters. */
  messages?: number;
}

export interface UnsentRecord {
  record: ProducerRecord;
  /** The last per-entry `ErrorCode` or whole-request error name, e.g. `ProvisionedThroughputExceededException`. */
  errorCode: string;
  errorMessage: string;
  attempts: number;
}

export interface ProducerStats {
  /** Records Kinesis accepted. */
  recordsSent: number;
  /** Race messages inside the accepted records. */
  messagesSent: number;
  /** Entry re-sends (an entry retried twice counts 2). */
  recordsRetried: number;
  /** Records given up on and returned as unsent. */
  recordsFailed: number;
  messagesFailed: number;
  /** Data plus partition-key bytes of accepted records. */
  bytesSent: number;
  /** Billed PUT payload units of accepted records: each costs ceil(data bytes / 25 KiB). */
  putPayloadUnits: number;
  /** PutRecords calls made, retries included. */
  requests: number;
  /** Calls that failed as a whole. */
  requestsFailed: number;
  /** Entries refused with `ProvisionedThroughputExceededException`. */
  throttledEntries: number;
}

export interface ShardRange {
  shardId: string;
  start: bigint;
  end: bigint;
}

/** One user record that could not be sent, recovered from its unsent aggregate. */
export interface UnsentUserRecord {
  partitionKey: string;
  data: Uint8Array;
  errorCode: string;
  errorMessage: string;
  attempts: number;
}

export type DropReason = 'queue_full' | 'closed';

/** Where the bike connects. */
export type BikeEndpoint =
  | {
      mode: 'aws';
      /** The account's IoT data endpoint (`xxxx-ats.iot.region.amazonaws.com`). */
      endpoint: string;
      certPath: string;
      keyPath: string;
      /** Amazon Root CA; the system trust store when absent. */
      caPath?: string;
      port?: number;
    }
  | { mode: 'local'; host: string; port: number };

export interface BikeStats {
  /** Messages given to `publish`. */
  published: number;
  /** QoS 1: PUBACKed. QoS 0: written to the socket. */
  delivered: number;
  /** Publishes re-sent after a failure or a lost connection. */
  resent: number;
  /** Dropped at the queue bound. */
  dropped: number;
  queued: number;
  inFlight: number;
  /** Connection losses, and successful reconnects after them. */
  interruptions: number;
  reconnects: number;
  leaderboards: number;
}

export interface OwnStanding {
  raceId: number;
  second: number;
  racerId: number;
  rank: number;
  racers: number;
  /** Output of the racer's latest second. */
  current: number;
  total: number;
  max: number;
  closed: boolean;
  /** The leader's total, when the part with rank 1 has arrived. */
  leaderTotal?: number;
}

/** A message that did not make it, and why (written to the dead-letter file by the CLI). */
export interface UndeliveredMessage {
  errorCode: string;
  errorMessage: string;
  attempts?: number;
  /** The message as it would have been sent (JSON text). */
  payload: string;
}

export interface SinkCounters {
  /** Messages accepted by Kinesis (or delivered to the broker). */
  delivered: number;
  /** Re-sends (Kinesis entries, or MQTT publishes). */
  retried: number;
  /** Messages given up on. */
  failed: number;
  /** Requests made (PutRecords calls), or publishes. */
  requests: number;
  bytes: number;
  putPayloadUnits: number;
  /** Kinesis records written (fewer than messages when aggregated). */
  records: number;
  throttled: number;
}

export interface Sink {
  readonly name: string;
  /** Messages of one race second, with their validated wire form. */
  send(messages: readonly RaceMessage[], payloads: readonly string[]): Promise<void>;
  counters(): SinkCounters;
  /** Delivers what is pending; returns every message not delivered since the last call. */
  flush(): Promise<UndeliveredMessage[]>;
  close(): Promise<UndeliveredMessage[]>;
}

/** What makes riders differ. */
export interface RiderProfile {
  racerId: number;
  classId: number;
  name: string;
  /** Cruising cadence, rpm. */
  baseCadence: number;
  /** Preferred resistance, %. */
  baseResistance: number;
  /** 0–1: how little the rider fades over the race. */
  endurance: number;
  /** 0–1: how hard the rider sprints at the end and in surges. */
  punch: number;
  /** rpm of second-to-second wobble. */
  jitter: number;
}

export interface RiderSample {
  cadence: number;
  resistance: number;
}

export interface StreamInfo {
  streamName: string;
  status: string;
  openShards: number;
}

export interface SimulationSummary {
  sink: string;
  riders: number;
  classes: number;
  seconds: number;
  speedup: number;
  seed: number | string;
  raceIds: number[];
  messages: number;
  delivered: number;
  failed: number;
  retried: number;
  requests: number;
  records: number;
  bytes: number;
  putPayloadUnits: number;
  throttled: number;
  /** Wall seconds from the first tick to everything settled. */
  elapsedSeconds: number;
  messagesPerSecond: number;
  requestsPerMessage: number;
  /** Largest lateness of a race second against its schedule (the sink could not keep up). */
  maxLagMs: number;
  undelivered: UndeliveredMessage[];
}
