/** The API: graphql-yoga (GraphiQL at /graphql, subscriptions over SSE) plus the blob routes. */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { EnvelopArmor } from '@escape.tech/graphql-armor';
import { createSchema, createYoga } from 'graphql-yoga';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { METRICS_CONTENT_TYPE, metricsText } from '../infra/metrics.js';
import { buildSchema } from 'graphql';
import { scalarResolvers } from './scalars.js';
import { handleBlobRoute } from './blobRoutes.js';
import { handleDashboardRoute } from './dashboard.js';
import type { ApiDeps, RequestContext } from './deps.js';
import { identify } from './auth.js';
import { apiCodeOf, maskErrors } from './errors.js';
import { FailureType } from '../core/failures.js';
import { healthResolvers } from './health.js';
import { jobResolvers } from './jobs.js';
import { marketResolvers } from './market.js';
import { paymentResolvers } from './payments.js';

/** What GraphiQL opens with: the market, which anyone may read. */
const DEFAULT_GRAPHIQL_QUERY = `# The market, open to anyone. Jobs and payments need your API key in the
# Headers tab below: {"Authorization": "Bearer gf_…"} (npm run keys -- create NAME,
# or the node's own key in <GOLEMFLOW_DATA>/requestor.key).
query Market {
  marketStats { onlineProviders activeAgreements }
  offers(filter: { onlineOnly: true }) { nodes { providerId pricing { start cpuSecond envSecond } } }
}
`;

export const typeDefs = readFileSync(path.join(path.dirname(fileURLToPath(import.meta.url)), 'schema.graphql'), 'utf8');

function mergeResolvers(...parts: Record<string, object>[]): Record<string, object> {
  const out: Record<string, object> = {};
  for (const part of parts) for (const [type, fields] of Object.entries(part)) out[type] = { ...(out[type] ?? {}), ...fields };
  return out;
}

function armor(limits: ApiDeps['config']['limits']) {
  return new EnvelopArmor({
    maxDepth: { n: limits.graphqlDepth, exposeLimits: true },
    maxAliases: { n: limits.graphqlAliases, exposeLimits: true },
    maxTokens: { n: limits.graphqlTokens, exposeLimits: true },
    costLimit: { maxCost: limits.graphqlCost, exposeLimits: true },
    maxDirectives: { n: 50, exposeLimits: true },
    blockFieldSuggestion: { enabled: false },
  }).protect();
}

/** The yoga instance; `yoga.fetch` serves tests in-process. */
export function createApi(deps: ApiDeps) {
  const schema = createSchema<RequestContext>({
    typeDefs,
    resolvers: mergeResolvers(scalarResolvers(buildSchema(typeDefs)) as Record<string, object>, jobResolvers(deps), marketResolvers(deps), paymentResolvers(deps), healthResolvers(deps)),
  });
  return createYoga<object, RequestContext>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // GraphiQL with its scripts in the page itself: the CDN that yoga's default page loads them
    // from is out of reach on a machine without internet (the page stayed "Loading…").
    renderGraphiQL,
    graphiql: {
      title: 'Golemflow GraphiQL',
      defaultQuery: DEFAULT_GRAPHIQL_QUERY,
    },
    logging: 'warn',
    // The project's own errors reach the caller with their code (api/errors.ts); the rest is masked.
    maskedErrors: { maskError: maskErrors },
    context: async ({ request }) => ({ requestorId: await identify(deps.db, request.headers.get('authorization')) }),
    // Browsers may call only from the allowed origins (none by default): a page the operator
    // opens elsewhere cannot drive the API.
    cors: deps.config.corsOrigins.length ? { origin: deps.config.corsOrigins, credentials: true } : false,
    // One request must not stall the node: depth, aliases, tokens and cost are bounded before
    // anything is resolved, and refused with an error that names the limit.
    plugins: [...armor(deps.config.limits).plugins],
  });
}

/** Listens on host:port with GraphQL and the blob routes. */
export async function startApiServer(deps: ApiDeps, host: string, port: number): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const yoga = createApi(deps);
  const server = createServer(async (req, res) => {
    if (await handleBlobRoute(deps, req, res)) return;
    if (req.method === 'POST') {
      // Bounded before it is read: a request without a length (chunked) is refused too.
      const length = req.headers['content-length'];
      const limit = deps.config.limits.bodyBytes;
      if (length === undefined || Number(length) > limit) {
        res.writeHead(length === undefined ? 411 : 413, { 'content-type': 'application/json', connection: 'close' });
        res.end(JSON.stringify({ errors: [{ message: length === undefined ? 'a request body needs a Content-Length' : `request body of ${length} bytes is above the limit of ${limit} (MAX_BODY_BYTES)`, extensions: { code: apiCodeOf(FailureType.BadInput) } }] }));
        res.once('finish', () => req.destroy());
        return;
      }
    }
    if (await handleDashboardRoute(req, res)) return;
    if (req.url === '/metrics' && req.method === 'GET' && deps.metrics) {
      // Aggregate figures of the market, like marketStats: open to a Prometheus scrape.
      metricsText(deps.metrics).then(
        (text) => res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(text),
        (e) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error).message}\n`),
      );
      return;
    }
    if (req.url === '/' || req.url === '/health') {
      res.writeHead(req.url === '/' ? 302 : 200, req.url === '/' ? { location: '/dashboard' } : { 'content-type': 'text/plain' });
      res.end(req.url === '/' ? '' : 'ok');
      return;
    }
    yoga(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const url = `http://${host}:${typeof addr === 'object' && addr ? addr.port : port}`;
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
