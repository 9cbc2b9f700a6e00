import path from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * The fault suite (`pnpm test:faults`): each test runs a whole local stack, injects one fault mid-race and
 * checks the boards against what was sent. Kept out of the package's `pnpm test` (its include is src/ and test/).
 */
export default defineConfig({
  root: path.join(import.meta.dirname, '..'),
  test: {
    include: ['faults/**/*.fault.test.ts'],
    // A test takes 30–70 s alone; other suites sharing the 2 cores can make a stack start take a minute.
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // One stack at a time: each fault test already runs six processes and a simulator on this 2-core machine.
    maxWorkers: 1,
    fileParallelism: false,
  },
});
