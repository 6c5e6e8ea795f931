import { defineConfig } from 'vitest/config';

// The fast tier: pure logic and the workflows with fake activities; nothing to set up but
// Temporal's own test environment, which the setup starts and stops (test/support/temporalSetup.ts).
// `npm run test:unit`; `npm test` runs everything.
export default defineConfig({
  test: {
    globalSetup: ['./test/support/temporalSetup.ts'],
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // Pure files share a process and its loaded modules: most of their time was each file's own start.
    isolate: false,
    pool: 'forks',
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
  },
});
