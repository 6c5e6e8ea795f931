/**
 * The requestor node's tables. snake_case in SQL, camelCase in TypeScript; the same words as
 * the GraphQL API (Job, Subtask, Attempt, Provider, Blob, JobEvent).
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  doublePrecision,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import type { JobSpec, InputFile } from '../core/jobSpec.js';
import type { Offer, Pricing, ScoredOffer, Exclusion, Constraint } from '../core/market.js';

export const JOB_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const SUBTASK_STATUSES = ['pending', 'scheduled', 'waiting', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type SubtaskStatus = (typeof SUBTASK_STATUSES)[number];
export const AGREEMENT_STATES = ['proposed', 'approved', 'rejected', 'expired', 'terminated'] as const;
export type AgreementState = (typeof AGREEMENT_STATES)[number];
export const ATTEMPT_STATUSES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
export type AttemptStatus = (typeof ATTEMPT_STATUSES)[number];

/** An output file a container wrote under /out, stored as a blob. */
/** One comparison of a result with another (tolerance or comparator), and its evidence. */
export interface Comparison {
  /** The attempt compared with. */
  against: number;
  same: boolean;
  detail: string;
  /** Image comparison: the worst share of differing pixels and the lowest PSNR (dB; null when identical). */
  diffRatio?: number;
  psnr?: number | null;
}

export interface OutputFile {
  path: string;
  ref: string;
  size: number;
}

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const jobs = pgTable(
  'jobs',
  {
    id: text('id').primaryKey(),
    name: text('name'),
    requestorId: text('requestor_id').notNull().default('requestor'),
    spec: jsonb('spec').$type<JobSpec>().notNull(),
    status: text('status').$type<JobStatus>().notNull().default('queued'),
    subtaskCount: integer('subtask_count').notNull().default(0),
    /** These two follow the subtasks' status in the same statement (a trigger: migrations/0011_subtask_counts.sql). */
    succeededCount: integer('succeeded_count').notNull().default(0),
    failedCount: integer('failed_count').notNull().default(0),
    resultValue: text('result_value'),
    resultRef: text('result_ref'),
    /** Files the merge made (a video merge: video.mp4 and preview.gif). */
    resultOutputs: jsonb('result_outputs').$type<OutputFile[]>(),
    error: text('error'),
    /** While its payments wait (chain unreachable, wallet empty, budget spent): why. */
    paymentNote: text('payment_note'),
    createdAt: at('created_at').notNull().defaultNow(),
    startedAt: at('started_at'),
    finishedAt: at('finished_at'),
  },
  (t) => [index('jobs_created_idx').on(t.createdAt, t.id), index('jobs_status_idx').on(t.status)],
);

export const subtasks = pgTable(
  'subtasks',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    index: integer('index').notNull(),
    status: text('status').$type<SubtaskStatus>().notNull().default('pending'),
    params: jsonb('params').$type<Record<string, number | string>>().notNull(),
    command: jsonb('command').$type<string[]>().notNull(),
    inputs: jsonb('inputs').$type<InputFile[]>().notNull(),
    providerId: text('provider_id'),
    attemptCount: integer('attempt_count').notNull().default(0),
    resultRef: text('result_ref'),
    outputs: jsonb('outputs').$type<OutputFile[]>(),
    exitCode: integer('exit_code'),
    error: text('error'),
    /** Why it waits, while it does (e.g. which constraints exclude the offers). */
    note: text('note'),
    /** Since when it waits (for offers or for a free slot), while it does. */
    waitingSince: at('waiting_since'),
    /** How its copies voted: result key -> number of copies. */
    votes: jsonb('votes').$type<Record<string, number>>(),
    startedAt: at('started_at'),
    finishedAt: at('finished_at'),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.index] })],
);

export const attempts = pgTable(
  'attempts',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    subtaskIndex: integer('subtask_index').notNull(),
    number: integer('number').notNull(),
    providerId: text('provider_id').notNull(),
    agreementId: text('agreement_id'),
    /** Which of the subtask's redundant copies this attempt is (0-based). */
    copy: integer('copy').notNull().default(0),
    /** copy: a full run of the subtask; cropCheck: a few crops of another result re-rendered. */
    role: text('role').$type<'copy' | 'cropCheck'>().notNull().default('copy'),
    status: text('status').$type<AttemptStatus>().notNull().default('running'),
    /** After comparison with the other copies: accepted (agreed with the majority) or rejected (a wrong result). */
    verdict: text('verdict').$type<'accepted' | 'rejected'>(),
    /** The comparison key of its result (for exact comparison: its stdout and output blobs). */
    resultKey: text('result_key'),
    /** Comparisons with earlier results under a tolerance or the user's comparator, with their evidence. */
    comparisons: jsonb('comparisons').$type<Comparison[]>(),
    exitCode: integer('exit_code'),
    reason: text('reason'),
    failureType: text('failure_type'),
    stdoutTail: text('stdout_tail'),
    stderrTail: text('stderr_tail'),
    stdoutRef: text('stdout_ref'),
    outputs: jsonb('outputs').$type<OutputFile[]>(),
    cpuSeconds: doublePrecision('cpu_seconds'),
    wallSeconds: doublePrecision('wall_seconds'),
    startedAt: at('started_at').notNull().defaultNow(),
    finishedAt: at('finished_at'),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.subtaskIndex, t.number] }), index('attempts_provider_idx').on(t.providerId)],
);

export const providers = pgTable('providers', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  taskQueue: text('task_queue').notNull(),
  cpus: doublePrecision('cpus').notNull(),
  memoryBytes: bigint('memory_bytes', { mode: 'number' }).notNull(),
  /** How many subtasks it runs at once. */
  slots: integer('slots').notNull().default(1),
  /** The offer as last published; null for a provider that never published one. */
  offer: jsonb('offer').$type<Offer>(),
  registeredAt: at('registered_at').notNull().defaultNow(),
  lastSeenAt: at('last_seen_at').notNull().defaultNow(),
  /** Seconds seen online since registration (check-ins that followed each other closely). */
  onlineSeconds: doublePrecision('online_seconds').notNull().default(0),
  withdrawnAt: at('withdrawn_at'),
  /** The address whose key signs for this provider, bound when it first signed (core/identity.ts). */
  identity: text('identity'),
});

/** Why a provider was chosen: the ranked candidates and what excluded the rest. */
export interface MatchExplanation {
  preference: unknown;
  offersSeen: number;
  ranked: ScoredOffer[];
  excludedCounts: Partial<Record<Constraint, number>>;
  /** The first excluded offers, each with the constraint it failed (capped for big markets). */
  excluded: Exclusion[];
  winner: string;
}

/** A negotiated deal for one attempt of one subtask: no container runs without an approved one. */
export const agreements = pgTable(
  'agreements',
  {
    id: text('id').primaryKey(),
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    subtaskIndex: integer('subtask_index').notNull(),
    attempt: integer('attempt').notNull(),
    providerId: text('provider_id').notNull(),
    requestorId: text('requestor_id').notNull(),
    /**
     * The workflow the attempt runs in: the subtask's own, or its batch's (workflows/batch.ts).
     * The sweeper asks Temporal about it; null in agreements from before batches (the subtask's).
     */
    workflowId: text('workflow_id'),
    state: text('state').$type<AgreementState>().notNull().default('proposed'),
    /** The price proposed, then the one agreed (a counter-proposal replaces it). */
    pricing: jsonb('pricing').$type<Pricing>().notNull(),
    maxDurationSeconds: integer('max_duration_seconds').notNull(),
    explanation: jsonb('explanation').$type<MatchExplanation>().notNull(),
    decisionReason: text('decision_reason'),
    proposedAt: at('proposed_at').notNull().defaultNow(),
    decidedAt: at('decided_at'),
    endedAt: at('ended_at'),
    /** Who ended it: requestor or provider. */
    endedBy: text('ended_by'),
    endReason: text('end_reason'),
  },
  (t) => [
    index('agreements_job_idx').on(t.jobId, t.subtaskIndex),
    index('agreements_provider_state_idx').on(t.providerId, t.state),
    // Open agreements only (they hold slots): every placement counts them per provider, and over
    // the whole table that count grew with every agreement ever made.
    index('agreements_open_idx').on(t.providerId).where(sql`${t.state} in ('proposed', 'approved')`),
  ],
);

export const blobs = pgTable('blobs', {
  ref: text('ref').primaryKey(),
  size: bigint('size', { mode: 'number' }).notNull(),
  createdAt: at('created_at').notNull().defaultNow(),
});

/** What happened to a job, in order; `key` makes a retried activity's insert a no-op. */
export const jobEvents = pgTable(
  'job_events',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    type: text('type').notNull(),
    subtaskIndex: integer('subtask_index'),
    providerId: text('provider_id'),
    message: text('message'),
    at: at('at').notNull().default(sql`now()`),
  },
  (t) => [uniqueIndex('job_events_key_idx').on(t.jobId, t.key), index('job_events_job_idx').on(t.jobId, t.seq)],
);

/**
 * Requestors' API keys: `gf_<id>.<secret>`, of which only the secret's sha256 is kept. A key
 * names the requestor its jobs belong to.
 */
export const apiKeys = pgTable('api_keys', {
  id: text('id').primaryKey(),
  requestorId: text('requestor_id').notNull(),
  secretHash: text('secret_hash').notNull(),
  label: text('label'),
  createdAt: at('created_at').notNull().defaultNow(),
  revokedAt: at('revoked_at'),
});

/**
 * Who may read a blob, and what its bytes count against. Blobs are named by their hash, so a
 * hash alone must open nothing: a holder is `requestor:<id>` (it sent the bytes, or a provider
 * sent them as its job's output) or `agreement:<id>` (the provider uploaded them under it).
 * `via: 'upload'` rows count against the holder's quota; `output` rows only let the job's
 * owner read what its providers made.
 */
export const blobGrants = pgTable(
  'blob_grants',
  {
    ref: text('ref').notNull(),
    holder: text('holder').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    via: text('via').$type<'upload' | 'output'>().notNull(),
    createdAt: at('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.ref, t.holder] }), index('blob_grants_holder_idx').on(t.holder, t.via)],
);

export const tables = { jobs, subtasks, attempts, providers, agreements, blobs, jobEvents, apiKeys, blobGrants };

/** Contracts the project deployed on a chain (the local one), found again after a restart. */
export const deployments = pgTable(
  'deployments',
  {
    chainId: integer('chain_id').notNull(),
    name: text('name').notNull(),
    address: text('address').notNull(),
    /** Hash of the compiled sources: a change deploys anew. */
    sourceHash: text('source_hash').notNull(),
    deployedAt: at('deployed_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.chainId, t.name, t.sourceHash] })],
);

export type AllocationState = 'pending' | 'locked' | 'closed';

/** A job's budget locked in the escrow: locked, released to providers, returned at the end (wei, as decimal text). */
export const allocations = pgTable('allocations', {
  jobId: text('job_id')
    .primaryKey()
    .references(() => jobs.id, { onDelete: 'cascade' }),
  allocationId: text('allocation_id').notNull(),
  chainId: integer('chain_id').notNull(),
  escrow: text('escrow').notNull(),
  token: text('token').notNull(),
  requestor: text('requestor').notNull(),
  state: text('state').$type<AllocationState>().notNull().default('pending'),
  lockedWei: numeric('locked_wei', { precision: 78, scale: 0 }).notNull().default('0'),
  releasedWei: numeric('released_wei', { precision: 78, scale: 0 }).notNull().default('0'),
  returnedWei: numeric('returned_wei', { precision: 78, scale: 0 }),
  deadline: at('deadline').notNull(),
  lockTx: text('lock_tx'),
  closeTx: text('close_tx'),
  /** While payments wait (chain unreachable, wallet empty, budget spent): why. */
  note: text('note'),
  createdAt: at('created_at').notNull().defaultNow(),
  closedAt: at('closed_at'),
});

export type InvoiceStatus = 'accepted' | 'rejected' | 'paid';

/** What a provider is owed for one result: accepted (to be paid), rejected (with the evidence) or paid. */
export const invoices = pgTable(
  'invoices',
  {
    /** The payment id (job, subtask, provider): the escrow releases under it at most once. */
    paymentId: text('payment_id').primaryKey(),
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    subtaskIndex: integer('subtask_index').notNull(),
    attempt: integer('attempt').notNull(),
    providerId: text('provider_id').notNull(),
    providerAddress: text('provider_address'),
    agreementId: text('agreement_id'),
    amountWei: numeric('amount_wei', { precision: 78, scale: 0 }).notNull(),
    /** How the amount was reached: pricing, CPU-seconds, wall-seconds. */
    basis: jsonb('basis').$type<{ pricing: Pricing; cpuSeconds: number; wallSeconds: number }>().notNull(),
    status: text('status').$type<InvoiceStatus>().notNull(),
    reason: text('reason'),
    txHash: text('tx_hash'),
    createdAt: at('created_at').notNull().defaultNow(),
    paidAt: at('paid_at'),
  },
  (t) => [index('invoices_job_idx').on(t.jobId, t.status), index('invoices_provider_idx').on(t.providerId)],
);

export type ChainTxStatus = 'signed' | 'mined' | 'failed' | 'replaced';

/**
 * The payments ledger: every transaction the requestor's wallet signs, written before it is
 * broadcast, so a crash between signing and sending is found and finished, never sent twice.
 */
export const chainTxs = pgTable(
  'chain_txs',
  {
    hash: text('hash').primaryKey(),
    chainId: integer('chain_id').notNull(),
    account: text('account').notNull(),
    nonce: integer('nonce').notNull(),
    kind: text('kind').$type<'approve' | 'lock' | 'increase' | 'release' | 'close' | 'mint'>().notNull(),
    jobId: text('job_id'),
    paymentIds: jsonb('payment_ids').$type<string[]>().notNull().default([]),
    /** The signed transaction, to broadcast again after a crash. */
    raw: text('raw').notNull(),
    maxFeePerGas: numeric('max_fee_per_gas', { precision: 78, scale: 0 }).notNull(),
    status: text('status').$type<ChainTxStatus>().notNull().default('signed'),
    blockNumber: bigint('block_number', { mode: 'number' }),
    /** The transaction that replaced this one (same nonce, higher fee). */
    replacedBy: text('replaced_by'),
    error: text('error'),
    createdAt: at('created_at').notNull().defaultNow(),
    minedAt: at('mined_at'),
  },
  (t) => [index('chain_txs_account_nonce_idx').on(t.account, t.nonce), index('chain_txs_job_idx').on(t.jobId)],
);
