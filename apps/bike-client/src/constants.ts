/**
 * Defaults of the bike, the producer and the simulator. AWS limits and pipeline names come from
 * `@alleycat/schema`; only this package's own tuning lives here.
 */
import { KPL_FRAMING_BYTES } from '@alleycat/kinesis-agg';
import { KINESIS_PARTITION_KEY_MAX_CHARS, RACE_MESSAGE_MAX_BYTES } from '@alleycat/schema';

/** The seed's scale: 1,000 riders, 5-minute races, 6 classes. */
export const SIMULATION_DEFAULTS = {
  riders: 1_000,
  seconds: 300,
  classes: 6,
  speedup: 1,
  seed: 1,
} as const;

/** Producer tuning. Linger trades latency for fuller batches; 4 requests in flight saturate a local emulator. */
export const PRODUCER_DEFAULTS = {
  lingerMs: 100,
  maxConcurrency: 4,
  /** Attempts per record, the first included; after the last, the record is returned as unsent. */
  maxAttempts: 8,
  baseDelayMs: 100,
  maxDelayMs: 5_000,
  /** Records buffered (not yet in a request) before `put` waits: backpressure instead of unbounded memory. */
  maxBufferedRecords: 50_000,
} as const;

/** Aggregated records are cut at this many bytes (KPL's default is 50 KiB; 25 KiB is one PUT payload unit). */
export const AGGREGATION_DEFAULT_TARGET_BYTES = 25 * 1024;
/**
 * The smallest `--aggregate-bytes` that holds any one message: the schema's message budget, the longest partition
 * key, KPL's magic and digest, and 44 bytes for the protobuf fields and lengths around them (generous).
 */
export const AGGREGATE_MIN_BYTES =
  RACE_MESSAGE_MAX_BYTES + KINESIS_PARTITION_KEY_MAX_CHARS + KPL_FRAMING_BYTES + 44;

/** How long `ride` waits, after its last message, for the leaderboard that includes it. */
export const FINAL_STANDING_WAIT_MS = 3_000;

/** Bike (MQTT) tuning. */
export const BIKE_DEFAULTS = {
  /** The seed published at QoS 0. */
  qos: 0 as 0 | 1,
  keepAliveSeconds: 30,
  pingTimeoutMs: 5_000,
  /** A QoS 1 publish without PUBACK after this long is retried from the offline queue. */
  operationTimeoutMs: 10_000,
  /** The SDK's own reconnect backoff (doubles from min to max). */
  reconnectMinSeconds: 1,
  reconnectMaxSeconds: 30,
  connectTimeoutMs: 5_000,
  /** Attempts of the first connect before giving up (later drops reconnect by themselves, forever). */
  connectAttempts: 3,
  /** Publishes handed to the SDK and not yet complete (IoT Core allows 100 publishes/s per connection). */
  maxInFlight: 20,
  /** Messages held while offline or awaiting PUBACK: one hour at 1 Hz. Older ones are dropped and reported. */
  maxQueuedMessages: 3_600,
} as const;

/** Bikes opened at once by the MQTT fleet: 4,000 at once time out here, groups of 250 do not (FIELD-NOTES). */
export const MQTT_CONNECT_GROUP_SIZE = 250;
/** Connections one process holds comfortably on this kind of machine (measured; see README). */
export const MQTT_MAX_RIDERS_PER_PROCESS = 5_000;

/** Local endpoints the CLI suggests in its help. */
export const LOCAL_KINESIS_ENDPOINT_EXAMPLE = 'http://127.0.0.1:4567';
export const LOCAL_MQTT_URL_EXAMPLE = 'mqtt://127.0.0.1:1883';
