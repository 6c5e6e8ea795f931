/** The Golemflow SDK (`import { Golemflow } from 'golemflow/sdk'`): see sdk/client.ts (Node) and sdk/api.ts (the calls, also for browsers). */
export * from './client.js';
export { GolemflowError, FailureType } from '../core/failures.js';
