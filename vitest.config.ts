import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['./test/support/globalSetup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // Integration suites share one Temporal server, one Docker engine and 2 cores: run files one
    // or two at a time so timing-sensitive checks (heartbeats) are not starved.
    fileParallelism: false,
    pool: 'forks',
    // The nodes' info lines (every proposal and run) would bury the test output: warnings and up.
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
  },
});
