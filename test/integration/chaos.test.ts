/**
 * The chaos soak, short: CHAOS_TRIALS seeded trials (1 by default: npm test must stay under 15
 * minutes on 2 cores) on one stack whose Temporal server, requestor node and providers are
 * SIGKILLed and restarted while six jobs from two requestors run. Every invariant must hold
 * (npm run trial:chaos runs many more).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { runChaosTrial, startChaosStack, type ChaosStack } from '../support/chaosTrial.js';

const TRIALS = Number(process.env.CHAOS_TRIALS ?? 1);

describe(`chaos soak (${TRIALS} trial${TRIALS === 1 ? '' : 's'})`, () => {
  let stack: ChaosStack;
  beforeAll(async () => {
    stack = await startChaosStack({
      adminDatabaseUrl: inject('adminDatabaseUrl'),
      chainRpcUrl: inject('chainRpcUrl'),
      accountIndex: 19,
      temporalPort: Number(process.env.TEST_CHAOS_TEMPORAL_PORT ?? 17433),
      log: (m) => console.log(`[chaos] ${m}`),
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  for (let seed = 1; seed <= TRIALS; seed++) {
    it(`trial ${seed}: every job ends, no agreement leaks, every slot is free, nothing is accepted or paid twice, the answers are right`, async () => {
      const r = await runChaosTrial(stack, seed);
      console.log(`[chaos] trial ${seed}: ${r.jobs.map((j) => `${j.kind} ${j.status} in ${j.seconds.toFixed(1)} s`).join('; ')}; recovered in ${r.recoverSeconds.toFixed(1)} s${r.selfExits.length ? `; self-exits: ${r.selfExits.join(', ')}` : ''}`);
      expect(r.faults.length).toBeGreaterThanOrEqual(3);
      expect(r.problems).toEqual([]);
      expect(Object.values(r.held).every(Boolean)).toBe(true);
    }, 420_000);
  }
});
