'use strict';
/* Every mock fault mode surfaces as the right typed error, after every event sent before it. */
const test = require('node:test');
const assert = require('node:assert/strict');
const { tw, startMock, expectedText, DIALECT_PATHS, body, waitFor } = require('./helpers');

let mock;
test.before(() => {
    mock = startMock();
});
test.after(() => mock.stop());

function q(path, params) {
    return path + (path.includes('?') ? '&' : '?') + new URLSearchParams(params).toString();
}

/* Consumes with the async iterator; returns {text, error, types}. */
async function collect(stream) {
    let text = '';
    const types = [];
    try {
        for await (const ev of stream) {
            types.push(ev.type);
            if (ev.type === 'text') text += ev.text;
        }
        return { text, error: null, types };
    } catch (e) {
        return { text, error: e, types };
    }
}

const CASES = [
    { fault: '429', cls: 'HTTPError', status: 429, before: 0 },
    { fault: '500', cls: 'HTTPError', status: 500, before: 0 },
    { fault: 'reset', cls: 'TransportError', before: 3 },
    { fault: 'stall', cls: 'TimeoutError', before: 3, timeout: { idle: 300 } },
    { fault: 'heartbeat_only', cls: 'TimeoutError', before: 3, timeout: { event: 300 }, extra: { heartbeat_ms: 20 } },
    { fault: 'provider_error', cls: 'ProviderError', before: 3 },
];

for (const dialect of ['openai', 'anthropic', 'gemini', 'openai-responses', 'ollama']) {
    for (const c of CASES) {
        if (c.fault === 'oversized' && dialect === 'ollama') continue; /* covered via NDJSON below */
        test(`${dialect}: fault=${c.fault} -> ${c.cls} after ${c.before} chunks`, async () => {
            const client = new tw.Client({ baseURL: mock.url, dialect, maxRetries: 0, maxEventSize: c.maxEventSize });
            const s = client.stream(q(DIALECT_PATHS[dialect], { chunks: 10, fault: c.fault, fault_after: 3, ...(c.extra || {}) }),
                { json: body(), timeout: c.timeout });
            const r = await collect(s);
            assert.ok(r.error, 'an error was thrown');
            assert.equal(r.error.name, c.cls, `got ${r.error.name}: ${r.error.message}`);
            assert.ok(r.error instanceof tw[c.cls]);
            assert.ok(r.error instanceof tw.TokenwireError);
            assert.ok(r.error instanceof Error);
            if (c.status) assert.equal(r.error.status, c.status);
            if (c.cls === 'HTTPError') assert.ok(r.error.body && r.error.body.length > 0, 'error body kept');
            assert.equal(r.text, expectedText(c.before), 'every event before the fault arrived');
            assert.equal(typeof r.error.code, 'string');
        });
    }
}

/* One bad event (not JSON, over maxEventSize): an 'error' event with recoverable: true in its
 * place, no exception, and every later event (one rule in the core, issue 11). */
for (const dialect of ['openai', 'anthropic', 'gemini', 'openai-responses', 'ollama']) {
    for (const fault of ['garbage', 'oversized']) {
        test(`${dialect}: fault=${fault} -> a recoverable error event, then the rest`, async () => {
            const client = new tw.Client({ baseURL: mock.url, dialect, maxRetries: 0, maxEventSize: 1 << 20 });
            const s = client.stream(q(DIALECT_PATHS[dialect], { chunks: 10, fault, fault_after: 3, oversized: 3 << 20 }),
                { json: body() });
            const events = [];
            for await (const ev of s) events.push(ev);
            const errs = events.filter((e) => e.type === 'error');
            assert.equal(errs.length, 1, JSON.stringify(errs));
            assert.equal(errs[0].recoverable, true);
            assert.equal(errs[0].kind, 'protocol');
            const texts = events.filter((e) => e.type === 'text');
            assert.equal(texts.length, 10);
            assert.ok(events.indexOf(errs[0]) > events.indexOf(texts[2]));
            assert.equal(texts.map((e) => e.text).join(''), expectedText(10));
            assert.equal(s.summary.text, expectedText(10));
        });
    }
}

test('bad_utf8 is not an error: the bytes become U+FFFD and the stream goes on', async () => {
    const client = new tw.Client({ baseURL: mock.url, maxRetries: 0 });
    const s = client.stream(q('/v1/chat/completions', { chunks: 10, fault: 'bad_utf8', fault_after: 3 }), { json: body() });
    const r = await collect(s);
    assert.equal(r.error, null);
    assert.ok(r.text.includes('\uFFFD'));
    assert.ok(r.text.startsWith(expectedText(3)));
});

test('the emitter reports the same typed error through "error"', async () => {
    const client = new tw.Client({ baseURL: mock.url, dialect: 'anthropic', maxRetries: 0 });
    const s = client.stream(q('/v1/messages', { chunks: 10, fault: 'provider_error', fault_after: 4 }), { json: body() });
    let text = '';
    s.on('text', (t) => {
        text += t;
    });
    const err = await new Promise((resolve) => {
        s.on('error', resolve);
        s.on('end', () => resolve(null));
    });
    assert.ok(err instanceof tw.ProviderError);
    assert.equal(err.code, 'overloaded_error');
    assert.equal(text, expectedText(4));
    await assert.rejects(s.finalSummary(), tw.ProviderError);
});

test('429 with Retry-After is retried before the first byte (maxRetries)', async () => {
    const client = new tw.Client({ baseURL: mock.url, maxRetries: 2 });
    const s = client.stream(q('/v1/chat/completions', { chunks: 5, fault: '429', fault_times: 1, retry_after: 0 }),
        { json: body(), headers: { 'X-Mock-Key': 'retry-' + process.pid } });
    const sum = await s.finalSummary();
    assert.equal(sum.text, expectedText(5));
    assert.equal(sum.metrics.retries, 1);
});

test('connection refused -> TransportError', async () => {
    const client = new tw.Client({ baseURL: 'http://127.0.0.1:9', maxRetries: 0 });
    const r = await collect(client.stream('/v1/chat/completions', { json: body() }));
    assert.ok(r.error instanceof tw.TransportError, String(r.error));
});

test('no stream left behind', async () => {
    assert.ok(await waitFor(() => tw.stats().bindingActive === 0));
    assert.ok(await waitFor(() => mock.stats().active === 0));
});

test('finalSummary() rejects with the typed error; no listener needed', async () => {
    const client = new tw.Client({ baseURL: mock.url, maxRetries: 0 });
    await assert.rejects(client.stream(q('/v1/chat/completions', { fault: '500' }), { json: body() }).finalSummary(),
        (e) => e instanceof tw.HTTPError && e.status === 500);
    await assert.rejects(client.stream(q('/v1/chat/completions', { fault: 'reset', fault_after: 2 }), { json: body() }).fullText(),
        tw.TransportError);
});

test('aborting an emitter-only stream without an error listener does not throw', async () => {
    const client = new tw.Client({ baseURL: mock.url, maxRetries: 0 });
    const ac = new AbortController();
    const s = client.stream('/v1/chat/completions?chunks=1000&delay_ms=2', { json: body(), signal: ac.signal });
    let n = 0;
    s.on('text', () => n++);
    await waitFor(() => n > 2);
    ac.abort();
    const closed = await new Promise((r) => (s.done ? r(true) : s.on('close', () => r(true))));
    assert.ok(closed && s.done);
    assert.ok(await waitFor(() => mock.stats().active === 0));
});
