export * from './capacity.js';
export * from './contract.js';
export { utf8ByteLength, type WireInput } from './decode.js';
export {
  LEADERBOARD_MESSAGE,
  MAX_CADENCE_RPM,
  MAX_DEVICE_TIMESTAMP_MS,
  MAX_ID,
  MAX_NAME_CHARS,
  MAX_OUTPUT,
  MAX_RACE_SECOND,
  MAX_RESISTANCE_PERCENT,
  RACE_BATCH,
  RACE_MESSAGE,
  RACE_SAMPLE,
  STANDING,
} from './definitions.js';
export * from './errors.js';
export * from './identity.js';
export { type JsonSchema, jsonSchemas, SCHEMA_VERSION, schemaFileText } from './json-schema.js';
export * from './leaderboard.js';
export * from './limits.js';
export * from './partition-keys.js';
export * from './prng.js';
export * from './race-message.js';
export * from './schedule.js';
export * from './scoring.js';
export type * from './spec.js';
export type * from './types.js';
