import { App } from 'cdktf';
import { CONFIG_SOURCES, type Context, loadConfig } from './config.js';
import { AlleycatStack } from './stack.js';
import type { InfraConfig } from './types.js';

export interface SynthesizeOptions {
  /** Output folder; default `cdktf.out` (or what `cdktf synth` passes in `CDKTF_OUTDIR`). */
  outdir?: string;
  /** The configuration; default `loadConfig()` from the environment and the app's cdktf context. */
  config?: InfraConfig;
  /** cdktf context for the app (as `cdktf.json` "context" gives it), read when `config` is not given. */
  context?: Record<string, unknown>;
}

export interface SynthesizeResult {
  app: App;
  stack: AlleycatStack;
  /** Folder holding `cdk.tf.json` and the assets of the stack. */
  stackDir: string;
}

/** Builds the app and writes the Terraform JSON (`<outdir>/stacks/<stack>/cdk.tf.json`). */
export function synthesize(options: SynthesizeOptions = {}): SynthesizeResult {
  const app = new App({
    ...(options.outdir === undefined ? {} : { outdir: options.outdir }),
    ...(options.context === undefined ? {} : { context: options.context }),
  });
  const config = options.config ?? loadConfig({ context: readContext(app) });
  const stack = new AlleycatStack(app, config);
  app.synth();
  return { app, stack, stackDir: `${app.outdir}/stacks/${stack.node.id}` };
}

/** The context cdktf passes the app (`cdktf.json` "context", `CDKTF_CONTEXT_JSON`). */
function readContext(app: App): Context {
  const context: Record<string, unknown> = {};
  for (const { context: key } of CONFIG_SOURCES) {
    const value: unknown = app.node.tryGetContext(key);
    if (value !== undefined) context[key] = value;
  }
  return context;
}
