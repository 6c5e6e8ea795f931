/**
 * The SDK's core, for Node and browsers alike (the dashboard uses it): GraphQL calls and the
 * events subscription as one requestor, typed from the API's schema (sdk/generated.ts by
 * `npm run codegen`). Files and the environment are sdk/client.ts's (Node only).
 */
import { FailureType, GolemflowError } from '../core/failures.js';
import type { JobSpec } from '../core/jobSpec.js';
import type * as G from './generated.js';
import { graphqlRequest, graphqlSubscribe } from './transport.js';

export { GraphQLRequestError } from './transport.js';

/** A job spec as a program writes it: image, command and split, the rest optional (defaults apply). */
export type JobSpecInput = Pick<JobSpec, 'image' | 'command' | 'split'> & DeepPartial<Omit<JobSpec, 'image' | 'command' | 'split'>>;
type DeepPartial<T> = { [K in keyof T]?: NonNullable<T[K]> extends Array<unknown> ? T[K] : NonNullable<T[K]> extends object ? DeepPartial<NonNullable<T[K]>> : T[K] };

export type Quote = G.QuoteQuery['quoteJob'];
export type JobEvent = G.JobEventsSubscription['jobEvents'];
export type JobState = NonNullable<G.JobStatusQuery['job']>;
export type JobSummary = G.JobsQuery['jobs']['nodes'][number];
export type SubtaskResult = NonNullable<G.JobResultsQuery['job']>['subtasks']['nodes'][number];
export type JobStatus = G.JobStatus;

export type ProviderSummary = G.ProvidersQuery['providers']['nodes'][number];
export type MarketHealth = G.MarketHealthQuery['marketHealth'];

/** A job that ended failed or cancelled, as `Job.result()` reports it. */
export class JobEndedError extends GolemflowError {
  constructor(
    readonly job: JobState,
    code: FailureType.JobFailed | FailureType.JobCancelled,
  ) {
    super(code, `job ${job.id} ${job.status.toLowerCase()}: ${job.error ?? 'no reason given'}`);
  }
}

const ENDED: JobStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

/** Pages of a connection, node by node: `page(after)` fetches one page. */
export async function* eachNode<N>(page: (after: string | null) => Promise<{ nodes: N[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } }>): AsyncGenerator<N> {
  let after: string | null = null;
  for (;;) {
    const conn = await page(after);
    yield* conn.nodes;
    if (!conn.pageInfo.hasNextPage) return;
    after = conn.pageInfo.endCursor;
  }
}

/** A requestor's view of one node's API: `url`, acting as the requestor `apiKey` names (none: the market only). */
export class GolemflowApi {
  constructor(
    readonly url: string,
    protected readonly apiKey: string | null,
  ) {}

  /** A GraphQL call as this requestor (the generated types name its result). */
  request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    return graphqlRequest<T>(this.url, query, variables, this.apiKey);
  }

  /** A GraphQL subscription as this requestor, over the API's SSE transport. */
  subscribe<T>(query: string, variables: Record<string, unknown>, signal?: AbortSignal): AsyncGenerator<T> {
    return graphqlSubscribe<T>(this.url, query, variables, this.apiKey, signal);
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
  jobs(filter?: G.JobFilter, pageSize = 100): AsyncGenerator<JobSummary> {
    return eachNode(async (after) => (await this.request<G.JobsQuery>(JOBS, { first: pageSize, after, filter })).jobs);
  }

  /** The providers the market knows, by id. */
  providers(filter?: G.ProviderFilter): AsyncGenerator<ProviderSummary> {
    return eachNode(async (after) => (await this.request<G.ProvidersQuery>(PROVIDERS, { first: 100, after, filter })).providers);
  }

  /** Leaks and stalls: stale agreements, overdue subtasks, slots in use. */
  async marketHealth(): Promise<MarketHealth> {
    return (await this.request<G.MarketHealthQuery>(MARKET_HEALTH)).marketHealth;
  }
}

/** A submitted job: follow it, await it, cancel it. */
export class Job {
  constructor(
    private readonly gf: GolemflowApi,
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
    const pages = eachNode(async (after) => {
      const { job }: G.JobResultsQuery = await this.gf.request<G.JobResultsQuery>(RESULTS, { id: this.id, first: 500, after });
      if (!job) throw new GolemflowError(FailureType.NotFound, `job ${this.id} does not exist (or is not this requestor's)`);
      return job.subtasks;
    });
    for await (const result of pages) out.push(result);
    return out;
  }

  /** Stops its running containers and marks it cancelled; its status after the cancel. */
  async cancel(reason?: string): Promise<JobStatus> {
    return (await this.gf.request<G.CancelJobMutation>(CANCEL, { id: this.id, reason })).cancelJob.status;
  }

  /** Adds `amount` GLM to a paid job's budget (a job paused at its cap goes on). */
  async raiseBudget(amount: string): Promise<G.RaiseBudgetMutation['raiseBudget']> {
    return (await this.gf.request<G.RaiseBudgetMutation>(RAISE, { id: this.id, amount })).raiseBudget;
  }

  /** The job's events so far, in order (a page at a time; `events()` follows them live). */
  async eventLog(): Promise<JobEvent[]> {
    const out: JobEvent[] = [];
    for await (const e of eachNode(async (after) => {
      const { job } = await this.gf.request<G.JobEventLogQuery>(EVENT_LOG, { id: this.id, first: 500, after });
      if (!job) throw new GolemflowError(FailureType.NotFound, `job ${this.id} does not exist (or is not this requestor's)`);
      return job.events;
    }))
      out.push(e);
    return out;
  }
}

// The operations: `npm run codegen` reads them here (by their GraphQL comment) and writes their
// types to sdk/generated.ts; a test fails when that file is stale.
export const QUOTE = /* GraphQL */ `query Quote($spec: JSON, $specText: String) {
  quoteJob(spec: $spec, specText: $specText) { amount perRun runs offersPriced basis }
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
export const RESULTS = /* GraphQL */ `query JobResults($id: ID!, $first: Int, $after: String) {
  job(id: $id) {
    id status
    subtasks(first: $first, after: $after) {
      nodes { index status params resultRef outputs { path ref size url } exitCode error }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;
export const JOBS = /* GraphQL */ `query Jobs($first: Int, $after: String, $filter: JobFilter) {
  jobs(first: $first, after: $after, filter: $filter) {
    nodes { id name status subtaskCount succeededCount failedCount createdAt finishedAt }
    pageInfo { hasNextPage endCursor }
  }
}`;
export const CANCEL = /* GraphQL */ `mutation CancelJob($id: ID!, $reason: String) {
  cancelJob(id: $id, reason: $reason) { id status }
}`;
export const RAISE = /* GraphQL */ `mutation RaiseBudget($id: ID!, $amount: GLM!) {
  raiseBudget(id: $id, amount: $amount) { id status allocation { locked released } }
}`;
export const EVENTS = /* GraphQL */ `subscription JobEvents($id: ID!, $after: Int) {
  jobEvents(id: $id, after: $after) { seq jobId type subtaskIndex providerId message at }
}`;
export const EVENT_LOG = /* GraphQL */ `query JobEventLog($id: ID!, $first: Int, $after: String) {
  job(id: $id) {
    events(first: $first, after: $after) {
      nodes { seq jobId type subtaskIndex providerId message at }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;
export const PROVIDERS = /* GraphQL */ `query Providers($first: Int, $after: String, $filter: ProviderFilter) {
  providers(first: $first, after: $after, filter: $filter) {
    nodes {
      id online slots reputation uptime openAgreements
      history { accepted wrong failures timeouts }
      earnings { paid owed refused payments }
      offer { preset pricing { start cpuSecond envSecond } paymentAddress }
    }
    pageInfo { hasNextPage endCursor }
  }
}`;
export const MARKET_HEALTH = /* GraphQL */ `query MarketHealth {
  marketHealth {
    healthy problems slotsOffered slotsInUse agreementsQueued
    providers { providerId online slots inUse queued jobs }
    sweeper { sweeps lastSweepAt agreementsEnded jobsEnded }
  }
}`;
