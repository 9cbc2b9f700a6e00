/**
 * Loads the function's handler from its bundle (`index.handler` → `export handler` of `index.mjs`): what the
 * event source mapping and the scheduled rules invoke.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigurationError } from '../errors.js';
import type { Handler } from './poller.js';

export async function loadBundleHandler(bundle: string, exportName = 'handler'): Promise<Handler> {
  const module = (await import(pathToFileURL(path.resolve(bundle)).href)) as Record<string, unknown>;
  const handler = module[exportName];
  if (typeof handler !== 'function') {
    throw new ConfigurationError('handler', `${bundle} exports no function ${JSON.stringify(exportName)}`);
  }
  return handler as Handler;
}

/** A handler, or how to load it: a bundle path and an export name (`index.handler` → `handler`). */
export type HandlerSource = Handler | { bundle: string; exportName?: string };

/** The handler a `HandlerSource` names (loading its bundle if it is one). */
export function resolveHandler(source: HandlerSource): Promise<Handler> {
  return typeof source === 'function'
    ? Promise.resolve(source)
    : loadBundleHandler(source.bundle, source.exportName);
}
