/**
 * Who is asking: a requestor's API key (`Authorization: Bearer gf_<id>.<secret>`) names the
 * requestor whose jobs a call submits and reads. Keys are random, and only the secret's sha256
 * is stored, so a copy of the database gives no one a working key. A call without a key is
 * anonymous: it may read the market (offers, providers, health) and publish a signed offer,
 * nothing that belongs to a requestor.
 *
 * The node writes a key for its own requestor (GOLEMFLOW_REQUESTOR_ID) to
 * `<data>/requestor.key` (mode 0600) when it starts, so the demo and the CLI on the same
 * machine need no set-up; anyone else gets a key from the operator (`npm run keys`).
 */
import { FailureType } from '../core/failures.js';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import type { Db } from '../schema/db.js';
import { apiKeys } from '../schema/tables.js';
import type { RequestContext } from './deps.js';
import { userError } from './errors.js';
import { nodeKeyFile, readNodeKey } from '../sdk/nodeKey.js';

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

/** The requestor a key names, or null when the key is unknown, revoked or its secret wrong. */
async function requestorOfKey(db: Db, key: string): Promise<string | null> {
  const m = TOKEN.exec(key);
  if (!m) return null;
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, m[1]));
  return row && !row.revokedAt && timingSafeEqual(sha256(m[2]), Buffer.from(row.secretHash, 'hex')) ? row.requestorId : null;
}

/** The requestor an Authorization header names; null without one (anonymous). A bad key is refused, never ignored. */
export async function identify(db: Db, authorization: string | null | undefined): Promise<string | null> {
  if (!authorization) return null;
  const token = /^Bearer\s+(\S+)$/i.exec(authorization.trim())?.[1];
  const m = token ? TOKEN.exec(token) : null;
  if (!m) throw userError(FailureType.Unauthenticated, 'Authorization: expected "Bearer gf_<id>.<secret>" (a Golemflow API key)');
  const requestorId = await requestorOfKey(db, token!);
  if (!requestorId) throw userError(FailureType.Unauthenticated, `API key gf_${m[1]} is not valid (unknown, revoked, or a wrong secret)`);
  return requestorId;
}

export const NEEDS_KEY =
  'this needs a requestor API key: send "Authorization: Bearer gf_<id>.<secret>" (the node on this machine writes its own to <data>/requestor.key; the operator makes more with npm run keys -- create NAME)';

/** The requestor a call acts for; an anonymous call is refused with how to get a key. */
export function requestorOf(ctx: RequestContext): string {
  if (!ctx.requestorId) throw userError(FailureType.Unauthenticated, NEEDS_KEY);
  return ctx.requestorId;
}

// The key file's place and reader live apart (no database needed to read it): infra/nodeKey.ts.
export { nodeKeyFile, readNodeKey } from '../sdk/nodeKey.js';

/** Makes sure `<data>/requestor.key` holds a working key for the node's requestor; returns it. */
export async function ensureNodeKey(db: Db, dataDir: string, requestorId: string): Promise<string> {
  const existing = await readNodeKey(dataDir);
  if (existing && (await requestorOfKey(db, existing)) === requestorId) return existing;
  const key = await issueApiKey(db, requestorId, 'the node\'s own requestor');
  await fs.mkdir(dataDir, { recursive: true });
  const tmp = `${nodeKeyFile(dataDir)}.${process.pid}.tmp`;
  await fs.writeFile(tmp, `${key}\n`, { mode: 0o600 });
  await fs.rename(tmp, nodeKeyFile(dataDir));
  return key;
}
