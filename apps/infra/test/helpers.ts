/** Test helpers: synthesize into a temporary folder (never the shared cdktf.out) and read the JSON back. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize } from '../src/app.js';
import { type Env, loadConfig } from '../src/config.js';
import type { AlleycatStack } from '../src/stack.js';
import type { InfraConfig } from '../src/types.js';

export const TEST_ACCOUNT = '123456789012';
export const TEST_REGION = 'eu-west-1';
export const TEST_ENDPOINT = 'abc123example-ats.iot.eu-west-1.amazonaws.com';

/** The account id and IoT endpoint are inputs here, so no data source has to call AWS. */
export const TEST_ENV: Env = {
  ALLEYCAT_ENV: 'test',
  ALLEYCAT_REGION: TEST_REGION,
  ALLEYCAT_ACCOUNT_ID: TEST_ACCOUNT,
  ALLEYCAT_IOT_DATA_ENDPOINT: TEST_ENDPOINT,
};

export function testConfig(env: Env = {}): InfraConfig {
  return loadConfig({ env: { ...TEST_ENV, ...env } });
}

// biome-ignore lint/suspicious/noExplicitAny: synthesized Terraform JSON is untyped by nature.
export type Json = Record<string, any>;

export interface Synthesized {
  dir: string;
  stackDir: string;
  json: Json;
  stack: AlleycatStack;
  cleanup: () => void;
}

export function synthToTemp(config: InfraConfig): Synthesized {
  const dir = mkdtempSync(join(tmpdir(), 'alleycat-infra-'));
  const { stack, stackDir } = synthesize({ outdir: dir, config });
  const json = JSON.parse(readFileSync(join(stackDir, 'cdk.tf.json'), 'utf8')) as Json;
  return { dir, stackDir, json, stack, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every resource of a type, by logical id. */
export function resources(json: Json, type: string): Record<string, Json> {
  return (json['resource']?.[type] ?? {}) as Record<string, Json>;
}

/** The only resource of a type (fails when there is not exactly one). */
export function single(json: Json, type: string): Json {
  const all = Object.values(resources(json, type));
  if (all.length !== 1) throw new Error(`expected one ${type}, found ${all.length}`);
  return all[0]!;
}

/** `${aws_type.id.attr}` of a resource, as cdktf writes references. */
export function ref(json: Json, type: string, attr: string, logicalId?: string): string {
  const id = logicalId ?? Object.keys(resources(json, type))[0];
  return `\${${type}.${id}.${attr}}`;
}

/** Every resource in the stack as [type, logicalId, body]. */
export function allResources(json: Json): Array<[string, string, Json]> {
  return Object.entries((json['resource'] ?? {}) as Record<string, Record<string, Json>>).flatMap(
    ([type, byId]) => Object.entries(byId).map(([id, body]) => [type, id, body] as [string, string, Json]),
  );
}

/** The resource a `${type.id.attr}` reference points to. */
export function target(json: Json, reference: string): { type: string; id: string; body: Json } {
  const match = /^\$\{([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.[a-z_]+\}$/.exec(reference);
  if (!match) throw new Error(`not a plain resource reference: ${reference}`);
  const body = resources(json, match[1]!)[match[2]!];
  if (!body) throw new Error(`dangling reference: ${reference}`);
  return { type: match[1]!, id: match[2]!, body };
}
