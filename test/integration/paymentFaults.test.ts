/**
 * The requestor node killed during settlement and restarted: no payment made twice, none
 * missed, the ledger equal to the chain. Seeded trials here (PAYMENT_TRIALS, default 1);
 * `npm run trial:payments` runs 20 and prints the figures.
 */
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { CapacitySignal } from '../../adapters/capacity.js';
import { eventWriter } from '../../adapters/events.js';
import { createMarketActivities } from '../../activities/market.js';
import { agreements, attempts } from '../../schema/tables.js';
import { startMarket, submit, waitForJob, type TestMarket } from '../support/harness.js';
import { runPaymentTrial } from '../support/paymentTrial.js';

// One here keeps npm test within its time; npm run trial:payments runs 20.
const trials = Number(process.env.PAYMENT_TRIALS ?? 1);

describe('settlement survives a crashing requestor node', () => {
  for (let t = 0; t < trials; t++) {
    it(`trial ${t + 1}: every accepted result paid exactly once after SIGKILLs`, async () => {
      const r = await runPaymentTrial(1000 + t, {
        temporalAddress: inject('temporalAddress'),
        adminDatabaseUrl: inject('adminDatabaseUrl'),
        chainRpcUrl: inject('chainRpcUrl'),
        accountIndex: 10 + t,
        log: (m) => console.log(m),
      });
      expect(r.problems).toEqual([]);
      expect(r.kills).toBeGreaterThanOrEqual(1);
      // 12 subtasks × 2 agreeing copies, each paid exactly once.
      expect(r.shortSubtasks).toEqual([]);
      expect(r.acceptedResults).toBe(24);
      expect(r.paidInvoices).toBe(24);
      expect(r.paidTwice).toBe(0);
      expect(r.missed).toBe(0);
      expect(r.ledgerMismatchWei).toBe(0n);
    }, 400_000);
  }
});

describe('an approval whose try died before it recorded the attempt', () => {
  let market: TestMarket;
  beforeAll(async () => {
    market = await startMarket(['d1']);
  });
  afterAll(async () => {
    await market?.close();
  });

  it('records the attempt when the decision is retried, so its result is judged and paid', async () => {
    const id = await submit(market, { image: 'golemflow/compute:1', command: ['echo', '{start}'], split: { kind: 'range', start: 0, end: 1, step: 1 }, redundancy: 1 });
    expect((await waitForJob(market, id)).status).toBe('SUCCEEDED');
    const db = market.node.database.db;
    const [agreement] = await db.select().from(agreements).where(eq(agreements.jobId, id));
    // As if the approving try had died between the decision and the attempt row.
    await db.delete(attempts).where(and(eq(attempts.jobId, id), eq(attempts.number, agreement.attempt)));
    const activities = createMarketActivities({ db, capacity: new CapacitySignal(), providerLivenessMs: 15_000, addEvent: eventWriter(db) });
    const again = await activities.decideAgreement({ agreementId: agreement.id, decision: { decision: 'accept' } as never });
    expect(again.approved).toBe(true);
    const rows = await db.select().from(attempts).where(and(eq(attempts.jobId, id), eq(attempts.number, agreement.attempt)));
    expect(rows).toHaveLength(1);
    expect(rows[0].providerId).toBe(agreement.providerId);
  });
});
