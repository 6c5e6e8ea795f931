/** The GraphQL client of providers, the CLI and tests: the SDK's transport, with the key from the environment by default. */
import { graphqlRequest, GraphQLRequestError } from '../sdk/transport.js';

export { GraphQLRequestError };

/**
 * Posts a query to `<apiUrl>/graphql` as the requestor an API key names (`opts.apiKey`, else
 * GOLEMFLOW_API_KEY; `apiKey: null` calls anonymously); throws GraphQLRequestError carrying the API's errors.
 */
export function gql<T = Record<string, unknown>>(apiUrl: string, query: string, variables: Record<string, unknown> = {}, opts: { apiKey?: string | null } = {}): Promise<T> {
  const apiKey = opts.apiKey === null ? undefined : (opts.apiKey ?? (process.env.GOLEMFLOW_API_KEY || undefined));
  return graphqlRequest<T>(apiUrl, query, variables, apiKey);
}
