import { defineConfig } from 'vitest/config';

// The fast tier: pure logic and the workflows with fake activities; the only service is a
// Temporal dev server the setup starts (npm run test:unit). `npm test` runs everything.
export default defineConfig({
  test: {
    globalSetup: ['./test/support/temporalSetup.ts'],
    include: ['test/unit/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
  },
});
