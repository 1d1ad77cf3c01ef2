'use strict';
/*
 * Issue 10 item 5 and 8 from JS: Retry-After over the cap, no retry of a request the server
 * already received (unless retrySent), the paused timeout, and accumulate: false.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const v8 = require('node:v8');
const vm = require('node:vm');
const { tw, startMock, expectedText, body, waitFor, rawServer } = require('./helpers');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

let mock;
test.before(() => {
    mock = startMock();
});
test.after(() => mock.stop());

async function collect(stream) {
    let text = '';
    try {
        for await (const ev of stream) if (ev.type === 'text') text += ev.text;
        return { text, error: null };
    } catch (e) {
        return { text, error: e };
    }
}

test('429 with Retry-After: 120 is delivered at once, with the value on the error and in metrics', async () => {
    const client = new tw.Client({ baseURL: mock.url }); /* default maxRetries: 2 */
    const s = client.stream('/v1/chat/completions?fault=429&retry_after=120', { json: body() });
    const { error } = await collect(s);
    assert.ok(error instanceof tw.HTTPError, String(error));
    assert.equal(error.status, 429);
    assert.equal(error.retryAfter, 120);
    assert.match(error.message, /Retry-After: 120 s/);
    const m = s.metrics();
    assert.equal(m.retries, 0, 'not retried: the server asked for more than a retry waits');
    assert.equal(m.retryAfter, 120);
});

test('a Retry-After within the cap is still honoured (retried), and reported in metrics', async () => {
    const client = new tw.Client({ baseURL: mock.url, maxRetries: 2 });
    const s = client.stream('/v1/chat/completions?chunks=4&fault=429&fault_times=1&retry_after=1',
        { json: body(), headers: { 'X-Mock-Key': 'ra1-' + process.pid } });
    const sum = await s.finalSummary();
    assert.equal(sum.text, expectedText(4));
    assert.equal(sum.metrics.retries, 1);
    assert.equal(sum.metrics.retryAfter, 1);
});

test('an HTTPError without Retry-After has retryAfter null', async () => {
    const client = new tw.Client({ baseURL: mock.url, maxRetries: 0 });
    const { error } = await collect(client.stream('/v1/chat/completions?fault=500', { json: body() }));
    assert.ok(error instanceof tw.HTTPError);
    assert.equal(error.retryAfter, null);
});

/* A server that reads each POST completely, then drops the connection without answering:
 * the request may have been acted on (and billed). */
async function dropAfterRequest() {
    return rawServer((sock) => sock.destroy());
}

test('a request the server received is not retried by default (exactly one request)', async () => {
    const srv = await dropAfterRequest();
    try {
        const client = new tw.Client({ baseURL: srv.url, maxRetries: 2 });
        const s = client.stream('/v1/chat/completions', { json: body() });
        const { error } = await collect(s);
        assert.ok(error instanceof tw.TransportError, String(error));
        assert.equal(srv.rec.requests, 1);
        assert.equal(srv.rec.connections, 1);
        assert.equal(s.metrics().retries, 0);
    } finally {
        await srv.close();
    }
});

test('retrySent: true (client or per stream) retries it, up to maxRetries', async () => {
    const srv = await dropAfterRequest();
    try {
        const client = new tw.Client({ baseURL: srv.url, maxRetries: 2, retrySent: true });
        const s = client.stream('/v1/chat/completions', { json: body() });
        const { error } = await collect(s);
        assert.ok(error instanceof tw.TransportError, String(error));
        assert.equal(srv.rec.requests, 3, 'the first try and two retries');
        assert.equal(s.metrics().retries, 2);

        const one = new tw.Client({ baseURL: srv.url, maxRetries: 1 });
        const s2 = one.stream('/v1/chat/completions', { json: body(), retrySent: true });
        assert.ok((await collect(s2)).error instanceof tw.TransportError);
        assert.equal(srv.rec.requests, 5);
        const s3 = client.stream('/v1/chat/completions', { json: body(), retrySent: false });
        assert.ok((await collect(s3)).error instanceof tw.TransportError);
        assert.equal(srv.rec.requests, 6, 'retrySent: false per stream overrides the client');
    } finally {
        await srv.close();
    }
});

test('paused timeout: a stream nobody reads gives up its upstream, then reports the timeout', async () => {
    const client = new tw.Client({ baseURL: mock.url, maxRetries: 0, timeout: { paused: 200 } });
    const word = 'w'.repeat(100);
    const chunks = 100000; /* ~10 MB of text: far over the 1 MiB queue */
    const activeBefore = mock.stats().active;
    const s = client.stream(`/v1/chat/completions?chunks=${chunks}&text=${word}`, { json: body() });
    /* Nobody consumes: the queue fills, the engine pauses the transfer ... */
    assert.ok(await waitFor(() => tw.stats().pausedStreams === 1, 10000), 'the transfer was paused');
    /* ... and after 200 ms paused it ends the stream and closes the upstream connection. */
    assert.ok(await waitFor(() => tw.stats().activeStreams === 0, 10000), 'the paused timeout ended it');
    assert.ok(await waitFor(() => mock.stats().active === activeBefore, 10000), 'the upstream was closed');
    assert.equal(s.done, false, 'nothing was delivered to JS yet');
    /* Reading now gives every event received before the timeout, then the TimeoutError. */
    const { text, error } = await collect(s);
    assert.ok(error instanceof tw.TimeoutError, String(error));
    assert.match(error.message, /paused timeout/);
    assert.ok(text.length > 0 && text.length < expectedText(chunks, word).length,
        `received ${text.length} chars before the timeout`);
    assert.ok(expectedText(chunks, word).startsWith(text), 'what arrived is an exact prefix');
});

test('paused timeout 0 is accepted (none); a bad value is a TypeError', () => {
    const client = new tw.Client({ baseURL: mock.url, maxRetries: 0, timeout: { paused: 0 } });
    const s = client.stream('/v1/chat/completions?chunks=2', { json: body() });
    s.cancel();
    assert.throws(() => client.stream('/x', { timeout: { paused: -1 } }), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
});

/* Streams ~size MB of text through a 'text' listener that keeps only a count; returns the
 * heap growth that stays after the stream ended (summary still referenced) and a GC. */
async function heapGrowth(opts, chunks, word) {
    gc();
    const before = process.memoryUsage().heapUsed;
    const client = new tw.Client({ baseURL: mock.url, maxRetries: 0, ...opts.client });
    const s = client.stream(`/v1/chat/completions?chunks=${chunks}&text=${word}`, { json: body(), ...opts.stream });
    let n = 0;
    s.on('text', (t) => {
        n += t.length;
    });
    const summary = await new Promise((resolve, reject) => {
        s.on('end', resolve);
        s.on('error', reject);
    });
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    return { summary, n, grown };
}

test('accumulate: false keeps no text: summary text/reasoning null, heap flat on a 20 MB stream', async () => {
    const word = 'a'.repeat(1000);
    const chunks = 20000;
    const total = expectedText(chunks, word).length; /* ~20 MB */
    const off = await heapGrowth({ client: { accumulate: false } }, chunks, word);
    assert.equal(off.n, total, 'every text delta reached the listener');
    assert.equal(off.summary.text, null);
    assert.equal(off.summary.reasoning, null);
    assert.equal(off.summary.finishReason, 'stop');
    assert.ok(off.summary.usage, 'the rest of the summary is kept');
    assert.ok(off.grown < 4 << 20, `heap grew ${off.grown} bytes with accumulate: false`);

    /* The same stream with the default keeps the text (so the measure above can fail). */
    const on = await heapGrowth({}, chunks, word);
    assert.equal(on.summary.text.length, total);
    assert.ok(on.grown > total / 2, `heap grew ${on.grown} bytes with accumulate: true`);

    /* Per stream, overriding the client. */
    const perStream = await heapGrowth({ stream: { accumulate: false } }, 10, 'x');
    assert.equal(perStream.summary.text, null);
    const back = await heapGrowth({ client: { accumulate: false }, stream: { accumulate: true } }, 10, 'x');
    assert.equal(back.summary.text, expectedText(10, 'x'));
});

test('accumulate: false: fullText() refuses (there is no text to give)', async () => {
    const client = new tw.Client({ baseURL: mock.url, maxRetries: 0, accumulate: false });
    const s = client.stream('/v1/chat/completions?chunks=3', { json: body() });
    await assert.rejects(s.fullText(), { name: 'TypeError', message: /accumulate/ });
    const sum = await s.finalSummary();
    assert.equal(sum.text, null);
    assert.throws(() => new tw.Client({ baseURL: mock.url, accumulate: 'no' }), { code: 'ERR_INVALID_ARG_TYPE' });
});

test('a refused connection is not reported as reused (metrics.connectionReused false)', async () => {
    /* A port that was just listening and is closed now: the connection is refused. */
    const net = require('node:net');
    const { listen } = require('./helpers');
    const srv = net.createServer();
    const port = await listen(srv);
    await new Promise((r) => srv.close(r));
    const client = new tw.Client({ baseURL: `http://127.0.0.1:${port}`, maxRetries: 0 });
    /* A kept-alive connection to the mock exists in the cache, so "reused" could leak over. */
    await new tw.Client({ baseURL: mock.url, maxRetries: 0 }).stream('/v1/chat/completions?chunks=2', { json: body() }).fullText();
    const s = client.stream('/v1/chat/completions', { json: body() });
    const { error } = await collect(s);
    assert.ok(error instanceof tw.TransportError, String(error));
    assert.equal(s.metrics().connectionReused, false);
});
