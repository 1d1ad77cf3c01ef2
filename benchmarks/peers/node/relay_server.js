'use strict';
// The Node relays of the relay workload: POST /chat calls the upstream (the mock,
// $RELAY_UPSTREAM) with the request's query string passed through and relays the stream as
// OpenAI chat.completion.chunk SSE, built as a web Response the way a Next.js route handler
// returns it, and written to node:http.
//   relay_server.js openai     openai-node + a ReadableStream re-encoding each chunk with
//                              JSON.stringify (the openai-node / Next.js examples' shape)
//   relay_server.js tokenwire  tokenwire Client.stream(...).toReadableStream({format: 'sse-openai'})
const http = require('http');
const path = require('path');

const UPSTREAM = process.env.RELAY_UPSTREAM || 'http://127.0.0.1:8080';
const PORT = Number(process.env.RELAY_PORT || 8000);
const MODEL = 'bench-model';
const MESSAGES = [{ role: 'user', content: 'Tell me a long story.' }];
const mode = process.argv[2] || 'openai';
const SSE_HEADERS = { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform' };

let handler;
if (mode === 'openai') {
  const OpenAI = require('openai');
  const client = new OpenAI({ baseURL: UPSTREAM + '/v1', apiKey: 'relay', maxRetries: 0 });
  const encoder = new TextEncoder();
  handler = async (query) => {
    const stream = await client.chat.completions.create(
      { model: MODEL, messages: MESSAGES, stream: true }, { query });
    const readable = new ReadableStream({
      async start(controller) {
        for await (const chunk of stream) {
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(chunk)}\n\n`));
        }
        controller.enqueue(encoder.encode('data: [DONE]\n\n'));
        controller.close();
      },
    });
    return new Response(readable, { headers: SSE_HEADERS });
  };
} else if (mode === 'tokenwire') {
  const tw = require(process.env.TOKENWIRE_NODE || path.join(__dirname, '..', '..', '..'));
  const client = new tw.Client({ baseURL: UPSTREAM, dialect: 'openai' });
  const BODY = { model: MODEL, messages: MESSAGES, stream: true };
  handler = async (query) => {
    const qs = new URLSearchParams(query).toString();
    const s = client.stream('/v1/chat/completions' + (qs ? '?' + qs : ''), { json: BODY });
    return new Response(s.toReadableStream({ format: 'sse-openai' }), { headers: SSE_HEADERS });
  };
} else {
  console.error('relay_server.js: unknown mode ' + mode);
  process.exit(2);
}

// What a framework does with the returned Response: status, headers, then the body's bytes
// with backpressure.
async function send(res, response) {
  res.writeHead(response.status, Object.fromEntries(response.headers));
  for await (const chunk of response.body) {
    if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
  }
  res.end();
}

http.createServer((req, res) => {
  const url = new URL(req.url, 'http://relay');
  if (req.method !== 'POST' || url.pathname !== '/chat') { res.writeHead(404).end(); return; }
  req.resume();
  req.on('end', async () => {
    try {
      await send(res, await handler(Object.fromEntries(url.searchParams)));
    } catch (e) {
      if (!res.headersSent) res.writeHead(502);
      res.end();
      console.error(e);
    }
  });
}).listen(PORT, '127.0.0.1');
