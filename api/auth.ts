/**
 * Who is asking: a requestor's API key (`Authorization: Bearer gf_<id>.<secret>`) names the
 * requestor whose jobs a call submits. Keys are random, and only the secret's sha256 is stored,
 * so a copy of the database gives no one a working key. A call without a key acts as the node's
 * own requestor (GOLEMFLOW_REQUESTOR_ID).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from '../schema/db.js';
import { apiKeys } from '../schema/tables.js';
import { ErrorCode, userError } from './errors.js';

const TOKEN = /^gf_([0-9a-f]{16})\.([0-9a-f]{64})$/;

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** Makes a key for a requestor and returns it whole: the only time the secret is seen. */
export async function issueApiKey(db: Db, requestorId: string, label?: string): Promise<string> {
  if (!/^[a-zA-Z0-9_.@-]{1,64}$/.test(requestorId)) throw new Error(`requestor id ${JSON.stringify(requestorId)}: use 1 to 64 letters, digits, _ . @ -`);
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('hex');
  await db.insert(apiKeys).values({ id, requestorId, secretHash: sha256(secret).toString('hex'), label: label ?? null });
  return `gf_${id}.${secret}`;
}

/** The requestor an Authorization header names; without one, `fallback`. A bad key is refused, never ignored. */
export async function identify(db: Db, authorization: string | null, fallback: string): Promise<string> {
  if (!authorization) return fallback;
  const token = /^Bearer\s+(\S+)$/i.exec(authorization.trim())?.[1];
  const m = token ? TOKEN.exec(token) : null;
  if (!m) throw userError(ErrorCode.Unauthenticated, 'Authorization: expected "Bearer gf_<id>.<secret>" (a Golemflow API key)');
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, m[1]));
  const ok = row && !row.revokedAt && timingSafeEqual(sha256(m[2]), Buffer.from(row.secretHash, 'hex'));
  if (!ok) throw userError(ErrorCode.Unauthenticated, `API key gf_${m[1]} is not valid (unknown, revoked, or a wrong secret)`);
  return row.requestorId;
}
