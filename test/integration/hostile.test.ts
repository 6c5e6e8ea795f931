/**
 * A market among strangers, tried as a hostile participant would, on loopback: an offer
 * overwrite and a payment redirect, a rogue worker on another provider's queue, inflated usage.
 * Each must fail safely: refused with a clear error or recorded as an intrusion, nothing paid
 * for it, no honest provider blamed, the job's answer still right.
 */
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { LocalAccount } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerMessage, offerMessage, resultMessage, signIdentity, withdrawalMessage } from '../../core/identity.js';
import { FailureType } from '../../core/failures.js';
import type { Proposal } from '../../core/policy.js';
import type { RunRequest, RunResult } from '../../activities/types.js';
import { providerTaskQueue } from '../../infra/config.js';
import { gql } from '../../infra/graphqlClient.js';
import { countPrimesBelow } from '../support/primes.js';
import { startMarket, submit, suffix, waitForJob, type TestMarket } from '../support/harness.js';

const PUBLISH = 'mutation($input: OfferInput!, $proof: SignatureInput!) { publishOffer(input: $input, proof: $proof) { id identity offer { paymentAddress benchmark { score } } } }';
const WITHDRAW = 'mutation($id: ID!, $proof: SignatureInput!) { withdrawOffer(providerId: $id, proof: $proof) { id } }';
const PROVIDER = 'query($id: ID!) { provider(id: $id) { id online identity reputation history { failures timeouts wrong } offer { paymentAddress benchmark { score } } } }';

function offerOf(name: string, o: Record<string, unknown> = {}) {
  return { name, cpus: 1, memory: '1g', runtimes: ['docker'], images: ['*'], pricing: { start: 0.001, cpuSecond: 0.0001, envSecond: 0.0001 }, limits: { maxConcurrentAgreements: 1 }, ...o };
}

async function publishAs(market: TestMarket, account: LocalAccount, offer: ReturnType<typeof offerOf>, signedAt = Date.now()) {
  const signature = await signIdentity(account, 'Offer', offerMessage(offer.name, offer, signedAt));
  return market.gql<any>(PUBLISH, { input: offer, proof: { signedAt, signature } });
}

const errorOf = (p: Promise<unknown>) => p.then(() => ({ message: 'no error', extensions: {} }), (e) => e.errors?.[0] ?? { message: e.message, extensions: {} });

describe('a market among strangers', () => {
  let market: TestMarket;
  beforeAll(async () => {
    market = await startMarket(['honest']);
  });
  afterAll(async () => {
    await market?.close();
  });

  it('an offer for an existing provider, unsigned or signed by another key, cannot replace it, redirect its payments or withdraw it', async () => {
    const honest = market.providers[0];
    const before = (await market.gql(PROVIDER, { id: honest.id })).provider;
    expect(before.identity).toMatch(/^0x[0-9a-fA-F]{40}$/);
    const attacker = privateKeyToAccount(generatePrivateKey());
    const forged = offerOf(honest.id, { paymentAddress: attacker.address, benchmark: { score: 1e12, seconds: 1 } });

    const unsigned = await errorOf(market.gql('mutation($input: OfferInput!) { publishOffer(input: $input) { id } }', { input: forged }));
    expect(unsigned.message).toContain('argument "proof" of type "SignatureInput!" is required');
    const foreign = await errorOf(publishAs(market, attacker, forged));
    expect(foreign).toMatchObject({ message: `provider ${honest.id} is bound to the key of ${before.identity}; this offer is signed by ${attacker.address}`, extensions: { code: 'FORBIDDEN' } });
    const garbage = await errorOf(market.gql(PUBLISH, { input: forged, proof: { signedAt: Date.now(), signature: '0x1234' } }));
    expect(garbage).toMatchObject({ message: 'proof.signature: not a valid signature of this offer (EIP-712, domain Golemflow v1)', extensions: { code: 'UNAUTHENTICATED' } });
    const stale = await errorOf(publishAs(market, attacker, forged, Date.now() - 3_600_000));
    expect(stale.extensions.code).toBe('BAD_USER_INPUT');
    const signedAt = Date.now();
    const withdraw = await errorOf(market.gql(WITHDRAW, { id: honest.id, proof: { signedAt, signature: await signIdentity(attacker, 'Withdrawal', withdrawalMessage(honest.id, signedAt)) } }));
    expect(withdraw.extensions.code).toBe('FORBIDDEN');

    const after = (await market.gql(PROVIDER, { id: honest.id })).provider;
    expect(after).toMatchObject({ online: true, identity: before.identity, offer: before.offer });
    expect(after.offer.paymentAddress).toBe(honest.offer.paymentAddress);
  });

  it('a rogue worker on a provider’s queue: its answers and results are refused as intrusions, paid nothing, blamed on no one, and the job still gets the right answer', async () => {
    // The victim is a provider whose key the test holds (its offer is published, signed, every
    // second); the rogue polls the victim's queue with a key of its own.
    const victimKey = privateKeyToAccount(generatePrivateKey());
    const rogueKey = privateKeyToAccount(generatePrivateKey());
    const victim = `victim-${suffix()}`;
    const publishVictim = () => publishAs(market, victimKey, offerOf(victim, { paymentAddress: victimKey.address, pricing: { start: 0, cpuSecond: 0.00001, envSecond: 0.00001 } }));
    await publishVictim();
    const checkIn = setInterval(() => void publishVictim().catch(() => undefined), 1000);
    // How the rogue answers: first it signs answers with its own key (all refused); then the
    // victim's own answers go through (signed by the victim) and the rogue forges the result.
    let answerWith: LocalAccount = rogueKey;
    let runWith: 'forge' | 'throw' = 'forge';
    const forged: RunResult = { status: 'succeeded', exitCode: 0, stdoutTail: '1337', stderrTail: '', stdoutRef: `sha256:${'7'.repeat(64)}`, outputs: [], cpuSeconds: 900, wallSeconds: 900 };
    const connection = await NativeConnection.connect({ address: market.temporalAddress });
    const worker = await Worker.create({
      connection,
      taskQueue: providerTaskQueue(victim),
      activities: {
        reviewProposal: async (p: Proposal) => ({ decision: 'accept', signature: await signIdentity(answerWith, 'Answer', answerMessage(p.agreementId, 'accept', null)) }),
        runSubtask: async (r: RunRequest) => {
          // The run carries its proposal (the provider reviews it as the run arrives): the rogue answers that too.
          const answer = r.proposal ? { decision: 'accept' as const, signature: await signIdentity(answerWith, 'Answer', answerMessage(r.agreementId, 'accept', null)) } : undefined;
          // Or it fails the work in the victim's name, unsigned, hoping the victim is blamed.
          if (runWith === 'throw') throw ApplicationFailure.create({ message: 'the disk is on fire', type: FailureType.ProviderError, nonRetryable: true, details: [{ answer }] });
          return { ...forged, signature: await signIdentity(rogueKey, 'Result', resultMessage(r.agreementId, forged)), answer };
        },
      },
    });
    const running = worker.run();
    try {
      const spec = {
        image: 'golemflow/compute:1',
        command: ['primes', '{start}', '{end}'],
        split: { kind: 'range', start: 0, end: 20_000, step: 20_000 },
        merge: { kind: 'sum' },
        redundancy: 1,
        budget: { amount: '1' },
        // The victim is the cheapest: it is asked first.
        demand: { allowedProviders: [victim, market.providers[0].id], preference: 'cheapest', estimateSeconds: 1 },
      };
      const answers = await waitForJob(market, await submit(market, spec), 120_000);
      expect(answers.status).toBe('SUCCEEDED');
      expect(answers.result.value).toBe(String(countPrimesBelow(20_000)));
      const refusedAnswers = answers.subtasks[0].agreements.filter((a: any) => a.providerId === victim);
      expect(refusedAnswers.length).toBeGreaterThan(0);
      for (const a of refusedAnswers) {
        expect(a.state).toBe('REJECTED');
        expect(a.decisionReason).toBe(`intrusion: it is signed by ${rogueKey.address}, not by ${victim}'s key ${victimKey.address}`);
      }
      // Through the API (answerProposal), only the victim's key is heard: the rogue's answer is
      // refused and changes nothing, and the victim's own answer cannot undo a decision.
      const ANSWER = 'mutation($id: ID!, $answer: AnswerInput!) { answerProposal(agreementId: $id, answer: $answer) { approved reason } }';
      const answerOf = async (key: LocalAccount, id: string) => ({ decision: 'accept', signature: await signIdentity(key, 'Answer', answerMessage(id, 'accept', null)) });
      const target = refusedAnswers[0].id;
      const forgedAnswer = await errorOf(market.gql(ANSWER, { id: target, answer: await answerOf(rogueKey, target) }));
      expect(forgedAnswer.extensions.code).toBe('FORBIDDEN');
      expect(forgedAnswer.message).toContain(`signed by ${rogueKey.address}, not by ${victim}'s key`);
      expect((await market.gql(ANSWER, { id: target, answer: await answerOf(victimKey, target) })).answerProposal).toEqual({ approved: false, reason: refusedAnswers[0].decisionReason });
      expect((await errorOf(market.gql(ANSWER, { id: 'no-such-agreement', answer: await answerOf(victimKey, 'no-such-agreement') }))).extensions.code).toBe('NOT_FOUND');

      answerWith = victimKey;
      const results = await waitForJob(market, await submit(market, spec), 120_000);
      expect(results.status).toBe('SUCCEEDED');
      expect(results.result.value).toBe(String(countPrimesBelow(20_000)));
      const [forgedAttempt, honestAttempt] = results.subtasks[0].attempts;
      expect(forgedAttempt).toMatchObject({ providerId: victim, status: 'FAILED', failureType: 'INTRUSION', verdict: null });
      expect(forgedAttempt.reason).toContain(`is not signed by provider ${victim}'s key (signed by ${rogueKey.address}); it was refused`);
      expect(honestAttempt).toMatchObject({ providerId: market.providers[0].id, status: 'SUCCEEDED', verdict: 'ACCEPTED' });
      const invoices = (await market.gql('query($job: ID!) { invoices(filter: { jobId: $job }) { nodes { providerId status } } }', { job: results.id })).invoices.nodes;
      expect(invoices).toEqual([{ providerId: market.providers[0].id, status: expect.stringMatching(/ACCEPTED|PAID/) }]);
      const { job } = await market.gql('query($id: ID!) { job(id: $id) { events { nodes { type providerId message } } } }', { id: results.id });
      expect(job.events.nodes.filter((e: any) => e.type === 'INTRUSION')).toHaveLength(1);

      runWith = 'throw';
      const thrown = await waitForJob(market, await submit(market, spec), 120_000);
      expect(thrown.status).toBe('SUCCEEDED');
      const [failedInItsName] = thrown.subtasks[0].attempts;
      expect(failedInItsName).toMatchObject({ providerId: victim, status: 'FAILED', failureType: 'INTRUSION' });
      expect(failedInItsName.reason).toContain(`the failure report (ProviderError) of attempt 1 is not signed by provider ${victim}'s key; it was refused and not counted against the provider`);

      // No one is blamed: the victim's record holds no failure.
      const v = (await market.gql(PROVIDER, { id: victim })).provider;
      expect(v.history).toEqual({ failures: 0, timeouts: 0, wrong: 0 });
      expect(v.reputation).toBe(0.5);
    } finally {
      clearInterval(checkIn);
      worker.shutdown();
      await running;
      await connection.close();
    }
  });

  it('a provider that claims more CPU and wall time than its run took is paid for what the requestor saw', async () => {
    const greedy = await market.addProvider('greedy', { misbehaviour: { mode: 'inflated-usage', probability: 1, seed: 1 }, pricing: { start: 0, cpuSecond: 0.001, envSecond: 0.001 } });
    const id = await submit(market, {
      image: 'golemflow/compute:1',
      command: ['primes', '0', '20000'],
      split: { kind: 'range', start: 0, end: 1, step: 1 },
      redundancy: 1,
      budget: { amount: '2' },
      demand: { allowedProviders: [greedy.id], estimateSeconds: 1 },
    });
    const job = await waitForJob(market, id, 120_000);
    expect(job.status).toBe('SUCCEEDED');
    const invoices = (await market.gql('query($job: ID!) { invoices(filter: { jobId: $job }) { nodes { providerId cpuSeconds wallSeconds amount } } }', { job: id })).invoices.nodes;
    expect(invoices).toHaveLength(1);
    const [inv] = invoices;
    // The run took a few seconds at most, on 1 cpu; 900 s were claimed.
    expect(inv.wallSeconds).toBeLessThan(30);
    expect(inv.cpuSeconds).toBeLessThanOrEqual(inv.wallSeconds);
    expect(Number(inv.amount)).toBeLessThan(0.06);
    const { job: withEvents } = await market.gql('query($id: ID!) { job(id: $id) { events { nodes { type message } } } }', { id });
    expect(withEvents.events.nodes.find((e: any) => e.type === 'USAGE_BOUNDED').message).toMatch(/usage claimed 900 cpu s and 900 wall s, bounded to/);
  });
});
