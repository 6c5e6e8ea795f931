/** The Golemflow SDK (`import { Golemflow } from 'golemflow/sdk'`): see sdk/client.ts. */
export { Golemflow, Job, JobEndedError, type ConnectOptions, type JobEvent, type JobSpecInput, type JobState, type JobStatus, type JobSummary, type Quote, type SubtaskResult } from './client.js';
export { GolemflowError, FailureType } from '../core/failures.js';
