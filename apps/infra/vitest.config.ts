import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // terraform init/validate/plan take seconds each on a busy 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
