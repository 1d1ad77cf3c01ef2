'use strict';
/* Shared helpers for the node:test suites: the mock LLM server run in-process through the
 * tools addon (tokenwire_tools.node, not loaded by the package itself), and small polling
 * utilities. */
const tw = require('../../node/index.js');
const b = require('../../node/lib/tools.js');

/** Starts the mock on an ephemeral 127.0.0.1 port. */
function startMock(threads = 1) {
    const h = b._mockStart(0, threads);
    const port = b._mockPort(h);
    return {
        port,
        url: `http://127.0.0.1:${port}`,
        stats: () => b._mockStats(h),
        stop: () => b._mockStop(h),
    };
}

/** The text the mock sends for these parameters (choice 0). */
function expectedText(chunks, text) {
    return b._mockExpectedText(chunks, text);
}

function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
}

/** Polls fn until it returns truthy or timeoutMs passes; returns the last value. */
async function waitFor(fn, timeoutMs = 5000, stepMs = 10) {
    const end = Date.now() + timeoutMs;
    let v = fn();
    while (!v && Date.now() < end) {
        await sleep(stepMs);
        v = fn();
    }
    return v;
}

/** Reads a web ReadableStream<Uint8Array> to one Buffer. */
async function readAll(rs) {
    const parts = [];
    for await (const c of rs) parts.push(Buffer.from(c));
    return Buffer.concat(parts);
}

/** Path + default body per dialect on the mock. */
const DIALECT_PATHS = {
    openai: '/v1/chat/completions',
    'openai-responses': '/v1/responses',
    anthropic: '/v1/messages',
    gemini: '/v1beta/models/gemini-test:streamGenerateContent?alt=sse',
    ollama: '/api/chat',
};

/** Resolves with the port once server (net.Server / http.Server) is listening on 127.0.0.1. */
function listen(server) {
    return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server.address().port));
    });
}

/**
 * A raw TCP server (node:net) that records every connection and every byte it receives.
 * onRequest(socket, head, rec) is called once a request's head and Content-Length body are
 * complete; rec.requests counts those. waitRequests(n) resolves when n have arrived.
 */
async function rawServer(onRequest) {
    const net = require('net');
    const rec = { connections: 0, requests: 0, bytes: [], waiters: [] };
    const server = net.createServer((sock) => {
        rec.connections++;
        let buf = Buffer.alloc(0);
        sock.on('data', (d) => {
            rec.bytes.push(Buffer.from(d));
            buf = Buffer.concat([buf, d]);
            for (;;) {
                const end = buf.indexOf('\r\n\r\n');
                if (end < 0) return;
                const head = buf.subarray(0, end).toString('latin1');
                const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
                const total = end + 4 + (m ? Number(m[1]) : 0);
                if (buf.length < total) return;
                buf = buf.subarray(total);
                rec.requests++;
                for (const w of rec.waiters.splice(0)) w();
                onRequest(sock, head, rec);
            }
        });
        sock.on('error', () => {});
    });
    const port = await listen(server);
    return {
        port,
        url: `http://127.0.0.1:${port}`,
        rec,
        received: () => Buffer.concat(rec.bytes).toString('latin1'),
        async waitRequests(n) {
            while (rec.requests < n) await new Promise((r) => rec.waiters.push(r));
        },
        close: () => new Promise((r) => server.close(r)),
    };
}

/** One OpenAI-style SSE answer carrying text, as a raw HTTP/1.1 response that closes. */
function sseAnswer(text) {
    const body = `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'm',
        choices: [{ index: 0, delta: { content: text }, finish_reason: null }] })}\n\n` +
        `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model: 'm',
            choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\ndata: [DONE]\n\n`;
    return 'HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n' +
        `content-length: ${Buffer.byteLength(body)}\r\n\r\n` + body;
}

function body(extra) {
    return { model: 'mock-model', stream: true, messages: [{ role: 'user', content: 'hi' }], ...extra };
}

module.exports = { tw, startMock, expectedText, sleep, waitFor, readAll, DIALECT_PATHS, body, listen, rawServer,
    sseAnswer };
