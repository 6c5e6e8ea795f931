/**
 * Workflow ids, shared by the workflows, the API and the sweeper (plain functions: no workflow
 * runtime is needed to import them). A job's workflow id is the job id.
 */
export function subtaskWorkflowId(jobId: string, index: number): string {
  return `${jobId}/subtask-${index}`;
}
