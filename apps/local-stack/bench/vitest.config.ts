import path from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * Unit tests of the benchmarks' own logic (parsers, search, latency bookkeeping, the replay of the simulator's
 * field) on their own: `pnpm vitest run --config bench/vitest.config.ts`. The package's `pnpm test` runs them
 * too; they take a few seconds and start no stack.
 */
export default defineConfig({
  root: path.join(import.meta.dirname, '..'),
  test: {
    include: ['bench/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
