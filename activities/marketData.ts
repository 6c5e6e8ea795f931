/** Reading the market from the database: offers with liveness, load, reputation and uptime. */
import { and, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import type { MarketOffer } from '../core/market.js';
import type { Db } from '../schema/db.js';
import { agreements, providers } from '../schema/tables.js';

/** Agreement states that hold a provider's capacity. */
export const ACTIVE_AGREEMENT_STATES = ['proposed', 'approved'] as const;

/** Reputation until the verification work brings a real one: every provider is neutral. */
export const NEUTRAL_REPUTATION = 0.5;

type Row = typeof providers.$inferSelect;

/** A provider counts as online while it checks in (publishes its offer) within the liveness window. */
export function isOnline(p: Pick<Row, 'lastSeenAt' | 'withdrawnAt'>, livenessMs: number, now = Date.now()): boolean {
  return !p.withdrawnAt && now - p.lastSeenAt.getTime() < livenessMs;
}

/** Share of the time since registration the provider was seen online. */
export function uptimeOf(p: Pick<Row, 'registeredAt' | 'onlineSeconds'>, now = Date.now()): number {
  const span = (now - p.registeredAt.getTime()) / 1000;
  return span <= 0 ? 1 : Math.min(1, p.onlineSeconds / span);
}

/** Every published, not withdrawn offer, as the market sees it now. */
export async function loadMarketOffers(db: Db, livenessMs: number, opts: { includeOffline?: boolean } = {}): Promise<MarketOffer[]> {
  const now = Date.now();
  const rows = await db
    .select()
    .from(providers)
    .where(and(isNotNull(providers.offer), isNull(providers.withdrawnAt)));
  const load = await db
    .select({ providerId: agreements.providerId, n: sql<number>`count(*)::int` })
    .from(agreements)
    .where(inArray(agreements.state, [...ACTIVE_AGREEMENT_STATES]))
    .groupBy(agreements.providerId);
  const active = new Map(load.map((l) => [l.providerId, l.n]));
  return rows
    .map((p) => ({
      offer: p.offer!,
      online: opts.includeOffline ? true : isOnline(p, livenessMs, now),
      active: active.get(p.id) ?? 0,
      reputation: NEUTRAL_REPUTATION,
      uptime: uptimeOf(p, now),
    }))
    .sort((a, b) => (a.offer.providerId < b.offer.providerId ? -1 : 1));
}
