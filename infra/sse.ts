/** Reads a GraphQL subscription over SSE, with the key from the environment by default (the SDK's transport). */
import { graphqlSubscribe } from '../sdk/transport.js';

export function subscribe<T = unknown>(apiUrl: string, query: string, variables: Record<string, unknown> = {}, signal?: AbortSignal, apiKey = process.env.GOLEMFLOW_API_KEY): AsyncGenerator<T> {
  return graphqlSubscribe<T>(apiUrl, query, variables, apiKey, signal);
}
