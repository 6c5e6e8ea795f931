/**
 * The shapes that cross Temporal between workflows and activities. Only references and small
 * values: never file contents (payloads stay far under Temporal's limits).
 */
import type { InputFile } from '../core/jobSpec.js';
import type { FailureType } from '../core/failures.js';
import type { AdaptivePolicy } from '../core/verify.js';
import type { CompareSpec } from '../core/compare.js';
import type { OutputFile } from '../schema/tables.js';
import type { Proposal, SignedDecision } from '../core/policy.js';

export interface SubtaskRef {
  jobId: string;
  index: number;
}

/** What the job workflow needs to run the job; returned once by `prepareJob`. */
export interface JobPlan {
  subtaskCount: number;
  maxParallel: number;
  maxAttempts: number;
  heartbeatTimeoutSeconds: number;
  timeoutSeconds: number;
  offerDeadlineSeconds: number;
  redundancy: number;
  maxExtraRuns: number;
  adaptive: AdaptivePolicy | null;
  /** How copies' results are compared (absent in plans recorded before comparison had a choice: exact). */
  compare?: CompareSpec;
  /** Crop spot checks of lone image results (null: none). */
  cropCheck?: { crops: number; size: number; rate: number } | null;
  /** The job's budget in wei (decimal text) when it pays its providers in GLM; null: unpaid. */
  budgetWei?: string | null;
}

/** Everything a provider needs to run one subtask. */
export interface RunRequest extends SubtaskRef {
  attempt: number;
  /** The agreement this run happens under; the provider refuses to run without an approved one. */
  agreementId: string;
  /**
   * The proposal, for the provider to review as the run arrives: it answers (signed), tells the
   * market, and runs only once the market approved. Absent: the agreement was approved before
   * the run was sent (histories from before REVIEW_AT_RUN).
   */
  proposal?: Proposal;
  image: string;
  /** A `docker save` archive (blob ref) of `image`, loaded by a provider that lacks the image; null: none. */
  imageArchive?: string | null;
  command: string[];
  inputs: InputFile[];
  cpus: number;
  memoryBytes: number;
  timeoutSeconds: number;
}

/** What a provider reports about one run. A container that fails is a result, not an exception. */
export interface RunResult {
  status: 'succeeded' | 'failed';
  failureType?: FailureType;
  reason?: string;
  exitCode: number | null;
  stdoutTail: string;
  stderrTail: string;
  stdoutRef: string | null;
  outputs: OutputFile[];
  cpuSeconds: number;
  wallSeconds: number;
  /** The provider's signature over all of the above (core/identity.ts resultMessage): without it nothing counts. */
  signature?: string;
  /** The provider's signed answer to the proposal the run carried (RunRequest.proposal). */
  answer?: SignedDecision;
}

export interface AttemptOutcome extends SubtaskRef {
  attempt: number;
  providerId: string;
  /** A crop check renders crops of another result: not a result of its own. */
  role?: 'copy' | 'cropCheck';
  /** The comparison key of a result (null when the attempt gave none). */
  resultKey?: string | null;
  /** How long the run took as the workflow saw it (scheduled to answered): the bound on the wall seconds it claims. */
  observedSeconds?: number;
  /** The provider's report, or why there is none (it died, timed out, was cancelled). */
  result: RunResult | { status: 'failed' | 'cancelled'; failureType?: string; reason: string; claim?: FailureClaim };
  /**
   * The answer to the proposal the run carried, recorded first (adapters/answers.ts): when it
   * does not approve the agreement, nothing of the run is recorded and the provider counts as
   * having declined (subtask.ts SETTLE_WITH_RESULT; before it, decideAgreement came separately).
   */
  answer?: { agreementId: string; copy: number; decision: SignedDecision | { decision: 'expired'; reason: string } };
  /**
   * The run's result decides alone (core/verification.ts acceptsLoneResult): a valid result is
   * accepted as it is recorded, with one vote for its key, as acceptResult would.
   */
  acceptAlone?: boolean;
}

/** What finishAttempt recorded: a report refused (not the provider's key), or an answer that declined. */
export interface AttemptRecorded {
  refused: string | null;
  /** Why the run's agreement was not approved (AttemptOutcome.answer): the run counts for nothing. */
  declined?: string;
  /** The result was accepted with it (AttemptOutcome.acceptAlone), at this cost. */
  accepted?: { costWei: string };
}

/** A failure the provider itself reported (it threw): what it said, and its signature over that (core/identity.ts Failure). */
export interface FailureClaim {
  failureType: string;
  message: string;
  signature: string | null;
}
