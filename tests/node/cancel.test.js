'use strict';
/* AbortSignal / cancel at any point releases the upstream request. */
const test = require('node:test');
const assert = require('node:assert/strict');
const { tw, startMock, body, waitFor, sleep, readAll } = require('./helpers');

let mock;
let client;
test.before(() => {
    mock = startMock();
    client = new tw.Client({ baseURL: mock.url, maxRetries: 0 });
});
test.after(() => mock.stop());

const SLOW = '/v1/chat/completions?chunks=400&delay_ms=2';

/* Deterministic pseudo-random delays so a failure can be replayed. */
function rng(seed) {
    let x = seed >>> 0;
    return () => {
        x = (x * 1664525 + 1013904223) >>> 0;
        return x / 2 ** 32;
    };
}

test('AbortSignal at random points: typed rejection, upstream released', async () => {
    const rand = rng(12345);
    for (let i = 0; i < 30; i++) {
        const ac = new AbortController();
        const s = client.stream(SLOW, { json: body(), signal: ac.signal });
        const at = Math.floor(rand() * 60);
        setTimeout(() => ac.abort(), at);
        let n = 0;
        let err = null;
        try {
            for await (const ev of s) if (ev.type === 'text') n++;
        } catch (e) {
            err = e;
        }
        assert.ok(err, `iteration ${i}: aborted after ${at} ms must reject`);
        assert.equal(err.name, 'AbortError');
        assert.ok(n < 400);
    }
    assert.ok(await waitFor(() => mock.stats().active === 0, 5000), 'mock has no active stream');
    assert.ok(await waitFor(() => tw.stats().bindingActive === 0, 5000));
});

test('AbortSignal with the emitter and with a reason', async () => {
    const ac = new AbortController();
    const s = client.stream(SLOW, { json: body(), signal: ac.signal });
    const reason = new Error('user went away');
    let texts = 0;
    s.on('text', () => {
        if (++texts === 5) ac.abort(reason);
    });
    const err = await new Promise((resolve) => s.on('error', resolve));
    assert.equal(err, reason);
    assert.equal(texts, 5, 'no text after the abort');
    assert.ok(await waitFor(() => mock.stats().active === 0));
});

test('an already aborted signal never starts the request', async () => {
    const before = mock.stats().total;
    const s = client.stream(SLOW, { json: body(), signal: AbortSignal.abort() });
    await assert.rejects(async () => {
        for await (const ev of s) void ev;
    }, { name: 'AbortError' });
    await sleep(50);
    assert.equal(mock.stats().total, before);
});

test('breaking out of for await cancels upstream; cancel() ends iterators quietly', async () => {
    const s = client.stream(SLOW, { json: body() });
    let n = 0;
    for await (const t of s.text()) {
        void t;
        if (++n === 10) break;
    }
    assert.ok(s.done);
    const s2 = client.stream(SLOW, { json: body() });
    setTimeout(() => s2.cancel(), 20);
    let m = 0;
    for await (const ev of s2) if (ev.type === 'text') m++;
    assert.ok(m < 400);
    assert.ok(await waitFor(() => mock.stats().active === 0));
});

test('ReadableStream cancel() cancels upstream', async () => {
    for (const format of ['sse-openai', 'ai-sdk', 'events', 'ndjson', 'text']) {
        const s = client.stream(SLOW, { json: body() });
        const reader = s.toReadableStream({ format }).getReader();
        const first = await reader.read();
        assert.ok(first.value.length > 0);
        await reader.cancel();
        assert.ok(await waitFor(() => mock.stats().active === 0), format);
    }
    const s = client.stream(SLOW, { json: body() });
    const ac = new AbortController();
    const rs = client.stream(SLOW, { json: body(), signal: ac.signal }).toReadableStream();
    setTimeout(() => ac.abort(), 30);
    await assert.rejects(readAll(rs), { name: 'AbortError' });
    s.cancel();
    assert.ok(await waitFor(() => mock.stats().active === 0));
    assert.ok(await waitFor(() => tw.stats().bindingActive === 0));
});
