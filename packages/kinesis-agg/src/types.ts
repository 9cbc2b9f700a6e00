/** A user record to aggregate: what a producer would otherwise put as one Kinesis record. */
export interface UserRecordInput {
  /** 1–256 Unicode characters, well-formed (no lone surrogates). */
  partitionKey: string;
  /** Bytes to carry. Not copied until the aggregate is encoded; do not mutate before then. */
  data: Uint8Array;
  /** Decimal 128-bit hash key that overrides the partition key's MD5 for shard routing. */
  explicitHashKey?: string;
}

/** One Kinesis record ready for PutRecord(s): `Data`, `PartitionKey`, `ExplicitHashKey`. */
export interface EncodedRecord {
  /** Partition key for the outer Kinesis record: the first user record's (as the KPL does). */
  partitionKey: string;
  /** The first user record's explicit hash key, if it had one. */
  explicitHashKey?: string;
  /** KPL aggregate bytes, or the single user record's own bytes when `aggregated` is false. */
  data: Uint8Array;
  /** User records carried (≥ 1). */
  userRecordCount: number;
  /** False when one user record was passed through as-is (no framing). */
  aggregated: boolean;
  /** Size as Kinesis counts it against the record and request limits: data bytes + partition-key UTF-8 bytes. */
  sizeBytes: number;
}

export interface AggregatorOptions {
  /**
   * Upper bound of every emitted record's `sizeBytes` (data + partition key, as Kinesis counts it).
   * Default `DEFAULT_AGGREGATE_MAX_BYTES` (one 25 KiB PUT payload unit); at most `KINESIS_RECORD_MAX_BYTES`.
   */
  maxBytes?: number;
  /**
   * Emit a lone user record as-is instead of as a one-record aggregate (saves ≥ 24 bytes and the consumer's
   * MD5). Default true. Never applied to data that itself starts with the KPL magic, which a consumer would
   * mistake for an aggregate.
   */
  passThroughSingle?: boolean;
}

/** A user record recovered from a Kinesis record. */
export interface UserRecord {
  partitionKey: string;
  /** Present only if the producer set one. */
  explicitHashKey: string | undefined;
  /** A view into the input bytes (no copy): keep the input alive, do not mutate it. */
  data: Uint8Array;
  /** Position inside its aggregate (0-based); 0 for a non-aggregated record. With the outer sequence
   * number it identifies the user record, as in the KCL. */
  subSequenceNumber: number;
}

/** What `decodeRecord` found in one Kinesis record. */
export interface DecodedRecord {
  /** True when the data was a KPL aggregate. */
  aggregated: boolean;
  /** In order; a non-aggregated record yields itself as the only element. */
  records: UserRecord[];
}
