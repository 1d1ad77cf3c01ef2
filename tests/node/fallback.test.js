'use strict';
/* Provider fallback before the first token (issue 12): client.stream(path, { fallback:
 * [other.request(...)] }) moves on, in the core, to the next request when one fails before its
 * first token; only the winner's events reach JS; metrics.fallbackIndex says which; the last
 * failure is the stream's error; a bad fallback is refused before anything is sent. */
const test = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { tw, startMock, expectedText, body, listen } = require('./helpers');

const mock = startMock();
test.after(() => mock.stop());

const anthropicBody = { model: 'm', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'hi' }] };

function clients() {
    const primary = new tw.Client({ baseURL: mock.url + '/v1', apiKey: 'k1', maxRetries: 0 });
    const backup = new tw.Client({ baseURL: mock.url + '/v1', apiKey: 'k2', dialect: 'anthropic', maxRetries: 0 });
    return { primary, backup };
}

async function collect(s) {
    const events = [];
    for await (const ev of s) events.push(ev);
    return events;
}

test('an HTTP error falls back to another provider; only its events are seen', async () => {
    const { primary, backup } = clients();
    const s = primary.stream('/chat/completions?fault=500', {
        json: body(),
        fallback: [backup.request('/messages?chunks=8', { json: anthropicBody })],
    });
    const events = await collect(s);
    assert.equal(events.filter((e) => e.type === 'text').map((e) => e.text).join(''), expectedText(8));
    const starts = events.filter((e) => e.type === 'start');
    assert.equal(starts.length, 1);
    assert.match(starts[0].id, /^msg_/);
    assert.equal(s.metrics().fallbackIndex, 1);
    assert.equal(s.metrics().httpStatus, 200);
});

test('a refused connection, then a first-token timeout, then an answer', async () => {
    const probe = net.createServer();
    const port = await listen(probe);
    await new Promise((r) => probe.close(r));
    const dead = new tw.Client({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'k', maxRetries: 0 });
    const { primary } = clients();
    const s = dead.stream('/chat/completions', {
        json: body(),
        fallback: [
            primary.request('/chat/completions?fault=stall&fault_after=0', { json: body(), timeout: { firstToken: 300 } }),
            primary.request('/chat/completions?chunks=4', { json: body() }),
        ],
    });
    let text = '';
    for await (const t of s.text()) text += t;
    assert.equal(text, expectedText(4));
    assert.equal(s.metrics().fallbackIndex, 2);
});

test('all failing: the last failure is the error; no fallback after the first token', async () => {
    const { primary } = clients();
    const s = primary.stream('/chat/completions?fault=500', {
        json: body(),
        fallback: primary.request('/chat/completions?fault=429&retry_after=0', { json: body(), maxRetries: 0 }),
    });
    await assert.rejects(collect(s), (e) => e instanceof tw.HTTPError && e.status === 429);
    assert.equal(s.metrics().fallbackIndex, 1);

    const t = primary.stream('/chat/completions?chunks=10&fault=reset&fault_after=3', {
        json: body(),
        fallback: [primary.request('/chat/completions', { json: body() })],
    });
    let got = '';
    await assert.rejects(async () => {
        for await (const x of t.text()) got += x;
    }, (e) => e instanceof tw.TransportError);
    assert.equal(got, expectedText(3));
    assert.equal(t.metrics().fallbackIndex, 0);
});

test('a bad fallback is refused before anything is sent', () => {
    const { primary } = clients();
    const before = mock.stats().total;
    assert.throws(() => primary.stream('/chat/completions', {
        json: body(),
        fallback: [primary.request('/chat/completions', { json: body(), headers: { 'X-Bad': 'a\r\nInjected: 1' } })],
    }), (e) => e instanceof TypeError && /fallback 1: /.test(e.message));
    assert.throws(() => primary.stream('/chat/completions', { json: body(), fallback: [] }),
        (e) => e instanceof TypeError && /fallback is empty/.test(e.message));
    assert.throws(() => primary.stream('/chat/completions', { json: body(), fallback: [{ url: mock.url }] }),
        (e) => e instanceof TypeError && /client\.request/.test(e.message));
    assert.equal(mock.stats().total, before);
});

test('a relay encodes whichever request won', async () => {
    const { primary, backup } = clients();
    const s = primary.stream('/chat/completions?fault=500', {
        json: body(),
        fallback: [backup.request('/messages?chunks=5', { json: anthropicBody })],
    });
    const text = await new Response(s.toReadableStream({ format: 'text' })).text();
    assert.equal(text, expectedText(5));
});

test('client.cancel(id) cancels the running streams started with that id, and only those', async () => {
    const { primary } = clients();
    const path = '/chat/completions?chunks=500&delay_ms=10';
    const a = primary.stream(path, { json: body(), id: 'task-1' });
    const b = primary.stream(path, { json: body(), id: 'task-1' });
    const c = primary.stream('/chat/completions?chunks=20&delay_ms=1', { json: body(), id: 'task-2' });
    const outcome = async (s, onFirst) => {
        let n = 0;
        try {
            for await (const t of s.text()) {
                if (n++ === 0 && onFirst) onFirst(t);
            }
            return ['ended', n];
        } catch (e) {
            return [e instanceof tw.AbortError ? 'aborted' : String(e), n];
        }
    };
    let first;
    const firstSeen = new Promise((r) => (first = r));
    const results = Promise.all([outcome(a, first), outcome(b), outcome(c)]);
    await firstSeen;
    assert.equal(primary.cancel('nobody'), 0);
    assert.equal(primary.cancel('task-1'), 2);
    const [ra, rb, rc] = await results;
    assert.deepEqual([ra[0], rb[0], rc], ['aborted', 'aborted', ['ended', 20]]);
    assert.throws(() => primary.cancel(42), TypeError);
});

test('simulated streaming of a non-streaming fallback: deltas of N characters, paced, flagged', async () => {
    const { primary } = clients();
    const s = primary.stream('/chat/completions?fault=500', {
        json: body(),
        fallback: [primary.request('/chat/completions?chunks=6', { json: body({ stream: false }) })],
        simulate: { chars: 4, interval: 5 },
    });
    const deltas = [];
    for await (const t of s.text()) deltas.push(t);
    const want = expectedText(6);
    assert.equal(deltas.join(''), want);
    assert.equal(deltas.length, Math.ceil([...want].length / 4));
    const m = s.metrics();
    assert.equal(m.simulated, true);
    assert.equal(m.fallbackIndex, 1);
    assert.throws(() => primary.stream('/chat/completions', { json: body(), simulate: { chars: 0 } }), TypeError);
});
