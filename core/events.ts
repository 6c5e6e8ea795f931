/**
 * What can happen to a job: the one list of its event types, which the API gives as the
 * `JobEventType` enum (a test holds the schema to this list).
 */
export const JOB_EVENT_TYPES = [
  'jobStarted',
  'budgetLocked',
  'budgetRaised',
  'subtaskScheduled',
  'subtaskWaitingForOffers',
  'agreementProposed',
  'agreementApproved',
  'agreementRejected',
  'agreementExpired',
  'agreementSwept',
  'subtaskStarted',
  'intrusion',
  'usageBounded',
  'resultDelivered',
  'attemptFailed',
  'resultRejected',
  'verificationPlanned',
  'subtaskFinished',
  'subtaskFailed',
  'paymentWaiting',
  'paymentsSent',
  'budgetReturned',
  'jobSucceeded',
  'jobFailed',
  'jobCancelled',
] as const;

export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

/** The events after which a job has nothing more to say. */
export const ENDING_EVENT_TYPES: ReadonlySet<JobEventType> = new Set(['jobSucceeded', 'jobFailed', 'jobCancelled']);

/** A name as the API's enums spell it: jobStarted -> JOB_STARTED, ContainerFailed -> CONTAINER_FAILED. */
export function screamingCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}
