/** `pnpm build`: writes `dist/lambda/index.mjs` (+ map), the artifact apps/infra deploys and the local stack runs. */
import { relative } from 'node:path';
import { LAMBDA_BUNDLE } from '@alleycat/schema';
import { bundleLambda, PACKAGE_ROOT } from './bundle-lib.js';

const { file, bytes, mapBytes } = await bundleLambda();
console.log(
  `${relative(PACKAGE_ROOT, file)}: ${(bytes / 1024).toFixed(0)} KiB (map ${(mapBytes / 1024).toFixed(0)} KiB), handler ${LAMBDA_BUNDLE.handler}`,
);
