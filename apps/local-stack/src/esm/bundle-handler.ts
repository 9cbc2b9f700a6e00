/**
 * Loads the function's handler from its bundle (`index.handler` → `export handler` of `index.mjs`): what the
 * event source mapping and the scheduled rules invoke.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigurationError } from '../errors.js';
import type { Handler } from './poller.js';

export async function loadBundleHandler(
  bundle: string,
  exportName = 'handler',
  environment = 0,
): Promise<Handler> {
  const href = pathToFileURL(path.resolve(bundle)).href;
  // A query makes Node evaluate the module again: a fresh copy of its state for another environment.
  const module = (await import(environment === 0 ? href : `${href}?environment=${environment}`)) as Record<
    string,
    unknown
  >;
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

/**
 * Execution environments, as Lambda keeps them: one invocation at a time in each, and concurrent
 * invocations (one per shard) in different ones, each with its own module state — clients, caches, and the
 * state store whose per-invocation counts (`StateWrites`) must not mix two invocations. Each environment
 * is the bundle imported afresh (~5 MB of heap), made when every existing one is busy. A handler given as
 * a function has no module to import again: its invocations share it.
 */
export class Environments {
  private readonly idle: Handler[] = [];
  private created = 1;

  private constructor(
    first: Handler,
    private readonly source: HandlerSource,
  ) {
    this.idle.push(first);
  }

  static async of(source: HandlerSource): Promise<Environments> {
    return new Environments(await resolveHandler(source), source);
  }

  /** Invokes the handler in an idle environment; it is idle again once the handler settles (not before). */
  async invoke(event: unknown, context: unknown): Promise<unknown> {
    const { source } = this;
    if (typeof source === 'function') return source(event, context);
    const handler =
      this.idle.pop() ?? (await loadBundleHandler(source.bundle, source.exportName, this.created++));
    try {
      return await handler(event, context);
    } finally {
      this.idle.push(handler);
    }
  }
}
