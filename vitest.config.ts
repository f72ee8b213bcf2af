import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds the test-only addon (test/native-testing.ts) once per run.
    globalSetup: ['test/global-setup.ts'],
    // The addon owns threads and fds: each test file gets its own process.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 30_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
});
