import { describe, expect, it } from 'vitest';
import { allocationIdOf, costWei, glmToWei, paymentIdOf, quoteWei, weiToGlm } from '../../core/payments.js';
import { validateOffer } from '../../core/offer.js';

describe('money', () => {
  it('prices a run to the wei: start + CPU-seconds × price + wall-seconds × price', () => {
    const p = { start: 0.01, cpuSecond: 0.001, envSecond: 0.0005 };
    expect(costWei(p, 2, 4)).toBe(glmToWei('0.01') + glmToWei('0.002') + glmToWei('0.002'));
    expect(costWei(p, 0.0000004, 0)).toBe(glmToWei('0.01')); // below a microsecond: nothing
    expect(weiToGlm(costWei(p, 1.5, 3))).toBe('0.013');
  });
  it('refuses amounts that are not GLM', () => {
    expect(() => glmToWei('1e3')).toThrow(/not an amount of GLM/);
    expect(() => glmToWei('0.1234567890123456789')).toThrow(/at most 18 places/);
  });
  it('gives one payment id per job, subtask and provider, and one allocation per job', () => {
    expect(paymentIdOf('j', 1, 'p')).toBe(paymentIdOf('j', 1, 'p'));
    expect(paymentIdOf('j', 1, 'p')).not.toBe(paymentIdOf('j', 1, 'q'));
    expect(paymentIdOf('j', 1, 'p')).not.toBe(paymentIdOf('j', 2, 'p'));
    expect(allocationIdOf('j')).toMatch(/^0x[0-9a-f]{64}$/);
  });
  it('quotes runs × the expected cost of one', () => {
    expect(quoteWei(10, 2, 0.05)).toBe(glmToWei('1'));
  });
  it('refuses a provider payment address that is not an address', () => {
    const offer = { name: 'p', cpus: 1, memory: '1g', pricing: { start: 0, cpuSecond: 0, envSecond: 0 } };
    expect(validateOffer({ ...offer, paymentAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' }).paymentAddress).toBe('0x70997970C51812dc3A010C7d01b50e0d17dc79C8');
    expect(() => validateOffer({ ...offer, paymentAddress: '0x1234' })).toThrow(/paymentAddress: "0x1234" is not an address/);
  });
});
