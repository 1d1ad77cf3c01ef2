'use strict';
/*
 * A plain Node relay (no framework): the browser POSTs a chat, the server streams it from the
 * upstream LLM through tokenwire and relays the bytes, encoded in C, in the format asked for.
 *
 *   POST /v1/chat/completions      OpenAI chat.completion.chunk SSE (any OpenAI client reads it)
 *   POST /api/chat?format=ai-sdk   Vercel AI SDK UI message stream (or events / ndjson / text)
 *   POST /api/agents               two agents merged into one 'events' SSE stream
 *
 * Run: UPSTREAM=https://api.openai.com/v1 API_KEY=sk-... node examples/node_server.js
 * Without UPSTREAM it starts tokenwire's built-in mock LLM on 127.0.0.1 and relays that.
 * A client that disconnects cancels the upstream request.
 */
const http = require('http');
const { Readable } = require('stream');
const tw = require('..');

function readJson(req, limit = 1 << 20) {
    return new Promise((resolve, reject) => {
        const parts = [];
        let size = 0;
        req.on('data', (c) => {
            size += c.length;
            if (size > limit) {
                reject(Object.assign(new Error('request body too large'), { status: 413 }));
                req.destroy();
            } else parts.push(c);
        });
        req.on('end', () => {
            try {
                resolve(parts.length ? JSON.parse(Buffer.concat(parts).toString('utf8')) : {});
            } catch (e) {
                reject(Object.assign(new Error('invalid JSON body'), { status: 400 }));
            }
        });
        req.on('error', reject);
    });
}

/* Sends a web ReadableStream as the response; a client going away cancels it (and so the
 * upstream request). */
function send(res, rs, format) {
    res.writeHead(200, tw.streamHeaders(format));
    res.flushHeaders();
    if (res.socket) res.socket.setNoDelay(true);
    const body = Readable.fromWeb(rs);
    body.on('error', () => res.destroy());
    res.on('close', () => body.destroy());
    body.pipe(res);
}

/**
 * @param {{ baseURL: string, apiKey?: string, dialect?: string, path?: string, model?: string }} upstream
 */
function createServer(upstream) {
    const client = new tw.Client({ baseURL: upstream.baseURL, apiKey: upstream.apiKey, dialect: upstream.dialect || 'openai' });
    const path = upstream.path || '/chat/completions';
    const model = upstream.model || 'gpt-4o-mini';
    return http.createServer(async (req, res) => {
        try {
            const url = new URL(req.url, 'http://localhost');
            if (req.method !== 'POST') {
                res.writeHead(405, { Allow: 'POST' }).end();
                return;
            }
            const input = await readJson(req);
            const messages = Array.isArray(input.messages) ? input.messages : [{ role: 'user', content: String(input.prompt || 'Hello') }];
            const json = { model: input.model || model, stream: true, messages, stream_options: { include_usage: true } };
            if (input.tools) json.tools = input.tools;
            /* Pass the mock's controls through (ignored by real providers). */
            const query = Object.fromEntries([...url.searchParams].filter(([k]) => k !== 'format'));
            if (url.pathname === '/v1/chat/completions') {
                const s = client.stream(path, { json, query });
                send(res, s.toReadableStream({ format: 'openai', model: json.model }), 'openai');
            } else if (url.pathname === '/api/chat') {
                const format = url.searchParams.get('format') || 'ai-sdk';
                const s = client.stream(path, { json, query });
                send(res, s.toReadableStream({ format }), format);
            } else if (url.pathname === '/api/agents') {
                const researcher = client.stream(path, { json: { ...json, messages: [...messages, { role: 'system', content: 'research' }] }, query });
                const writer = client.stream(path, { json: { ...json, messages: [...messages, { role: 'system', content: 'write' }] }, query });
                send(res, tw.merge({ researcher, writer }).toReadableStream({ format: 'events' }), 'events');
            } else {
                res.writeHead(404).end();
            }
        } catch (e) {
            /* client.stream() refuses a request whose method, URL or headers would put bytes
             * on the wire that do not belong there (a CR/LF in API_KEY, say): that is this
             * server's configuration, not the caller's fault, and not the caller's business. */
            if (e.code === 'ERR_INVALID_ARG_VALUE') {
                console.error(`refused upstream request: ${e.message}`);
                if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
                res.end(JSON.stringify({ error: { message: 'upstream request misconfigured' } }));
                return;
            }
            const status = e.status || 400;
            if (!res.headersSent) res.writeHead(status, { 'Content-Type': 'application/json' });
            res.end(JSON.stringify({ error: { message: e.message } }));
        }
    });
}

module.exports = { createServer };

if (require.main === module) {
    let upstream;
    let mock = null;
    let tools = null;
    if (process.env.UPSTREAM) {
        upstream = { baseURL: process.env.UPSTREAM, apiKey: process.env.API_KEY, dialect: process.env.DIALECT || 'openai' };
    } else {
        // The mock LLM server comes from the package's tools addon (tests and demos only).
        tools = require('../node/lib/tools.js');
        mock = tools._mockStart(0, 1);
        upstream = { baseURL: `http://127.0.0.1:${tools._mockPort(mock)}/v1` };
        console.log(`upstream: built-in mock at ${upstream.baseURL}`);
    }
    const port = Number(process.env.PORT || 3000);
    const server = createServer(upstream).listen(port, '127.0.0.1', () => {
        console.log(`listening on http://127.0.0.1:${server.address().port}`);
        console.log(`try: curl -N -X POST 'http://127.0.0.1:${server.address().port}/api/chat?format=text&delay_ms=20' -d '{"prompt":"hi"}'`);
    });
    const stop = () => {
        server.close();
        if (mock) tools._mockStop(mock);
        process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
}
