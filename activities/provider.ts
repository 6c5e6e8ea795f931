/**
 * Provider-side activities: they run on the provider's own worker (task queue
 * `provider.<id>`) and touch only Docker, a scratch folder and the requestor's blob endpoints.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { CancelledFailure } from '@temporalio/common';
import type Docker from 'dockerode';
import { FailureType } from '../core/failures.js';
import { formatSize } from '../core/units.js';
import { QUEUE_WAIT_SECONDS } from '../core/market.js';
import { decisionTerms, reviewProposal, type Proposal, type ProviderPolicy, type SignedDecision } from '../core/policy.js';
import { answerMessage, blobAccessMessage, failureMessage, resultMessage, signIdentity } from '../core/identity.js';
import type { LocalAccount } from 'viem';
import { refOfFile, type BlobClient } from '../blobs/client.js';
import type { OutputFile } from '../schema/tables.js';
import { createImageLoader, ImageArchiveError } from '../adapters/imageLoader.js';
import { corrupt, perturbPng, misbehaviourDecider, type Misbehaviour } from '../adapters/misbehaviour.js';
import { ProviderAgreements } from '../adapters/providerAgreements.js';
import type { ProviderMetricsHooks } from '../adapters/providerMetrics.js';
import { LABEL_PREFIX, runInSandbox, type OutputLimits } from '../adapters/sandbox.js';
import { quietHeartbeat } from '../infra/heartbeat.js';
import type { RunRequest, RunResult } from './types.js';

export interface ProviderDeps {
  docker: Docker;
  blobs: BlobClient;
  providerId: string;
  /** Scratch space for inputs, outputs and logs of running subtasks. */
  workRoot: string;
  /** Upper bounds this provider grants, whatever a spec asks. */
  maxCpus: number;
  maxMemoryBytes: number;
  /** The provider's own rules for proposals. */
  policy: ProviderPolicy;
  /** Test mode only: misbehave on purpose (see misbehaviour.ts). */
  misbehaviour?: Misbehaviour;
  /** The agreements this provider approved (the node keeps them in step with the market at each check-in). */
  agreements?: ProviderAgreements;
  /** The provider's key: it signs every answer and result (the market counts nothing unsigned). */
  identity: LocalAccount;
  /** Bounds on what one run may write (stdout, stderr, /out); the sandbox's defaults otherwise. */
  outputLimits?: Partial<OutputLimits>;
  /** Told of proposals, waits and runs, for the node's /metrics (adapters/providerMetrics.ts). */
  metrics?: ProviderMetricsHooks;
  /**
   * Tells the market this provider's answer to a proposal its run carried (the API's
   * answerProposal) and returns the market's verdict. Absent: there is no market to tell, and
   * the workflow records the answer the run brings back.
   */
  tellMarket?(agreementId: string, answer: SignedDecision): Promise<{ approved: boolean; reason: string | null }>;
}

const TAIL_BYTES = 4096;

async function tail(file: string, bytes = TAIL_BYTES): Promise<string> {
  const fh = await fs.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    return (start > 0 ? '…' : '') + buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(path.join(dir, e.name), rel)));
    else if (e.isFile()) out.push(rel);
  }
  return out;
}

/** Docker container names allow [a-zA-Z0-9_.-]. */
export function containerName(providerId: string, r: { jobId: string; index: number; attempt: number }): string {
  return `gf-${providerId}-${r.jobId}-${r.index}-${r.attempt}`.replace(/[^a-zA-Z0-9_.-]/g, '_');
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1]?.slice(0, 300) ?? '';
}

export function createProviderActivities(deps: ProviderDeps) {
  // Agreements this provider approved and has not finished: a run needs one, and they count
  // against the policy's concurrency limit (see providerAgreements.ts).
  const approved = deps.agreements ?? new ProviderAgreements();
  const misbehaveNow = deps.misbehaviour ? misbehaviourDecider(deps.misbehaviour) : () => false;
  const loadImage = createImageLoader(deps.docker, deps.workRoot);
  return {
    /** Answers a proposal from the provider's policy: accept, reject with a reason, or counter; signed. */
    reviewProposal: answerProposal,

    /**
     * Runs one attempt of a subtask in the sandbox and uploads what it produced. A run that
     * carries its proposal is reviewed first: declined, it runs nothing; accepted, it runs once
     * the market has the answer and approves (one trip through the queue instead of two).
     */
    async runSubtask(req: RunRequest): Promise<RunResult> {
      const ctx = Context.current();
      // A run that carries its proposal is reviewed here. The market hears the answer while the
      // run gets ready (inputs, container); the container starts only once the market approved.
      const answer = req.proposal && !approved.has(req.agreementId) ? await answerProposal(req.proposal) : undefined;
      if (answer?.decision === 'reject') throw declined(`provider ${deps.providerId} declined the proposal: ${answer.reason}`, answer);
      const approval = answer ? tellMarket(req.agreementId, answer) : Promise.resolve(null);
      if (!approved.has(req.agreementId))
        throw await signedFailure(req.agreementId, ApplicationFailure.nonRetryable(`provider ${deps.providerId} has no approved agreement ${req.agreementId}; it runs nothing without one`, FailureType.NoAgreement));
      const ended = approved.start(req.agreementId);
      // Whether the run had its turn for a slot (a run given back while it waited ran nothing).
      let started = false;
      // Inputs are fetched and the container made while the run waits for its slot.
      const turn = async () => {
        const refused = await approval;
        if (refused) throw refused;
        await waitForSlot(req, ctx, ended);
        started = true;
        log.info('run started', { providerId: deps.providerId, agreementId: req.agreementId, jobId: req.jobId, subtaskIndex: req.index, attempt: req.attempt, image: req.image });
      };
      try {
        // The node's blobs open to this run by its agreement, signed with this provider's key.
        const blobs = deps.blobs.as(`Agreement ${req.agreementId} ${await signIdentity(deps.identity, 'BlobAccess', blobAccessMessage(req.agreementId))}`);
        const unsigned = await run(req, ctx, ended, blobs, turn);
        const result: RunResult = { ...unsigned, signature: await signIdentity(deps.identity, 'Result', resultMessage(req.agreementId, unsigned)), ...(answer ? { answer } : {}) };
        log.info('run finished', { providerId: deps.providerId, agreementId: req.agreementId, jobId: req.jobId, subtaskIndex: req.index, status: result.status, failureType: result.failureType, wallSeconds: result.wallSeconds });
        deps.metrics?.run(result.status === 'succeeded' ? 'succeeded' : (result.failureType ?? 'failed'), result.wallSeconds);
        return result;
      } catch (e) {
        const failure = await signedFailure(req.agreementId, e, answer);
        if (started) deps.metrics?.run(failure instanceof ApplicationFailure && failure.type ? failure.type : 'cancelled', null);
        throw failure;
      } finally {
        approved.finish(req.agreementId);
      }
    },
  };

  /** The policy's answer to a proposal, signed; anything but a rejection approves it here. */
  async function answerProposal(proposal: Proposal): Promise<SignedDecision> {
    const decision = approved.has(proposal.agreementId) ? ({ decision: 'accept' } as const) : reviewProposal(deps.policy, proposal, approved.size);
    if (decision.decision !== 'reject') approved.approve(proposal.agreementId);
    deps.metrics?.proposal(decision.decision);
    log.info('proposal reviewed', {
      providerId: deps.providerId,
      agreementId: proposal.agreementId,
      requestorId: proposal.requestorId,
      jobId: proposal.jobId,
      subtaskIndex: proposal.subtaskIndex,
      decision: decision.decision,
      reason: 'reason' in decision ? decision.reason : undefined,
    });
    return { ...decision, signature: await signIdentity(deps.identity, 'Answer', answerMessage(proposal.agreementId, decision.decision, decisionTerms(decision))) };
  }

  /** A proposal declined as its run arrived: the workflow passes this provider over for the attempt. */
  function declined(message: string, answer: SignedDecision): ApplicationFailure {
    return ApplicationFailure.create({ type: FailureType.ProposalDeclined, message, nonRetryable: true, details: [{ answer }] });
  }

  /**
   * Tells the market an answer; resolves to why the run must not start (the market did not
   * approve: a counter above the demand's price, an agreement ended meanwhile; or it could not
   * be told), null once approved. Never rejects: a run that ends before its turn need not ask.
   */
  function tellMarket(agreementId: string, answer: SignedDecision): Promise<ApplicationFailure | null> {
    if (!deps.tellMarket) return Promise.resolve(null);
    return deps.tellMarket(agreementId, answer).then(
      (verdict) => (verdict.approved ? null : declined(`the market did not approve agreement ${agreementId}: ${verdict.reason}`, answer)),
      (e) => declined(`provider ${deps.providerId} could not tell the market its answer: ${(e as Error).message}`, answer),
    );
  }

  /**
   * An agreement taken while every slot was busy waits here for its turn, heartbeating, so its
   * container starts the moment a slot frees. It gives the work back after QUEUE_WAIT_SECONDS
   * (not this provider's fault: the runs ahead of it were long), and stops at once when the
   * work is cancelled or the market ends the agreement.
   */
  async function waitForSlot(req: RunRequest, ctx: Context, ended: AbortSignal): Promise<void> {
    const heartbeat = quietHeartbeat(ctx);
    const expired = new AbortController();
    const timer = setTimeout(() => expired.abort(), QUEUE_WAIT_SECONDS * 1000);
    const beat = setInterval(() => heartbeat({ phase: 'queued' }), 1000);
    const since = Date.now();
    try {
      await approved.turn(req.agreementId, AbortSignal.any([ctx.cancellationSignal, ended, expired.signal]));
      const waited = Date.now() - since;
      deps.metrics?.slotWait(waited / 1000);
      if (waited > 50) log.info('run waited for a free slot', { providerId: deps.providerId, agreementId: req.agreementId, jobId: req.jobId, subtaskIndex: req.index, waitedMs: waited });
    } catch (e) {
      if (ctx.cancellationSignal.aborted) throw new CancelledFailure('subtask cancelled while it waited for a slot');
      if (ended.aborted) throw ApplicationFailure.nonRetryable(`the agreement ${req.agreementId} ended while it waited for a slot`, FailureType.AgreementEnded);
      if (expired.signal.aborted)
        throw ApplicationFailure.nonRetryable(`provider ${deps.providerId} gave the work back: no slot freed within ${QUEUE_WAIT_SECONDS} s`, FailureType.QueueWaitExpired);
      throw e;
    } finally {
      clearTimeout(timer);
      clearInterval(beat);
    }
  }

  /**
   * A run that throws is signed too: the market blames this provider for a failure only when
   * its key says so (anyone polling its queue could otherwise fail its work in its name).
   * Cancellation is left as it is: Temporal itself reports it.
   */
  async function signedFailure(agreementId: string, e: unknown, answer?: SignedDecision): Promise<unknown> {
    if (e instanceof CancelledFailure || Context.current().cancellationSignal.aborted) return e;
    const type = e instanceof ApplicationFailure && e.type ? e.type : FailureType.ProviderError;
    const message = (e as Error)?.message ?? String(e);
    const signature = await signIdentity(deps.identity, 'Failure', failureMessage(agreementId, type, message));
    // The answer rides along: a run reviewed at its arrival approved the agreement it failed under.
    return ApplicationFailure.create({ type, message, nonRetryable: true, details: [{ signature, ...(answer ? { answer } : {}) }], cause: e instanceof Error ? e : undefined });
  }

  /** Fetches the inputs and makes the container, waits for `turn` (a free slot), runs it and uploads what it wrote. */
  async function run(req: RunRequest, ctx: Context, ended: AbortSignal, blobs: BlobClient, turn: () => Promise<void>): Promise<RunResult> {
    const heartbeat = quietHeartbeat(ctx);
    const name = containerName(deps.providerId, req);
    const work = path.join(deps.workRoot, name);
    const inDir = path.join(work, 'in');
    const outDir = path.join(work, 'out');
    const logDir = path.join(work, 'log');
    await fs.rm(work, { recursive: true, force: true });
    await fs.mkdir(inDir, { recursive: true });
    await fs.mkdir(outDir, { recursive: true });
    // The container runs as nobody and must be able to write its outputs.
    await fs.chmod(outDir, 0o777);
    try {
      heartbeat({ phase: 'inputs' });
      for (const input of req.inputs) await blobs.download(input.ref, path.join(inDir, input.name));

      const image = await deps.docker.getImage(req.image).inspect().catch(() => undefined);
      if (!image) {
        if (!req.imageArchive) return failed(FailureType.ImageMissing, `provider ${deps.providerId} does not have the image ${req.image}`);
        // Loading a large archive takes a while: keep heartbeating through it.
        const beat = setInterval(() => heartbeat({ phase: 'image' }), 1000);
        try {
          log.info('loading the job\'s image from its archive', { image: req.image, archive: req.imageArchive });
          await loadImage(req.image, req.imageArchive, blobs);
        } catch (e) {
          if (e instanceof ImageArchiveError) return failed(FailureType.ImageMissing, e.message);
          throw e;
        } finally {
          clearInterval(beat);
        }
      }
      heartbeat({ phase: 'running' });
      const misbehave = misbehaveNow() ? deps.misbehaviour!.mode : null;
      if (misbehave === 'exit-midway') setTimeout(() => process.exit(3), 300);
      if (misbehave === 'hang') {
        // Silent: no heartbeat, no answer, until the requestor gives up and cancels.
        log.warn('misbehaving on purpose: hanging', { agreementId: req.agreementId });
        await new Promise((resolve) => ctx.cancellationSignal.addEventListener('abort', resolve, { once: true }));
        throw new CancelledFailure('hung on purpose (test mode)');
      }
      const memoryBytes = Math.min(req.memoryBytes, deps.maxMemoryBytes);
      const res = await runInSandbox(deps.docker, {
        name,
        image: req.image,
        command: req.command,
        inputDir: inDir,
        outputDir: outDir,
        logDir,
        cpus: Math.min(req.cpus, deps.maxCpus),
        memoryBytes,
        timeoutMs: req.timeoutSeconds * 1000,
        labels: {
          [`${LABEL_PREFIX}.provider`]: deps.providerId,
          [`${LABEL_PREFIX}.job`]: req.jobId,
          [`${LABEL_PREFIX}.subtask`]: String(req.index),
        },
        onTick: (elapsedMs) => heartbeat({ phase: 'running', elapsedMs }),
        signal: AbortSignal.any([ctx.cancellationSignal, ended]),
        limits: deps.outputLimits,
        // Inspected above, unless it was loaded just now.
        ...(image ? { imageVolumes: Object.keys(image.Config?.Volumes ?? {}) } : {}),
        // The next run waiting for this slot starts while this one's outputs are uploaded.
        onExit: () => approved.release(req.agreementId),
        ready: turn,
      });
      if (res.cancelled && !ctx.cancellationSignal.aborted && ended.aborted)
        // The market ended the agreement (its job or subtask ended): not this provider's fault.
        throw ApplicationFailure.nonRetryable(`the agreement ${req.agreementId} ended while it ran; its container was killed`, FailureType.AgreementEnded);
      if (res.cancelled) throw new CancelledFailure('subtask cancelled; its container was killed');
      if (misbehave === 'wrong-output' && res.exitCode === 0) {
        log.warn('misbehaving on purpose: returning wrong output', { agreementId: req.agreementId });
        await fs.writeFile(res.stdoutFile, corrupt(await fs.readFile(res.stdoutFile)));
      }
      if ((misbehave === 'wrong-output' || misbehave === 'noisy-output') && res.exitCode === 0) {
        for (const rel of (await listFiles(outDir)).filter((f) => /\.png$/i.test(f))) {
          const file = path.join(outDir, rel);
          const bytes = await fs.readFile(file);
          try {
            await fs.writeFile(file, perturbPng(bytes, misbehave === 'wrong-output' ? 'wrong' : 'noise', req.index + 1));
          } catch {
            // Not a PNG after all: leave it as it is.
          }
        }
      }
      const stdoutTail = await tail(res.stdoutFile);
      const stderrTail = await tail(res.stderrFile);
      const base = { exitCode: res.exitCode, stdoutTail, stderrTail, cpuSeconds: res.cpuSeconds, wallSeconds: res.wallSeconds };
      if (misbehave === 'inflated-usage') {
        log.warn('misbehaving on purpose: claiming 900 s of CPU and wall time', { agreementId: req.agreementId });
        Object.assign(base, { cpuSeconds: 900, wallSeconds: 900 });
      }
      if (res.outputLimit) return { ...failed(FailureType.OutputTooLarge, `${res.outputLimit} and was stopped (the job's output limit, not the provider's fault)`), ...base, exitCode: null };
      if (res.timedOut)
        return { ...failed(FailureType.ContainerTimedOut, `passed its timeout of ${req.timeoutSeconds} s and was killed`), ...base, exitCode: null };
      if (res.oomKilled) return { ...failed(FailureType.ContainerOutOfMemory, `ran out of memory (limit ${formatSize(memoryBytes)})`), ...base };
      if (res.exitCode !== 0) {
        const why = lastLine(stderrTail) || lastLine(stdoutTail);
        return { ...failed(FailureType.ContainerFailed, `exited with code ${res.exitCode}${why ? `: ${why}` : ''}`), ...base };
      }
      // Hashing and uploading a large output takes a while: the provider stays visibly alive.
      const outputs: OutputFile[] = [];
      const beat = setInterval(() => heartbeat({ phase: 'outputs', uploaded: outputs.length }), 1000);
      try {
        heartbeat({ phase: 'outputs' });
        const stdoutRef = await refOfFile(res.stdoutFile);
        await blobs.uploadFile(res.stdoutFile, stdoutRef);
        for (const rel of await listFiles(outDir)) {
          const file = path.join(outDir, rel);
          const ref = await refOfFile(file);
          await blobs.uploadFile(file, ref);
          outputs.push({ path: rel, ref, size: (await fs.stat(file)).size });
        }
        return { status: 'succeeded', ...base, stdoutRef, outputs };
      } finally {
        clearInterval(beat);
      }
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  }
}

function failed(failureType: FailureType, reason: string): RunResult {
  return { status: 'failed', failureType, reason, exitCode: null, stdoutTail: '', stderrTail: '', stdoutRef: null, outputs: [], cpuSeconds: 0, wallSeconds: 0 };
}

export type ProviderActivities = ReturnType<typeof createProviderActivities>;
