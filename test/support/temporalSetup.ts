/**
 * The unit tier's only service: a Temporal dev server (in memory, its own port) for the
 * workflow tests with fake activities. No PostgreSQL, Docker or chain: `npm run test:unit`.
 */
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureTemporalServer } from '../../infra/temporalServer.js';
import { HISTORY_SUGGEST_CONTINUE_AS_NEW } from './globalSetup.js';

export default async function setup(project: TestProject) {
  const temporal = await ensureTemporalServer({
    port: Number(process.env.TEST_UNIT_TEMPORAL_PORT ?? 17333),
    logFile: path.resolve('.data/test-unit/temporal.log'),
    log: (m) => console.log(`[setup] ${m}`),
    dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': HISTORY_SUGGEST_CONTINUE_AS_NEW },
  });
  project.provide('temporalAddress', temporal.address);
  return async () => {
    if (temporal.pid) process.kill(temporal.pid, 'SIGTERM');
  };
}
