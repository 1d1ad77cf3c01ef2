'use strict';
// The AI SDK relay of the relay workload: what a Next.js route handler written with the Vercel
// AI SDK returns, `streamText({ model: openai.chat(id), messages }).toUIMessageStreamResponse()`
// (the UI message stream the SDK's useChat reads), piped to node:http. Compared with tokenwire's
// examples/node_server.js at /api/chat?format=ai-sdk (the same protocol, encoded in C). The
// mock's controls (query) are passed on as X-Mock-* headers.
//   RELAY_UPSTREAM=http://127.0.0.1:PORT/v1 PORT=P node relay_ai_sdk.js
//   POST /api/chat?chunks=N  {"messages": [...]}  ->  UI message stream (SSE)
const http = require('http');
const { Readable } = require('stream');
const { streamText } = require('ai');
const { createOpenAI } = require('@ai-sdk/openai');

const UPSTREAM = process.env.RELAY_UPSTREAM || 'http://127.0.0.1:8080/v1';
const provider = createOpenAI({ baseURL: UPSTREAM, apiKey: 'relay' });

function route(input, query) {
  const messages = Array.isArray(input.messages) ? input.messages
    : [{ role: 'user', content: String(input.prompt || 'Hello') }];
  const headers = {};
  for (const [k, v] of Object.entries(query)) headers['X-Mock-' + k.replace(/_/g, '-')] = v;
  const result = streamText({ model: provider.chat(input.model || 'gpt-4o-mini'), messages,
    headers, maxRetries: 2 });
  return result.toUIMessageStreamResponse();
}

http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    try {
      if (req.method !== 'POST' || url.pathname !== '/api/chat') {
        res.writeHead(404).end();
        return;
      }
      const input = parts.length ? JSON.parse(Buffer.concat(parts).toString('utf8')) : {};
      const query = Object.fromEntries([...url.searchParams].filter(([k]) => k !== 'format'));
      const response = route(input, query);
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
