/**
 * Who may read and write which blob. A blob's name is its hash, and hashes travel (specs,
 * results, logs): knowing one must open nothing. So every blob route names its caller:
 *   - a requestor, by its API key (`Bearer gf_…`): it reads what it sent and what its jobs made,
 *     and its uploads count against its quota;
 *   - a provider running a subtask, by `Agreement <id> <signature>`: the agreement's id signed
 *     with the provider's key (core/identity.ts BlobAccess). While that agreement is open it
 *     reads that subtask's inputs and the job's image archive, and uploads outputs, which its
 *     job's owner may then read; the uploads count against the agreement's own bound.
 * A grant is made only for bytes actually sent and hashed, never for a hash that is merely named.
 */
import { and, eq, sql } from 'drizzle-orm';
import { FailureType, GolemflowError } from '../core/failures.js';
import { blobAccessMessage, sameAddress, signerOf } from '../core/identity.js';
import type { Db } from '../schema/db.js';
import { immutableFacts } from '../adapters/marketData.js';
import { agreements, blobGrants, jobs, providers, subtasks } from '../schema/tables.js';
import { identify } from './auth.js';

export type BlobCaller =
  | { kind: 'requestor'; requestorId: string }
  | { kind: 'agreement'; agreementId: string; jobId: string; subtaskIndex: number; ownerId: string };

/** A caller the blob routes turn away: `status` is 401 (who?) or 403 (not you). */
export class BlobAccessError extends GolemflowError {
  constructor(
    readonly status: 401 | 403,
    message: string,
  ) {
    super(status === 401 ? FailureType.Unauthenticated : FailureType.Forbidden, message);
  }
}

const holderOf = (c: BlobCaller) => (c.kind === 'requestor' ? `requestor:${c.requestorId}` : `agreement:${c.agreementId}`);

/** Recovered signers, so a run's many requests cost one signature recovery. */
const signers = new Map<string, string | null>();

/** Names the caller from its Authorization header, or refuses it. */
export async function blobCaller(db: Db, authorization: string | undefined): Promise<BlobCaller> {
  const agreement = /^Agreement\s+(\S{1,200})\s+(0x[0-9a-fA-F]{130})$/.exec(authorization?.trim() ?? '');
  if (agreement) {
    const [agreementId, signature] = [agreement[1], agreement[2]];
    const [row] = await db
      .select({ jobId: agreements.jobId, subtaskIndex: agreements.subtaskIndex, endedAt: agreements.endedAt, identity: providers.identity, ownerId: jobs.requestorId })
      .from(agreements)
      .innerJoin(providers, eq(providers.id, agreements.providerId))
      .innerJoin(jobs, eq(jobs.id, agreements.jobId))
      .where(eq(agreements.id, agreementId));
    const key = `${agreementId}|${signature}`;
    if (!signers.has(key)) {
      if (signers.size > 10_000) signers.clear();
      signers.set(key, await signerOf('BlobAccess', blobAccessMessage(agreementId), signature));
    }
    if (!row || !sameAddress(signers.get(key), row.identity)) throw new BlobAccessError(403, `agreement ${agreementId}: not signed by the key of the provider that holds it`);
    if (row.endedAt) throw new BlobAccessError(403, `agreement ${agreementId} has ended: its blobs are closed to it`);
    return { kind: 'agreement', agreementId, jobId: row.jobId, subtaskIndex: row.subtaskIndex, ownerId: row.ownerId };
  }
  let requestorId: string | null;
  try {
    requestorId = await identify(db, authorization);
  } catch (e) {
    throw new BlobAccessError(401, (e as Error).message);
  }
  if (!requestorId)
    throw new BlobAccessError(401, 'blobs need a caller: "Authorization: Bearer gf_<id>.<secret>" (a requestor\'s API key) or "Agreement <id> <signature>" (a provider under an agreement)');
  return { kind: 'requestor', requestorId };
}

/** Whether the caller may read a blob. */
export async function mayRead(db: Db, caller: BlobCaller, ref: string): Promise<boolean> {
  const [granted] = await db
    .select({ ref: blobGrants.ref })
    .from(blobGrants)
    .where(and(eq(blobGrants.ref, ref), eq(blobGrants.holder, holderOf(caller))));
  if (granted) return true;
  if (caller.kind === 'requestor') {
    // A job's merged result is made on this node: its owner reads it.
    const [job] = await db
      .select({ id: jobs.id })
      .from(jobs)
      .where(and(eq(jobs.requestorId, caller.requestorId), sql`(${jobs.resultRef} = ${ref} or ${jobs.resultOutputs} @> ${JSON.stringify([{ ref }])}::jsonb)`))
      .limit(1);
    return !!job;
  }
  // A provider reads its subtask's inputs and its job's image archive (the spec never changes:
  // read from the node's cache of it, not with every request).
  const job = await immutableFacts(db).job(caller.jobId);
  if (job?.spec.imageArchive?.ref === ref) return true;
  const [row] = await db
    .select({ inputs: subtasks.inputs })
    .from(subtasks)
    .where(and(eq(subtasks.jobId, caller.jobId), eq(subtasks.index, caller.subtaskIndex)));
  return !!row && row.inputs.some((i) => i.ref === ref);
}

/** Bytes the caller may still upload: its quota less what its uploads hold. */
export async function uploadRoom(db: Db, caller: BlobCaller, limits: { blobBytesPerRequestor: number; uploadBytesPerAgreement: number }): Promise<{ room: number; quota: number; setting: string }> {
  const [{ used }] = await db
    .select({ used: sql<number>`coalesce(sum(${blobGrants.size}), 0)::float8` })
    .from(blobGrants)
    .where(and(eq(blobGrants.holder, holderOf(caller)), eq(blobGrants.via, 'upload')));
  const [quota, setting] = caller.kind === 'requestor' ? [limits.blobBytesPerRequestor, 'MAX_REQUESTOR_BLOB_BYTES'] : [limits.uploadBytesPerAgreement, 'MAX_AGREEMENT_UPLOAD_BYTES'];
  return { room: Math.max(0, quota - used), quota, setting };
}

/** Records that the caller sent a blob's bytes: it may read them, and so may the owner of the job a provider made them for. */
export async function grantUpload(db: Db, caller: BlobCaller, info: { ref: string; size: number }): Promise<void> {
  // One statement for both grants: every provider upload makes two.
  await db
    .insert(blobGrants)
    .values([
      { ref: info.ref, holder: holderOf(caller), size: info.size, via: 'upload' as const },
      ...(caller.kind === 'agreement' ? [{ ref: info.ref, holder: `requestor:${caller.ownerId}`, size: info.size, via: 'output' as const }] : []),
    ])
    .onConflictDoNothing();
}

/** Whether a requestor sent (or was made) a blob: a spec may name only blobs its submitter holds. */
export function requestorHolds(db: Db, requestorId: string, ref: string): Promise<boolean> {
  return mayRead(db, { kind: 'requestor', requestorId }, ref);
}
