import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Tests start servers and many sockets; on 2 cores, files in parallel only fight for CPU.
    fileParallelism: false,
  },
});
