/**
 * The API's one paging style: Relay-style connections. A cursor is the row's sort key, opaque to
 * the caller (base64url of JSON); the next page is the rows after it in the same order.
 */
import { sql, type SQL } from 'drizzle-orm';
import { FailureType } from '../core/failures.js';
import { userError } from './errors.js';

export interface PageArgs {
  first: number;
  after?: string | null;
}

export const MAX_PAGE = 500;

export type CursorKey = Array<string | number>;

/** The page size asked for, refused outside 1..MAX_PAGE. */
export function pageSize(first: number): number {
  if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) throw userError(FailureType.BadInput, `first: must be between 1 and ${MAX_PAGE}, got ${first}`);
  return first;
}

export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/** The sort key a cursor holds; a cursor of another list (another key's length or types) is bad input. */
export function decodeCursor(after: string, shape: Array<'string' | 'number'>): CursorKey {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(after, 'base64url').toString('utf8'));
  } catch {
    key = null;
  }
  if (!Array.isArray(key) || key.length !== shape.length || key.some((v, i) => typeof v !== shape[i]))
    throw userError(FailureType.BadInput, `after: ${JSON.stringify(after)} is not a cursor of this list`);
  return key as CursorKey;
}

/**
 * The rows after a cursor in a keyset order: `(a, b) > (x, y)` (or `<` when descending), which
 * PostgreSQL compares as tuples. Timestamps go through `ms()` on both sides (see there).
 */
export function afterKey(columns: SQL[], key: CursorKey, order: 'asc' | 'desc'): SQL {
  const cols = sql.join(columns, sql`, `);
  const vals = sql.join(
    key.map((v) => sql`${v}`),
    sql`, `,
  );
  return order === 'asc' ? sql`(${cols}) > (${vals})` : sql`(${cols}) < (${vals})`;
}

/**
 * A timestamp to the millisecond, as a sort key: PostgreSQL keeps microseconds and a JavaScript
 * Date only milliseconds, so a cursor made from a Date would skip rows within its millisecond.
 * Its text form (ISO 8601, UTC) sorts as the time does.
 */
export const ms = (column: unknown): SQL => sql`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS')`;

export interface Connection<T> {
  edges: Array<{ cursor: string; node: T }>;
  nodes: T[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

/** A page from up to `first + 1` rows (the extra one says whether there is a next page). */
export function connection<T>(rows: T[], first: number, keyOf: (row: T) => CursorKey): Connection<T> {
  const nodes = rows.slice(0, first);
  const edges = nodes.map((node) => ({ cursor: encodeCursor(keyOf(node)), node }));
  return { edges, nodes, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
}

/** A page of a list held in memory, sorted by `keyOf` (compared as strings, then numbers). */
export function pageOf<T>(items: T[], args: PageArgs, keyOf: (item: T) => CursorKey, shape: Array<'string' | 'number'>): Connection<T> {
  const first = pageSize(args.first);
  const cmp = (a: CursorKey, b: CursorKey) => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
  };
  const sorted = [...items].sort((a, b) => cmp(keyOf(a), keyOf(b)));
  const after = args.after ? decodeCursor(args.after, shape) : null;
  const rest = after ? sorted.filter((x) => cmp(keyOf(x), after) > 0) : sorted;
  return connection(rest.slice(0, first + 1), first, keyOf);
}

/** The sort key of a timestamp as `ms()` gives it. */
export const msKey = (d: Date): string => d.toISOString().slice(0, 23);
