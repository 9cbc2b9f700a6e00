/**
 * Builds the Lambda artifact: ONE ESM file plus its source map in `dist/lambda` (`LAMBDA_BUNDLE`), with the
 * AWS SDK v3 and Powertools bundled in (the runtime's own SDK copy is not relied on), Node 20 syntax so the
 * same file runs on `nodejs22.x` in AWS and on the machine's Node 20 in the local stack.
 */
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAMBDA_BUNDLE } from '@alleycat/schema';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, LAMBDA_BUNDLE.directory);
const outFile = join(outDir, LAMBDA_BUNDLE.file);

await rm(outDir, { recursive: true, force: true });
await mkdir(outDir, { recursive: true });

const result = await build({
  entryPoints: [join(root, 'src/handler.ts')],
  outfile: outFile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  mainFields: ['module', 'main'],
  conditions: ['import', 'node'],
  minify: true,
  // Error classes keep their names (SDK and our own code compare `name`, and logs show it).
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

await writeFile(join(root, 'dist/meta.json'), JSON.stringify(result.metafile));
const bytes = (await stat(outFile)).size;
const map = (await stat(`${outFile}.map`)).size;
console.log(
  `${relative(root, outFile)}: ${(bytes / 1024).toFixed(0)} KiB (map ${(map / 1024).toFixed(0)} KiB), handler ${LAMBDA_BUNDLE.handler}`,
);
