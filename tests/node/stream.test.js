'use strict';
/* Client + Stream against the built-in mock: every dialect, every way of consuming. */
const test = require('node:test');
const assert = require('node:assert/strict');
const { tw, startMock, expectedText, DIALECT_PATHS, body, waitFor, sleep } = require('./helpers');

let mock;
test.before(() => {
    mock = startMock();
});
test.after(() => mock.stop());

function client(dialect) {
    return new tw.Client({ baseURL: mock.url, apiKey: 'sk-test', dialect, maxRetries: 0 });
}

function q(path, params) {
    const qs = new URLSearchParams(params).toString();
    return path + (path.includes('?') ? '&' : '?') + qs;
}

for (const dialect of Object.keys(DIALECT_PATHS)) {
    test(`${dialect}: async iterator gets the mock's exact text, tool calls, usage, finish`, async () => {
        const s = client(dialect).stream(q(DIALECT_PATHS[dialect], { chunks: 25, tools: 2, reasoning: 3 }),
            { json: body() });
        const types = [];
        let text = '';
        const args = new Map();
        for await (const ev of s) {
            types.push(ev.type);
            if (ev.type === 'text') text += ev.text;
            if (ev.type === 'tool_call') {
                const t = args.get(ev.index) || { name: null, args: '' };
                if (ev.name) t.name = ev.name;
                if (ev.arguments) t.args += ev.arguments;
                args.set(ev.index, t);
            }
        }
        assert.equal(text, expectedText(25));
        assert.equal(types[0], 'start');
        assert.ok(types.includes('reasoning'), 'reasoning events');
        assert.ok(types.includes('finish'), 'finish event');
        assert.ok(!types.includes('end'), 'the end marker is not yielded');
        assert.equal(args.size, 2);
        for (const t of args.values()) {
            assert.equal(typeof t.name, 'string');
            assert.equal(typeof JSON.parse(t.args), 'object');
        }
        const sum = s.summary;
        assert.equal(sum.text, text);
        assert.equal(sum.toolCalls.length, 2);
        assert.deepEqual(sum.toolCalls.map((t) => t.arguments), [...args.values()].map((t) => t.args));
        assert.ok(sum.reasoning.length > 0);
        assert.ok(sum.usage && sum.usage.outputTokens > 0, 'usage');
        assert.ok(sum.finishReason);
        assert.ok(sum.metrics.ttfb > 0 && sum.metrics.events > 0);
    });
}

test('emitter: start/text/reasoning/tool_call/usage/finish/event/end in order', async () => {
    const s = client('openai').stream(q('/v1/chat/completions', { chunks: 40, tools: 1, reasoning: 2 }), { json: body() });
    const seen = [];
    let text = '';
    s.on('start', (ev) => seen.push('start:' + ev.model));
    s.on('text', (t) => {
        text += t;
    });
    s.on('reasoning', () => seen.push('reasoning'));
    s.on('tool_call', () => seen.push('tool_call'));
    s.on('usage', (u) => seen.push('usage:' + (u.outputTokens > 0)));
    s.on('finish', (r) => seen.push('finish:' + r));
    let events = 0;
    s.on('event', () => events++);
    const summary = await new Promise((resolve, reject) => {
        s.on('end', resolve);
        s.on('error', reject);
    });
    assert.equal(text, expectedText(40));
    assert.equal(summary.text, text);
    assert.match(seen[0], /^start:/);
    assert.ok(seen.includes('reasoning') && seen.includes('tool_call') && seen.includes('usage:true'));
    assert.equal(seen.filter((x) => x.startsWith('finish:'))[0], 'finish:tool_calls');
    assert.ok(events > 40);
    assert.equal(summary.finishReason, 'tool_calls');
    assert.equal(summary.toolCalls.length, 1);
    JSON.parse(summary.toolCalls[0].arguments);
});

test('text(): strings only, across split modes and non-ASCII text', async () => {
    const text = 'héllo wörld 😀 “quoted” \\back\\slash\\ 中文 end';
    for (const split of ['event', 'random', 'byte', 'coalesce']) {
        const s = client('openai').stream(q('/v1/chat/completions', { chunks: 30, split, text }), { json: body() });
        let got = '';
        for await (const t of s.text()) {
            assert.equal(typeof t, 'string');
            got += t;
        }
        assert.equal(got, expectedText(30, text), `split=${split}`);
    }
});

test('finalSummary() and fullText() consume the stream', async () => {
    const s = client('anthropic').stream(q('/v1/messages', { chunks: 12 }), { json: body() });
    assert.equal(await s.fullText(), expectedText(12));
    const s2 = client('gemini').stream(q(DIALECT_PATHS.gemini, { chunks: 7 }), { json: body() });
    const sum = await s2.finalSummary();
    assert.equal(sum.text, expectedText(7));
});

test('openai n>1: events carry their choice index', async () => {
    const s = client('openai').stream(q('/v1/chat/completions', { chunks: 10, choices: 2 }), { json: body() });
    const by = ['', ''];
    for await (const ev of s) if (ev.type === 'text') by[ev.index] += ev.text;
    assert.equal(by[0], expectedText(10));
    assert.ok(by[1].length > 0);
});

test('raw dialects: sse and ndjson deliver raw events', async () => {
    const s = client('sse').stream(q('/v1/chat/completions', { chunks: 5 }), { json: body() });
    const datas = [];
    for await (const ev of s) if (ev.type === 'raw') datas.push(ev.data);
    assert.equal(datas[datas.length - 1], '[DONE]');
    const n = client('ndjson').stream(q('/api/chat', { chunks: 5 }), { json: body() });
    const lines = [];
    for await (const ev of n) if (ev.type === 'raw') lines.push(JSON.parse(ev.data));
    assert.equal(lines[lines.length - 1].done, true);
});

test('Client validates its arguments with TypeErrors', () => {
    assert.throws(() => new tw.Client({}), TypeError);
    assert.throws(() => new tw.Client({ baseURL: 'ftp://x' }), TypeError);
    assert.throws(() => new tw.Client({ baseURL: mock.url, dialect: 'klingon' }), TypeError);
    assert.throws(() => new tw.Client({ baseURL: mock.url, maxRetries: -1 }), TypeError);
    const c = client('openai');
    assert.throws(() => c.stream(42), TypeError);
    assert.throws(() => c.stream('/x', { json: {}, body: 'y' }), TypeError);
    assert.throws(() => c.stream('/x', { headers: { 'bad\nname': 'v' } }), TypeError);
    assert.throws(() => c.stream('/x', { timeout: -5 }), TypeError);
    assert.throws(() => c.stream('/x', { signal: 'nope' }), TypeError);
});

test('streams end; the binding holds nothing afterwards', async () => {
    assert.ok(await waitFor(() => tw.stats().bindingActive === 0));
    assert.ok(await waitFor(() => mock.stats().active === 0));
});

test('prewarm() opens the connection the first request then reuses', async () => {
    /* A small Node server (the mock answers HEAD with a body, which breaks keep-alive). */
    const http = require('http');
    let connections = 0;
    const srv = http.createServer((req, res) => {
        req.resume();
        if (req.method === 'HEAD') {
            res.writeHead(200).end();
            return;
        }
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        res.end('data: {"choices":[{"index":0,"delta":{"content":"warm"}}]}\n\ndata: [DONE]\n\n');
    });
    srv.on('connection', () => connections++);
    await new Promise((r) => srv.listen(0, '127.0.0.1', r));
    try {
        const c = new tw.Client({ baseURL: `http://127.0.0.1:${srv.address().port}/v1`, maxRetries: 0 });
        c.prewarm();
        assert.ok(await waitFor(() => connections === 1), 'prewarm connected');
        await sleep(50);
        const sum = await c.stream('/chat/completions', { json: body() }).finalSummary();
        assert.equal(sum.text, 'warm');
        assert.equal(sum.metrics.connectionReused, true);
        assert.equal(connections, 1);
    } finally {
        srv.closeAllConnections();
        await new Promise((r) => srv.close(r));
    }
});

test('tokens at LLM speed are delivered as they arrive, not bunched', async () => {
    const c = new tw.Client({ baseURL: mock.url + '/v1', maxRetries: 0 });
    /* Warm a bulk stream first so the bulk-mode coalescing state is set, then go slow. */
    await c.stream('/chat/completions?chunks=50000&split=coalesce', { json: body() }).fullText();
    const s = c.stream('/chat/completions?chunks=10&delay_ms=40', { json: body() });
    const times = [];
    s.on('text', () => times.push(performance.now()));
    await s.finalSummary();
    assert.equal(times.length, 10);
    let spaced = 0;
    for (let i = 1; i < times.length; i++) if (times[i] - times[i - 1] >= 15) spaced++;
    assert.ok(spaced >= 7, `only ${spaced} of 9 gaps were >= 15 ms: ${times.map((t) => Math.round(t - times[0]))}`);
});
