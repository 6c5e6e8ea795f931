/** Provider: check-in (registration and liveness) and listing. */
import { eq, sql } from 'drizzle-orm';
import { parseSize } from '../core/units.js';
import { providerTaskQueue } from '../infra/config.js';
import { providers } from '../schema/tables.js';
import type { ApiDeps } from './deps.js';
import { ErrorCode, userError } from './errors.js';
import { providerFields } from './jobs.js';

export interface ProviderInput {
  name: string;
  cpus: number;
  memory: string;
  slots?: number | null;
}

/** Checks a provider's check-in; every problem is named with its field. */
export function checkProviderInput(input: ProviderInput): { memoryBytes: number; slots: number } {
  const problems: string[] = [];
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(input.name)) problems.push(`name: ${JSON.stringify(input.name)} must be 1-63 lowercase letters, digits or dashes, starting with a letter or digit`);
  if (!(input.cpus > 0 && input.cpus <= 1024)) problems.push(`cpus: must be above 0 and at most 1024, got ${input.cpus}`);
  const memoryBytes = parseSize(input.memory);
  if (memoryBytes === undefined) problems.push(`memory: ${JSON.stringify(input.memory)} is not a size such as 512m or 2g`);
  else if (memoryBytes < 64 * 1024 ** 2) problems.push(`memory: must be at least 64m, got ${input.memory}`);
  const slots = input.slots ?? Math.max(1, Math.floor(input.cpus));
  if (!Number.isInteger(slots) || slots < 1 || slots > 256) problems.push(`slots: must be a whole number from 1 to 256, got ${slots}`);
  if (problems.length) throw userError(ErrorCode.BadInput, `invalid provider: ${problems.join('; ')}`, { problems });
  return { memoryBytes: memoryBytes!, slots };
}

export function providerResolvers(deps: ApiDeps) {
  const { db } = deps;
  const fields = providerFields(deps);
  return {
    Query: {
      providers: async (_: unknown, { onlineOnly }: { onlineOnly: boolean }) => {
        const rows = await db.select().from(providers).orderBy(providers.id);
        return onlineOnly ? rows.filter(fields.online) : rows;
      },
      provider: async (_: unknown, { id }: { id: string }) => (await db.select().from(providers).where(eq(providers.id, id)))[0] ?? null,
    },
    Mutation: {
      registerProvider: async (_: unknown, { input }: { input: ProviderInput }) => {
        const { memoryBytes, slots } = checkProviderInput(input);
        const values = { cpus: input.cpus, memoryBytes, slots, lastSeenAt: new Date(), withdrawnAt: null };
        const [row] = await db
          .insert(providers)
          .values({ id: input.name, name: input.name, taskQueue: providerTaskQueue(input.name), ...values })
          .onConflictDoUpdate({ target: providers.id, set: values })
          .returning();
        return row;
      },
      withdrawProvider: async (_: unknown, { id }: { id: string }) => {
        const [row] = await db.update(providers).set({ withdrawnAt: sql`now()` }).where(eq(providers.id, id)).returning();
        return row ?? null;
      },
    },
    Provider: fields,
  };
}
