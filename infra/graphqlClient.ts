/** A small GraphQL-over-HTTP client for providers, the CLI and tests. */
import { FailureType, GolemflowError } from '../core/failures.js';

/** A call the API refused (its errors, with their codes) or could not answer. */
export class GraphQLRequestError extends GolemflowError {
  constructor(
    message: string,
    readonly errors: Array<{ message: string; extensions?: Record<string, unknown> }> = [],
  ) {
    super(FailureType.ApiError, message);
  }
}

/**
 * Posts a query to `<apiUrl>/graphql` as the requestor an API key names (`opts.apiKey`, else
 * GOLEMFLOW_API_KEY; `apiKey: null` calls anonymously); throws GraphQLRequestError carrying the API's errors.
 */
export async function gql<T = Record<string, unknown>>(apiUrl: string, query: string, variables: Record<string, unknown> = {}, opts: { apiKey?: string | null } = {}): Promise<T> {
  const apiKey = opts.apiKey === null ? undefined : (opts.apiKey ?? (process.env.GOLEMFLOW_API_KEY || undefined));
  let res: Response;
  try {
    res = await fetch(new URL('/graphql', apiUrl), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
      },
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
