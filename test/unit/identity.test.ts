/**
 * Who signed a provider's message (core/identity.ts signerOf): only the key's holder passes for
 * it, whatever message, decision or kind the signature is replayed on.
 */
import { describe, expect, it } from 'vitest';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { answerMessage, resultMessage, signIdentity, signerOf } from '../../core/identity.js';

const result = { status: 'succeeded', exitCode: 0, stdoutRef: null, outputs: [], cpuSeconds: 1, wallSeconds: 1 };

describe('signerOf', () => {
  const provider = privateKeyToAccount(generatePrivateKey());
  const stranger = privateKeyToAccount(generatePrivateKey());

  it('names the signer of an answer and of a result', async () => {
    const answer = await signIdentity(provider, 'Answer', answerMessage('a-1', 'accept', null));
    expect(await signerOf('Answer', answerMessage('a-1', 'accept', null), answer)).toBe(provider.address);
    const report = await signIdentity(provider, 'Result', resultMessage('a-1', result));
    expect(await signerOf('Result', resultMessage('a-1', result), report)).toBe(provider.address);
  });

  it('never names the provider for another key’s signature, or for its own signature on a changed message or another kind', async () => {
    const forged = await signIdentity(stranger, 'Answer', answerMessage('b-1', 'accept', null));
    expect(await signerOf('Answer', answerMessage('b-1', 'accept', null), forged)).toBe(stranger.address);
    const genuine = await signIdentity(provider, 'Answer', answerMessage('b-2', 'accept', null));
    // The same signature over another agreement, another decision, or read as a result.
    expect(await signerOf('Answer', answerMessage('b-3', 'accept', null), genuine)).not.toBe(provider.address);
    expect(await signerOf('Answer', answerMessage('b-2', 'reject', null), genuine)).not.toBe(provider.address);
    expect(await signerOf('Result', resultMessage('b-2', result), genuine)).not.toBe(provider.address);
  });

  it('answers null for a signature that is not one', async () => {
    const message = answerMessage('c-1', 'accept', null);
    expect(await signerOf('Answer', message, undefined)).toBeNull();
    expect(await signerOf('Answer', message, '0x1234')).toBeNull();
    expect(await signerOf('Answer', message, `0x${'00'.repeat(65)}`)).toBeNull();
  });
});
