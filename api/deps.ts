/** What the API's resolvers and routes are given. */
import type { Client } from '@temporalio/client';
import type { Registry } from 'prom-client';
import type { BlobStore } from '../blobs/store.js';
import type { Config } from '../infra/config.js';
import type { Db } from '../schema/db.js';
import type { Chain } from '../adapters/chain.js';
import type { EventBus } from './events.js';
import type { Sweeper } from '../workers/sweeper.js';
import type { AnswerBook } from '../adapters/answers.js';

export interface ApiDeps {
  db: Db;
  blobs: BlobStore;
  temporal: Client;
  config: Pick<Config, 'temporalUiUrl' | 'temporalNamespace' | 'requestorTaskQueue' | 'providerLivenessMs' | 'publicApiUrl' | 'requestorId' | 'limits' | 'corsOrigins'>;
  events: EventBus;
  /** The requestor's wallet (balances); absent on nodes that pay no one. */
  chain?: () => Promise<Chain>;
  /** The market's sweeper on this node (its figures appear in marketHealth). */
  sweeper?: Pick<Sweeper, 'stats'>;
  /** Where providers' answers are recorded (shared with the market's activities); absent: answerProposal is unavailable. */
  answers?: AnswerBook;
  /** What GET /metrics serves (api/metrics.ts); absent: no /metrics. */
  metrics?: Registry;
}

/** What every resolver is given about the call: who is asking (api/auth.ts). */
export interface RequestContext {
  /** Null for an anonymous call: market reads and signed provider calls only (api/auth.ts). */
  requestorId: string | null;
}
