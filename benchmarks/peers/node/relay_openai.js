'use strict';
// The pure-Node relay of the relay workload, shaped like tokenwire's examples/node_server.js
// (same route, same request, same upstream body, the query passed through to the mock) but
// written the way openai-node and Next.js route handlers do it: chat.completions.create({stream:
// true}) and a web ReadableStream re-encoding each chunk as `data: ${JSON.stringify(chunk)}`,
// sent as the body of a Response.
//   RELAY_UPSTREAM=http://127.0.0.1:PORT/v1 PORT=P node relay_openai.js
//   POST /v1/chat/completions?chunks=N  {"messages": [...]}  ->  chat.completion.chunk SSE
const http = require('http');
const { Readable } = require('stream');
const OpenAI = require('openai');

const UPSTREAM = process.env.RELAY_UPSTREAM || 'http://127.0.0.1:8080/v1';
const client = new OpenAI({ baseURL: UPSTREAM, apiKey: 'relay', maxRetries: 2 });
const encoder = new TextEncoder();

// What a Next.js route handler returns.
async function route(input, query) {
  const messages = Array.isArray(input.messages) ? input.messages
    : [{ role: 'user', content: String(input.prompt || 'Hello') }];
  const stream = await client.chat.completions.create({ model: input.model || 'gpt-4o-mini',
    messages, stream: true, stream_options: { include_usage: true } }, { query });
  const readable = new ReadableStream({
    async start(controller) {
      for await (const chunk of stream) {
        controller.enqueue(encoder.encode(`data: ${JSON.stringify(chunk)}\n\n`));
      }
      controller.enqueue(encoder.encode('data: [DONE]\n\n'));
      controller.close();
    },
  });
  return new Response(readable, { headers: { 'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache, no-transform', 'X-Accel-Buffering': 'no' } });
}

http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', async () => {
    try {
      if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') {
        res.writeHead(404).end();
        return;
      }
      const input = parts.length ? JSON.parse(Buffer.concat(parts).toString('utf8')) : {};
      const query = Object.fromEntries([...url.searchParams].filter(([k]) => k !== 'format'));
      const response = await route(input, query);
      res.writeHead(response.status, Object.fromEntries(response.headers));
      const body = Readable.fromWeb(response.body);
      body.on('error', () => res.destroy());
      res.on('close', () => body.destroy());
      body.pipe(res);
    } catch (e) {
      if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: { message: String(e.message) } }));
    }
  });
}).listen(Number(process.env.PORT || 3000), '127.0.0.1');
