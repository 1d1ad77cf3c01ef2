'use strict';
/* Shared helpers for the node:test suites: the built-in mock server run in-process through
 * the addon's private binding, and small polling utilities. */
const tw = require('../../node/index.js');

const b = tw._binding;

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

function body(extra) {
    return { model: 'mock-model', stream: true, messages: [{ role: 'user', content: 'hi' }], ...extra };
}

module.exports = { tw, startMock, expectedText, sleep, waitFor, readAll, DIALECT_PATHS, body };
