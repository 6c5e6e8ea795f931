/**
 * The requestor node killed during settlement and restarted: no payment made twice, none
 * missed, the ledger equal to the chain. A few seeded trials here (PAYMENT_TRIALS, default 2);
 * `npm run trial:payments` runs 20 and prints the figures.
 */
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { runPaymentTrial } from '../support/paymentTrial.js';

const trials = Number(process.env.PAYMENT_TRIALS ?? 2);

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
      // 12 subtasks × 2 copies; whatever was accepted is paid, exactly once.
      if (r.shortSubtasks.length) console.warn(`trial ${t + 1}: subtasks accepted on fewer than 2 copies: ${r.shortSubtasks.join(', ')}`);
      expect(r.acceptedResults).toBeGreaterThanOrEqual(12);
      expect(r.paidInvoices).toBe(r.acceptedResults);
      expect(r.paidTwice).toBe(0);
      expect(r.missed).toBe(0);
      expect(r.ledgerMismatchWei).toBe(0n);
    }, 400_000);
  }
});
