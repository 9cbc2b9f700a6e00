export { type SynthesizeOptions, type SynthesizeResult, synthesize } from './app.js';
export { CONFIG_SOURCES, DEFAULT_LAMBDA_BUNDLE_DIR, loadConfig, validateConfig } from './config.js';
export * from './constants.js';
export * from './errors.js';
export { Arns, partitionOf, type ResourceNames, resourceNames } from './naming.js';
export type * from './policy.js';
export { AlleycatStack } from './stack.js';
export type * from './types.js';
