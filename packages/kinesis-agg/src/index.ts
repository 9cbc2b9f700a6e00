export {
  DEFAULT_AGGREGATE_MAX_BYTES,
  KPL_DIGEST_BYTES,
  KPL_FRAMING_BYTES,
  KPL_MAGIC_BYTES,
  MAX_GROUP_DEPTH,
} from './constants.js';
export { deaggregate, decodeRecord, isAggregated } from './decode.js';
export { Aggregator, aggregate } from './encode.js';
export {
  AGGREGATION_ERROR_CODES,
  AggregationError,
  type AggregationErrorCode,
  InvalidOptionError,
  InvalidUserRecordError,
  KinesisAggError,
  USER_RECORD_ERROR_CODES,
  type UserRecordErrorCode,
} from './errors.js';
export type {
  AggregatorOptions,
  DecodedRecord,
  EncodedRecord,
  UserRecord,
  UserRecordInput,
} from './types.js';
