/**
 * The search attributes a job's workflow carries, so the Temporal UI and CLI can list jobs by
 * status, requestor and name: `GolemflowStatus="failed" AND GolemflowRequestor="alice"`. The API
 * sets them at start, the workflow keeps the status current, the requestor node registers them
 * with Temporal (infra/searchAttributes.ts). Definitions only.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const JOB_STATUS = defineSearchAttributeKey('GolemflowStatus', SearchAttributeType.KEYWORD);
export const JOB_REQUESTOR = defineSearchAttributeKey('GolemflowRequestor', SearchAttributeType.KEYWORD);
export const JOB_NAME = defineSearchAttributeKey('GolemflowJobName', SearchAttributeType.KEYWORD);
export const JOB_SEARCH_ATTRIBUTES = [JOB_STATUS, JOB_REQUESTOR, JOB_NAME] as const;
