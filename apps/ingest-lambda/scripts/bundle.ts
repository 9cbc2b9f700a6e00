/** `pnpm build`: writes `dist/lambda/index.mjs` (+ map), the artifact apps/infra deploys and the local stack runs. */
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertDependenciesBuilt } from './dependencies-built.js';

// Before anything imports a workspace package (from its dist/).
assertDependenciesBuilt(join(dirname(fileURLToPath(import.meta.url)), '..'));
const { LAMBDA_BUNDLE } = await import('@alleycat/schema');
const { bundleLambda, PACKAGE_ROOT } = await import('./bundle-lib.js');

const { file, bytes, mapBytes } = await bundleLambda();
console.log(
  `${relative(PACKAGE_ROOT, file)}: ${(bytes / 1024).toFixed(0)} KiB (map ${(mapBytes / 1024).toFixed(0)} KiB), handler ${LAMBDA_BUNDLE.handler}`,
);
