import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'],
    // Generous: an end-to-end stack takes 10 s to start here when idle and up to a minute when the machine is
    // shared with other suites (turbo runs every package's tests at once).
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Tests open real servers on port 0; two workers suit this 2-core machine.
    maxWorkers: 2,
  },
});
