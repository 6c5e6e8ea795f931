/**
 * Providers are keys. A provider node signs what it tells the market (EIP-712 typed data, with
 * its secp256k1 wallet key): its offer, a withdrawal, each answer to a proposal and each result.
 * The requestor binds a provider id to the address that first signed for it and counts nothing
 * from that id unless that address signed it. A queue name proves nothing: anyone who can poll
 * `provider.<id>` can answer, but only the key's holder can sign.
 *
 * Pure: typed data and verification, no I/O (viem's signing is plain computation).
 */
import canonicalize from 'canonicalize';
import { recover, signRecoverable } from 'tiny-secp256k1';
import { bytesToHex, getAddress, hashTypedData, hexToBytes, keccak256, serializeSignature, toBytes, type Hex, type LocalAccount } from 'viem';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';

export const IDENTITY_DOMAIN = { name: 'Golemflow', version: '1' } as const;

export const IDENTITY_TYPES = {
  Offer: [
    { name: 'providerId', type: 'string' },
    { name: 'offerHash', type: 'bytes32' },
    { name: 'signedAt', type: 'uint64' },
  ],
  Withdrawal: [
    { name: 'providerId', type: 'string' },
    { name: 'signedAt', type: 'uint64' },
  ],
  Answer: [
    { name: 'agreementId', type: 'string' },
    { name: 'decision', type: 'string' },
    { name: 'termsHash', type: 'bytes32' },
  ],
  Result: [
    { name: 'agreementId', type: 'string' },
    { name: 'status', type: 'string' },
    { name: 'resultHash', type: 'bytes32' },
  ],
  /** A run that ended without a result (the provider's own error): blamed on it only when it signed so. */
  Failure: [
    { name: 'agreementId', type: 'string' },
    { name: 'failureType', type: 'string' },
    { name: 'messageHash', type: 'bytes32' },
  ],
  /** The provider's key to the inputs of one agreement's subtask and to uploading its outputs. */
  BlobAccess: [{ name: 'agreementId', type: 'string' }],
} as const;

/** How far a signed offer's or withdrawal's time may be from the requestor's clock. */
export const SIGNED_AT_SKEW_MS = 5 * 60_000;

/** The keccak256 of a value's canonical JSON (RFC 8785): the same bytes on both sides, whatever the key order. */
export function hashOf(value: unknown): Hex {
  return keccak256(toBytes(canonicalize(value) ?? 'null'));
}

/** What a provider signs of a result: everything the requestor records and pays for. */
export function resultDigest(r: {
  status: string;
  exitCode: number | null;
  stdoutRef: string | null;
  outputs: unknown;
  cpuSeconds: number;
  wallSeconds: number;
  failureType?: string | null;
}): Hex {
  return hashOf({ status: r.status, exitCode: r.exitCode, stdoutRef: r.stdoutRef, outputs: r.outputs, cpuSeconds: r.cpuSeconds, wallSeconds: r.wallSeconds, failureType: r.failureType ?? null });
}

export type Signed<K extends keyof typeof IDENTITY_TYPES> = { kind: K; message: Record<string, unknown> };

export const offerMessage = (providerId: string, offer: unknown, signedAt: number) => ({ providerId, offerHash: hashOf(offer), signedAt: BigInt(signedAt) });
export const withdrawalMessage = (providerId: string, signedAt: number) => ({ providerId, signedAt: BigInt(signedAt) });
export const answerMessage = (agreementId: string, decision: string, terms: unknown) => ({ agreementId, decision, termsHash: hashOf(terms ?? null) });
export const failureMessage = (agreementId: string, failureType: string, message: string) => ({ agreementId, failureType, messageHash: hashOf(message) });
export const blobAccessMessage = (agreementId: string) => ({ agreementId });
export const resultMessage = (agreementId: string, result: Parameters<typeof resultDigest>[0]) => ({ agreementId, status: result.status, resultHash: resultDigest(result) });

/** Signs one of the identity messages with a provider's key. */
export function signIdentity<K extends keyof typeof IDENTITY_TYPES>(account: LocalAccount, kind: K, message: Record<string, unknown>): Promise<Hex> {
  return account.signTypedData({ domain: IDENTITY_DOMAIN, types: IDENTITY_TYPES, primaryType: kind, message } as never);
}

/**
 * A key's account whose typed-data signatures (offers, answers, results, blob access: a provider
 * signs three or four for every subtask it runs) are made by libsecp256k1 (tiny-secp256k1,
 * WebAssembly) instead of viem's JavaScript: byte for byte the same signatures (both take the
 * nonce from RFC 6979, both low-s; the unit tests compare them), at a fraction of the CPU. A
 * profile of 20 providers running 200 subtasks had about 4 of their 20 CPU-seconds in noble's
 * field arithmetic. Everything else is viem's account.
 */
export function identityAccount(privateKey: Hex): PrivateKeyAccount {
  const account = privateKeyToAccount(privateKey);
  const key = hexToBytes(privateKey);
  const signTypedData = async (typedData: Parameters<PrivateKeyAccount['signTypedData']>[0]): Promise<Hex> => {
    const { signature, recoveryId } = signRecoverable(hexToBytes(hashTypedData(typedData as never)), key);
    return serializeSignature({ r: bytesToHex(signature.subarray(0, 32)), s: bytesToHex(signature.subarray(32, 64)), yParity: recoveryId });
  };
  return { ...account, signTypedData: signTypedData as PrivateKeyAccount['signTypedData'] };
}

/**
 * The address that signed a message, or null when the signature is malformed. The same answer
 * as viem's recoverTypedDataAddress (the unit tests compare them), with the key recovered by
 * libsecp256k1 (tiny-secp256k1, WebAssembly): 0.3 ms a signature here against viem's 1.5 ms in
 * JavaScript, and the requestor node checks four or five for every subtask it runs.
 */
export async function signerOf<K extends keyof typeof IDENTITY_TYPES>(kind: K, message: Record<string, unknown>, signature: string | null | undefined): Promise<string | null> {
  if (typeof signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(signature)) return null;
  try {
    const digest = hexToBytes(hashTypedData({ domain: IDENTITY_DOMAIN, types: IDENTITY_TYPES, primaryType: kind, message } as never));
    const bytes = hexToBytes(signature as Hex);
    // The last byte is the recovery bit, as 0/1 or as Ethereum's 27/28 (viem's toRecoveryBit).
    const v = bytes[64];
    const recoveryId = v === 27 || v === 28 ? v - 27 : v;
    if (recoveryId !== 0 && recoveryId !== 1) return null;
    const publicKey = recover(digest, bytes.subarray(0, 64), recoveryId, false);
    // An address is the last 20 bytes of the keccak of the uncompressed key without its 0x04 prefix.
    return publicKey ? getAddress(`0x${keccak256(publicKey.subarray(1)).slice(-40)}`) : null;
  } catch {
    // r or s out of range, no point for r: not a signature.
    return null;
  }
}

/** Same address, whatever the letter case. */
export function sameAddress(a: string | null | undefined, b: string | null | undefined): boolean {
  return !!a && !!b && a.toLowerCase() === b.toLowerCase();
}
