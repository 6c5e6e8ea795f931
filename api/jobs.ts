/** Job, Subtask, Attempt and JobEvent: their queries, mutations and the events subscription. */
import { randomBytes } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import { and, asc, desc, eq, gt, ilike, inArray, sql, type SQL } from 'drizzle-orm';
import { ENDING_EVENT_TYPES, screamingCase, type JobEventType } from '../core/events.js';
import { InvalidJobSpecError, FailureType } from '../core/failures.js';
import { parseJobSpec, uncleanText, validateJobSpec, jobSpecJsonSchema, type JobSpec } from '../core/jobSpec.js';
import { countSubtasks } from '../core/split.js';
import { workflowUiUrl } from '../infra/config.js';
import { attempts, jobEvents, jobs, subtasks, type JobStatus, type OutputFile, type SubtaskStatus } from '../schema/tables.js';
import type { jobWorkflow } from '../workflows/job.js';
import { withRecordedEnds } from '../core/progress.js';
import { cancelSignal, JOB_NAME, JOB_REQUESTOR, JOB_STATUS, progressQuery, type JobProgress } from '../workflows/definitions.js';
import { demandFromSpec } from '../core/demand.js';
import type { ApiDeps, RequestContext } from './deps.js';
import { checkBudget, checkDemandSatisfiable, checkWallet, providerById } from './market.js';
import { invalidSpec, userError } from './errors.js';
import { checkSpecBlobs } from './specBlobs.js';
import { afterKey, connection, decodeCursor, ms, msKey, pageSize, type PageArgs } from './paging.js';
import { requestorOf } from './auth.js';

type JobRow = typeof jobs.$inferSelect;
type SubtaskRow = typeof subtasks.$inferSelect;
type AttemptRow = typeof attempts.$inferSelect;

const ENDED: JobStatus[] = ['succeeded', 'failed', 'cancelled'];

const up = (s: string) => s.toUpperCase();
const down = <T extends string>(s: string) => s.toLowerCase() as T;

export function newJobId(): string {
  return `job-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

function blobUrl(deps: ApiDeps, ref: string): string {
  return `${deps.config.publicApiUrl}/blobs/sha256/${ref.slice('sha256:'.length)}`;
}

const outputFiles = (deps: ApiDeps, files: OutputFile[] | null) => (files ?? []).map((f) => ({ ...f, url: blobUrl(deps, f.ref) }));

export function parseSubmittedSpec(args: { spec?: unknown; specText?: string | null }): JobSpec {
  if ((args.spec == null) === (args.specText == null)) throw userError(FailureType.BadInput, 'give exactly one of spec (JSON) or specText (YAML or JSON text)');
  try {
    return args.specText != null ? parseJobSpec(args.specText, 'specText') : validateJobSpec(args.spec);
  } catch (e) {
    if (e instanceof InvalidJobSpecError) throw invalidSpec(e.problems);
    throw e;
  }
}

/**
 * A job as its owner sees it: another requestor's job is, to the caller, a job that does not
 * exist (its id says nothing more).
 */
export async function ownJob(db: ApiDeps['db'], id: string, ctx: RequestContext) {
  return (await db.select().from(jobs).where(and(eq(jobs.id, id), eq(jobs.requestorId, requestorOf(ctx)))))[0] ?? null;
}

export function jobResolvers(deps: ApiDeps) {
  const { db } = deps;
  return {
    Query: {
      job: (_: unknown, { id }: { id: string }, ctx: RequestContext) => ownJob(db, id, ctx),
      jobs: async (_: unknown, args: PageArgs & { filter?: { status?: string[]; nameContains?: string } }, ctx: RequestContext) => {
        const first = pageSize(args.first);
        const conds: SQL[] = [eq(jobs.requestorId, requestorOf(ctx))];
        if (args.filter?.status?.length) conds.push(inArray(jobs.status, args.filter.status.map((s) => down<JobStatus>(s))));
        if (args.filter?.nameContains) conds.push(ilike(jobs.name, `%${args.filter.nameContains.replace(/[%_\\]/g, '\\$&')}%`));
        if (args.after) conds.push(afterKey([ms(jobs.createdAt), sql`${jobs.id}`], decodeCursor(args.after, ['string', 'string']), 'desc'));
        const rows = await db
          .select()
          .from(jobs)
          .where(and(...conds))
          .orderBy(desc(ms(jobs.createdAt)), desc(jobs.id))
          .limit(first + 1);
        return connection(rows, first, (j) => [msKey(j.createdAt), j.id]);
      },
      jobSpecSchema: () => jobSpecJsonSchema,
    },
    Mutation: {
      submitJob: async (_: unknown, args: { spec?: unknown; specText?: string }, ctx: RequestContext) => {
        const requestorId = requestorOf(ctx);
        const spec = parseSubmittedSpec(args);
        await checkSpecBlobs(deps, spec, requestorId);
        // A quota per requestor: no one fills the market's queue for everyone else.
        const [{ n: active }] = await db
          .select({ n: sql<number>`count(*)::int` })
          .from(jobs)
          .where(and(eq(jobs.requestorId, requestorId), inArray(jobs.status, ['queued', 'running'])));
        const quota = deps.config.limits.activeJobsPerRequestor;
        if (active >= quota)
          throw userError(FailureType.QuotaExceeded, `requestor ${requestorId} has ${active} jobs queued or running, the most allowed (MAX_ACTIVE_JOBS ${quota}); wait for one to end or cancel one`, { quota });
        const demand = demandFromSpec(spec, requestorId);
        await checkDemandSatisfiable(deps, demand);
        if (spec.budget) {
          await checkBudget(deps, demand, spec.budget.amount, countSubtasks(spec), spec.redundancy);
          await checkWallet(deps, spec.budget.amount);
        }
        const id = newJobId();
        const [job] = await db.insert(jobs).values({ id, name: spec.name ?? null, requestorId, spec, subtaskCount: countSubtasks(spec) }).returning();
        try {
          await deps.temporal.workflow.start<typeof jobWorkflow>('jobWorkflow', {
            workflowId: id,
            taskQueue: deps.config.requestorTaskQueue,
            args: [{ jobId: id }],
            // What the Temporal UI and CLI filter jobs by; the workflow keeps the status current.
            typedSearchAttributes: [
              { key: JOB_STATUS, value: 'queued' },
              { key: JOB_REQUESTOR, value: requestorId },
              ...(spec.name ? [{ key: JOB_NAME, value: spec.name }] : []),
            ],
            memo: { requestorId, name: spec.name ?? null, subtasks: countSubtasks(spec) },
          });
        } catch (e) {
          // Nothing half-made stays behind: without its workflow the job would never run.
          await db.delete(jobs).where(eq(jobs.id, id));
          throw userError(FailureType.Unavailable, `could not start the job's workflow: ${(e as Error).message}`);
        }
        return { job };
      },
      cancelJob: async (_: unknown, { id, reason }: { id: string; reason?: string }, ctx: RequestContext) => {
        const job = await ownJob(db, id, ctx);
        if (!job) throw userError(FailureType.NotFound, `job ${id} does not exist`);
        const dirty = uncleanText(reason ?? '', '/reason');
        if (dirty.length) throw userError(FailureType.BadInput, `reason ${dirty[0].message}`);
        if (ENDED.includes(job.status)) throw userError(FailureType.Conflict, `job ${id} has already ended (${job.status}); nothing to cancel`);
        try {
          await deps.temporal.workflow.getHandle(id).signal(cancelSignal, reason ?? 'cancelled by the requestor');
        } catch (e) {
          if (!(e instanceof WorkflowNotFoundError)) throw e;
          await db.update(jobs).set({ status: 'cancelled', error: reason ?? 'cancelled', finishedAt: sql`now()` }).where(eq(jobs.id, id));
        }
        return (await db.select().from(jobs).where(eq(jobs.id, id)))[0];
      },
    },
    Subscription: {
      jobEvents: {
        subscribe: async function* (_: unknown, { id, after }: { id: string; after?: number }, ctx: RequestContext & { request?: Request }) {
          const job = await ownJob(db, id, ctx);
          if (!job) throw userError(FailureType.NotFound, `job ${id} does not exist`);
          let last = after ?? 0;
          const signal = ctx.request?.signal;
          while (!signal?.aborted) {
            const rows = await db
              .select()
              .from(jobEvents)
              .where(and(eq(jobEvents.jobId, id), gt(jobEvents.seq, last)))
              .orderBy(asc(jobEvents.seq))
              .limit(200);
            for (const row of rows) {
              last = row.seq;
              yield { jobEvents: row };
              if (ENDING_EVENT_TYPES.has(row.type as JobEventType)) return;
            }
            if (rows.length < 200) await deps.events.wait(id, 500, signal);
          }
        },
      },
    },
    Job: {
      status: (j: JobRow) => up(j.status),
      workflowId: (j: JobRow) => j.id,
      temporalUiUrl: (j: JobRow) => workflowUiUrl(deps.config.temporalUiUrl, deps.config.temporalNamespace, j.id),
      result: (j: JobRow) =>
        j.resultValue != null || j.resultRef
          ? { value: j.resultValue, ref: j.resultRef, url: j.resultRef ? blobUrl(deps, j.resultRef) : null, outputs: outputFiles(deps, j.resultOutputs) }
          : null,
      progress: async (j: JobRow): Promise<JobProgress | null> => {
        if (ENDED.includes(j.status)) return null;
        try {
          // A batch's subtasks reach the query when the batch ends; the database counts each as it ends.
          return withRecordedEnds(await deps.temporal.workflow.getHandle(j.id).query(progressQuery), { succeeded: j.succeededCount, failed: j.failedCount });
        } catch {
          return null;
        }
      },
      waiting: async (j: JobRow) =>
        (await db.select({ n: sql<number>`count(*)::int` }).from(subtasks).where(and(eq(subtasks.jobId, j.id), eq(subtasks.status, 'waiting'))))[0].n,
      note: async (j: JobRow) => {
        const [w] = await db
          .select({ index: subtasks.index, note: subtasks.note })
          .from(subtasks)
          .where(and(eq(subtasks.jobId, j.id), eq(subtasks.status, 'waiting')))
          .orderBy(asc(subtasks.index))
          .limit(1);
        return w?.note ? `subtask ${w.index}: ${w.note}` : null;
      },
      subtasks: async (j: JobRow, args: PageArgs & { filter?: { status?: string[] } }) => {
        const first = pageSize(args.first);
        const status = args.filter?.status;
        const rows = await db
          .select()
          .from(subtasks)
          .where(
            and(
              eq(subtasks.jobId, j.id),
              status?.length ? inArray(subtasks.status, status.map((s) => down<SubtaskStatus>(s))) : undefined,
              args.after ? gt(subtasks.index, decodeCursor(args.after, ['number'])[0] as number) : undefined,
            ),
          )
          .orderBy(asc(subtasks.index))
          .limit(first + 1);
        return connection(rows, first, (s) => [s.index]);
      },
      events: async (j: JobRow, args: PageArgs) => {
        const first = pageSize(args.first);
        const after = args.after ? (decodeCursor(args.after, ['number'])[0] as number) : 0;
        const rows = await db
          .select()
          .from(jobEvents)
          .where(and(eq(jobEvents.jobId, j.id), gt(jobEvents.seq, after)))
          .orderBy(asc(jobEvents.seq))
          .limit(first + 1);
        return connection(rows, first, (e) => [e.seq]);
      },
    },
    JobProgress: {
      phase: (p: JobProgress) => up(p.status),
    },
    JobEvent: {
      type: (e: { type: string }) => screamingCase(e.type),
    },
    Subtask: {
      status: (s: SubtaskRow) => up(s.status),
      provider: (s: SubtaskRow) => providerById(db, s.providerId),
      outputs: (s: SubtaskRow) => outputFiles(deps, s.outputs),
      attempts: (s: SubtaskRow) =>
        db
          .select()
          .from(attempts)
          .where(and(eq(attempts.jobId, s.jobId), eq(attempts.subtaskIndex, s.index)))
          .orderBy(asc(attempts.number)),
      durationSeconds: async (s: SubtaskRow) => {
        if (s.status !== 'succeeded') return null;
        const [a] = await db
          .select({ wall: attempts.wallSeconds })
          .from(attempts)
          .where(and(eq(attempts.jobId, s.jobId), eq(attempts.subtaskIndex, s.index), eq(attempts.status, 'succeeded')));
        return a?.wall ?? null;
      },
    },
    Attempt: {
      status: (a: AttemptRow) => up(a.status),
      verdict: (a: AttemptRow) => a.verdict?.toUpperCase() ?? null,
      comparisons: (a: AttemptRow) => a.comparisons ?? [],
      role: (a: AttemptRow) => screamingCase(a.role ?? 'copy'),
      failureType: (a: AttemptRow) => (a.failureType ? screamingCase(a.failureType) : null),
      provider: (a: AttemptRow) => providerById(db, a.providerId),
      outputs: (a: AttemptRow) => outputFiles(deps, a.outputs),
    },
  };
}
