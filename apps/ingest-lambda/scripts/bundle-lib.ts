/**
 * Builds the Lambda artifact: ONE ESM file plus its source map (`LAMBDA_BUNDLE`), with the AWS SDK v3 and
 * Powertools bundled in (the runtime's own SDK copy is not relied on), Node 20 syntax so the same file runs
 * on `nodejs22.x` in AWS and on the machine's Node 20 in the local stack.
 */
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAMBDA_BUNDLE } from '@alleycat/schema';
import { build } from 'esbuild';

export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface BundleResult {
  file: string;
  bytes: number;
  mapBytes: number;
}

export async function bundleLambda(
  outDir = join(PACKAGE_ROOT, LAMBDA_BUNDLE.directory),
): Promise<BundleResult> {
  const outFile = join(outDir, LAMBDA_BUNDLE.file);
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const result = await build({
    entryPoints: [join(PACKAGE_ROOT, 'src/handler.ts')],
    outfile: outFile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    mainFields: ['module', 'main'],
    conditions: ['import', 'node'],
    minify: true,
    // Class names survive minification: logs show them and error handling compares `name`.
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
    // CommonJS dependencies inside an ESM bundle may still call require() for Node built-ins.
    banner: {
      js: "import { createRequire as __alleycatCreateRequire } from 'node:module'; const require = __alleycatCreateRequire(import.meta.url);",
    },
  });
  // Outside the deployed folder: what makes up the bundle, for https://esbuild.github.io/analyze/.
  await writeFile(join(outDir, '..', 'bundle-meta.json'), JSON.stringify(result.metafile));
  return {
    file: outFile,
    bytes: (await stat(outFile)).size,
    mapBytes: (await stat(`${outFile}.map`)).size,
  };
}
