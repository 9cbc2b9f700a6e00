/** Defaults of the local stack, in one place. AWS's own limits live in @alleycat/schema (`limits.ts`). */

/** Fixed ports `pnpm stack` uses (documented in the README); tests pass 0 for free ports. */
export const DEFAULT_PORTS = {
  mqtt: 1883,
  mqttWs: 9001,
  kinesis: 4567,
  kinesalite: 4568,
  dynamodb: 8000,
  iotData: 8086,
} as const;

/** The account id kinesalite and the local ARNs use. */
export const LOCAL_ACCOUNT_ID = '000000000000';

/** GetRecords calls per shard are spaced this far apart: 4/s, inside the 5/s limit with room for others. */
export const DEFAULT_POLL_INTERVAL_MS = 250;
/** First pause before a failed batch is retried; doubles per attempt up to `MAX_RETRY_DELAY_MS`. */
export const DEFAULT_RETRY_BASE_DELAY_MS = 100;
/**
 * The least a Kinesis event entry adds to its record's base64 data: its fixed keys and values, with one-character
 * ids and ARNs, come to 370 bytes (measured on `toEventRecord`); real ARNs and sequence numbers add more.
 */
export const MIN_EVENT_ENTRY_BYTES = 300;
export const MAX_RETRY_DELAY_MS = 2_000;
/** How long an IoT data plane Publish waits for the broker (connection, PUBACK) before answering 503. */
export const DATA_PLANE_PUBLISH_TIMEOUT_MS = 5_000;
/** How often the event source mapping looks for new shards. */
export const DEFAULT_SHARD_DISCOVERY_MS = 10_000;
/** How long the limits layer trusts a stream's shard map before asking DescribeStream again. */
export const DEFAULT_SHARD_MAP_TTL_MS = 5_000;
/** Shard iterators expire after five minutes on AWS. */
export const ITERATOR_LIFETIME_MS = 5 * 60 * 1000;
