import { KINESIS_PUT_PAYLOAD_UNIT_BYTES } from '@alleycat/schema';

/**
 * The four bytes that open every KPL aggregated record (KPL aggregation format 0.9.0, "f3899ac2").
 * A frozen array rather than a `Uint8Array`, which cannot be frozen and would let a caller corrupt it.
 */
export const KPL_MAGIC_BYTES: readonly number[] = Object.freeze([0xf3, 0x89, 0x9a, 0xc2]);

/** Length of the MD5 digest of the protobuf message that closes every aggregated record. */
export const KPL_DIGEST_BYTES = 16;

/** Bytes an aggregated record spends outside its protobuf message: magic + MD5 digest. */
export const KPL_FRAMING_BYTES = KPL_MAGIC_BYTES.length + KPL_DIGEST_BYTES;

/**
 * Default size target of the `Aggregator`: one PUT payload unit, so an aggregate never costs more than one
 * unit on a provisioned stream. Counted like Kinesis counts a record: data bytes plus partition-key bytes.
 */
export const DEFAULT_AGGREGATE_MAX_BYTES = KINESIS_PUT_PAYLOAD_UNIT_BYTES;

/** Deepest nesting of (deprecated) protobuf groups the decoder will skip before calling the input corrupt. */
export const MAX_GROUP_DEPTH = 64;
