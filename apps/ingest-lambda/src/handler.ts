/**
 * The Lambda entry point (`index.handler` in the bundle). Configuration is read and checked at cold start:
 * a missing or malformed variable fails the init with a `ConfigError` naming it, before any record is read.
 */
import { loadConfig } from './config.js';
import { createIngestRuntime } from './ingest.js';

const runtime = createIngestRuntime(loadConfig(process.env));

export const handler = runtime.handler;
