'use strict';
/* toReadableStream / merge / examples/node_server.js, read back by the official clients:
 * openai-node reads 'sse-openai', the ai package's UI message stream reader reads 'ai-sdk'. */
const test = require('node:test');
const assert = require('node:assert/strict');
const { tw, startMock, expectedText, body, waitFor, readAll, sleep } = require('./helpers');
const { createServer } = require('../../examples/node_server.js');

let mock;
let server;
let relay;
test.before(async () => {
    mock = startMock();
    server = createServer({ baseURL: mock.url + '/v1' });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    relay = `http://127.0.0.1:${server.address().port}`;
});
test.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    mock.stop();
});

/* What tokenwire itself assembles for the same upstream request. */
async function direct(query) {
    const c = new tw.Client({ baseURL: mock.url + '/v1' });
    return c.stream('/chat/completions', { json: body(), query }).finalSummary();
}

test('openai-node reads the sse-openai relay: exact text and tool calls', async () => {
    const { default: OpenAI } = await import('openai');
    const openai = new OpenAI({ baseURL: relay + '/v1', apiKey: 'sk-test', maxRetries: 0 });
    for (const split of ['event', 'random']) {
        const query = { chunks: '60', tools: '2', split };
        const want = await direct(query);
        const stream = await openai.chat.completions.create(
            { model: 'mock-model', messages: [{ role: 'user', content: 'hi' }], stream: true },
            { query },
        );
        let text = '';
        const tools = [];
        let finish = null;
        for await (const chunk of stream) {
            const ch = chunk.choices[0];
            if (!ch) continue;
            if (ch.delta.content) text += ch.delta.content;
            for (const tc of ch.delta.tool_calls || []) {
                const t = tools[tc.index] || (tools[tc.index] = { id: null, name: null, arguments: '' });
                if (tc.id) t.id = tc.id;
                if (tc.function && tc.function.name) t.name = tc.function.name;
                if (tc.function && tc.function.arguments) t.arguments += tc.function.arguments;
            }
            if (ch.finish_reason) finish = ch.finish_reason;
        }
        assert.equal(text, expectedText(60));
        assert.equal(text, want.text);
        assert.deepEqual(tools.map((t) => [t.id, t.name, t.arguments]), want.toolCalls.map((t) => [t.id, t.name, t.arguments]));
        assert.equal(finish, 'tool_calls');
    }
});

test('openai-node reads an anthropic upstream relayed as sse-openai', async () => {
    const { default: OpenAI } = await import('openai');
    const c = new tw.Client({ baseURL: mock.url, dialect: 'anthropic' });
    const http = require('http');
    const { Readable } = require('stream');
    const srv = http.createServer((req, res) => {
        req.resume();
        const s = c.stream('/v1/messages?chunks=33', { json: body() });
        res.writeHead(200, tw.streamHeaders('sse-openai'));
        Readable.fromWeb(s.toReadableStream({ format: 'sse-openai' })).pipe(res);
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    try {
        const openai = new OpenAI({ baseURL: `http://127.0.0.1:${srv.address().port}/v1`, apiKey: 'x', maxRetries: 0 });
        const stream = await openai.chat.completions.create({ model: 'm', messages: [], stream: true });
        let text = '';
        for await (const chunk of stream) text += (chunk.choices[0] && chunk.choices[0].delta.content) || '';
        assert.equal(text, expectedText(33));
    } finally {
        srv.closeAllConnections();
        await new Promise((r) => srv.close(r));
    }
});

test('openai-node reads every choice of an n=2 upstream relayed as sse-openai', async () => {
    const { default: OpenAI } = await import('openai');
    const c = new tw.Client({ baseURL: mock.url + '/v1' });
    const http = require('http');
    const { Readable } = require('stream');
    const srv = http.createServer((req, res) => {
        req.resume();
        const s = c.stream('/chat/completions', { json: body(), query: { chunks: '7', choices: '2' } });
        res.writeHead(200, tw.streamHeaders('sse-openai'));
        Readable.fromWeb(s.toReadableStream({ format: 'sse-openai' })).pipe(res);
    });
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    try {
        const openai = new OpenAI({ baseURL: `http://127.0.0.1:${srv.address().port}/v1`, apiKey: 'x', maxRetries: 0 });
        const stream = await openai.chat.completions.create({ model: 'm', messages: [], stream: true, n: 2 });
        const text = {};
        const finish = {};
        for await (const chunk of stream) {
            for (const ch of chunk.choices) {
                if (ch.delta.content) text[ch.index] = (text[ch.index] || '') + ch.delta.content;
                if (ch.finish_reason) finish[ch.index] = ch.finish_reason;
            }
        }
        /* Delta i of choice c is word i + c of the mock's text: choice 1 is shifted by one word. */
        const one = expectedText(8);
        assert.deepEqual(text, { 0: expectedText(7), 1: one.slice(one.indexOf(' ') + 1) });
        assert.notEqual(text[0], text[1]);
        assert.deepEqual(finish, { 0: 'stop', 1: 'stop' });
    } finally {
        srv.closeAllConnections();
        await new Promise((r) => srv.close(r));
    }
});

test('the ai package reads the ai-sdk relay with its own UI message stream reader', async () => {
    const { parseJsonEventStream, uiMessageChunkSchema, readUIMessageStream } = await import('ai');
    const query = { chunks: '45', tools: '1', reasoning: '2' };
    const want = await direct(query);
    const res = await fetch(relay + '/api/chat?format=ai-sdk&' + new URLSearchParams(query), { method: 'POST', body: '{}' });
    assert.equal(res.headers.get('x-vercel-ai-ui-message-stream'), 'v1');
    assert.equal(res.headers.get('cache-control'), 'no-cache, no-transform');
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    const chunks = parseJsonEventStream({ stream: res.body, schema: uiMessageChunkSchema }).pipeThrough(
        new TransformStream({
            transform(r, c) {
                if (!r.success) throw r.error;
                c.enqueue(r.value);
            },
        }),
    );
    let last = null;
    for await (const msg of readUIMessageStream({ stream: chunks })) last = msg;
    const text = last.parts.filter((p) => p.type === 'text').map((p) => p.text).join('');
    assert.equal(text, expectedText(45));
    const reasoning = last.parts.filter((p) => p.type === 'reasoning').map((p) => p.text).join('');
    assert.equal(reasoning, want.reasoning);
    const tool = last.parts.find((p) => p.type.startsWith('tool-'));
    assert.equal(tool.type, 'tool-' + want.toolCalls[0].name);
    assert.deepEqual(tool.input, JSON.parse(want.toolCalls[0].arguments));
});

test('every format encodes the same stream; text/ndjson round-trip', async () => {
    const c = new tw.Client({ baseURL: mock.url + '/v1' });
    const want = expectedText(30);
    const txt = (await readAll(c.stream('/chat/completions?chunks=30', { json: body() }).toReadableStream({ format: 'text' }))).toString();
    assert.equal(txt, want);
    const nd = (await readAll(c.stream('/chat/completions?chunks=30', { json: body() }).toReadableStream({ format: 'ndjson' }))).toString();
    const evs = nd.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(evs.filter((e) => e.type === 'text').map((e) => e.text).join(''), want);
    const sse = (await readAll(c.stream('/chat/completions?chunks=30', { json: body() }).toReadableStream())).toString();
    const p = new tw.SSEParser();
    const datas = p.feed(sse).map((e) => e.data);
    assert.equal(datas[datas.length - 1], '[DONE]');
    const d = new tw.Decoder('openai');
    const round = d.feed(sse).filter((e) => e.type === 'text').map((e) => e.text).join('');
    assert.equal(round, want);
    const res = c.stream('/chat/completions?chunks=3', { json: body() }).toResponse({ format: 'events' });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    assert.equal(res.headers.get('content-encoding'), 'none');
    assert.match(await res.text(), /event: agent_chunk/);
    assert.throws(() => c.stream('/chat/completions', { json: body() }).toReadableStream({ format: 'xml' }), TypeError);
});

test('listeners attached before toReadableStream still get events and the summary', async () => {
    const c = new tw.Client({ baseURL: mock.url + '/v1' });
    const s = c.stream('/chat/completions?chunks=20', { json: body() });
    let text = '';
    s.on('text', (t) => {
        text += t;
    });
    const ended = new Promise((r) => s.on('end', r));
    const bytes = await readAll(s.toReadableStream({ format: 'text' }));
    const sum = await ended;
    assert.equal(bytes.toString(), expectedText(20));
    assert.equal(text, expectedText(20));
    assert.equal(sum.text, text);
});

test('heartbeat comments while upstream is silent', async () => {
    const c = new tw.Client({ baseURL: mock.url + '/v1' });
    const s = c.stream('/chat/completions?chunks=3&delay_ms=400', { json: body() });
    const out = (await readAll(s.toReadableStream({ format: 'sse-openai', heartbeatMs: 100 }))).toString();
    assert.match(out, /^: keepalive/m);
    const p = new tw.SSEParser();
    assert.equal(new tw.Decoder('openai').feed(out).filter((e) => e.type === 'text').map((e) => e.text).join(''), expectedText(3));
    void p;
});

test('merge: tagged events in arrival order, agent framing, typed child errors', async () => {
    const c = new tw.Client({ baseURL: mock.url + '/v1', maxRetries: 0 });
    const m = tw.merge({
        researcher: c.stream('/chat/completions?chunks=20&delay_ms=1', { json: body() }),
        writer: c.stream('/chat/completions?chunks=30&delay_ms=1', { json: body() }),
        broken: c.stream('/chat/completions?chunks=30&fault=provider_error&fault_after=2', { json: body() }),
    });
    const text = { researcher: '', writer: '', broken: '' };
    const order = [];
    const errs = [];
    for await (const ev of m) {
        assert.ok(ev.source in text, 'tagged');
        if (ev.type === 'text') text[ev.source] += ev.text;
        if (ev.type === 'agent_start' || ev.type === 'agent_complete') order.push(ev.type + ':' + ev.source);
        if (ev.type === 'error') errs.push(ev);
    }
    assert.equal(errs.length, 1, 'the failed source\'s terminal error, once');
    const err = errs[0];
    assert.equal(err.recoverable, false);
    assert.ok(order.indexOf('agent_complete:broken') > 0);
    assert.equal(text.researcher, expectedText(20));
    assert.equal(text.writer, expectedText(30));
    assert.equal(text.broken, expectedText(2));
    assert.equal(err.source, 'broken');
    assert.equal(err.kind, 'provider');
    for (const a of ['researcher', 'writer', 'broken']) {
        assert.ok(order.indexOf('agent_start:' + a) < order.indexOf('agent_complete:' + a));
    }
});

test('merge: the events relay over HTTP, and cancelling cancels every source', async () => {
    const res = await fetch(relay + '/api/agents?chunks=25', { method: 'POST', body: '{"prompt":"x"}' });
    const out = await res.text();
    const evs = new tw.SSEParser().feed(out);
    const chunks = { researcher: '', writer: '' };
    for (const e of evs) {
        if (e.event !== 'agent_chunk') continue;
        const d = JSON.parse(e.data);
        if (d.type === 'text') chunks[d.agent] += d.text;
    }
    assert.equal(chunks.researcher, expectedText(25));
    assert.equal(chunks.writer, expectedText(25));
    assert.equal(evs[evs.length - 1].event, 'complete');
    assert.equal(evs.filter((e) => e.event === 'agent_complete').length, 2);

    const c = new tw.Client({ baseURL: mock.url + '/v1' });
    const m = tw.merge({
        a: c.stream('/chat/completions?chunks=10000&delay_ms=2', { json: body() }),
        b: c.stream('/chat/completions?chunks=10000&delay_ms=2', { json: body() }),
    });
    const reader = m.toReadableStream().getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    assert.ok(m.done);
    assert.ok(await waitFor(() => mock.stats().active === 0), 'both upstreams released');
});

test('a client disconnecting from the relay cancels the upstream', async () => {
    const ac = new AbortController();
    const res = await fetch(relay + '/api/chat?format=text&chunks=100000&delay_ms=2', { method: 'POST', body: '{}', signal: ac.signal });
    const reader = res.body.getReader();
    await reader.read();
    assert.ok(mock.stats().active >= 1);
    ac.abort();
    await sleep(10);
    assert.ok(await waitFor(() => mock.stats().active === 0, 5000), 'upstream released after the disconnect');
});

test('examples/node_server.js: an API key with CR/LF is refused (500, detail kept out of the answer), upstream untouched', async () => {
    const before = mock.stats().total;
    const bad = createServer({ baseURL: mock.url + '/v1', apiKey: 'sk-x\r\nX-Injected: yes' });
    await new Promise((r) => bad.listen(0, '127.0.0.1', r));
    const logged = [];
    const orig = console.error;
    console.error = (m) => logged.push(String(m));
    try {
        const r = await fetch(`http://127.0.0.1:${bad.address().port}/api/chat?format=text`, { method: 'POST', body: '{"prompt":"hi"}' });
        assert.equal(r.status, 500);
        const j = await r.json();
        assert.equal(j.error.message, 'upstream request misconfigured');
    } finally {
        console.error = orig;
        await new Promise((r) => bad.close(r));
    }
    assert.equal(logged.length, 1);
    assert.match(logged[0], /invalid api_key/);
    assert.equal(mock.stats().total, before, 'nothing reached the upstream');
});
