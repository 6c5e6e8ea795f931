/**
 * Requestor-side activities: the job's bookkeeping in the database, choosing providers and
 * merging results. Every one is idempotent (keys come from job id, subtask index and attempt
 * number), because Temporal may run an activity more than once.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import type Docker from 'dockerode';
import tarStream from 'tar-stream';
import { and, asc, eq, gte, inArray, isNull, notInArray, sql } from 'drizzle-orm';
import { FailureType, GolemflowError, InvalidJobSpecError } from '../core/failures.js';
import { compareSpecOf, validateJobSpec } from '../core/jobSpec.js';
import { CONCAT_VALUE_BYTES, OutputSum, planArchive } from '../core/merge.js';
import { countSubtasks, fillCommand, planSubtask } from '../core/split.js';
import { parseSize } from '../core/units.js';
import type { BlobStore } from '../blobs/store.js';
import type { Db } from '../schema/db.js';
import { agreements, attempts, blobGrants, blobs, invoices, jobs, providers, subtasks, type JobStatus, type OutputFile } from '../schema/tables.js';
import { runInSandbox } from '../adapters/sandbox.js';

/** The runtime image that encodes videos (runtimes/media). */
export const MEDIA_IMAGE = 'golemflow/media:1';
import { costWei, glmToWei, paymentIdOf } from '../core/payments.js';
import { failureMessage, resultMessage, sameAddress, signerOf } from '../core/identity.js';
import type { CapacitySignal } from '../adapters/capacity.js';
import { endAgreement, eventWriter } from '../adapters/events.js';
import { immutableFacts } from '../adapters/marketData.js';
import { createAnswerBook, type AnswerBook } from '../adapters/answers.js';
import { recordWorkflowAnswer } from './market.js';
import type { AttemptOutcome, AttemptRecorded, JobPlan, RunRequest, RunResult, SubtaskRef } from './types.js';

export interface RequestorDeps {
  db: Db;
  blobs: BlobStore;
  /** The requestor's Docker engine, for merges that run a container (video); opened when first needed. */
  docker?: () => Promise<Docker>;
  /** Scratch space for such merges. */
  workRoot?: string;
  capacity: CapacitySignal;
  /** Called after events are stored, so in-process subscribers wake at once. */
  onEvent?: (jobId: string) => void;
  /** Told of each finished attempt, for the node's /metrics (api/metrics.ts). */
  onAttemptFinished?: (a: { status: string; failureType: string | null; wallSeconds: number | null; observedSeconds: number | null }) => void;
  /** Where providers' answers are recorded (shared with the market activities and the API); made here when absent. */
  answers?: AnswerBook;
}

const INSERT_BATCH = 500;

/** A subtask's verdict (core/verification.ts decide): which attempts are accepted, which rejected, by what votes. */
type Verdict = SubtaskRef & { accepted: number[]; rejected: number[]; votes: Record<string, number>; copiesStopped?: boolean };

export function createRequestorActivities(deps: RequestorDeps) {
  const { db } = deps;

  const addEvent = eventWriter(db, deps.onEvent);
  const facts = immutableFacts(db);
  const answers = deps.answers ?? createAnswerBook({ db, capacity: deps.capacity, addEvent });

  /** The job's spec (never rewritten after submission: cached, adapters/marketData.ts). */
  async function loadSpec(jobId: string) {
    const job = await facts.job(jobId);
    if (!job) throw ApplicationFailure.nonRetryable(`job ${jobId} does not exist`, 'JobNotFound');
    return job;
  }

  /**
   * Invoices for a judged subtask, when the job pays (has a budget): each accepted attempt is
   * owed its agreed price for what it used; each rejected one is refused, with the evidence.
   * Keyed by payment id (job, subtask, provider): a repeated call writes nothing new.
   */
  async function invoice(jobId: string, index: number, rows: Array<typeof attempts.$inferSelect>, accepted: number[], votes: Record<string, number>): Promise<string> {
    const { spec } = await loadSpec(jobId);
    if (!spec.budget) return '0';
    let total = 0n;
    for (const a of rows) {
      const [agreement] = a.agreementId ? await db.select({ pricing: agreements.pricing }).from(agreements).where(eq(agreements.id, a.agreementId)) : [];
      const [provider] = await db.select({ offer: providers.offer }).from(providers).where(eq(providers.id, a.providerId));
      const pricing = agreement?.pricing ?? { start: 0, cpuSecond: 0, envSecond: 0 };
      const basis = { pricing, cpuSeconds: a.cpuSeconds ?? 0, wallSeconds: a.wallSeconds ?? 0 };
      const amount = costWei(pricing, basis.cpuSeconds, basis.wallSeconds);
      const ok = accepted.includes(a.number);
      const evidence = (a.comparisons ?? []).map((c) => `vs attempt ${c.against}: ${c.detail}`).join('; ');
      const address = provider?.offer?.paymentAddress ?? null;
      const reason = ok
        ? address
          ? null
          : `provider ${a.providerId} published no payment address`
        : `result rejected: it disagreed with the accepted result (votes ${Object.values(votes).join(':')})${evidence ? `; ${evidence}` : ''}`;
      await db
        .insert(invoices)
        .values({
          paymentId: paymentIdOf(jobId, index, a.providerId),
          jobId,
          subtaskIndex: index,
          attempt: a.number,
          providerId: a.providerId,
          providerAddress: address,
          agreementId: a.agreementId,
          amountWei: String(amount),
          basis,
          status: ok ? 'accepted' : 'rejected',
          reason,
        })
        .onConflictDoNothing();
      if (ok) total += amount;
    }
    return String(total);
  }

  /**
   * A provider's usage claim, bounded by what the requestor saw: no more wall seconds than the
   * run took as the workflow observed it (and than the agreement's longest duration), no more CPU
   * seconds than wall seconds x the cpus the spec gave it.
   */
  async function boundUsage(jobId: string, maxDurationSeconds: number | null, r: { cpuSeconds: number; wallSeconds: number }, observedSeconds: number | undefined) {
    const { spec } = await loadSpec(jobId);
    const wallCap = Math.min(observedSeconds ?? Infinity, maxDurationSeconds ?? Infinity);
    const clean = (x: number) => (Number.isFinite(x) && x > 0 ? x : 0);
    const wallSeconds = Math.min(clean(r.wallSeconds), wallCap);
    const cpuSeconds = Math.min(clean(r.cpuSeconds), wallSeconds * spec.resources.cpus);
    const note =
      wallSeconds < r.wallSeconds || cpuSeconds < r.cpuSeconds
        ? `usage claimed ${r.cpuSeconds} cpu s and ${r.wallSeconds} wall s, bounded to ${cpuSeconds.toFixed(3)} and ${wallSeconds.toFixed(3)} (the run took ${observedSeconds?.toFixed(3) ?? '?'} s as the requestor saw it, ${spec.resources.cpus} cpus)`
        : null;
    return { wallSeconds, cpuSeconds, note };
  }

  /** Each subtask's output files, in subtask order: what a video or archive merge works from. */
  function subtaskOutputs(jobId: string) {
    return db.select({ index: subtasks.index, outputs: subtasks.outputs }).from(subtasks).where(eq(subtasks.jobId, jobId)).orderBy(asc(subtasks.index));
  }

  /**
   * A video merge: every subtask's PNG outputs, in subtask order and by name within one, are
   * encoded by ffmpeg (golemflow/media:1, in a sandbox on the requestor's Docker engine) into
   * video.mp4 and preview.gif, stored as blobs; the video is the job's result.
   */
  async function mergeVideo(jobId: string, fps: number): Promise<{ value: string | null; ref: string | null }> {
    const rows = await subtaskOutputs(jobId);
    const frames = rows.flatMap((r) => (r.outputs ?? []).filter((o) => /\.png$/i.test(o.path)).sort((a, b) => (a.path < b.path ? -1 : 1)));
    if (!frames.length) throw ApplicationFailure.nonRetryable('a video merge needs PNG outputs, and the subtasks made none', FailureType.MergeFailed);
    if (!deps.docker) throw ApplicationFailure.nonRetryable('a video merge needs a Docker engine on the requestor node', FailureType.MergeFailed);
    const docker = await deps.docker().catch((e: Error) => {
      throw ApplicationFailure.retryable(`a video merge needs the requestor's Docker engine: ${e.message}`, FailureType.MergeFailed);
    });
    const root = deps.workRoot ?? os.tmpdir();
    await fs.mkdir(root, { recursive: true });
    const dir = await fs.mkdtemp(path.join(root, 'golemflow-merge-'));
    const ctx = Context.current();
    try {
      await fs.mkdir(path.join(dir, 'in'));
      await fs.mkdir(path.join(dir, 'out'));
      await fs.chmod(dir, 0o755);
      await fs.chmod(path.join(dir, 'out'), 0o777);
      for (const [i, f] of frames.entries()) {
        await fs.writeFile(path.join(dir, 'in', `${String(i).padStart(6, '0')}.png`), await deps.blobs.read(f.ref));
        if (i % 50 === 0) ctx.heartbeat({ phase: 'frames', copied: i });
      }
      const res = await runInSandbox(docker, {
        name: `golemflow-merge-${jobId}`.replace(/[^a-zA-Z0-9_.-]/g, '-'),
        image: MEDIA_IMAGE,
        command: ['frames-to-video', String(fps)],
        inputDir: path.join(dir, 'in'),
        outputDir: path.join(dir, 'out'),
        logDir: path.join(dir, 'log'),
        cpus: 2,
        memoryBytes: 1024 * 1024 * 1024,
        timeoutMs: 30 * 60 * 1000,
        onTick: () => ctx.heartbeat({ phase: 'encoding' }),
      });
      if (res.exitCode !== 0) {
        const err = (await fs.readFile(res.stderrFile, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' ');
        throw ApplicationFailure.nonRetryable(`the video merge failed (exit ${res.exitCode}): ${err || 'no message'}`, FailureType.MergeFailed);
      }
      const outputs: OutputFile[] = [];
      for (const name of ['video.mp4', 'preview.gif']) {
        const info = await deps.blobs.putBytes(await fs.readFile(path.join(dir, 'out', name)));
        await db.insert(blobs).values(info).onConflictDoNothing();
        outputs.push({ path: name, ref: info.ref, size: info.size });
      }
      const value = `${frames.length} frames at ${fps} fps`;
      await db.update(jobs).set({ resultValue: value, resultRef: outputs[0].ref, resultOutputs: outputs }).where(eq(jobs.id, jobId));
      return { value, ref: outputs[0].ref };
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * An archive merge: every subtask's output files, streamed blob by blob into one gzipped tar
   * (outputs.tar.gz) that becomes the job's result. Each entry's time is the job's creation
   * time, so a retried merge makes the same bytes, and so the same blob.
   */
  async function mergeArchive(jobId: string): Promise<{ value: string | null; ref: string | null }> {
    const rows = await subtaskOutputs(jobId);
    const plan = planArchive(rows.map((r) => ({ index: r.index, outputs: r.outputs ?? [] })));
    if (!plan.entries.length) throw ApplicationFailure.nonRetryable('an archive merge needs output files, and the subtasks wrote none under /out', FailureType.MergeFailed);
    const [job] = await db.select({ createdAt: jobs.createdAt }).from(jobs).where(eq(jobs.id, jobId));
    const ctx = Context.current();
    const pack = tarStream.pack();
    const stored = deps.blobs.put(pack.pipe(createGzip()));
    const write = async () => {
      for (const [i, e] of plan.entries.entries()) {
        await pipeline(await deps.blobs.open(e.ref), pack.entry({ name: e.path, size: e.size, mode: 0o644, mtime: job.createdAt }));
        if (i % 20 === 0) ctx.heartbeat({ phase: 'archive', written: i });
      }
      pack.finalize();
    };
    const [info] = await Promise.all([stored, write().catch((e: Error) => {
      pack.destroy(e);
      throw e;
    })]);
    await db.insert(blobs).values(info).onConflictDoNothing();
    const outputs: OutputFile[] = [{ path: 'outputs.tar.gz', ref: info.ref, size: info.size }];
    const value = `${plan.entries.length} files from ${rows.length} subtasks in outputs.tar.gz${
      plan.clash ? ` (one folder per subtask: subtasks ${plan.clash.subtasks[0]} and ${plan.clash.subtasks[1]} both wrote ${plan.clash.path})` : ''
    }`;
    await db.update(jobs).set({ resultValue: value, resultRef: info.ref, resultOutputs: outputs }).where(eq(jobs.id, jobId));
    return { value, ref: info.ref };
  }

  /**
   * The copies' verdict: the agreeing attempts are accepted (the subtask takes their result),
   * the others rejected as wrong results, each with its agreement's end saying so.
   */
  async function accept({ jobId, index, accepted, rejected, votes, copiesStopped }: Verdict): Promise<{ costWei: string }> {
    // Both verdicts in one statement, which returns the judged attempts.
    const rows = await db
      .update(attempts)
      .set({ verdict: sql`case when ${inArray(attempts.number, accepted)} then 'accepted' else 'rejected' end` })
      .where(and(eq(attempts.jobId, jobId), eq(attempts.subtaskIndex, index), inArray(attempts.number, [...accepted, ...rejected])))
      .returning();
    for (const a of rows) {
      const verdict = accepted.includes(a.number) ? 'result accepted' : `result rejected: it disagreed with the majority of ${accepted.length}`;
      if (a.agreementId) await db.update(agreements).set({ endReason: verdict }).where(eq(agreements.id, a.agreementId));
    }
    // Copies still running when the majority was reached were stopped by the workflow: their
    // attempts and agreements end here, so their providers' slots are free at once (a stopped
    // copy may still be placing: endAgreement takes the placement lock). When every copy
    // settled, each attempt ended its own agreement as it finished and nothing is left to end.
    // Workflows from before `copiesStopped` existed do not say: they end what is left.
    if (copiesStopped !== false) {
      const unneeded = 'not needed: the subtask\'s result was accepted';
      await db
        .update(attempts)
        .set({ status: 'cancelled', reason: unneeded, finishedAt: sql`now()` })
        .where(and(eq(attempts.jobId, jobId), eq(attempts.subtaskIndex, index), eq(attempts.status, 'running')));
      deps.capacity.freed(await endAgreement(db, { jobId, index }, unneeded));
    }
    const winner = rows.find((a) => a.number === accepted[0])!;
    const costWei = await invoice(jobId, index, rows, accepted, votes);
    await db
      .update(subtasks)
      .set({
        status: 'succeeded',
        providerId: winner.providerId,
        resultRef: winner.stdoutRef,
        outputs: winner.outputs,
        exitCode: winner.exitCode,
        votes,
        error: null,
        note: null,
        finishedAt: sql`now()`,
      })
      .where(and(eq(subtasks.jobId, jobId), eq(subtasks.index, index)));
    // The job's counts follow in the same statement (a trigger: schema/migrations/0011_subtask_counts.sql).
    for (const a of rows.filter((x) => rejected.includes(x.number)))
      await addEvent(jobId, `rejected/${index}/${a.number}`, 'resultRejected', { subtaskIndex: index, providerId: a.providerId, message: `attempt ${a.number} disagreed with the majority` });
    const who = rows.filter((x) => accepted.includes(x.number)).map((x) => x.providerId);
    await addEvent(jobId, `finished/${index}`, 'subtaskFinished', {
      subtaskIndex: index,
      providerId: winner.providerId,
      message: `${who.length} of ${accepted.length + rejected.length} copies agree (${who.join(', ')}); exit code ${winner.exitCode} in ${(winner.wallSeconds ?? 0).toFixed(1)} s`,
    });
    return { costWei };
  }

  /** Subtasks' run requests; each subtask is scheduled from here on (its workflow has it). */
  async function loadRequests(jobId: string, indexes: number[]): Promise<Array<Omit<RunRequest, 'attempt' | 'agreementId'>>> {
    const { spec } = await loadSpec(jobId);
    const these = and(eq(subtasks.jobId, jobId), indexes.length === 1 ? eq(subtasks.index, indexes[0]) : inArray(subtasks.index, indexes));
    const rows = await db.select({ index: subtasks.index, command: subtasks.command, inputs: subtasks.inputs }).from(subtasks).where(these);
    const byIndex = new Map(rows.map((r) => [r.index, r]));
    const missing = indexes.find((i) => !byIndex.has(i));
    if (missing !== undefined) throw ApplicationFailure.nonRetryable(`subtask ${jobId}/${missing} does not exist`, 'SubtaskNotFound');
    await db
      .update(subtasks)
      .set({ status: 'scheduled' })
      .where(and(these, eq(subtasks.status, 'pending')));
    await Promise.all(indexes.map((index) => addEvent(jobId, `scheduled/${index}`, 'subtaskScheduled', { subtaskIndex: index })));
    return indexes.map((index) => {
      const row = byIndex.get(index)!;
      return {
        jobId,
        index,
        image: spec.image,
        imageArchive: spec.imageArchive?.ref ?? null,
        command: row.command,
        inputs: row.inputs,
        cpus: spec.resources.cpus,
        memoryBytes: parseSize(spec.resources.memory)!,
        timeoutSeconds: spec.resources.timeoutSeconds,
      };
    });
  }

  return {
    /** Validates the stored spec again, writes the subtask rows and marks the job running. */
    async prepareJob({ jobId }: { jobId: string }): Promise<JobPlan> {
      const job = await loadSpec(jobId);
      let spec;
      try {
        spec = validateJobSpec(job.spec);
      } catch (e) {
        if (e instanceof InvalidJobSpecError) throw ApplicationFailure.nonRetryable(e.message, FailureType.InvalidJobSpec);
        throw e;
      }
      const count = countSubtasks(spec);
      for (let from = 0; from < count; from += INSERT_BATCH) {
        const rows = [];
        for (let i = from; i < Math.min(count, from + INSERT_BATCH); i++) {
          const plan = planSubtask(spec, i);
          rows.push({ jobId, index: i, params: plan.params, command: plan.command, inputs: plan.inputs });
        }
        await db.insert(subtasks).values(rows).onConflictDoNothing();
      }
      await db
        .update(jobs)
        .set({ status: 'running', subtaskCount: count, startedAt: sql`coalesce(${jobs.startedAt}, now())` })
        .where(and(eq(jobs.id, jobId), eq(jobs.status, 'queued')));
      await addEvent(jobId, 'started', 'jobStarted', { message: `${count} subtasks` });
      return {
        subtaskCount: count,
        maxParallel: spec.maxParallel,
        maxAttempts: spec.retries.maxAttempts,
        heartbeatTimeoutSeconds: spec.retries.heartbeatTimeoutSeconds,
        timeoutSeconds: spec.resources.timeoutSeconds,
        offerDeadlineSeconds: spec.demand.offerDeadlineSeconds,
        redundancy: spec.redundancy,
        maxExtraRuns: spec.verification.maxExtraRuns,
        adaptive: spec.verification.adaptive ?? null,
        compare: compareSpecOf(spec),
        budgetWei: spec.budget ? String(glmToWei(spec.budget.amount)) : null,
        cropCheck: spec.verification.cropCheck ? { crops: spec.verification.cropCheck.crops, size: spec.verification.cropCheck.size, rate: spec.verification.cropCheck.rate } : null,
      };
    },

    /** What a provider needs to run a subtask; marks it scheduled. */
    async loadSubtask({ jobId, index }: SubtaskRef): Promise<Omit<RunRequest, 'attempt' | 'agreementId'>> {
      return (await loadRequests(jobId, [index]))[0];
    },

    /** The run requests of a batch's subtasks (workflows/batch.ts), in the order asked, loaded together. */
    async loadSubtasks({ jobId, indexes }: { jobId: string; indexes: number[] }): Promise<Array<Omit<RunRequest, 'attempt' | 'agreementId'>>> {
      return loadRequests(jobId, indexes);
    },

    /** The run request of a crop spot check: the spec's crop command, filled with the subtask's parameters and the rectangles. */
    async loadCropCheck({ jobId, index, crops }: SubtaskRef & { crops: string }): Promise<Omit<RunRequest, 'attempt' | 'agreementId'>> {
      const { spec } = await loadSpec(jobId);
      const check = validateJobSpec(spec).verification.cropCheck;
      if (!check) throw ApplicationFailure.nonRetryable(`job ${jobId} has no crop check`, FailureType.InvalidJobSpec);
      const [row] = await db.select().from(subtasks).where(and(eq(subtasks.jobId, jobId), eq(subtasks.index, index)));
      if (!row) throw ApplicationFailure.nonRetryable(`subtask ${jobId}/${index} does not exist`, 'SubtaskNotFound');
      return {
        jobId,
        index,
        image: spec.image,
        imageArchive: spec.imageArchive?.ref ?? null,
        command: fillCommand(check.command, { ...row.params, crops }),
        inputs: row.inputs,
        cpus: spec.resources.cpus,
        memoryBytes: parseSize(spec.resources.memory)!,
        timeoutSeconds: spec.resources.timeoutSeconds,
      };
    },

    /**
     * Stores how an attempt ended and, when it succeeded, the subtask's result. A provider's
     * report counts only when signed by the key its id is bound to; one that is not is refused
     * (an intrusion: the attempt fails, nothing is paid, no provider is blamed). Reported usage
     * is bounded by what the requestor saw: wall seconds by the run's own span as the workflow
     * observed it and the agreement's longest duration, CPU seconds by wall seconds x the cpus.
     */
    async finishAttempt(o: AttemptOutcome): Promise<AttemptRecorded> {
      // The answer the run brought back first: a run whose agreement is not approved ran
      // nothing that counts (the market heard the provider decline, or never heard it).
      if (o.answer) {
        const outcome = await recordWorkflowAnswer(answers, o.answer);
        if (!outcome.approved) return { refused: null, declined: outcome.reason ?? 'not approved' };
      }
      /** The refs a result names that its agreement never uploaded (api/blobAccess.ts grants each upload). */
      const outputsNotSent = async (agreementId: string, res: RunResult): Promise<string[]> => {
        const refs = [...new Set([res.stdoutRef, ...res.outputs.map((f) => f.ref)].filter((x): x is string => !!x))];
        if (!refs.length) return [];
        const sent = await db
          .select({ ref: blobGrants.ref })
          .from(blobGrants)
          .where(and(eq(blobGrants.holder, `agreement:${agreementId}`), inArray(blobGrants.ref, refs)));
        return refs.filter((ref) => !sent.some((g) => g.ref === ref));
      };
      let r = o.result;
      const where = and(eq(attempts.jobId, o.jobId), eq(attempts.subtaskIndex, o.index), eq(attempts.number, o.attempt));
      let refused: string | null = null;
      const claim = 'exitCode' in r ? undefined : r.claim;
      if ('exitCode' in r || claim) {
        const [row] = await db
          .select({ agreementId: attempts.agreementId, maxDurationSeconds: agreements.maxDurationSeconds })
          .from(attempts)
          .leftJoin(agreements, eq(agreements.id, attempts.agreementId))
          .where(where);
        const identity = await facts.providerKey(o.providerId);
        const agreementId = row?.agreementId;
        const signer = !agreementId
          ? null
          : 'exitCode' in r
            ? await signerOf('Result', resultMessage(agreementId, r), r.signature)
            : await signerOf('Failure', failureMessage(agreementId, claim!.failureType, claim!.message), claim!.signature);
        // A result must also name only outputs its provider sent under this agreement.
        const unsent = 'exitCode' in r && agreementId && signer ? await outputsNotSent(agreementId, r) : [];
        if (!identity || !sameAddress(signer, identity)) {
          const what = 'exitCode' in r ? 'result' : `failure report (${claim!.failureType})`;
          refused = `intrusion: the ${what} of attempt ${o.attempt} is not signed by provider ${o.providerId}'s key${signer ? ` (signed by ${signer})` : ''}; it was refused and not counted against the provider`;
          await addEvent(o.jobId, `intrusion/${o.index}/${o.attempt}`, 'intrusion', { subtaskIndex: o.index, providerId: o.providerId, message: refused });
          r = { status: 'failed', failureType: FailureType.Intrusion, reason: refused };
        } else if (unsent.length) {
          refused = `the result of attempt ${o.attempt} names outputs its provider never uploaded under agreement ${agreementId} (${unsent.slice(0, 3).join(', ')}); it was refused`;
          r = { status: 'failed', failureType: FailureType.ProviderError, reason: refused };
        } else if ('exitCode' in r) {
          const bounded = await boundUsage(o.jobId, row!.maxDurationSeconds, r, o.observedSeconds);
          if (bounded.note) await addEvent(o.jobId, `usage/${o.index}/${o.attempt}`, 'usageBounded', { subtaskIndex: o.index, providerId: o.providerId, message: `attempt ${o.attempt}: ${bounded.note}` });
          r = { ...r, cpuSeconds: bounded.cpuSeconds, wallSeconds: bounded.wallSeconds };
        }
      }
      const full = 'exitCode' in r ? r : undefined;
      await db
        .update(attempts)
        .set({
          status: r.status,
          reason: r.reason ?? null,
          failureType: r.failureType ?? null,
          exitCode: full?.exitCode ?? null,
          stdoutTail: full?.stdoutTail ?? null,
          stderrTail: full?.stderrTail ?? null,
          stdoutRef: full?.stdoutRef ?? null,
          outputs: full?.outputs ?? null,
          cpuSeconds: full?.cpuSeconds ?? null,
          wallSeconds: full?.wallSeconds ?? null,
          resultKey: o.resultKey ?? null,
          role: o.role ?? 'copy',
          finishedAt: sql`coalesce(${attempts.finishedAt}, now())`,
        })
        .where(where);
      deps.onAttemptFinished?.({ status: r.status, failureType: r.failureType ?? null, wallSeconds: full?.wallSeconds ?? null, observedSeconds: o.observedSeconds ?? null });
      // The verdict comes when the copies are compared (acceptResult); until then it was delivered.
      // This attempt has run: no placement for it can be in flight.
      await endAgreement(db, { jobId: o.jobId, index: o.index, attempt: o.attempt }, r.status === 'succeeded' ? 'result delivered' : `attempt ${r.status}: ${r.reason}`, 'requestor', { noPlacementInFlight: true });
      deps.capacity.freed();
      const subtaskWhere = and(eq(subtasks.jobId, o.jobId), eq(subtasks.index, o.index));
      if (r.status === 'succeeded' && full) {
        await addEvent(o.jobId, `delivered/${o.index}/${o.attempt}`, 'resultDelivered', {
          subtaskIndex: o.index,
          providerId: o.providerId,
          message: `attempt ${o.attempt}: exit code ${full.exitCode} in ${full.wallSeconds.toFixed(1)} s`,
        });
      } else if (r.status === 'failed') {
        await db.update(subtasks).set({ exitCode: full?.exitCode ?? null, error: r.reason ?? null }).where(subtaskWhere);
        await addEvent(o.jobId, `failed/${o.index}/${o.attempt}`, 'attemptFailed', {
          subtaskIndex: o.index,
          providerId: o.providerId,
          message: `attempt ${o.attempt}: ${r.reason}`,
        });
      }
      // A lone result that decides alone is accepted here, as acceptResult would (one vote for its key).
      if (o.acceptAlone && r.status === 'succeeded' && !refused && o.resultKey) {
        const { costWei } = await accept({ jobId: o.jobId, index: o.index, accepted: [o.attempt], rejected: [], votes: { [o.resultKey]: 1 }, copiesStopped: false });
        return { refused, accepted: { costWei } };
      }
      return { refused };
    },

    /** The copies' verdict (accept, above), when the workflow reached it apart from recording a run. */
    async acceptResult(verdict: Verdict): Promise<{ costWei: string }> {
      return accept(verdict);
    },

    /** Records how a subtask is verified and why (the adaptive draws), for an audit. */
    async noteVerification({ jobId, index, reason, step }: SubtaskRef & { reason: string; step?: string }): Promise<void> {
      await addEvent(jobId, `verification/${index}${step ? `/${step}` : ''}`, 'verificationPlanned', { subtaskIndex: index, message: reason });
    },

    /** Marks a subtask failed for good (its attempts are spent, or no result had a majority) or cancelled. */
    async endSubtask({ jobId, index, status, reason, votes }: SubtaskRef & { status: 'failed' | 'cancelled'; reason: string; votes?: Record<string, number> }): Promise<void> {
      await db
        .update(subtasks)
        .set({ status, error: reason, votes: votes ?? null, finishedAt: sql`now()` })
        .where(and(eq(subtasks.jobId, jobId), eq(subtasks.index, index), notInArray(subtasks.status, ['succeeded'])));
      await db
        .update(attempts)
        .set({ status: 'cancelled', reason, finishedAt: sql`now()` })
        .where(and(eq(attempts.jobId, jobId), eq(attempts.subtaskIndex, index), eq(attempts.status, 'running')));
      await endAgreement(db, { jobId, index }, reason);
      deps.capacity.freed();
      if (status === 'failed') await addEvent(jobId, `failed/${index}`, 'subtaskFailed', { subtaskIndex: index, message: reason });
    },

    /** Merges the subtasks' stdout in order, as the spec's merge says, and stores the result. */
    async mergeJob({ jobId }: { jobId: string }): Promise<{ value: string | null; ref: string | null }> {
      const { spec } = await loadSpec(jobId);
      if (spec.merge?.kind === 'video') return mergeVideo(jobId, spec.merge.fps ?? 12);
      if (spec.merge?.kind === 'archive') return mergeArchive(jobId);
      const rows = await db
        .select({ index: subtasks.index, resultRef: subtasks.resultRef })
        .from(subtasks)
        .where(eq(subtasks.jobId, jobId))
        .orderBy(asc(subtasks.index));
      if (spec.merge?.kind === 'none' || !spec.merge) return { value: null, ref: null };
      const refOf = (r: (typeof rows)[number]) => {
        if (!r.resultRef) throw ApplicationFailure.nonRetryable(`subtask ${r.index} has no result to merge`, FailureType.MergeFailed);
        return r.resultRef;
      };
      const ctx = Context.current();
      let value: string | null;
      let ref: string | null = null;
      if (spec.merge.kind === 'sum') {
        // One output in memory at a time.
        const sum = new OutputSum();
        for (const r of rows) {
          try {
            sum.add(r.index, (await deps.blobs.read(refOf(r))).toString('utf8'));
          } catch (e) {
            if (e instanceof GolemflowError) throw ApplicationFailure.nonRetryable(e.message, FailureType.MergeFailed);
            throw e;
          }
          if (r.index % 100 === 0) ctx.heartbeat({ phase: 'sum', merged: r.index });
        }
        value = sum.value();
      } else {
        // Streamed blob by blob into one blob: the requestor never holds every output at once.
        let head = Buffer.alloc(0);
        let total = 0;
        const store = deps.blobs;
        const chunks = async function* () {
          for (const r of rows) {
            for await (const chunk of await store.open(refOf(r))) {
              const c = chunk as Buffer;
              total += c.length;
              if (head.length <= CONCAT_VALUE_BYTES) head = Buffer.concat([head, c.subarray(0, CONCAT_VALUE_BYTES + 1 - head.length)]);
              yield c;
            }
            if (r.index % 100 === 0) ctx.heartbeat({ phase: 'concat', merged: r.index });
          }
        };
        const info = await store.put(chunks());
        await db.insert(blobs).values(info).onConflictDoNothing();
        ref = info.ref;
        value = total <= CONCAT_VALUE_BYTES ? head.toString('utf8') : null;
      }
      await db.update(jobs).set({ resultValue: value, resultRef: ref }).where(eq(jobs.id, jobId));
      return { value: value && value.length > 200 ? `${value.slice(0, 200)}…` : value, ref };
    },

    /** Records the job's end; subtasks still open are marked cancelled. */
    async finishJob({ jobId, status, error }: { jobId: string; status: Extract<JobStatus, 'succeeded' | 'failed' | 'cancelled'>; error?: string }): Promise<void> {
      await db
        .update(subtasks)
        .set({ status: 'cancelled', finishedAt: sql`now()` })
        .where(and(eq(subtasks.jobId, jobId), inArray(subtasks.status, ['pending', 'scheduled', 'waiting', 'running'])));
      await db
        .update(attempts)
        .set({ status: 'cancelled', reason: error ?? status, finishedAt: sql`now()` })
        .where(and(eq(attempts.jobId, jobId), eq(attempts.status, 'running')));
      deps.capacity.freed(await endAgreement(db, { jobId }, error ?? `job ${status}`));
      await db
        .update(jobs)
        .set({ status, error: error ?? null, finishedAt: sql`coalesce(${jobs.finishedAt}, now())` })
        .where(eq(jobs.id, jobId));
      const type = ({ succeeded: 'jobSucceeded', failed: 'jobFailed', cancelled: 'jobCancelled' } as const)[status];
      await addEvent(jobId, 'ended', type, { message: error });
      log.info('job ended', { jobId, status });
    },
  };
}

export type RequestorActivities = ReturnType<typeof createRequestorActivities>;
