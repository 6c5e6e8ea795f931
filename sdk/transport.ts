/**
 * GraphQL over HTTP, and subscriptions over SSE (graphql-yoga's "distinct connections" mode):
 * fetch only, so the same code runs in Node and in the dashboard's browser page.
 */
import { FailureType, GolemflowError } from '../core/failures.js';

/** A call the API refused (its errors, with their codes) or could not answer. */
export class GraphQLRequestError extends GolemflowError {
  constructor(
    message: string,
    readonly errors: Array<{ message: string; extensions?: Record<string, unknown> }> = [],
  ) {
    super(FailureType.ApiError, message);
  }

  /** The API's `extensions.code` of its first error (NOT_FOUND, BAD_USER_INPUT, …), if any. */
  get apiCode(): string | undefined {
    return this.errors.find((e) => typeof e.extensions?.code === 'string')?.extensions?.code as string | undefined;
  }
}

const headers = (apiKey: string | null | undefined, accept: string) => ({
  'content-type': 'application/json',
  accept,
  ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
});

/** Posts a query to `<apiUrl>/graphql` as the requestor `apiKey` names (none: anonymous); throws GraphQLRequestError carrying the API's errors. */
export async function graphqlRequest<T>(apiUrl: string, query: string, variables: Record<string, unknown>, apiKey: string | null | undefined): Promise<T> {
  let res: Response;
  try {
    res = await fetch(new URL('/graphql', apiUrl), {
      method: 'POST',
      headers: headers(apiKey, 'application/graphql-response+json, application/json'),
      body: JSON.stringify({ query, variables }),
    });
  } catch (e) {
    throw new GraphQLRequestError(`cannot reach the Golemflow API at ${apiUrl}: ${(e as Error).cause ?? (e as Error).message}`);
  }
  const text = await res.text();
  let body: { data?: T; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
  try {
    body = JSON.parse(text);
  } catch {
    throw new GraphQLRequestError(`the API at ${apiUrl} answered HTTP ${res.status} with no JSON: ${text.slice(0, 200)}`);
  }
  if (body.errors?.length) throw new GraphQLRequestError(body.errors.map((e) => e.message).join('; '), body.errors);
  if (!body.data) throw new GraphQLRequestError(`the API at ${apiUrl} answered HTTP ${res.status} with no data`);
  return body.data;
}

/** A subscription's results as they come; ends when the server completes it. */
export async function* graphqlSubscribe<T>(apiUrl: string, query: string, variables: Record<string, unknown>, apiKey: string | null | undefined, signal?: AbortSignal): AsyncGenerator<T> {
  const res = await fetch(new URL('/graphql', apiUrl), { method: 'POST', headers: headers(apiKey, 'text/event-stream'), body: JSON.stringify({ query, variables }), signal });
  if (!res.ok || !res.body) throw new GraphQLRequestError(`subscription failed: HTTP ${res.status} ${await res.text()}`);
  if (!res.headers.get('content-type')?.includes('text/event-stream')) throw new GraphQLRequestError(`subscription answered ${res.headers.get('content-type')}, not an event stream: ${await res.text()}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event === 'complete') return;
        if (!data) continue;
        const payload = JSON.parse(data) as { data?: T; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
        if (payload.errors?.length) throw new GraphQLRequestError(payload.errors.map((e) => e.message).join('; '), payload.errors);
        if (payload.data) yield payload.data;
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
