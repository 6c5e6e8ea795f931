/**
 * The Golemflow SDK: what a program needs to use the market, typed from the API's own schema
 * (sdk/generated.ts). Connect as a requestor, quote and submit jobs, upload and download blobs,
 * follow a job's events as they happen, await its result, cancel it or raise its budget; and
 * `map`, golem-js style: run a command over input files, one subtask each, results in order.
 *
 *   const gf = await Golemflow.connect();              // GOLEMFLOW_API, GOLEMFLOW_API_KEY
 *   const job = await gf.submit({ image, command, split: { kind: 'range', start: 0, end: 100, step: 10 }, merge: { kind: 'sum' } });
 *   for await (const e of job.events()) console.log(e.type, e.message);
 *   console.log((await job.result()).value);
 */
import path from 'node:path';
import { BlobClient, refOfFile } from '../blobs/client.js';
import { FailureType, GolemflowError } from '../core/failures.js';
import type { JobSpec } from '../core/jobSpec.js';
import { gql } from '../infra/graphqlClient.js';
import { readNodeKey } from '../infra/nodeKey.js';
import { subscribe } from '../infra/sse.js';
import type * as G from './generated.js';

/** A job spec as a program writes it: image, command and split, the rest optional (defaults apply). */
export type JobSpecInput = Pick<JobSpec, 'image' | 'command' | 'split'> & DeepPartial<Omit<JobSpec, 'image' | 'command' | 'split'>>;
type DeepPartial<T> = { [K in keyof T]?: T[K] extends Array<unknown> ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K] };

export type Quote = G.QuoteQuery['quoteJob'];
export type JobEvent = G.JobEventsSubscription['jobEvents'];
export type JobState = NonNullable<G.JobStatusQuery['job']>;
export type JobSummary = G.JobsQuery['jobs']['edges'][number]['node'];
export type SubtaskResult = NonNullable<G.JobResultsQuery['job']>['subtasks'][number];
export type JobStatus = G.JobStatus;

/** A job that ended failed or cancelled, as `Job.result()` reports it. */
export class JobEndedError extends GolemflowError {
  constructor(
    readonly job: JobState,
    code: FailureType.JobFailed | FailureType.JobCancelled,
  ) {
    super(code, `job ${job.id} ${job.status.toLowerCase()}: ${job.error ?? 'no reason given'}`);
  }
}

export interface ConnectOptions {
  /** The requestor node's API (default GOLEMFLOW_API, else http://127.0.0.1:4000). */
  url?: string;
  /** The requestor's API key (default GOLEMFLOW_API_KEY, else the key a node on this machine wrote to <GOLEMFLOW_DATA>/requestor.key). */
  apiKey?: string;
}

const ENDED: JobStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

export class Golemflow {
  private constructor(
    readonly url: string,
    private readonly apiKey: string | undefined,
  ) {}

  /** A client for the node at `url`, acting as the requestor the key names. */
  static async connect(o: ConnectOptions = {}): Promise<Golemflow> {
    const url = o.url ?? process.env.GOLEMFLOW_API ?? 'http://127.0.0.1:4000';
    const apiKey = o.apiKey ?? (process.env.GOLEMFLOW_API_KEY || (await readNodeKey(process.env.GOLEMFLOW_DATA ?? '.data')));
    return new Golemflow(url, apiKey);
  }

  /** A GraphQL call as this requestor (the generated types name its result). */
  request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    return gql<T>(this.url, query, variables, { apiKey: this.apiKey ?? null });
  }

  /** A GraphQL subscription as this requestor, over the API's SSE transport. */
  subscribe<T>(query: string, variables: Record<string, unknown>, signal?: AbortSignal): AsyncGenerator<T> {
    return subscribe<T>(this.url, query, variables, signal, this.apiKey);
  }

  private get blobs(): BlobClient {
    return new BlobClient(this.url, this.apiKey ? `Bearer ${this.apiKey}` : undefined, 10_000);
  }

  /** What the market expects the job to cost (GLM), with its redundancy. */
  async quote(spec: JobSpecInput | string): Promise<Quote> {
    return (await this.request<G.QuoteQuery>(QUOTE, typeof spec === 'string' ? { specText: spec } : { spec })).quoteJob;
  }

  /** Validates and submits a spec (an object, or YAML/JSON text); the job runs at once. */
  async submit(spec: JobSpecInput | string): Promise<Job> {
    const { submitJob } = await this.request<G.SubmitJobMutation>(SUBMIT, typeof spec === 'string' ? { specText: spec } : { spec });
    return new Job(this, submitJob.job.id);
  }

  /** A job already submitted, by id. */
  job(id: string): Job {
    return new Job(this, id);
  }

  /** This requestor's jobs, newest first, page by page. */
  async *jobs(filter?: G.JobFilter): AsyncGenerator<JobSummary> {
    let after: string | null = null;
    for (;;) {
      const { jobs }: G.JobsQuery = await this.request<G.JobsQuery>(JOBS, { first: 100, after, filter });
      for (const e of jobs.edges) yield e.node;
      if (!jobs.pageInfo.hasNextPage) return;
      after = jobs.pageInfo.endCursor;
    }
  }

  /** Sends a file to the node (skipped when it holds those bytes already); returns its ref for a spec's inputs. */
  async uploadFile(file: string): Promise<string> {
    const ref = await refOfFile(file);
    if (!(await this.blobs.has(ref))) await this.blobs.uploadFile(file, ref);
    return ref;
  }

  /** Fetches a blob this requestor may read (its uploads, its jobs' outputs) into `file`, checking its hash. */
  async downloadFile(ref: string, file: string): Promise<void> {
    await this.blobs.download(ref, file);
  }

  /**
   * golem-js's map: runs `command` once per input file (each a subtask, the file under /in by
   * its name), and returns each subtask's result in the order of the inputs.
   */
  async map(files: string[], o: Omit<JobSpecInput, 'split'> & { onEvent?: (e: JobEvent) => void }): Promise<SubtaskResult[]> {
    const inputs = [];
    for (const file of files) inputs.push({ name: path.basename(file), ref: await this.uploadFile(file) });
    const { onEvent, ...spec } = o;
    const job = await this.submit({ ...spec, split: { kind: 'inputs', inputs } } as JobSpecInput);
    if (onEvent) for await (const e of job.events()) onEvent(e);
    await job.result();
    return job.subtaskResults();
  }
}

/** A submitted job: follow it, await it, cancel it. */
export class Job {
  constructor(
    private readonly gf: Golemflow,
    readonly id: string,
  ) {}

  /** Where the job stands now. */
  async status(): Promise<JobState> {
    const { job } = await this.gf.request<G.JobStatusQuery>(STATUS, { id: this.id });
    if (!job) throw new GolemflowError(FailureType.NotFound, `job ${this.id} does not exist (or is not this requestor's)`);
    return job;
  }

  /** The job's events as they happen (over the API's SSE subscription); ends after its last. `after`: resume after a seq. */
  async *events(o: { after?: number; signal?: AbortSignal } = {}): AsyncGenerator<JobEvent> {
    for await (const d of this.gf.subscribe<G.JobEventsSubscription>(EVENTS, { id: this.id, after: o.after ?? null }, o.signal)) yield d.jobEvents;
  }

  /** Waits for the job to end: its state when it succeeded; a JobEndedError when it failed or was cancelled. */
  async result(o: { pollMs?: number; signal?: AbortSignal } = {}): Promise<JobState> {
    for (;;) {
      const job = await this.status();
      if (ENDED.includes(job.status)) {
        if (job.status === 'SUCCEEDED') return job;
        throw new JobEndedError(job, job.status === 'FAILED' ? FailureType.JobFailed : FailureType.JobCancelled);
      }
      o.signal?.throwIfAborted();
      await new Promise((r) => setTimeout(r, o.pollMs ?? 500));
    }
  }

  /** Each subtask's result (stdout blob, outputs, exit code), in subtask order. */
  async subtaskResults(): Promise<SubtaskResult[]> {
    const out: SubtaskResult[] = [];
    for (let offset = 0; ; offset += 1000) {
      const { job } = await this.gf.request<G.JobResultsQuery>(RESULTS, { id: this.id, first: 1000, offset });
      if (!job) throw new GolemflowError(FailureType.NotFound, `job ${this.id} does not exist (or is not this requestor's)`);
      out.push(...job.subtasks);
      if (job.subtasks.length < 1000) return out.sort((a, b) => a.index - b.index);
    }
  }

  /** Stops its running containers and marks it cancelled. */
  async cancel(reason?: string): Promise<void> {
    await this.gf.request<G.CancelJobMutation>(CANCEL, { id: this.id, reason });
  }

  /** Adds `amount` GLM to a paid job's budget (a job paused at its cap goes on). */
  async raiseBudget(amount: string): Promise<G.RaiseBudgetMutation['raiseBudget']> {
    return (await this.gf.request<G.RaiseBudgetMutation>(RAISE, { id: this.id, amount })).raiseBudget;
  }
}

// The operations: `npm run codegen` reads them here (by their GraphQL comment) and writes their
// types to sdk/generated.ts; a test fails when that file is stale.
export const QUOTE = /* GraphQL */ `query Quote($spec: JSON, $specText: String) {
  quoteJob(spec: $spec, specText: $specText) { amount amountWei perRun runs offersPriced basis }
}`;
export const SUBMIT = /* GraphQL */ `mutation SubmitJob($spec: JSON, $specText: String) {
  submitJob(spec: $spec, specText: $specText) { job { id status subtaskCount } }
}`;
export const STATUS = /* GraphQL */ `query JobStatus($id: ID!) {
  job(id: $id) {
    id name status error note subtaskCount succeededCount failedCount createdAt startedAt finishedAt
    result { value ref url outputs { path ref size url } }
  }
}`;
export const RESULTS = /* GraphQL */ `query JobResults($id: ID!, $first: Int, $offset: Int) {
  job(id: $id) {
    id status
    subtasks(first: $first, offset: $offset) { index status params resultRef outputs { path ref size url } exitCode error }
  }
}`;
export const JOBS = /* GraphQL */ `query Jobs($first: Int, $after: String, $filter: JobFilter) {
  jobs(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id name status subtaskCount succeededCount failedCount createdAt finishedAt } }
    pageInfo { hasNextPage endCursor }
  }
}`;
export const CANCEL = /* GraphQL */ `mutation CancelJob($id: ID!, $reason: String) {
  cancelJob(id: $id, reason: $reason) { id status }
}`;
export const RAISE = /* GraphQL */ `mutation RaiseBudget($id: ID!, $amount: String!) {
  raiseBudget(job: $id, amount: $amount) { id status allocation { locked released } }
}`;
export const EVENTS = /* GraphQL */ `subscription JobEvents($id: ID!, $after: Int) {
  jobEvents(id: $id, after: $after) { seq jobId type subtaskIndex providerId message at }
}`;
