/**
 * The unit tier's Temporal: the SDK's own test environment (`TestWorkflowEnvironment.createLocal`
 * of @temporalio/testing), an in-memory dev server that lives and dies with this run, for the
 * workflow tests with fake activities. No PostgreSQL, Docker or chain: `npm run test:unit`.
 *
 * Why not the time-skipping environment: its server is a binary of the Java SDK that the SDK
 * downloads from temporal.download (or Maven), neither reachable here; Temporal's docs prefer
 * createLocal for general workflow tests anyway. The CLI it runs is the one the rest of the
 * project builds from the Go module proxy (infra/temporalServer.ts), cached after the first time.
 */
import type { TestProject } from 'vitest/node';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { ensureTemporalCli } from '../../infra/temporalServer.js';
import { ensureSearchAttributes } from '../../infra/searchAttributes.js';

/**
 * The unit tier's server suggests continue-as-new this early (events in a job's history), so the
 * test of the rollover needs few subtasks; integration keeps its own, later threshold.
 */
export const UNIT_HISTORY_SUGGEST_CONTINUE_AS_NEW = 60;

export default async function setup(project: TestProject) {
  const cli = await ensureTemporalCli((m) => console.log(`[setup] ${m}`));
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli },
      ip: '127.0.0.1',
      // A free port of its choosing, unless one is asked for.
      port: process.env.TEST_UNIT_TEMPORAL_PORT ? Number(process.env.TEST_UNIT_TEMPORAL_PORT) : undefined,
      extraArgs: ['--dynamic-config-value', `limit.historyCount.suggestContinueAsNew=${UNIT_HISTORY_SUGGEST_CONTINUE_AS_NEW}`],
    },
  });
  // The job workflow sets the job search attributes: the server must know them.
  await ensureSearchAttributes(env.connection, 'default');
  project.provide('temporalAddress', env.address);
  project.provide('historySuggestContinueAsNew', UNIT_HISTORY_SUGGEST_CONTINUE_AS_NEW);
  return async () => {
    await env.teardown();
  };
}
