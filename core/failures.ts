/**
 * Failure types shared by workflows, activities and the API. One string enum so that a
 * workflow can decide what to retry by type, and a user sees the same word everywhere.
 */
export enum FailureType {
  InvalidJobSpec = 'InvalidJobSpec',
  NoProviderAvailable = 'NoProviderAvailable',
  NoMatchingOffer = 'NoMatchingOffer',
  NoAgreement = 'NoAgreement',
  /** A placement for a subtask or job that has already ended: no agreement is made. */
  SubtaskEnded = 'SubtaskEnded',
  /** The market ended an agreement while its container ran (its job or subtask had ended). */
  AgreementEnded = 'AgreementEnded',
  /** A run that waited behind a provider's busy slots for too long and was given back (the runs ahead were long): no one's fault. */
  QueueWaitExpired = 'QueueWaitExpired',
  /** A provider that declined a proposal as its run arrived (or whose answer the market did not approve): passed over, not blamed. */
  ProposalDeclined = 'ProposalDeclined',
  /** A report or answer not signed by the provider's bound key: refused, blamed on no provider. */
  Intrusion = 'Intrusion',
  ContainerFailed = 'ContainerFailed',
  ContainerTimedOut = 'ContainerTimedOut',
  ContainerOutOfMemory = 'ContainerOutOfMemory',
  ImageMissing = 'ImageMissing',
  BlobNotFound = 'BlobNotFound',
  BlobHashMismatch = 'BlobHashMismatch',
  BlobTooLarge = 'BlobTooLarge',
  /** A container wrote more to stdout, stderr or /out than the limits allow: the job's fault, not the provider's. */
  OutputTooLarge = 'OutputTooLarge',
  MergeFailed = 'MergeFailed',
  SubtaskFailed = 'SubtaskFailed',
  NoQuorum = 'NoQuorum',
  /** The user's comparator command could not give a verdict (not the providers' fault). */
  ComparatorFailed = 'ComparatorFailed',
  /** The chain does not answer, or the requestor's wallet cannot pay: the job waits. */
  ChainUnavailable = 'ChainUnavailable',
  /** The escrow refused a payment (already paid, over budget): waiting will not help. */
  PaymentRefused = 'PaymentRefused',
  /** The job's quote is above its budget. */
  BudgetTooLow = 'BudgetTooLow',
  JobCancelled = 'JobCancelled',
  /** A job that failed: its workflow fails with this type, the job's outcome in the details. */
  JobFailed = 'JobFailed',
  /** A provider that stopped heartbeating or never picked the work up (Temporal's own timeouts). */
  ProviderSilent = 'ProviderSilent',
  /** A provider whose run passed the activity's own time bound. */
  ProviderTimedOut = 'ProviderTimedOut',
  /** A provider's run that failed without a report of its own. */
  ProviderError = 'ProviderError',
  /** An offer that breaks the offer rules (core/offer.ts). */
  InvalidOffer = 'InvalidOffer',

  // What a caller of the API did wrong, or met: the API's `extensions.code` is each name in
  // SCREAMING_SNAKE_CASE (api/errors.ts apiCodeOf).
  BadInput = 'BadInput',
  NotFound = 'NotFound',
  Conflict = 'Conflict',
  Unavailable = 'Unavailable',
  InsufficientFunds = 'InsufficientFunds',
  QuotaExceeded = 'QuotaExceeded',
  Unauthenticated = 'Unauthenticated',
  Forbidden = 'Forbidden',
  /** A client's call that the API refused or could not answer (infra/graphqlClient.ts). */
  ApiError = 'ApiError',
}

/** Failures a provider answers for in its reputation (not the job's own command failing). */
export const PROVIDER_FAULTS: readonly FailureType[] = [FailureType.ProviderError, FailureType.NoAgreement, FailureType.ImageMissing];
/** Provider failures seen as silence (Temporal's timeouts). */
export const PROVIDER_SILENCES: readonly FailureType[] = [FailureType.ProviderSilent, FailureType.ProviderTimedOut];

/** Base class of the project's own errors: a fixed code and the class name as the error name. */
export class GolemflowError extends Error {
  constructor(
    readonly code: FailureType,
    message: string,
  ) {
    super(message);
    this.name = this.constructor.name;
  }
}

/** One problem in a job spec: where it is (a JSON pointer such as `/split/step`) and what was expected. */
export interface SpecProblem {
  path: string;
  message: string;
}

/** A job spec that failed validation; carries every problem found, not just the first. */
export class InvalidJobSpecError extends GolemflowError {
  constructor(readonly problems: SpecProblem[]) {
    super(
      FailureType.InvalidJobSpec,
      `invalid job spec: ${problems.map((p) => `${p.path || '/'}: ${p.message}`).join('; ')}`,
    );
  }
}

/** A blob whose bytes do not hash to the name it was sent under. */
export class BlobHashMismatchError extends GolemflowError {
  constructor(expected: string, actual: string) {
    super(FailureType.BlobHashMismatch, `blob content hashes to sha256:${actual}, not sha256:${expected}`);
  }
}

/** A blob that the store does not hold. */
export class BlobNotFoundError extends GolemflowError {
  constructor(ref: string) {
    super(FailureType.BlobNotFound, `blob ${ref} not found`);
  }
}

/** A blob above the node's size limit, counted on the bytes as they arrive. */
export class BlobTooLargeError extends GolemflowError {
  constructor(readonly maxBytes: number) {
    super(FailureType.BlobTooLarge, `blob is above the limit of ${maxBytes} bytes`);
  }
}
