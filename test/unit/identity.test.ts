/**
 * Who signed a provider's message (core/identity.ts signerOf): only the key's holder passes for
 * it, whatever message, decision or kind the signature is replayed on.
 */
import { describe, expect, it } from 'vitest';
import { recoverTypedDataAddress, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { answerMessage, blobAccessMessage, identityAccount, IDENTITY_DOMAIN, IDENTITY_TYPES, offerMessage, resultMessage, signIdentity, signerOf } from '../../core/identity.js';

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

  it('identityAccount signs exactly as viem does, for any key, kind and message', async () => {
    const messages: Array<[keyof typeof IDENTITY_TYPES, Record<string, unknown>]> = [
      ['Answer', answerMessage('e-1', 'accept', null)],
      ['Answer', answerMessage('e-2', 'counter', { pricePerCpuSecond: '7' })],
      ['Result', resultMessage('e-3', result)],
      ['BlobAccess', blobAccessMessage('e-4')],
      ['Offer', offerMessage('p-2', { cpus: 4, images: ['golemflow/*'] }, 1_700_000_000_123)],
    ];
    for (let i = 0; i < 16; i++) {
      const privateKey = generatePrivateKey();
      const fast = identityAccount(privateKey);
      const slow = privateKeyToAccount(privateKey);
      expect(fast.address).toBe(slow.address);
      for (const [kind, message] of messages) {
        const signature = await signIdentity(fast, kind, message);
        expect(signature).toBe(await signIdentity(slow, kind, message));
        expect(await signerOf(kind, message, signature)).toBe(slow.address);
      }
    }
  });

  it('names the same signer as viem, for any key, kind and message, and for signatures bent out of shape', async () => {
    /** viem's answer, null where it refuses the signature. */
    const viem = (kind: keyof typeof IDENTITY_TYPES, message: Record<string, unknown>, signature: string) =>
      recoverTypedDataAddress({ domain: IDENTITY_DOMAIN, types: IDENTITY_TYPES, primaryType: kind, message, signature: signature as Hex } as never).catch(() => null);
    const cases: Array<[keyof typeof IDENTITY_TYPES, Record<string, unknown>]> = [
      ['Answer', answerMessage('d-1', 'counter', { pricePerCpuSecond: '7' })],
      ['Result', resultMessage('d-2', { ...result, outputs: [{ path: 'x.png', ref: `sha256:${'ab'.repeat(32)}`, size: 3 }] })],
      ['BlobAccess', blobAccessMessage('d-3')],
      ['Offer', offerMessage('p-1', { cpus: 2 }, 1_700_000_000_000)],
    ];
    for (let i = 0; i < 8; i++) {
      const key = privateKeyToAccount(generatePrivateKey());
      for (const [kind, message] of cases) {
        const signature = await signIdentity(key, kind, message);
        expect(await signerOf(kind, message, signature)).toBe(key.address);
        // Recovery bit as 0/1 instead of 27/28; an impossible recovery byte; r and s flipped bits.
        const v = parseInt(signature.slice(130), 16);
        const bent = [
          `${signature.slice(0, 130)}${(v - 27).toString(16).padStart(2, '0')}`,
          `${signature.slice(0, 130)}1d`,
          `${signature.slice(0, 10)}${(parseInt(signature[10], 16) ^ 1).toString(16)}${signature.slice(11)}`,
          `${signature.slice(0, 70)}${(parseInt(signature[70], 16) ^ 8).toString(16)}${signature.slice(71)}`,
          `0x${'ff'.repeat(64)}1b`,
        ];
        for (const s of bent) expect(await signerOf(kind, message, s)).toBe(await viem(kind, message, s));
      }
    }
  });
});
