// The bundle entry for the requestor's worker: only re-exports.
export * from './job.js';
export * from './subtask.js';
export * from './batch.js';
