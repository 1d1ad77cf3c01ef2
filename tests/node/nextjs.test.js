'use strict';
/* The examples/nextjs app, built with `next build` and served by `next start` on 127.0.0.1:
 * its routes relay the mock through tokenwire; a client going away cancels the upstream. */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const net = require('net');
const path = require('path');
const { spawn, spawnSync } = require('child_process');
const { tw, startMock, expectedText, waitFor, sleep } = require('./helpers');

const root = path.resolve(__dirname, '..', '..');
const app = path.join(root, 'examples', 'nextjs');
const nextBin = path.join(root, 'node_modules', 'next', 'dist', 'bin', 'next');

let mock;
let server = null;
let base;
let serverLog = '';

function freePort() {
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => resolve(port));
        });
    });
}

test.before(async () => {
    mock = startMock();
    /* The example depends on "tokenwire": "file:../.."; inside this repository that is a link
     * to the package root (what `npm install` in examples/nextjs creates). */
    const link = path.join(app, 'node_modules', 'tokenwire');
    fs.mkdirSync(path.dirname(link), { recursive: true });
    if (!fs.existsSync(path.join(link, 'package.json'))) {
        fs.rmSync(link, { force: true, recursive: true });
        fs.symlinkSync(path.relative(path.dirname(link), root), link, 'dir');
    }
    const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' };
    const b = spawnSync(process.execPath, [nextBin, 'build'], { cwd: app, env, encoding: 'utf8', timeout: 540000 });
    assert.equal(b.status, 0, 'next build failed:\n' + b.stdout + b.stderr);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, [nextBin, 'start', '-H', '127.0.0.1', '-p', String(port)], {
        cwd: app,
        env: { ...env, LLM_BASE_URL: mock.url + '/v1', LLM_API_KEY: 'sk-test', PORT: String(port) },
        stdio: ['ignore', 'pipe', 'pipe'],
    });
    server.stdout.on('data', (d) => (serverLog += d));
    server.stderr.on('data', (d) => (serverLog += d));
    const up = await waitFor(() => /Ready|started server/i.test(serverLog), 60000, 50);
    assert.ok(up, 'next start did not come up:\n' + serverLog);
});

test.after(async () => {
    if (server && server.exitCode === null) {
        server.kill('SIGTERM');
        await new Promise((r) => server.once('exit', r));
    }
    mock.stop();
});

function uiText(sse) {
    let text = '';
    for (const ev of new tw.SSEParser().feed(sse)) {
        if (ev.data === '[DONE]') continue;
        const part = JSON.parse(ev.data);
        if (part.type === 'text-delta') text += part.delta;
    }
    return text;
}

test('GET / renders the page', async () => {
    const res = await fetch(base + '/');
    assert.equal(res.status, 200);
    assert.match(await res.text(), /tokenwire \+ Next\.js/);
});

test('POST /api/chat streams the AI SDK UI message stream with anti-buffering headers', async () => {
    const res = await fetch(base + '/api/chat?chunks=40', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    assert.equal(res.headers.get('x-vercel-ai-ui-message-stream'), 'v1');
    assert.match(res.headers.get('cache-control'), /no-transform/);
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    const body = await res.text();
    assert.equal(uiText(body), expectedText(40));
    assert.match(body, /data: \[DONE\]\n\n$/);
});

test('POST /api/chat delivers tokens as they come (not buffered to the end)', async () => {
    const t0 = Date.now();
    const res = await fetch(base + '/api/chat?chunks=20&delay_ms=100', { method: 'POST', body: '{}' });
    const reader = res.body.getReader();
    const first = await reader.read();
    const tFirst = Date.now() - t0;
    assert.ok(first.value && first.value.length > 0);
    let rest = '';
    const dec = new TextDecoder();
    for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        rest += dec.decode(value, { stream: true });
    }
    const total = Date.now() - t0;
    assert.ok(tFirst < total - 1000, `first bytes after ${tFirst} ms of ${total} ms`);
    assert.equal(uiText(dec.decode(first.value) + rest), expectedText(20));
});

test('POST /api/agents merges two agents', async () => {
    const res = await fetch(base + '/api/agents?chunks=15', { method: 'POST', body: '{"prompt":"x"}' });
    assert.equal(res.status, 200);
    const evs = new tw.SSEParser().feed(await res.text());
    const text = {};
    for (const e of evs) {
        if (e.event !== 'agent_chunk') continue;
        const d = JSON.parse(e.data);
        if (d.type === 'text') text[d.agent] = (text[d.agent] || '') + d.text;
    }
    assert.deepEqual(text, { researcher: expectedText(15), writer: expectedText(15) });
    assert.equal(evs[evs.length - 1].event, 'complete');
});

test('POST /api/ndjson routes NDJSON lines in the app schema', async () => {
    const res = await fetch(base + '/api/ndjson?chunks=9', { method: 'POST', body: '{"prompt":"x"}' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
    const lines = (await res.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const chats = lines.slice(0, -1);
    assert.ok(chats.every((l) => l.type === 'chat' && l.streaming === true));
    assert.equal(chats.map((l) => l.content).join(''), expectedText(9));
    assert.equal(lines[lines.length - 1].type, 'done');
    assert.ok(lines[lines.length - 1].usage.output_tokens > 0);
});

test('a browser disconnecting mid-stream cancels the upstream request', async () => {
    const before = mock.stats();
    const ac = new AbortController();
    const res = await fetch(base + '/api/chat?chunks=100000&delay_ms=5', { method: 'POST', body: '{}', signal: ac.signal });
    const reader = res.body.getReader();
    await reader.read();
    assert.ok(await waitFor(() => mock.stats().active >= 1), 'upstream running');
    ac.abort();
    await sleep(20);
    assert.ok(await waitFor(() => mock.stats().active === 0, 10000), 'upstream released:\n' + serverLog);
    const after = mock.stats();
    assert.ok(after.aborted > before.aborted, 'the mock saw the client go away');
});
