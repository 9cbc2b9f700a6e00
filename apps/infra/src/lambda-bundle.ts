import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LAMBDA_BUNDLE } from '@alleycat/schema';
import { MissingLambdaBundleError } from './errors.js';

/** The bundle folder, checked to hold the handler file: the stack never deploys placeholder code. */
export function requireLambdaBundle(directory: string): string {
  const dir = resolve(directory);
  const file = join(dir, LAMBDA_BUNDLE.file);
  if (!existsSync(file)) throw new MissingLambdaBundleError(file);
  return dir;
}
