/**
 * The job search attributes (core/jobSearch.ts) registered with Temporal's namespace, so
 * that starting a job's workflow with them works on any server: the dev server, Temporal's own
 * server on PostgreSQL, or one this node did not start. Adding one that exists is skipped.
 */
import type { Connection } from '@temporalio/client';
import pRetry from 'p-retry';
// A CommonJS module: its namespace comes whole (Node's ESM loader cannot name its exports).
import proto from '@temporalio/proto';

const { temporal } = proto;
import { JOB_SEARCH_ATTRIBUTES } from '../core/jobSearch.js';

const INDEXED: Record<string, proto.temporal.api.enums.v1.IndexedValueType> = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  TEXT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  INT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
};

/** gRPC's status code for "already exists". */
const ALREADY_EXISTS = 6;

/** Registers the missing job search attributes; returns the names it added. */
export async function ensureSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const missing = JOB_SEARCH_ATTRIBUTES.filter((k) => !(k.name in (customAttributes ?? {})));
  if (!missing.length) return [];
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((k) => [k.name, INDEXED[k.type]])),
    });
  } catch (e) {
    // Another requestor node registered them at the same moment.
    if ((e as { code?: number }).code !== ALREADY_EXISTS) throw e;
  }
  // A server caches its search attributes (Temporal's own server for some seconds after they are
  // added): wait until a query names them, so the first job's start is not refused.
  const probe = JOB_SEARCH_ATTRIBUTES.map((k) => `${k.name} = "probe"`).join(' AND ');
  await pRetry(() => connection.workflowService.listWorkflowExecutions({ namespace, pageSize: 1, query: probe }), {
    retries: Infinity,
    maxRetryTime: 120_000,
    minTimeout: 500,
    maxTimeout: 500,
  }).catch((e: Error) => {
    throw new Error(`Temporal does not know the job search attributes 2 minutes after they were added: ${e.message}`);
  });
  return missing.map((k) => k.name);
}
