/**
 * Heartbeats that stay quiet at an activity's start. Temporal sends an activity's first
 * heartbeat at once (later ones are throttled), and each is a write on the server: the dev
 * server makes every write of every workflow in turn through one SQLite connection, and a
 * 1-s container run spent one on its first beat. An activity that ends within its quiet spell
 * proves itself alive by ending; one that runs on beats as before, well inside its timeout.
 */
import type { Context } from '@temporalio/activity';

const quietUntil = new WeakMap<Context, number>();

/**
 * `ctx.heartbeat`, dropping beats in the first quarter of the heartbeat timeout (at least a
 * second) from the first call for this activity on.
 */
export function quietHeartbeat(ctx: Context): (details?: unknown) => void {
  if (!quietUntil.has(ctx)) quietUntil.set(ctx, Date.now() + Math.max(1000, (ctx.info.heartbeatTimeoutMs ?? 0) / 4));
  const until = quietUntil.get(ctx)!;
  return (details) => {
    if (Date.now() >= until) ctx.heartbeat(details);
  };
}
