/** Reads a GraphQL subscription over SSE (graphql-yoga's "distinct connections" mode). */
export async function* subscribe<T = unknown>(apiUrl: string, query: string, variables: Record<string, unknown> = {}, signal?: AbortSignal, apiKey = process.env.GOLEMFLOW_API_KEY): AsyncGenerator<T> {
  const res = await fetch(new URL('/graphql', apiUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
    body: JSON.stringify({ query, variables }),
    signal,
  });
  if (!res.ok || !res.body) throw new Error(`subscription failed: HTTP ${res.status} ${await res.text()}`);
  if (!res.headers.get('content-type')?.includes('text/event-stream')) throw new Error(`subscription answered ${res.headers.get('content-type')}, not an event stream: ${await res.text()}`);
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event === 'complete') return;
      if (!data) continue;
      const payload = JSON.parse(data) as { data?: T; errors?: Array<{ message: string }> };
      if (payload.errors?.length) throw new Error(payload.errors.map((e) => e.message).join('; '));
      if (payload.data) yield payload.data;
    }
  }
}
