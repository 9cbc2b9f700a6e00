/**
 * AWS service limits and Alleycat's own budgets. Units are in the names; every part of the pipeline takes
 * these from here instead of repeating literals. Sources: Kinesis Data Streams, IoT Core and Lambda quotas
 * pages (defaults; some IoT quotas can be raised on request).
 */

/** Bytes in a KiB / MiB, for the limits AWS states in binary units. */
export const KIB = 1024;
export const MIB = 1024 * KIB;

// Kinesis Data Streams, per shard (provisioned mode).
/** Records a shard accepts per second (writes). */
export const KINESIS_SHARD_WRITE_RECORDS_PER_SECOND = 1_000;
/** Bytes (data + partition key) a shard accepts per second (writes). */
export const KINESIS_SHARD_WRITE_BYTES_PER_SECOND = 1 * MIB;
/** Bytes a shard serves per second to GetRecords (shared by all classic consumers). */
export const KINESIS_SHARD_READ_BYTES_PER_SECOND = 2 * MIB;
/** GetRecords calls a shard serves per second (shared by all classic consumers). */
export const KINESIS_SHARD_READ_CALLS_PER_SECOND = 5;

// Kinesis API.
/** Entries in one PutRecords call. */
export const KINESIS_PUT_RECORDS_MAX_ENTRIES = 500;
/** Bytes in one PutRecords call: every entry's data plus its partition key. */
export const KINESIS_PUT_RECORDS_MAX_BYTES = 5 * MIB;
/** Bytes of one record: data blob (before base64) plus partition key (PutRecordsRequestEntry docs). */
export const KINESIS_RECORD_MAX_BYTES = 1 * MIB;
/** Unicode characters in a partition key. */
export const KINESIS_PARTITION_KEY_MAX_CHARS = 256;
/** Provisioned streams bill PUTs in payload units of 25 KB: each record costs ceil(bytes / unit) units. */
export const KINESIS_PUT_PAYLOAD_UNIT_BYTES = 25 * KIB;
/** Records one GetRecords call returns at most. */
export const KINESIS_GET_RECORDS_MAX_RECORDS = 10_000;

// IoT Core.
/** Bytes in one MQTT message payload through the IoT message broker. */
export const IOT_MESSAGE_MAX_BYTES = 128 * KIB;
/** Publishes per second from one connection. */
export const IOT_PUBLISH_PER_CONNECTION_PER_SECOND = 100;
/** Publish requests per second per account (default; raised on request). */
export const IOT_ACCOUNT_PUBLISH_PER_SECOND = 20_000;
/** Actions in one topic rule (plus one error action). */
export const IOT_RULE_MAX_ACTIONS = 10;
/** Bytes in an MQTT client id accepted by IoT Core. */
export const IOT_CLIENT_ID_MAX_BYTES = 128;
/** Bytes (UTF-8) in a topic name or filter, not counting a Basic Ingest `$aws/rules/{rule}/` prefix. */
export const IOT_TOPIC_MAX_BYTES = 256;
/** Slashes in a topic name or filter (8 levels), not counting a Basic Ingest prefix. */
export const IOT_TOPIC_MAX_SLASHES = 7;
/** QoS levels IoT Core supports (no QoS 2). */
export const IOT_QOS_LEVELS = [0, 1] as const;

// Lambda.
/** Bytes in one (synchronous) invocation payload: the event source mapping delivers fewer records when large. */
export const LAMBDA_INVOCATION_PAYLOAD_MAX_BYTES = 6 * MIB;

// Alleycat budgets.
/**
 * Average bytes per race message that keeps 1,000 messages/s inside one shard's 1 MiB/s write limit.
 * A single message is also capped at this size (`RACE_MESSAGE_MAX_BYTES`), so the average cannot exceed it.
 */
export const RACE_MESSAGE_BUDGET_BYTES = 1 * KIB;
/** Hard cap on one race message's UTF-8 bytes: larger input is rejected as `too_large` before parsing. */
export const RACE_MESSAGE_MAX_BYTES = RACE_MESSAGE_BUDGET_BYTES;
/** Hard cap on one batch message's UTF-8 bytes (the "buffer a few seconds, send once" pattern). */
export const RACE_BATCH_MAX_BYTES = 16 * KIB;
/** Samples in one batch message: one minute at 1 Hz. */
export const RACE_BATCH_MAX_SAMPLES = 60;
/** Bytes of one leaderboard message: IoT Core's message limit. Larger standings are split into parts. */
export const LEADERBOARD_MAX_BYTES = IOT_MESSAGE_MAX_BYTES;
/** Racers one leaderboard part may list (keeps a part well inside `LEADERBOARD_MAX_BYTES` at any value). */
export const LEADERBOARD_MAX_STANDINGS_PER_PART = 2_500;
